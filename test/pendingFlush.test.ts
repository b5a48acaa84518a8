/**
 * mm->tlb_flush_batched: the pending/flushed generation pair of current
 * kernels (`--pending-flush gen`, the default) against the Linux 4.13 boolean
 * (`--pending-flush bool`), first as words, then as the `pending-flush`
 * stress scenario, where the boolean loses a flush reclaim made pending while
 * mprotect's flush_tlb_batched_pending was flushing.
 */
import { describe, expect, it } from 'vitest';
import {
  TLB_FLUSH_BATCH_FLUSHED_SHIFT,
  TLB_FLUSH_BATCH_PENDING_LARGE,
  finishTlbFlushBatched,
  markTlbFlushBatched,
  mmBlockWords,
  readTlbFlushBatched,
  tlbFlushBatchedWord,
} from '../src/kernel/mm.js';
import { runStress } from '../src/campaigns/stress.js';
import { NO_RACES } from './helpers.js';

const CPUS = 4;
function freshMm(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(mmBlockWords(CPUS, 1) * 4));
}
const word = (mm: Int32Array): number => mm[tlbFlushBatchedWord(CPUS, 0)];

describe('tlb_flush_batched as a pending/flushed generation pair (gen)', () => {
  it('a deferred flush bumps pending; a flush publishes flushed = pending and nothing is owed', () => {
    const mm = freshMm();
    expect(readTlbFlushBatched(mm, CPUS, 0, 'gen').owed).toBe(false);
    markTlbFlushBatched(mm, CPUS, 0, 'gen');
    markTlbFlushBatched(mm, CPUS, 0, 'gen');
    expect(word(mm)).toBe(2);
    const seen = readTlbFlushBatched(mm, CPUS, 0, 'gen');
    expect(seen.owed).toBe(true);
    expect(finishTlbFlushBatched(mm, CPUS, 0, 'gen', seen.word)).toBe(true);
    expect(word(mm)).toBe(2 | (2 << TLB_FLUSH_BATCH_FLUSHED_SHIFT));
    expect(readTlbFlushBatched(mm, CPUS, 0, 'gen').owed).toBe(false);
  });

  it('a flush made pending during the flush survives it (the CAS fails and the flush stays owed)', () => {
    const mm = freshMm();
    markTlbFlushBatched(mm, CPUS, 0, 'gen');
    const seen = readTlbFlushBatched(mm, CPUS, 0, 'gen'); // flush_tlb_batched_pending reads, then flushes...
    markTlbFlushBatched(mm, CPUS, 0, 'gen'); // ...while reclaim defers another flush
    expect(finishTlbFlushBatched(mm, CPUS, 0, 'gen', seen.word)).toBe(false);
    expect(readTlbFlushBatched(mm, CPUS, 0, 'gen').owed).toBe(true);
  });

  it('pending restarts at 1 (flushed 0) before it could wrap onto flushed', () => {
    const mm = freshMm();
    mm[tlbFlushBatchedWord(CPUS, 0)] = (TLB_FLUSH_BATCH_PENDING_LARGE + 1) | (5 << TLB_FLUSH_BATCH_FLUSHED_SHIFT);
    markTlbFlushBatched(mm, CPUS, 0, 'gen');
    expect(word(mm)).toBe(1);
    expect(readTlbFlushBatched(mm, CPUS, 0, 'gen').owed).toBe(true);
  });
});

describe('tlb_flush_batched as the 4.13 boolean (bool)', () => {
  it('the store of false after the flush wipes out a flush made pending during it', () => {
    const mm = freshMm();
    markTlbFlushBatched(mm, CPUS, 0, 'bool');
    const seen = readTlbFlushBatched(mm, CPUS, 0, 'bool');
    expect(seen.owed).toBe(true);
    markTlbFlushBatched(mm, CPUS, 0, 'bool'); // reclaim defers another flush meanwhile
    finishTlbFlushBatched(mm, CPUS, 0, 'bool', seen.word);
    expect(readTlbFlushBatched(mm, CPUS, 0, 'bool').owed).toBe(false); // lost
  });
});

describe('the pending-flush scenario', () => {
  it('--pending-flush bool: writes after protect within 1000 seeded iterations; gen (the default): none in the same 1000', async () => {
    const bool = await runStress({ scenario: 'pending-flush', overrides: { pendingFlush: 'bool' }, iterations: 1000, seed: 1, stopOnRace: false });
    expect(bool.failures).toEqual([]);
    expect(bool.iterations).toBe(1000);
    expect(bool.races.writes_after_protect).toBeGreaterThan(0);
    expect(bool.first_race!.reports[0]).toMatchObject({ kind: 'write_after_protect', op: 'store' });
    // The lost flush is one the storing CPU (not the mprotect caller) needed, on the second page table.
    expect(bool.first_race!.reports.some((r) => r.cpu >= 2 && r.page >= 512)).toBe(true);

    const gen = await runStress({ scenario: 'pending-flush', overrides: {}, iterations: 1000, seed: 1, stopOnRace: false });
    expect(gen.config.pendingFlush).toBe('gen');
    expect(gen.failures).toEqual([]);
    expect(gen.races).toEqual(NO_RACES);
    // The workload ran: one reclaim batch per page table (2 batches of --batch pages) per iteration, and the stores.
    expect(gen.counters.pages_unmapped).toBe(2 * gen.config.batch * 1000);
    expect(gen.counters.stores).toBeGreaterThan(0);
  });
});
