/**
 * Workload `munmap`: CPU 0 maps, touches and unmaps ranges of `--range`
 * pages `--ops` times while the other CPUs run in the other half of the
 * address space. Each munmap is one round to the N-1 others; CPU 0 counts a
 * range of at most `--ceiling` pages page by page, a longer one as one full
 * flush.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig, type SimConfig } from '../src/config/config.js';
import { simulate } from '../src/api.js';
import { munmapRanges } from '../src/scenarios/workloads/munmap.js';
import { NO_RACES } from './helpers.js';

async function run(o: Partial<SimConfig>) {
  const r = await simulate(resolveConfig({ workload: 'munmap', ...o }));
  expect(r.status).toBe('ok');
  expect(r.races).toEqual(NO_RACES);
  return r;
}

describe('munmap workload', () => {
  it('ranges are laid end to end over the first half, wrapping, lengths cycled', () => {
    expect(munmapRanges(32, 3, [4])).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 10, 11],
    ]);
    expect(munmapRanges(16, 3, [5, 2]).map((r) => r[0])).toEqual([0, 5, 0]); // 5+2 fits in 8, the next 5 wraps
  });

  for (const sched of ['free', 'seeded'] as const) {
    it(`${sched}: --range 16 (under the ceiling): ops rounds of N-1 IPIs, 16 single-page flushes each on CPU 0`, async () => {
      const r = await run({ cpus: 4, pages: 64, ops: 10, sched });
      expect(r.counters.workload_ops).toBe(10);
      expect(r.counters.nr_tlb_remote_flush).toBe(10);
      expect(r.counters.ipis_sent).toBe(30);
      expect(r.per_cpu[0].nr_tlb_local_flush_one).toBe(160);
      expect(r.per_cpu[0].nr_tlb_local_flush_all).toBe(0);
      expect(r.counters.pages_unmapped).toBe(160);
    });
  }

  it('--range 40 (over the ceiling of 33): one full flush per munmap', async () => {
    const r = await run({ cpus: 4, pages: 128, ops: 10, range: '40' });
    expect(r.counters.ipis_sent).toBe(30);
    expect(r.per_cpu[0].nr_tlb_local_flush_one).toBe(0);
    expect(r.per_cpu[0].nr_tlb_local_flush_all).toBe(10);
  });

  it('mixed lengths --range 1,8,40 over 9 munmaps: 3 x (1 + 8) single-page flushes and 3 full flushes', async () => {
    const r = await run({ cpus: 5, pages: 128, ops: 9, range: '1,8,40' });
    expect(r.counters.ipis_sent).toBe(9 * 4);
    expect(r.per_cpu[0].nr_tlb_local_flush_one).toBe(27);
    expect(r.per_cpu[0].nr_tlb_local_flush_all).toBe(3);
    expect(r.counters.pages_unmapped).toBe(3 * (1 + 8 + 40));
  });

  it('--ceiling moves the boundary: --range 16 with --ceiling 15 is a full flush each time', async () => {
    const r = await run({ cpus: 3, pages: 64, ops: 5, tlbSinglePageFlushCeiling: 15 });
    expect(r.per_cpu[0].nr_tlb_local_flush_all).toBe(5);
    expect(r.per_cpu[0].nr_tlb_local_flush_one).toBe(0);
  });

  it('bad --range values are refused with one line', () => {
    expect(() => resolveConfig({ workload: 'munmap', range: '0' })).toThrow(/--range takes page counts from 1 to 128/);
    expect(() => resolveConfig({ workload: 'munmap', range: '8,x' })).toThrow(/got 'x'/);
    expect(() => resolveConfig({ workload: 'munmap', pages: 16, range: '9' })).toThrow(/from 1 to 8/);
  });
});
