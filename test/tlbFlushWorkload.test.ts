/**
 * Workload `tlb-flush` (will-it-scale tlb_flush2): every CPU writes its own
 * chunk and madvise(MADV_DONTNEED)s it, ops times. Each operation is one IPI
 * round to every other CPU: ops x N x (N-1) IPIs in ops x N rounds, exactly.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../src/config/config.js';
import { simulate } from '../src/api.js';
import { tlbFlushChunk } from '../src/scenarios/workloads/tlbFlush.js';
import { NO_RACES } from './helpers.js';

describe('tlb-flush workload', () => {
  it('chunks are private and equal: pages / CPUs each', () => {
    expect(tlbFlushChunk(0, 4, 18)).toEqual([0, 1, 2, 3]);
    expect(tlbFlushChunk(3, 4, 18)).toEqual([12, 13, 14, 15]);
  });

  for (const sched of ['free', 'seeded'] as const) {
    for (const n of [2, 4, 8]) {
      it(`${sched}, N = ${n}, 5 ops: ${5 * n * (n - 1)} IPIs in ${5 * n} rounds, no race`, async () => {
        const r = await simulate(resolveConfig({ workload: 'tlb-flush', cpus: n, pages: 4 * n, ops: 5, sched }));
        expect(r.status).toBe('ok');
        expect(r.counters.workload_ops).toBe(5 * n);
        expect(r.counters.nr_tlb_remote_flush).toBe(5 * n);
        expect(r.counters.ipis_sent).toBe(5 * n * (n - 1));
        expect(r.counters.nr_tlb_remote_flush_received).toBe(5 * n * (n - 1));
        // Every operation zaps its whole chunk: 4 pages each time.
        expect(r.counters.pages_unmapped).toBe(5 * n * 4);
        expect(r.races).toEqual(NO_RACES);
      });
    }
  }

  it('bad machines are refused with one line naming the option', () => {
    expect(() => resolveConfig({ workload: 'tlb-flush', cpus: 257, pages: 1024 })).toThrow(ConfigError);
    expect(() => resolveConfig({ workload: 'tlb-flush', cpus: 8, pages: 4 })).toThrow(/--pages must be at least --cpus/);
    expect(() => resolveConfig({ workload: 'tlb-flush', cpus: 4, lazyCpus: 1 })).toThrow(/--lazy-cpus/);
  });
});
