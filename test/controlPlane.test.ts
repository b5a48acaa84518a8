import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/config.js';
import { Machine } from '../src/engine/coordinator.js';
import type { RunResult } from '../src/output/result.js';
import { scenarioConfig } from '../src/campaigns/stress.js';
import { ROUND_CAP } from '../src/engine/state/runControl.js';

// The comlink control plane: statistics read from the workers agree with the
// counters the coordinator read from shared memory.
describe('control plane: readStats', () => {
  let m: Machine;
  let r: RunResult;
  beforeAll(async () => {
    m = await Machine.boot(resolveConfig({ cpus: 4, pages: 32, batch: 8, ops: 500 }));
    r = await m.run();
  });
  afterAll(async () => {
    await m.shutdown();
  });

  it('returns one entry per CPU whose counters equal the result per_cpu', async () => {
    const stats = await m.readStats();
    expect(stats.map((s) => s.cpu)).toEqual([0, 1, 2, 3]);
    for (const s of stats) expect(s.counters).toEqual(r.per_cpu[s.cpu]);
  });

  it('reports the IPI rounds the reclaimer sent and the mm each CPU had loaded', async () => {
    const stats = await m.readStats();
    expect(stats[0].ipiRoundUs.length).toBe(4); // ceil(32/8) rounds, all from CPU 0
    expect(stats.slice(1).every((s) => s.ipiRoundUs.length === 0)).toBe(true);
    expect(stats[0].loadedMm).toBe(-1); // kswapd: no user mm
    expect(stats.slice(1).every((s) => s.loadedMm === 0)).toBe(true);
    expect(stats[0].tlbOccupancy).toBe(0);
    expect(stats.slice(1).every((s) => s.tlbOccupancy > 0)).toBe(true);
  });
});

// Runs start and end through the run-control block (src/engine/state/runControl.ts); the workers leave its loop for
// comlink calls (readStats) and whenever a run's figures do not fit in it (more IPI rounds than ROUND_CAP, an error).
describe('control plane: runs through the run-control block', () => {
  it('a machine that reads its stats between runs runs the same seeds to the same results as a fresh one', async () => {
    const c = scenarioConfig('unmap-window', { sched: 'seeded', protocol: 'batched', arch: 'weak' });
    const outcome = (r: RunResult): unknown => ({ status: r.status, steps: r.host.sched_steps, counters: r.per_cpu, races: r.races, rounds: r.host.ipi_round_latency_us.rounds, modeled: r.modeled });
    const a = await Machine.boot(c);
    const b = await Machine.boot(c);
    try {
      for (const seed of [1, 2, 3]) {
        const ra = outcome(await a.run(seed));
        const stats = await a.readStats();
        expect(stats.map((s) => s.cpu)).toEqual([0, 1, 2]);
        expect(outcome(await b.run(seed)), `seed ${seed}`).toEqual(ra);
        expect(outcome(await a.run(seed)), `seed ${seed} again`).toEqual(ra);
      }
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });

  it(`a run of more than ROUND_CAP (${ROUND_CAP}) IPI rounds on one CPU reports every round, run after run`, async () => {
    const rounds = 2 * ROUND_CAP;
    const m = await Machine.boot(resolveConfig({ cpus: 3, pages: 8 * rounds, batch: 8, ops: 500 }));
    try {
      for (let i = 0; i < 2; i++) {
        const r = await m.run();
        expect(r.status).toBe('ok');
        expect(r.host.ipi_round_latency_us.rounds).toBe(rounds);
        expect(r.modeled.shootdown_latency_cycles.rounds).toBe(rounds);
      }
      expect((await m.readStats())[0].ipiRoundUs.length).toBe(rounds);
    } finally {
      await m.shutdown();
    }
  });
});
