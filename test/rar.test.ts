/**
 * `--protocol rar` (Intel Remote Action Request, src/hwInval.ts): a batched
 * reclaim of P pages in batches of B sends ceil(P/B) RAR actions, each to the
 * batch's whole cpumask, lazy CPUs included (N-1 targets: the RAR series'
 * arch_tlbbatch_flush -> rar_full_flush(&batch->cpumask), v3 of 2025-06-05,
 * does not filter with should_flush_tlb), applied by the targets' hardware
 * with no interrupt: 0 IPIs sent or received; no race.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../src/api.js';
import { resolveConfig, type SimConfig } from '../src/config.js';
import { NO_RACES } from './helpers.js';

const TIMEOUT = 60_000;

function cfg(over: Partial<SimConfig>): SimConfig {
  return resolveConfig({ workload: 'reclaim', protocol: 'rar', arch: 'x86', ops: 400, tlbSets: 16, tlbWays: 4, ...over });
}

describe('rar reclaim: ceil(P/B) actions to all N-1 CPUs of the batch mask (lazy ones too), no interrupt', () => {
  for (const [N, P, B, K] of [
    [4, 64, 32, 0],
    [8, 40, 8, 0],
    [8, 64, 32, 3],
  ] as const) {
    for (const sched of ['free', 'seeded'] as const) {
      it(
        `N=${N} P=${P} B=${B} lazy=${K} ${sched}`,
        async () => {
          const r = await simulate(cfg({ cpus: N, pages: P, batch: B, lazyCpus: K, sched }));
          const ctx = JSON.stringify({ N, P, B, K, sched, failure: r.failure });
          expect(r.status, ctx).toBe('ok');
          const k = r.counters;
          const batches = Math.ceil(P / B);
          // rar_full_flush(&batch->cpumask): every other CPU of the batch mask, the K lazy ones included.
          const targets = N - 1;
          expect(k.ipis_sent, ctx).toBe(0);
          expect(k.nr_tlb_remote_flush_received, ctx).toBe(0);
          expect(k.rar_sent, ctx).toBe(batches);
          expect(k.rar_targets, ctx).toBe(batches * targets);
          expect(k.rar_applied, ctx).toBe(batches * targets);
          for (let c = 1; c < N; c++) expect(r.per_cpu[c].rar_applied, `${ctx} cpu ${c}`).toBe(batches);
          expect(k.invlpgb_sent, ctx).toBe(0);
          expect(k.pages_freed, ctx).toBe(P);
          expect(r.races, ctx).toEqual(NO_RACES);
          expect(r.modeled.events.rar_send.count).toBe(batches);
          expect(r.modeled.events.ipi_received.count).toBe(0);
        },
        TIMEOUT,
      );
    }
  }
});

describe('rar with interrupts disabled (--irq-off)', () => {
  it(
    'RAR actions are applied while the target has interrupts off; flush IPIs wait for local_irq_enable',
    async () => {
      const base = { cpus: 4, pages: 256, batch: 8, ops: 2000, sched: 'seeded' as const, irqOffAccesses: 4 };
      const rar = await simulate(cfg(base));
      const ipi = await simulate(cfg({ ...base, protocol: 'batched' }));
      for (const r of [rar, ipi]) {
        expect(r.status, JSON.stringify(r.failure)).toBe('ok');
        expect(r.races).toEqual(NO_RACES);
      }
      // Same exact counts as with interrupts always on: 32 batches to 3 targets.
      expect(rar.counters.rar_sent).toBe(32);
      expect(rar.counters.rar_applied).toBe(32 * 3);
      expect(ipi.counters.ipis_sent).toBe(32 * 3);
      // Hardware applied some while interrupts were off, and no RAR ever waited for them to come back on ...
      expect(rar.counters.hw_applied_irqs_off).toBeGreaterThan(0);
      expect(rar.counters.irq_off_ipi_delays).toBe(0);
      // ... while flush IPIs did wait.
      expect(ipi.counters.irq_off_ipi_delays).toBeGreaterThan(0);
      expect(ipi.counters.hw_applied_irqs_off).toBe(0);
    },
    TIMEOUT,
  );
});
