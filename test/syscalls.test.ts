import { describe, expect, it } from 'vitest';
import { runStress } from '../src/campaigns/stress.js';
import { NO_RACES } from './helpers.js';

// mprotect, munmap and madvise(MADV_DONTNEED) all run flushTlbBatchedPending
// first; each is exercised on the mprotect scenario (CPU 0 reclaims with a
// deferred flush while CPU 1 makes the call, CPU 2 keeps storing, and CPU 1
// stores again after the call). After munmap/madvise a load or store through
// an entry filled before the zap is an access after unmap (not a write after
// protect); seeded runs, so every count here is a fixed function of the seeds.
describe('flushTlbBatchedPending in munmap and madvise', () => {
  it('munmap: accesses after munmap returned are found without the pending flush, never with it', async () => {
    const without = await runStress({ scenario: 'mprotect', overrides: { syscall: 'munmap', batchedPendingFlush: false }, iterations: 300, seed: 1, stopOnRace: false, threads: 1 });
    expect(without.races.accesses_after_unmap).toBeGreaterThan(0);
    expect(without.races.writes_after_protect).toBe(0);
    expect(without.first_race?.reports[0].kind).toBe('access_after_unmap');
    const withFlush = await runStress({ scenario: 'mprotect', overrides: { syscall: 'munmap' }, iterations: 300, seed: 1, stopOnRace: false, threads: 1 });
    expect(withFlush.races).toEqual(NO_RACES);
    // Every store CPU 1 makes after munmap must fault (8 pages x 300 iterations); CPU 2's later stores fault too.
    expect(withFlush.counters.segv_stores).toBeGreaterThanOrEqual(2400);
  });

  it('madvise: accesses after MADV_DONTNEED returned are found without the pending flush; with it, none, and the flush shows as a full local flush', async () => {
    const withFlush = await runStress({ scenario: 'mprotect', overrides: { syscall: 'madvise' }, iterations: 300, seed: 1, stopOnRace: false, threads: 1 });
    const without = await runStress({ scenario: 'mprotect', overrides: { syscall: 'madvise', batchedPendingFlush: false }, iterations: 300, seed: 1, stopOnRace: false, threads: 1 });
    expect(withFlush.counters.nr_tlb_local_flush_all).toBeGreaterThan(0);
    expect(without.counters.nr_tlb_local_flush_all).toBe(0);
    expect(withFlush.races).toEqual(NO_RACES);
    expect(without.races.accesses_after_unmap).toBeGreaterThan(0);
    // MADV_DONTNEED keeps the VMA: later stores refault instead of faulting fatally.
    expect(withFlush.counters.segv_stores).toBe(0);
  });
});

// mprotect(PROT_NONE) and mremap in the mprotect-reclaim scenario (CPU 1
// loads P, makes the call, loads P twice; CPU 0 reclaims P with a deferred
// flush). --replay none: the default schedule, CPU 1 runs to the end before
// reclaim starts; '0:1,2:0,3:1': reclaim clears P's PTE before the call.
describe('mprotect(PROT_NONE) and mremap', () => {
  const RECLAIM_FIRST = '0:1,2:0,3:1';
  const one = (kernel: 'buggy' | 'fixed', syscall: 'mprotect-none' | 'mremap', schedule: string) =>
    runStress({ scenario: 'mprotect-reclaim', kernel, overrides: { syscall, schedule }, iterations: 1, seed: 1, stopOnRace: false, threads: 1 });

  it('PROT_NONE on a present PTE: flushed; a load then walks, faults and gets SIGSEGV (no race); reclaim still unmaps the PROT_NONE PTE', async () => {
    const r = await one('fixed', 'mprotect-none', 'none');
    expect(r.races).toEqual(NO_RACES);
    expect(r.counters.nr_tlb_local_flush_one).toBe(1); // mprotect's flush of the PTE it changed
    expect(r.counters.loads).toBe(1); // the warm-up only
    expect(r.counters.segv_loads).toBe(2); // both loads after the call
    expect(r.counters.pages_unmapped).toBe(1); // present to the kernel: reclaim unmapped it
  });

  it('PROT_NONE after reclaim cleared the PTE: buggy, nothing flushed and both loads hit the stale entry (reads after protect); fixed, the pending flush and two SIGSEGVs', async () => {
    const buggy = await one('buggy', 'mprotect-none', RECLAIM_FIRST);
    expect(buggy.races).toEqual({ ...NO_RACES, reads_after_protect: 2 });
    expect(buggy.first_race?.reports[0]).toMatchObject({ kind: 'read_after_protect', op: 'load', cpu: 1, page: 0 });
    expect(buggy.counters.segv_loads).toBe(0);
    const fixed = await one('fixed', 'mprotect-none', RECLAIM_FIRST);
    expect(fixed.races).toEqual(NO_RACES);
    expect(fixed.counters.nr_tlb_local_flush_all).toBe(1); // flush_tlb_batched_pending
    expect(fixed.counters.segv_loads).toBe(2);
  });

  it('mremap of a present PTE moves it and flushes the old address; the old address then faults', async () => {
    const r = await one('fixed', 'mremap', 'none');
    expect(r.races).toEqual(NO_RACES);
    expect(r.counters.nr_tlb_local_flush_one).toBe(1);
    expect(r.counters.segv_loads).toBe(2);
    expect(r.counters.pages_unmapped).toBe(0); // reclaim found P's PTE gone (moved to Q)
  });

  it('mremap of a PTE reclaim cleared moves nothing and flushes nothing of its own: buggy, the loads from the old address are accesses after unmap', async () => {
    const buggy = await one('buggy', 'mremap', RECLAIM_FIRST);
    expect(buggy.races).toEqual({ ...NO_RACES, accesses_after_unmap: 2 });
    expect(buggy.counters.tlb_flush_calls).toBe(1); // reclaim's, none from mremap
    expect(buggy.counters.nr_tlb_local_flush_one).toBe(0);
    const fixed = await one('fixed', 'mremap', RECLAIM_FIRST);
    expect(fixed.races).toEqual(NO_RACES);
    expect(fixed.counters.nr_tlb_local_flush_one).toBe(0); // no flush of a moved PTE
    expect(fixed.counters.nr_tlb_local_flush_all).toBe(1); // only the pending flush
    expect(fixed.counters.segv_loads).toBe(2);
  });
});
