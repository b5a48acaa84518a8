/**
 * mprotect/munmap/madvise flush the span of the PTEs they changed, as Linux's
 * mmu_gather does (tlb_flush_pte_range per changed PTE, one flush of
 * [lowest, highest] at tlb_finish_mmu), not only the changed pages. All runs
 * are seeded, so every count here is a fixed function of (config, seed).
 */
import { describe, expect, it } from 'vitest';
import { Machine } from '../src/engine/coordinator.js';
import { gatherSpan } from '../src/kernel/syscalls.js';
import { runStress, scenarioConfig } from '../src/campaigns/stress.js';
import { TLB_SINGLE_PAGE_FLUSH_CEILING } from '../src/kernel/tlbFlush.js';
import { NO_RACES } from './helpers.js';

describe('gatherSpan: the mmu_gather range', () => {
  it('is every page from the lowest to the highest changed one, and nothing when nothing changed', () => {
    expect(gatherSpan([])).toEqual([]);
    expect(gatherSpan([5])).toEqual([5]);
    expect(gatherSpan([7, 2, 4])).toEqual([2, 3, 4, 5, 6, 7]);
  });
});

describe('mprotect flushes the span of the PTEs it changed', () => {
  // 16 pages; kswapd reclaims page 3 first, then 8..15 (which keeps its flush
  // deferred for a while). CPU 1 mprotects all 16 pages at a seeded point of
  // that pass; CPU 2 holds writable entries for every page and keeps storing.
  // --no-tlb-gen: flush_tlb_func does exactly what is asked. With tlb_gen on, a
  // CPU behind in generation turns the span flush into a full flush, which
  // covers pages outside the span too (see test/tlbGen.test.ts).
  const overrides = { pages: 16, batchedPendingFlush: false, tlbGen: false } as const;

  it('a stale writable entry for a page inside the span is flushed: no race, even without the pending flush', async () => {
    const inside = await runStress({ scenario: 'mprotect', overrides: { ...overrides, reclaimPages: '3,8-15' }, iterations: 1000, seed: 1, stopOnRace: false });
    expect(inside.failures).toEqual([]);
    expect(inside.races).toEqual(NO_RACES);
    const withPending = await runStress({ scenario: 'mprotect', overrides: { pages: 16, reclaimPages: '3,8-15' }, iterations: 1000, seed: 1, stopOnRace: false });
    expect(withPending.races).toEqual(NO_RACES);
    // Both ran the workload: reclaim unmaps the 9 pages of --reclaim-pages 3,8-15 once per iteration; CPU 2 stores.
    for (const s of [inside, withPending]) {
      expect(s.counters.pages_unmapped).toBe(9 * 1000);
      expect(s.counters.stores).toBeGreaterThan(0);
    }
  });

  it('positive control: the same machine with page 0 (outside the span) instead of 3 has writes after protect', async () => {
    const outside = await runStress({ scenario: 'mprotect', overrides: { ...overrides, reclaimPages: '0,8-15' }, iterations: 1000, seed: 1, stopOnRace: false });
    expect(outside.failures).toEqual([]);
    expect(outside.races.writes_after_protect).toBeGreaterThan(0);
    expect(outside.first_race!.reports.every((r) => r.kind === 'write_after_protect' && r.op === 'store')).toBe(true);
  });

  it('the 2017 case (no PTE in the range changed, so mprotect flushes nothing) races without flushTlbBatchedPending and never with it', async () => {
    const cfg = scenarioConfig('mprotect', { batchedPendingFlush: false });
    const m = await Machine.boot(cfg);
    let found = -1;
    try {
      for (let seed = 1; seed <= 400 && found < 0; seed++) {
        const r = await m.run(seed);
        const caller = r.per_cpu[1];
        // No local flush of any kind on the caller: mprotect changed no PTE.
        if (r.races.writes_after_protect > 0 && caller.nr_tlb_local_flush_one === 0 && caller.nr_tlb_local_flush_all === 0) found = seed;
      }
    } finally {
      await m.shutdown();
    }
    expect(found, 'no seed in 1..400 where mprotect changed no PTE and a write after protect followed').toBeGreaterThan(0);
    const fixed = await Machine.boot(scenarioConfig('mprotect', {}));
    try {
      const r = await fixed.run(found);
      expect(r.races).toEqual(NO_RACES);
      // The pending flush is the one flush mprotect made: a full flush of the mm.
      expect(r.per_cpu[1].nr_tlb_local_flush_all).toBeGreaterThan(0);
    } finally {
      await fixed.shutdown();
    }
  });
});

describe('span length against tlb_single_page_flush_ceiling (--ceiling)', () => {
  /**
   * The caller's own flush of a full-range mprotect, over seeds 1..60: kswapd
   * reclaims only the last page, so mprotect changed either every PTE (span
   * = pages) or every PTE but the last (span = pages - 1). Returns the
   * distinct outcomes as "one:N" (N single-page flushes) or "all:1".
   */
  async function callerFlushes(pages: number, ceiling?: number): Promise<Set<string>> {
    const m = await Machine.boot(
      // --no-tlb-gen isolates the ceiling: with tlb_gen a caller behind in generation does a full flush anyway.
      scenarioConfig('mprotect', { pages, reclaimPages: String(pages - 1), batchedPendingFlush: false, tlbGen: false, tlbSets: 64, tlbWays: 4, ...(ceiling === undefined ? {} : { tlbSinglePageFlushCeiling: ceiling }) }),
    );
    const seen = new Set<string>();
    try {
      for (let seed = 1; seed <= 60; seed++) {
        const c = (await m.run(seed)).per_cpu[1];
        expect(c.nr_tlb_local_flush_one === 0 || c.nr_tlb_local_flush_all === 0, 'one flush kind per call').toBe(true);
        if (c.nr_tlb_local_flush_all > 0) seen.add(`all:${c.nr_tlb_local_flush_all}`);
        else seen.add(`one:${c.nr_tlb_local_flush_one}`);
      }
    } finally {
      await m.shutdown();
    }
    return seen;
  }

  it(`default ${TLB_SINGLE_PAGE_FLUSH_CEILING}: spans of 32 and 33 pages are flushed page by page (the span's pages counted)`, async () => {
    expect(await callerFlushes(TLB_SINGLE_PAGE_FLUSH_CEILING)).toEqual(new Set(['one:32', 'one:33']));
  });

  it('default 33: a span of 34 pages is one full flush, 33 still page by page', async () => {
    expect(await callerFlushes(TLB_SINGLE_PAGE_FLUSH_CEILING + 1)).toEqual(new Set(['one:33', 'all:1']));
  });

  it('--ceiling 15 on 16 pages: the 15-page span is flushed page by page, the 16-page span is a full flush', async () => {
    expect(await callerFlushes(16, 15)).toEqual(new Set(['one:15', 'all:1']));
  });

  it('--ceiling 0: every range flush is a full flush', async () => {
    expect(await callerFlushes(8, 0)).toEqual(new Set(['all:1']));
  });
});
