/**
 * Workload `pending-flush`: two mprotect(PROT_READ) calls against reclaim's
 * deferred flushes, to show what the boolean mm->tlb_flush_batched of Linux
 * 4.13 loses and the pending/flushed generation pair of current kernels
 * (mm/rmap.c: set_tlb_ubc_flush_pending, flush_tlb_batched_pending) keeps.
 *
 * The process's working set is WORKING_SET_PER_TABLE pages at the start of
 * each of two page tables (pages 0.. and PTRS_PER_PTE..), so it needs
 * `--pages` > PTRS_PER_PTE; the rest of the address space is never touched.
 * Two page tables matter: flush_tlb_batched_pending runs under one table's
 * PTE lock, and reclaim can only unmap a page of the *other* table while it
 * runs. CPU 0 reclaims the working set in batches of `--batch` (the
 * scenario uses one batch per table), the first table's pages first, so the
 * first batch leaves a flush owed while the second clears PTEs; CPU 1 calls
 * mprotect on the first table's pages, then on the second table's; CPUs
 * 2..N-1 store to the second table's pages throughout (writable-dirty entries).
 *
 *   CPU 1 (mprotect #1, table A)        CPU 0 (reclaim)          CPU 2
 *   flush_tlb_batched_pending:
 *     sees a flush owed, flush_tlb_mm --------------------------> flushed
 *                                                                 store to X (table B):
 *                                                                 writable-dirty entry
 *                                       clear X's PTE, mark a
 *                                       flush pending (deferred)
 *     bool: store 0 -> X's pending flush is forgotten
 *     gen:  CAS fails  -> still owed
 *   mprotect #2 (table B):
 *     bool: nothing owed, X's PTE not present: X not flushed
 *     gen:  flush_tlb_mm ------------------------------------------> flushed
 *   returns                                                       store to X:
 *                                                                 bool: succeeds (write after protect)
 *                                                                 gen:  faults
 *
 * (X must also lie outside the span of the PTEs mprotect #2 changed; reclaim
 * unmaps in page order, so the pages it already cleared are below that span.)
 */
import { PTRS_PER_PTE } from '../../engine/layout.js';
import { sysMprotectReadOnly } from '../../kernel/syscalls.js';
import { accessLoop, kswapdAndThreads, placeSyscall, warmUp } from './common.js';
import type { Workload } from './types.js';
import { ConfigError, type SimConfig } from '../../config/params.js';

/** Pages of the working set in each of the two page tables. */
export const WORKING_SET_PER_TABLE = 2;

/** The working set: the first pages of page table 0 and of page table 1. */
function pendingFlushWorkingSet(pages: number): { first: number[]; second: number[] } {
  const n = Math.min(WORKING_SET_PER_TABLE, Math.max(0, pages - PTRS_PER_PTE));
  return {
    first: Array.from({ length: n }, (_, i) => i),
    second: Array.from({ length: n }, (_, i) => PTRS_PER_PTE + i),
  };
}

export const pendingFlushWorkload: Workload = {
  name: 'pending-flush',
  summary: "CPU 0 reclaims pages in two page tables while CPU 1 mprotects one table, then the other, and CPUs 2.. store (the boolean tlb_flush_batched race)",
  validate(c: SimConfig): void {
    if (c.reclaimPages.trim() !== '') {
      throw new ConfigError('--reclaim-pages applies to --workload reclaim and mprotect; pending-flush reclaims its own working set');
    }
    if (c.pages <= PTRS_PER_PTE) {
      throw new ConfigError(`--pages must be more than ${PTRS_PER_PTE} for --workload pending-flush (its pages span two page tables of ${PTRS_PER_PTE}), got ${c.pages}`);
    }
  },
  initiators: () => [0, 1],
  // kswapd, the mprotect caller, and at least one storing thread.
  minCpus: 3,
  run(cpu, protocol) {
    const c = cpu.config;
    const { first, second } = pendingFlushWorkingSet(c.pages);
    const all = [...first, ...second];
    kswapdAndThreads(cpu, protocol, all, (mm) => {
      if (cpu.id !== 1) {
        // The storing threads work on the second table: the one whose deferred flush the boolean can lose.
        warmUp(cpu, mm, second, true);
        accessLoop(cpu, mm, second, c.ops, c.writeRatio);
        return;
      }
      warmUp(cpu, mm, all, false);
      placeSyscall(cpu, mm, all, all.length, c.ops);
      sysMprotectReadOnly(cpu, mm, first);
      sysMprotectReadOnly(cpu, mm, second);
      for (const p of all) {
        cpu.tick();
        cpu.load(mm, p);
      }
    });
  },
};
