/**
 * `--protocol context-reset` (PowerPC VSID reset, seed 004): a flush of more
 * than `--context-reset-cutoff` pages gives the mm a new context on every CPU
 * running it instead of invalidating page by page; at or below the cutoff the
 * pages are flushed one by one. Exact counts on reclaim (B pages per batch,
 * N-1 thread CPUs), and the oracle holds it safe.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../src/api.js';
import { resolveConfig, type SimConfig } from '../src/config/config.js';
import { CONTEXT_GENERATIONS, TLB_NR_DYN_ASIDS, slotTag } from '../src/kernel/tlbState.js';
import { markTag } from '../src/engine/tlb.js';
import { NO_RACES } from './helpers.js';

const TIMEOUT = 60_000;

function cfg(over: Partial<SimConfig>): SimConfig {
  return resolveConfig({ workload: 'reclaim', protocol: 'context-reset', arch: 'x86', ops: 300, tlbSets: 16, tlbWays: 4, ...over });
}

describe('context-reset reclaim', () => {
  for (const sched of ['free', 'seeded'] as const) {
    it(
      `above the cutoff (B=32 > 20): one reset per batch on every thread CPU, 0 single-page flushes (${sched})`,
      async () => {
        const N = 6;
        const P = 64;
        const r = await simulate(cfg({ cpus: N, pages: P, batch: 32, sched }));
        const ctx = JSON.stringify({ sched, failure: r.failure });
        expect(r.status, ctx).toBe('ok');
        const k = r.counters;
        expect(k.nr_tlb_local_flush_one + k.remote_flush_pages, ctx).toBe(0);
        expect(k.remote_flush_full, ctx).toBe(0);
        expect(k.nr_tlb_remote_flush, ctx).toBe(2);
        expect(k.ipis_sent, ctx).toBe(2 * (N - 1));
        expect(k.context_resets, ctx).toBe(2 * (N - 1));
        for (let c = 1; c < N; c++) expect(r.per_cpu[c].context_resets, `${ctx} cpu ${c}`).toBe(2);
        expect(r.per_cpu[0].context_resets, ctx).toBe(0);
        expect(r.races, ctx).toEqual(NO_RACES);
        expect(r.modeled.events.context_reset.count).toBe(2 * (N - 1));
      },
      TIMEOUT,
    );
  }

  it(
    'at or below the cutoff (B=16 <= 20): page by page, no reset',
    async () => {
      const N = 4;
      const r = await simulate(cfg({ cpus: N, pages: 64, batch: 16, sched: 'seeded' }));
      expect(r.status).toBe('ok');
      const k = r.counters;
      expect(k.context_resets).toBe(0);
      expect(k.nr_tlb_remote_flush).toBe(4);
      expect(k.ipis_sent).toBe(4 * (N - 1));
      // Every round asked for 16 pages; targets whose tlb_gen was behind did a full flush instead.
      expect(k.remote_flush_pages + 16 * k.remote_flush_full + 16 * k.tlb_flushes_elided).toBe(4 * (N - 1) * 16);
      expect(r.races).toEqual(NO_RACES);
    },
    TIMEOUT,
  );

  it(
    '--context-reset-cutoff 40 turns the 32-page batches back into page-by-page flushes',
    async () => {
      const r = await simulate(cfg({ cpus: 3, pages: 64, batch: 32, contextResetCutoff: 40, sched: 'seeded' }));
      expect(r.status).toBe('ok');
      expect(r.counters.context_resets).toBe(0);
      expect(r.counters.remote_flush_pages + 32 * r.counters.remote_flush_full).toBe(2 * 2 * 32);
    },
    TIMEOUT,
  );

  it('context ids stay distinct from every other slot and share their slot\'s flush marks', () => {
    const tags = new Set<number>();
    for (let s = 0; s < TLB_NR_DYN_ASIDS; s++) {
      for (let g = 0; g < CONTEXT_GENERATIONS; g++) {
        const t = slotTag(s, g);
        expect(tags.has(t)).toBe(false);
        tags.add(t);
        expect(markTag(t)).toBe(s + 1);
      }
    }
  });

  it(
    'more resets per CPU than context ids (12 > 8: the ids wrap) stay safe, and so do mprotect, munmap and madvise',
    async () => {
      // 256 pages in batches of 21: 12 batches of 21 (> 20: reset) and one of 4 (page by page), on 2 thread CPUs.
      const r = await simulate(cfg({ cpus: 3, pages: 256, batch: 21, sched: 'seeded', ops: 2000 }));
      expect(r.status).toBe('ok');
      expect(r.counters.context_resets).toBe(12 * 2);
      expect(r.per_cpu[1].context_resets).toBeGreaterThan(CONTEXT_GENERATIONS);
      expect(r.races).toEqual(NO_RACES);
      for (const syscall of ['mprotect', 'munmap', 'madvise'] as const) {
        const m = await simulate(resolveConfig({ workload: 'mprotect', protocol: 'context-reset', syscall, cpus: 3, pages: 32, batch: 32, sched: 'seeded' }));
        expect(m.status, syscall).toBe('ok');
        expect(m.races, syscall).toEqual(NO_RACES);
      }
    },
    TIMEOUT,
  );
});
