/**
 * Worker lifecycle (src/engine/coordinator.ts): a machine starts one worker per CPU,
 * can run several times, and leaves no worker behind after shutdown; a CPU that
 * stops acknowledging IPIs or crashes ends the run cleanly (it resolves, names
 * the CPU, keeps the counters measured so far, terminates every worker) instead
 * of hanging. Vitest's per-test timeout is the "does not hang" check.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig, type SimConfig } from '../src/config/config.js';
import { Machine } from '../src/engine/coordinator.js';

/** Per-test hang guard (the "does not hang" check), not a timing. */
const TIMEOUT = 30_000;
/** An IPI watchdog that cannot fire within a test: ten times the hang guard. */
const CRASH_IN_IPI_WATCHDOG_MS = 10 * TIMEOUT;

function config(over: Partial<SimConfig> = {}): SimConfig {
  return resolveConfig({ workload: 'reclaim', protocol: 'batched', cpus: 4, pages: 32, batch: 16, ops: 500, ...over });
}

describe('worker lifecycle', () => {
  let machine: Machine | null = null;
  afterEach(async () => {
    // Never leave workers running when an assertion fails mid-test.
    await machine?.shutdown();
    machine = null;
  });

  it(
    'boot starts one worker per CPU; a successful run keeps them; shutdown ends them all',
    async () => {
      machine = await Machine.boot(config());
      expect(machine.liveWorkers()).toBe(4);
      expect(new Set(machine.workerThreadIds()).size).toBe(4);
      const r = await machine.run();
      expect(r.status, JSON.stringify(r.failure)).toBe('ok');
      expect(machine.liveWorkers()).toBe(4);
      await machine.shutdown();
      expect(machine.liveWorkers()).toBe(0);
      // shutdown is idempotent.
      await machine.shutdown();
      expect(machine.liveWorkers()).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'a machine runs several times (seeds), each run complete',
    async () => {
      machine = await Machine.boot(config());
      for (const seed of [1, 2, 3]) {
        const r = await machine.run(seed);
        expect(r.status, JSON.stringify(r.failure)).toBe('ok');
        expect(r.config.seed).toBe(seed);
        expect(r.counters.pages_unmapped).toBe(32);
        expect(r.counters.ipis_sent).toBe(2 * 3);
        expect(machine.liveWorkers()).toBe(4);
      }
      await machine.shutdown();
      expect(machine.liveWorkers()).toBe(0);
      await expect(machine.run()).rejects.toThrow(/shut down/);
    },
    TIMEOUT,
  );

  it(
    "a CPU that stops acknowledging IPIs: status 'failed', kind 'ipi-timeout', that CPU named, no worker left",
    async () => {
      machine = await Machine.boot(config({ faultKind: 'stop-acking', faultCpu: 2, ipiTimeoutMs: 500 }));
      expect(machine.liveWorkers()).toBe(4);
      const t0 = performance.now();
      const r = await machine.run();
      const ms = performance.now() - t0;
      expect(r.status).toBe('failed');
      expect(r.failure?.kind).toBe('ipi-timeout');
      expect(r.failure?.cpu).toBe(2);
      expect(r.failure?.message).toContain('CPU 2');
      expect(r.failure?.message).toContain('500 ms');
      expect(machine.liveWorkers()).toBe(0);
      // It waited for the timeout (a lower bound the watchdog's timer sets, which a slow host cannot break; not a
      // speed threshold), and not forever (vitest's per-test timeout is the hang guard).
      expect(ms).toBeGreaterThanOrEqual(500);
      // Counters measured before the failure are kept.
      expect(r.counters.tlb_hits).toBeGreaterThan(0);
      expect(r.counters.loads).toBeGreaterThan(0);
      expect(r.per_cpu[2].tlb_hits).toBeGreaterThan(0);
      // The round that timed out was sent; CPU 2 never handled it.
      expect(r.counters.nr_tlb_remote_flush).toBeGreaterThanOrEqual(1);
      expect(r.per_cpu[2].nr_tlb_remote_flush_received).toBe(0);
      expect(r.counters.nr_tlb_remote_flush_received).toBeLessThan(r.counters.ipis_sent);
      // A failed run cannot be reused.
      await expect(machine.run()).rejects.toThrow(/shut down/);
    },
    TIMEOUT,
  );

  it(
    "a CPU that stops acknowledging in seeded mode fails the same way",
    async () => {
      machine = await Machine.boot(config({ faultKind: 'stop-acking', faultCpu: 2, ipiTimeoutMs: 500, sched: 'seeded', ops: 100 }));
      const r = await machine.run();
      expect(r.status).toBe('failed');
      expect(r.failure?.kind).toBe('ipi-timeout');
      expect(r.failure?.cpu).toBe(2);
      expect(machine.liveWorkers()).toBe(0);
      expect(r.counters.tlb_hits).toBeGreaterThan(0);
    },
    TIMEOUT,
  );

  it(
    "a CPU whose worker crashes: status 'failed', kind 'cpu-crashed', that CPU named, no worker left",
    async () => {
      // ops large enough that CPU 1 is still running when its crash hook fires.
      machine = await Machine.boot(config({ faultKind: 'crash', faultCpu: 1, ops: 5000 }));
      expect(machine.liveWorkers()).toBe(4);
      const r = await machine.run();
      expect(r.status).toBe('failed');
      expect(r.failure?.kind).toBe('cpu-crashed');
      expect(r.failure?.cpu).toBe(1);
      expect(r.failure?.message).toContain('CPU 1');
      expect(machine.liveWorkers()).toBe(0);
      // What CPU 1 did before it died is still in the result.
      expect(r.per_cpu[1].tlb_hits).toBeGreaterThan(0);
      await expect(machine.run()).rejects.toThrow(/shut down/);
    },
    TIMEOUT,
  );

  it(
    'a crash in seeded mode fails the same way',
    async () => {
      machine = await Machine.boot(config({ faultKind: 'crash', faultCpu: 1, sched: 'seeded', ops: 100 }));
      const r = await machine.run();
      expect(r.status).toBe('failed');
      expect(r.failure?.kind).toBe('cpu-crashed');
      expect(r.failure?.cpu).toBe(1);
      expect(machine.liveWorkers()).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'a CPU killed mid-IPI (before acknowledging): the worker\'s exit ends the run, not the watchdog; it names the CPU and the IPI it was handling, no worker left',
    async () => {
      // The watchdog is set far beyond this test's hang guard (TIMEOUT), so a run that ends at all was ended by the
      // worker's exit: had the crash gone unnoticed until the watchdog, the test would time out.
      machine = await Machine.boot(config({ faultKind: 'crash-in-ipi', faultCpu: 2, ipiTimeoutMs: CRASH_IN_IPI_WATCHDOG_MS }));
      const r = await machine.run();
      expect(r.status).toBe('failed');
      expect(r.failure?.kind).toBe('cpu-crashed');
      expect(r.failure?.cpu).toBe(2);
      expect(r.failure?.last_event).toBe("handling CPU 0's TLB-flush IPI (round 1)");
      expect(r.failure?.message).toContain('last event');
      expect(machine.liveWorkers()).toBe(0);
      // The initiator counted the round it sent before the target died.
      expect(r.counters.nr_tlb_remote_flush).toBeGreaterThanOrEqual(1);
    },
    TIMEOUT,
  );

  it(
    'the timeout names whichever CPU is faulty (CPU 3, not a fixed one)',
    async () => {
      machine = await Machine.boot(config({ faultKind: 'stop-acking', faultCpu: 3, ipiTimeoutMs: 500 }));
      const r = await machine.run();
      expect(r.status).toBe('failed');
      expect(r.failure?.kind).toBe('ipi-timeout');
      expect(r.failure?.cpu).toBe(3);
      expect(machine.liveWorkers()).toBe(0);
    },
    TIMEOUT,
  );
});
