/**
 * Scenario `lazy-pgtable-free` (2018): a planted ablation of the lazy-TLB
 * rule "flushes skip lazy CPUs, except those that free page tables".
 * Lazy TLB mode lets a CPU that runs a kernel thread keep the last user mm
 * loaded. Up to 4.19, native_flush_tlb_others() IPIed the whole
 * mm_cpumask, lazy CPUs included. Rik van Riel's 4.20 series made flushes
 * skip lazy CPUs ("x86/mm/tlb: Make lazy TLB mode lazier", 145f573b89a6:
 * their TLB is caught up at the switch back, by tlb_gen) and, in the same
 * release, kept the ones that free page tables reaching them ("x86/mm/tlb:
 * Add freed_tables argument to flush_tlb_mm_range", 016c4d92cd16): x86 may
 * walk speculatively through cached paging-structure entries at any time,
 * also in kernel mode, so a lazy CPU that still caches an entry pointing at
 * a freed (and reused) page-table page can walk through it. So no release
 * skipped lazy CPUs on a table-freeing flush: the buggy side never shipped
 * (introduced: ablation). A first version of the series, "x86/mm/tlb:
 * Leave lazy TLB mode at page table free time" (2ff6ddf19c0e) with
 * ac0315896970 and 64482aafe55f, was merged for 4.19 and reverted before
 * that release (Peter Zijlstra, "x86/mm/tlb: Revert the recent lazy TLB
 * patches", which lists all five). The shipped race of this family is
 * CVE-2025-22045 (flush_tlb_range without freed_tables for a zapped PMD).
 *
 * Verified: the revert's list of commits (and 2ff6ddf19c0e's changelog);
 * 016c4d92cd16 from the Fixes: tag of Jann Horn's CVE-2025-22045 fix;
 * 145f573b89a6 and its freed_tables check from Nicholas Piggin's 2020
 * question to Rik van Riel about it. Its release (4.20) is the merge
 * window after the revert; not read from a tag here.
 *
 *   CPU 0 (thread of the process)           CPU 1 (was a thread of the same
 *                                           process)
 *   ---------------------------------       --------------------------------
 *                                           load from P: the walk caches
 *                                           P's page table (paging-structure
 *                                           cache) and P's PTE (TLB)
 *                                           the thread blocks; a kernel thread
 *                                           runs: enter_lazy_tlb(), mm stays
 *                                           loaded
 *   munmap(P's whole 512-page table):
 *     zap_pte_range(): P's PTE cleared
 *     tlb_finish_mmu() -> flush_tlb_mm_range(
 *       freed_tables): buggy: CPU 1 is lazy,
 *       skipped (no IPI)
 *     free_pgtables(): the page-table page
 *     is freed
 *                                           speculative walk through the
 *                                           cached entry: reads the freed
 *                                           page-table page (use after free)
 *
 * Modelled (src/engine/pageWalkCache.ts, `--page-walk-cache`): each CPU's
 * paging-structure cache holds the page table of its last walk and that
 * table's generation; every flush that reaches the CPU for its loaded mm
 * drops it (flushTlbFunc; flush_tlb_func's lazy branch, which switches to
 * init_mm, included); munmap of a whole table bumps the table's generation
 * after its flush is acknowledged; the lazy CPU's kernel thread makes a
 * speculative walk at each of its `--ops` scheduling points, and a walk
 * through an entry whose table generation moved on is a stale access
 * (frame -1: the page-table page).
 *
 * Ablation side (`--kernel buggy`, labelled `ablation`):
 * `--no-lazy-flush-on-table-free` (the freed_tables flush skips lazy CPUs
 * like any other). Fixed: it reaches them (the default; every release).
 *
 * Invariant: CPU 1 loads P once, goes lazy, tells CPU 0 (the warm-up
 * barrier) and makes `--ops` speculative walks, one per scheduling point,
 * then leaves lazy mode; CPU 0 waits for that and munmaps P's whole page
 * table once. Nothing else runs.
 */
import type { Cpu } from '../../engine/cpu.js';
import { PTRS_PER_PTE } from '../../engine/layout.js';
import { ringDoorbell } from '../../engine/scheduler.js';
import { sysMunmap } from '../../kernel/syscalls.js';
import { allPages, BARRIER_SAFETY_MS } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import { ABLATION, type RaceEntry } from './types.js';

const P = 0;
const MM = 0;
/** The unmapping thread's CPU. */
const UNMAPPER = 0;

export const lazyPgtableFreeWorkload: Workload = {
  name: 'lazy-pgtable-free',
  summary: 'CPU 1 walks a page, goes lazy (a kernel thread) keeping its page-walk cache; CPU 0 munmaps the whole page table and frees it; CPU 1 walks speculatively through its cached entry (the 2018 lazy-TLB page-table-free race)',
  initiators: () => [UNMAPPER],
  run(cpu: Cpu) {
    const program = cpu.program;
    cpu.switchMm(MM);
    if (cpu.id === UNMAPPER) {
      cpu.blockUntil(() => program.warmArrivals() >= 1, BARRIER_SAFETY_MS, true, true);
      sysMunmap(cpu, MM, allPages(cpu.config.pages));
      return;
    }
    cpu.tick();
    cpu.load(MM, P);
    // The thread blocks: a kernel thread runs on the lazily loaded mm.
    cpu.enterLazyTlb();
    program.arriveWarm();
    ringDoorbell(cpu.v.cpuCtl, UNMAPPER);
    for (let i = 0; i < cpu.config.ops; i++) {
      cpu.schedPoint();
      cpu.speculativeWalk();
    }
    cpu.leaveLazyTlb();
  },
};

export const lazyPgtableFree: RaceEntry = {
  name: 'lazy-pgtable-free',
  year: 2018,
  commit: '016c4d92cd16',
  title: 'x86/mm/tlb: Add freed_tables argument to flush_tlb_mm_range',
  author: 'Rik van Riel',
  release: '4.20',
  introduced: ABLATION,
  arch: 'x86',
  effect: 'use after free',
  summary: "munmap frees a page table and its flush skips a lazy-TLB CPU, whose paging-structure cache still points into the freed page; its next speculative walk reads freed memory",
  workload: 'lazy-pgtable-free',
  defaults: { workload: 'lazy-pgtable-free', cpus: 2, pages: PTRS_PER_PTE, batch: 1, ops: 2, writeRatio: 0, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'batched', pageWalkCache: true },
  buggy: { lazyFlushOnTableFree: false },
};
