import { describe, expect, it } from 'vitest';
import { runStress } from '../src/stress.js';
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
