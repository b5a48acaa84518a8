import { describe, expect, it } from 'vitest';
import { runStress } from '../src/stress.js';

// mprotect, munmap and madvise(MADV_DONTNEED) all run flushTlbBatchedPending
// first; each is exercised on the mprotect scenario (CPU 0 reclaims with a
// deferred flush while CPU 1 makes the call and then stores again).
describe('flushTlbBatchedPending in munmap and madvise', () => {
  it('munmap: a store after munmap returned is found without the pending flush, never with it', async () => {
    const without = await runStress({ scenario: 'mprotect', overrides: { syscall: 'munmap', batchedPendingFlush: false }, iterations: 100, seed: 1, stopOnRace: false, threads: 1 });
    expect(without.races.writes_after_protect).toBeGreaterThan(0);
    expect(without.first_race?.reports[0].kind).toBe('write_after_protect');
    const withFlush = await runStress({ scenario: 'mprotect', overrides: { syscall: 'munmap' }, iterations: 100, seed: 1, stopOnRace: false, threads: 1 });
    expect(withFlush.races).toEqual({ lost_writes: 0, stale_accesses: 0, writes_after_protect: 0 });
    // Every store CPU 1 makes after munmap must fault (8 pages x 100 iterations).
    expect(withFlush.counters.segv_stores).toBe(800);
  });

  it('madvise: the pending flush shows up as a full local flush on the calling CPU, and only when enabled', async () => {
    const withFlush = await runStress({ scenario: 'mprotect', overrides: { syscall: 'madvise' }, iterations: 50, seed: 1, stopOnRace: false, threads: 1 });
    const without = await runStress({ scenario: 'mprotect', overrides: { syscall: 'madvise', batchedPendingFlush: false }, iterations: 50, seed: 1, stopOnRace: false, threads: 1 });
    expect(withFlush.counters.nr_tlb_local_flush_all).toBeGreaterThan(0);
    expect(without.counters.nr_tlb_local_flush_all).toBe(0);
    expect(withFlush.races).toEqual({ lost_writes: 0, stale_accesses: 0, writes_after_protect: 0 });
    // MADV_DONTNEED keeps the VMA: later stores refault instead of faulting fatally.
    expect(withFlush.counters.segv_stores).toBe(0);
  });
});
