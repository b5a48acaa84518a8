/**
 * Two kernel rules of section 4 of the review, with counts derived from them:
 * - tlb_finish_mmu's nested flush (99baac21e458): a zap that finds another
 *   mmu_gather of the mm in flight (mm_tlb_flush_nested) flushes the whole
 *   mm, freed_tables set (since 7a30df49f63a), even if it gathered nothing.
 * - mprotect before 5.19 (`--mprotect-flush range`, 4a18419f71cd changed
 *   it): change_protection_range flushed the call's whole [start, end)
 *   whenever it changed any present PTE.
 * Every run is seeded (a replayed schedule or fixed seeds), so each count is
 * a fixed function of the configuration.
 */
import { describe, expect, it } from 'vitest';
import { Machine } from '../src/engine/coordinator.js';
import { runStress, scenarioConfig } from '../src/campaigns/stress.js';
import { NO_RACES } from './helpers.js';

describe('nested-zap: two madvise(MADV_DONTNEED) of one page at once', () => {
  // The buggy side's shortest racy schedule (tlbsim explore --scenario nested-zap --kernel buggy, bound 2):
  // CPU 0 clears P's PTE and is preempted before tlb_finish_mmu; CPU 1's madvise runs while CPU 0's
  // mmu_gather is still in flight.
  const RACY = '0:1,2:0,3:1';

  it('buggy (--no-nested-flush): the second zap flushes nothing and returns; its own stale entry reaches P', async () => {
    const r = await runStress({ scenario: 'nested-zap', kernel: 'buggy', overrides: { schedule: RACY }, iterations: 1, seed: 1, stopOnRace: false, threads: 1 });
    expect(r.failures).toEqual([]);
    // CPU 1 loads P twice (--ops 2) through the entry it cached before its madvise: two accesses after unmap.
    expect(r.races).toEqual({ ...NO_RACES, accesses_after_unmap: 2 });
    // Only CPU 0 gathered a PTE: one flush_tlb_mm_range of one page: 1 invlpg locally, 1 IPI (to CPU 1, in
    // mm_cpumask and not lazy). CPU 1 gathered nothing and, without the nested rule, flushed nothing.
    expect([r.counters.tlb_flush_calls, r.counters.nr_tlb_local_flush_one, r.counters.nr_tlb_local_flush_all, r.counters.ipis_sent]).toEqual([1, 1, 0, 1]);
    expect(r.counters.tlb_nested_flushes).toBe(0);
  });

  it('fixed (the default): both tlb_finish_mmu calls see the other zap in flight and flush the whole mm; no race', async () => {
    const r = await runStress({ scenario: 'nested-zap', kernel: 'fixed', overrides: { schedule: RACY }, iterations: 1, seed: 1, stopOnRace: false, threads: 1 });
    expect(r.failures).toEqual([]);
    expect(r.races).toEqual(NO_RACES);
    // Each zap's tlb_finish_mmu ran while the other's mmu_gather was in flight (tlb_flush_pending 2): each
    // flushed the whole mm (fullmm): 2 local full flushes, no single-page one, and one IPI each to the other
    // CPU (freed_tables: lazy or not, it is reached).
    expect([r.counters.tlb_nested_flushes, r.counters.tlb_flush_calls, r.counters.nr_tlb_local_flush_all, r.counters.nr_tlb_local_flush_one, r.counters.ipis_sent]).toEqual([2, 2, 2, 0, 2]);
  });

  it('explored: racy first at bound 2 on the buggy side; the fixed side is clean in every schedule up to bound 4', async () => {
    // Measured schedule counts (exhaustive, deterministic), not kernel counts; bound 4 covers every schedule
    // of the fixed side (bound 5 and 6 have none).
    const { exploreScenario } = await import('../src/campaigns/explore.js');
    const fixed = await exploreScenario({ scenario: 'nested-zap', kernel: 'fixed', bound: 6 });
    expect(fixed.complete).toBe(true);
    expect(fixed.per_preemptions.map((b) => b.schedules)).toEqual([2, 11, 20, 19, 8, 0, 0]);
    expect(fixed.racy_schedules).toBe(0);
  });
});

describe('--mprotect-flush range: the 4.12 mprotect flushes its whole range once it changed any present PTE', () => {
  // The machine of test/spanFlush.test.ts: 16 pages, CPU 1 mprotects all 16 while kswapd reclaims page 0,
  // then 8..15; CPU 2 stores to every page; no pending flush (pre-4.13), no tlb_gen (flush_tlb_func does
  // what is asked).
  const overrides = { pages: 16, batchedPendingFlush: false, tlbGen: false, reclaimPages: '0,8-15' } as const;

  it("the caller's own flush is 16 single pages (the range, 16 <= ceiling 33) or nothing; the span mode flushes less", async () => {
    const seen = { range: new Set<number>(), changed: new Set<number>() };
    for (const mode of ['range', 'changed'] as const) {
      const m = await Machine.boot(scenarioConfig('mprotect', { ...overrides, mprotectFlush: mode }));
      try {
        for (let seed = 1; seed <= 40; seed++) {
          const r = await m.run(seed);
          seen[mode].add(r.per_cpu[1].nr_tlb_local_flush_one);
          expect(r.per_cpu[1].nr_tlb_local_flush_all).toBe(0);
        }
      } finally {
        await m.shutdown();
      }
    }
    // range: flush_tlb_range(vma, start, end) of all 16 pages whenever one PTE was present, else no flush.
    expect([...seen.range].every((n) => n === 0 || n === 16)).toBe(true);
    expect(seen.range.has(16)).toBe(true);
    // changed: the span from the lowest to the highest write-protected PTE: 15 pages (1..15) once page 0
    // was reclaimed first while the others were still present.
    expect(seen.changed.has(15)).toBe(true);
  });

  it('a page reclaim cleared outside the changed span races with the span flush, never with the range flush', async () => {
    const changed = await runStress({ scenario: 'mprotect', overrides: { ...overrides, mprotectFlush: 'changed' }, iterations: 300, seed: 1, stopOnRace: true, threads: 1 });
    expect(changed.races.writes_after_protect).toBeGreaterThan(0);
    const range = await runStress({ scenario: 'mprotect', overrides: { ...overrides, mprotectFlush: 'range' }, iterations: 150, seed: 1, stopOnRace: false, threads: 1 });
    expect(range.failures).toEqual([]);
    expect(range.races).toEqual(NO_RACES);
    // The workload ran: reclaim unmaps the 9 pages of --reclaim-pages 0,8-15 once per iteration; CPU 2 stores.
    expect(range.counters.pages_unmapped).toBe(9 * 150);
    expect(range.counters.stores).toBeGreaterThan(0);
  });
});
