import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/config.js';
import { Machine } from '../src/engine/coordinator.js';
import type { RunResult } from '../src/output/result.js';

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
