/**
 * Race `collapse-pmd-flush` (2025, CVE-2025-22045): "x86/mm: Fix
 * flush_tlb_range() when used for zapping normal PMDs" (3ef938c35035, Jann
 * Horn; merged for Linux 6.15 through tip x86/mm, and backported to the
 * stable kernels down to 5.10 in April 2025). Introduced by 016c4d92cd16
 * ("x86/mm/tlb: Add freed_tables argument to flush_tlb_mm_range", the fix's
 * Fixes: tag): x86's flush_tlb_range() passed freed_tables = false. Its
 * changelog: on the path
 *
 *     collapse_pte_mapped_thp
 *       pmdp_collapse_flush
 *         flush_tlb_range
 *
 * flush_tlb_range() zaps a normal PMD entry (one that points to a page
 * table) together with the PTEs in that table; arm64's version is documented
 * as usable for page-table removal, x86's now behaves the same way. x86 uses
 * freed_tables in native_flush_tlb_multi() to decide whether lazy-TLB CPUs
 * must be IPIed, "to avoid issues with speculative page table walks". So the
 * flush skipped lazy CPUs, and one whose paging-structure cache still held
 * the zapped PMD's entry could walk speculatively into the page table after
 * it was freed. The changelog draws no interleaving; this is the one it
 * describes, with madvise(MADV_COLLAPSE) (or khugepaged) as the collapser:
 *
 *   CPU 0 (MADV_COLLAPSE / khugepaged)      CPU 1 (was a thread of the process)
 *   ----------------------------------      -----------------------------------
 *                                           load from P: the walk caches P's
 *                                           page table (paging-structure cache)
 *                                           the thread blocks; a kernel thread
 *                                           runs: enter_lazy_tlb(), mm stays
 *                                           loaded
 *   collapse_pte_mapped_thp():
 *     pmdp_collapse_flush(): PMD cleared,
 *     flush_tlb_range(): freed_tables
 *       false (buggy): CPU 1 is lazy,
 *       skipped (no IPI)
 *     pte_free_defer(): the page table
 *     is freed
 *                                           speculative walk through the
 *                                           cached PMD entry: reads the freed
 *                                           page-table page (use after free)
 *
 * Modelled on the page-walk cache of `lazy-pgtable-free` (src/engine/pageWalkCache.ts):
 * sysMadviseCollapse (src/kernel/syscalls.ts) flushes the table's 512 pages with
 * flushTlbRange (a full flush: above the 33-page ceiling) and then bumps the
 * table's generation; the lazy CPU's kernel thread makes a speculative walk
 * at each of its `--ops` scheduling points. A walk through an entry whose
 * table generation moved on is a stale access with frame -1.
 *
 * Buggy side: `--no-flush-range-freed-tables` (flush_tlb_range without
 * freed_tables: should_flush_tlb skips the lazy CPU). Fixed (the default):
 * the flush reaches it, and flush_tlb_func switches it to init_mm, so it no
 * longer walks the mm's tables.
 *
 * Invariant: CPU 1 loads P once, goes lazy, tells CPU 0 (the warm-up
 * barrier) and makes `--ops` speculative walks, one per scheduling point,
 * then leaves lazy mode; CPU 0 waits for that and collapses P's whole page
 * table once. Nothing else runs, and no frame is freed (the THP keeps them).
 */
import type { Cpu } from '../../engine/cpu.js';
import { PTRS_PER_PTE } from '../../engine/layout.js';
import { ringDoorbell } from '../../engine/scheduler.js';
import { sysMadviseCollapse } from '../../kernel/syscalls.js';
import { allPages, BARRIER_SAFETY_MS } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import type { RaceEntry } from './types.js';

const P = 0;
const MM = 0;
/** The collapsing thread's CPU. */
const COLLAPSER = 0;

export const collapsePmdFlushWorkload: Workload = {
  name: 'collapse-pmd-flush',
  summary: 'CPU 1 walks a page, goes lazy (a kernel thread) keeping its page-walk cache; CPU 0 collapses the page table (MADV_COLLAPSE: pmdp_collapse_flush, then the table is freed); CPU 1 walks speculatively through its cached entry (CVE-2025-22045)',
  initiators: () => [COLLAPSER],
  run(cpu: Cpu) {
    const program = cpu.program;
    cpu.switchMm(MM);
    if (cpu.id === COLLAPSER) {
      cpu.blockUntil(() => program.warmArrivals() >= 1, BARRIER_SAFETY_MS, true, true);
      sysMadviseCollapse(cpu, MM, allPages(PTRS_PER_PTE));
      return;
    }
    cpu.tick();
    cpu.load(MM, P);
    // The thread blocks: a kernel thread runs on the lazily loaded mm.
    cpu.enterLazyTlb();
    program.arriveWarm();
    ringDoorbell(cpu.v.cpuCtl, COLLAPSER);
    for (let i = 0; i < cpu.config.ops; i++) {
      cpu.schedPoint();
      cpu.speculativeWalk();
    }
    cpu.leaveLazyTlb();
  },
};

export const collapsePmdFlush: RaceEntry = {
  name: 'collapse-pmd-flush',
  year: 2025,
  commit: '3ef938c35035',
  title: 'x86/mm: Fix flush_tlb_range() when used for zapping normal PMDs',
  author: 'Jann Horn',
  release: '6.15',
  introduced: '016c4d92cd16 ("x86/mm/tlb: Add freed_tables argument to flush_tlb_mm_range")',
  arch: 'x86',
  effect: 'use after free',
  summary: "MADV_COLLAPSE/khugepaged removes a page table with flush_tlb_range(), which passed freed_tables = false and so skipped a lazy-TLB CPU whose paging-structure cache still points into the freed table; its next speculative walk reads it",
  workload: 'collapse-pmd-flush',
  defaults: { workload: 'collapse-pmd-flush', cpus: 2, pages: PTRS_PER_PTE, batch: 1, ops: 2, writeRatio: 0, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'batched', pageWalkCache: true },
  buggy: { flushRangeFreedTables: false },
};
