/**
 * Race `pending-flush-lost` (2021): "mm/rmap: fix potential batched TLB
 * flush race" (5ee2fa2f0636, Huang Ying, Linux 5.14; reported by syzbot
 * through KCSAN, the generation pair suggested by Nadav Amit in review).
 * Introduced with the boolean itself, by 3ea277194daa (Linux 4.13; a
 * reading of the race: no Fixes: tag verified here). The 4.13
 * `mm->tlb_flush_batched` was a boolean: flush_tlb_batched_pending()
 * flushed, then cleared it. Reclaim can clear another PTE and set the flag
 * under a different page table's PTE lock in between; the clear then
 * forgets that pending flush. The fix keeps a pending generation (bits
 * 0-14) and a flushed generation (bits 16-30) and publishes the flush with
 * a compare-and-swap that fails if a new flush became pending meanwhile.
 *
 *   CPU 0 (kswapd)                CPU 1 (thread)                 CPU 2 (thread)
 *   ----------------------        ---------------------------    ------------------
 *                                 load A                         store to B
 *   unmap A (table 0), flag
 *   set; try_to_unmap_flush()
 *                                 mprotect(A):
 *                                   flush_tlb_batched_pending():
 *                                   flag set, flush_tlb_mm()
 *                                                                store to B: entry
 *                                                                cached writable again
 *   unmap B (table 1),
 *   flag set again
 *                                   buggy: flag := false (B's
 *                                   pending flush forgotten)
 *                                 mprotect(B): PTE not present,
 *                                   flag clear: nothing flushed
 *                                 program flag "B is read-only"
 *                                   := 1 (a futex wake)
 *                                                                sees the flag; store
 *                                                                to B through the stale
 *                                                                entry: write after protect
 *   try_to_unmap_flush_dirty()
 *
 * The only preemption the race needs is kswapd's, between unmapping B and
 * flushing it (`tlbsim explore` finds it at bound 1); every other step is a
 * wait ending or the program's own order: the threads start when reclaim
 * starts (as accessLoop's do), and CPU 2's late store follows CPU 1's return
 * from mprotect(B) through a user-space flag, as a program that writes
 * "after protect" knows the call returned.
 *
 * Buggy side: `--pending-flush bool`. Fixed: the generation pair (`gen`):
 * B's unmap makes the CAS fail, the flush stays owed, and mprotect(B)
 * flushes CPU 2's entry, so its store faults.
 *
 * Invariant: A is the first page of page table 0 and B the first of page
 * table 1 (so the two unmaps take different PTE locks); CPU 0 reclaims A,
 * then B, each in its own batch; CPU 1 loads A in warm-up, waits for reclaim
 * to start (its syscall entry), mprotects A, then B, then sets the program's
 * flag (`ProgramState.setUserFlag`) and wakes CPU 2; CPU 2 stores to B in warm-up, stores
 * to B `--ops` (1) times once reclaim has started, waits for the flag, then
 * stores to B once more.
 */
import { ConfigError, type SimConfig } from '../../config/params.js';
import type { Cpu } from '../../engine/cpu.js';
import { PTRS_PER_PTE } from '../../engine/layout.js';
import { ringDoorbell } from '../../engine/scheduler.js';
import { sysMprotectReadOnly } from '../../kernel/syscalls.js';
import { BARRIER_SAFETY_MS, kswapdAndThreads, storeEach, warmUp } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import type { RaceEntry } from './types.js';

const A = 0;
const B = PTRS_PER_PTE;
/** The writer thread's CPU. */
const WRITER = 2;

/** Threads start when reclaim starts (as accessLoop's do, src/scenarios/workloads/common.ts). */
function waitReclaimStarted(cpu: Cpu): void {
  const program = cpu.program;
  cpu.blockUntil(() => program.reclaimStarted(), BARRIER_SAFETY_MS, true, true);
}

export const pendingFlushLostWorkload: Workload = {
  name: 'pending-flush-lost',
  summary: "CPU 0 reclaims a page in each of two page tables while CPU 1 mprotects them one after the other, then tells CPU 2, which writes the second (the lost tlb_flush_batched race)",
  initiators: () => [0, 1],
  minCpus: 3,
  validate(c: SimConfig): void {
    // Page B is the first PTE of the second page table: the table whose deferred flush the boolean loses.
    if (c.pages <= PTRS_PER_PTE) {
      throw new ConfigError(`--pages must be more than ${PTRS_PER_PTE} for --workload pending-flush-lost (its pages span two page tables of ${PTRS_PER_PTE}), got ${c.pages}`);
    }
  },
  run(cpu, protocol) {
    const c = cpu.config;
    const program = cpu.program;
    kswapdAndThreads(cpu, protocol, [A, B], (mm) => {
      if (cpu.id === 1) {
        warmUp(cpu, mm, [A], false);
        waitReclaimStarted(cpu); // a choice point: the syscall entry
        sysMprotectReadOnly(cpu, mm, [A]);
        cpu.schedPoint(); // syscall entry
        sysMprotectReadOnly(cpu, mm, [B]);
        // The program's "B is read-only now" flag (a futex wake).
        program.setUserFlag();
        ringDoorbell(cpu.v.cpuCtl, WRITER);
        return;
      }
      warmUp(cpu, mm, [B], true);
      waitReclaimStarted(cpu);
      storeEach(cpu, mm, Array.from({ length: c.ops }, () => B));
      // Wait for the program's flag (futex wait), then write: after mprotect(B) returned.
      cpu.blockUntil(() => program.userFlag(), BARRIER_SAFETY_MS, true, true);
      storeEach(cpu, mm, [B]);
    });
  },
};

export const pendingFlushLost: RaceEntry = {
  name: 'pending-flush-lost',
  year: 2021,
  commit: '5ee2fa2f0636',
  title: 'mm/rmap: fix potential batched TLB flush race',
  author: 'Huang Ying',
  release: '5.14',
  introduced: '3ea277194daa ("mm, mprotect: flush TLB if potentially racing with a parallel reclaim leaving stale TLB entries"), whose mm->tlb_flush_batched was the boolean',
  arch: 'any',
  effect: 'write after protect',
  summary: "the boolean tlb_flush_batched is cleared after a flush and forgets a flush reclaim made pending meanwhile; a later mprotect flushes nothing",
  workload: 'pending-flush-lost',
  defaults: { workload: 'pending-flush-lost', cpus: 3, pages: PTRS_PER_PTE + 1, batch: 1, ops: 1, writeRatio: 1, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'batched' },
  buggy: { pendingFlush: 'bool' },
};
