/**
 * The system calls that change a process's own mappings: mprotect(PROT_READ),
 * mprotect(PROT_NONE), munmap, madvise(MADV_DONTNEED) and mremap. They run on the calling CPU and follow
 * Linux: mm/mprotect.c change_protection() -> change_pte_range(), and
 * mm/memory.c zap_pte_range() through an mmu_gather (tlb_finish_mmu).
 *
 * Invariants:
 * - Locks: mmap_lock (write for mprotect and munmap, read for madvise), then,
 *   per page table, the PTE lock. Under the PTE lock each call first runs
 *   flushTlbBatchedPending (Linux 4.13; off with `--no-batched-pending-flush`
 *   or `--inject no-pending-flush`), then changes PTEs. Reclaim clears PTEs
 *   and records its deferred flush under the same lock, so the call sees
 *   either the PTE present or the deferred flush pending.
 * - The TLB flush covers the span from the lowest to the highest address whose
 *   PTE the call changed (the mmu_gather range: tlb_flush_pte_range per PTE;
 *   for mprotect with `--mprotect-flush range`, as before 5.19, the call's
 *   whole range once any PTE in it was present),
 *   as single-page flushes up to `--ceiling` (33) pages and a
 *   full flush of the mm above that; nothing is flushed when no PTE changed.
 *   A page inside the span whose PTE reclaim had already cleared is flushed
 *   too; one outside it is not, which is what the pending flush is for.
 * - Every zap (munmap, madvise) counts itself in mm->tlb_flush_pending from
 *   before it looks at a PTE to after its flush; one that finds another zap
 *   in flight at tlb_finish_mmu flushes the whole mm (mm_tlb_flush_nested,
 *   99baac21e458; off with `--no-nested-flush`).
 * - munmap of a range that covers a whole page table frees it (free_pgtables):
 *   its flush then carries freed_tables and reaches lazy-TLB CPUs too.
 * - mprotect(PROT_NONE) keeps a present PTE present to the kernel but not to
 *   the hardware walk (PTE_PROTNONE, x86 _PAGE_PROTNONE): a load through a
 *   fresh walk faults, and the fault handler sees VMA_NONE (SIGSEGV).
 * - P_PROTECTED (mprotect) and P_UNMAPPED_AT (munmap, madvise, mremap's
 *   source) are published only after the call's own flush has been
 *   acknowledged, i.e. when it returns.
 * - mremap moves a PTE between pages of one page table (one PTE lock covers
 *   both) and flushes the source address before dropping that lock
 *   (eb66ae030829); `--no-flush-under-ptl` flushes after, as before the fix.
 *   That flush is move_ptes' flush_tlb_range(), which carries freed_tables
 *   (since 3ef938c35035; `--no-flush-range-freed-tables` before): it reaches
 *   lazy-TLB CPUs. mprotect's and the zaps' flushes are mmu_gather's
 *   tlb_flush(), which passes tlb->freed_tables: only munmap that frees a
 *   whole page table reaches lazy CPUs. The pending flush (flush_tlb_mm)
 *   always does.
 */
import type { Cpu } from '../engine/cpu.js';
import type { FlushHost } from './transports/types.js';

/** What a system call may use of its CPU: the flush paths' view, plus its memory, its sleeping locks and its scheduling points. */
type SyscallHost = FlushHost & Pick<Cpu, 'config' | 'count' | 'id' | 'W' | 'unmapStarts' | 'lockPage' | 'lockPtl' | 'mem' | 'mmapLock' | 'mmapUnlock' | 'pageIdx' | 'pages' | 'pwc' | 'schedPoint' | 'unlockPtl' | 'v'>;
import { VMA_NONE, VMA_READ } from './fault.js';
import { PTRS_PER_PTE } from '../engine/layout.js';
import { pteDirty, pteHwPresent, ptePresent, ptepGetAndClear, ptepSetProtNone, ptepSetWrprotect, pteWrite } from '../engine/pageTable.js';
import { flushTlbBatchedPending } from './protocols/batched.js';
import { clearPte, freeReclaimedPage, pageout, type UnmappedPage } from './protocols/common.js';
import { flushTlbMmRange, flushTlbRange, TLB_FLUSH_ALL } from './tlbFlush.js';
import { freePageTablesOf } from '../engine/pageWalkCache.js';
import { decTlbFlushPending, incTlbFlushPending, mmTlbFlushNested } from './mm.js';
import { PROTECTED_NONE, PROTECTED_READ, PAGE_STEP_MAPPED, bumpMapGen, publishUnmapped, storePageStep, storeProtected, storeVmaWrite } from '../engine/state/pageState.js';
import { exchangeShared, loadShared } from '../engine/footprint.js';

function pendingFlushEnabled(cpu: SyscallHost): boolean {
  return cpu.config.batchedPendingFlush && cpu.config.inject !== 'no-pending-flush';
}

/**
 * The mmu_gather's range: the pages from the lowest to the highest changed
 * one (tlb->start/tlb->end grown by tlb_flush_pte_range), or [] if none changed.
 */
export function gatherSpan(changed: readonly number[]): number[] {
  if (changed.length === 0) return [];
  let lo = changed[0];
  let hi = changed[0];
  for (const p of changed) {
    if (p < lo) lo = p;
    if (p > hi) hi = p;
  }
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

/**
 * Walk `pages` one page table at a time, as change_pte_range/zap_pte_range
 * do: take that table's PTE lock, run the pending flush, call `perPte` for
 * each of its pages, drop the lock.
 */
function forEachPteLocked(cpu: SyscallHost, mm: number, pages: readonly number[], perPte: (p: number) => void): void {
  const sorted = [...pages].sort((a, b) => a - b);
  let i = 0;
  while (i < sorted.length) {
    const table = Math.floor(sorted[i] / PTRS_PER_PTE);
    cpu.lockPtl(mm, sorted[i]);
    try {
      if (pendingFlushEnabled(cpu)) flushTlbBatchedPending(cpu, mm);
      for (; i < sorted.length && Math.floor(sorted[i] / PTRS_PER_PTE) === table; i++) perPte(sorted[i]);
    } finally {
      cpu.unlockPtl(mm, sorted[Math.max(0, i - 1)]);
    }
  }
}

/** mprotect(pages, PROT_READ): change the VMA, write-protect the PTEs, flush their span. */
export function sysMprotectReadOnly(cpu: SyscallHost, mm: number, pages: readonly number[]): void {
  mprotectPages(cpu, mm, pages, false);
}

/**
 * mprotect(pages, PROT_NONE): the VMA allows nothing; every present PTE
 * becomes PROT_NONE (present to the kernel, not to the hardware walk, so a
 * load faults and gets SIGSEGV); flush their span. A later load through an
 * entry cached before is a read after protect.
 */
export function sysMprotectNone(cpu: SyscallHost, mm: number, pages: readonly number[]): void {
  mprotectPages(cpu, mm, pages, true);
}

/** change_protection(): the VMA, then the PTEs under each PTE lock (after the pending flush), then one flush of the changed span. */
function mprotectPages(cpu: SyscallHost, mm: number, pages: readonly number[], none: boolean): void {
  cpu.mmapLock(mm, true);
  try {
    for (const p of pages) storeVmaWrite(cpu.v.pageState, cpu.pageIdx(mm, p), none ? VMA_NONE : VMA_READ);
    const changed: number[] = [];
    let present = 0;
    forEachPteLocked(cpu, mm, pages, (p) => {
      const idx = cpu.pageIdx(mm, p);
      const old = none ? ptepSetProtNone(cpu.v.pte, idx) : ptepSetWrprotect(cpu.v.pte, idx);
      if (ptePresent(old)) present++;
      // A PTE that reclaim already cleared is not "changed": it widens no span.
      if (none ? pteHwPresent(old) : ptePresent(old) && pteWrite(old)) changed.push(p);
    });
    // `changed` (since 4a18419f71cd): the mmu_gather's span of PTEs that need a flush (pte_needs_flush).
    // `range` (before): change_protection_range()'s `if (pages) flush_tlb_range(vma, start, end)`: the
    // call's whole range once it changed any present PTE (`pages` counts every present one).
    const span = cpu.config.mprotectFlush === 'range' ? (present > 0 ? gatherSpan(pages) : []) : gatherSpan(changed);
    if (span.length > 0) flushTlbMmRange(cpu, mm, span);
    for (const p of pages) storeProtected(cpu.v.pageState, cpu.pageIdx(mm, p), none ? PROTECTED_NONE : PROTECTED_READ);
  } finally {
    cpu.mmapUnlock(mm, true);
  }
}

/**
 * zap_page_range(): under each page table's PTE lock, clear the PTEs that are
 * present; then flush their span, write back dirty pages and free the frames.
 * A PTE that reclaim already cleared is skipped without waiting for reclaim
 * (nothing to zap, nothing to flush): that is why the pending flush matters.
 * The model also takes the page lock of each page it clears (the kernel needs
 * none: the page stays in the page cache, while here the zap writes it back
 * and frees it, and a concurrent fault must not refault it from a backing
 * store not yet written). It only trylocks under the PTE lock. A page whose
 * lock is held (by reclaim mid-unmap, or a fault) is done afterwards, one at a
 * time: the pages already cleared are flushed, freed and unlocked first, then
 * the zap sleeps for the busy page's lock (the holder's unlock rings it)
 * holding no other page lock, and looks at its PTE again. Sleeping while
 * holding page locks would deadlock against reclaim, which takes a batch of
 * page locks in its own (LRU) order and holds them.
 * Each look bumps the page's mapping generation before the PTE is cleared,
 * and P_UNMAPPED_AT is published when the call returns: entries filled before
 * the last look are stale from then on (the oracle's access-after-unmap check;
 * an entry a free-mode walk fills between the bump and the clear carries the
 * new generation, but this zap's own flush removes it).
 */
function zapPageRange(cpu: SyscallHost, mm: number, pages: readonly number[], freedTables = false): void {
  const cpus = cpu.config.cpus;
  // tlb_gather_mmu(): inc_tlb_flush_pending, before any PTE is looked at.
  incTlbFlushPending(cpu.v.mm, cpus, mm);
  try {
    zapGathered(cpu, mm, pages, freedTables);
  } finally {
    // The end of tlb_finish_mmu(): dec_tlb_flush_pending, after the flush.
    decTlbFlushPending(cpu.v.mm, cpus, mm);
  }
}

/** zapPageRange between tlb_gather_mmu and the end of tlb_finish_mmu. */
function zapGathered(cpu: SyscallHost, mm: number, pages: readonly number[], freedTables: boolean): void {
  const busy: number[] = [];
  const look = (p: number, locked: boolean, zapped: UnmappedPage[]): void => {
    const idx = cpu.pageIdx(mm, p);
    bumpMapGen(cpu.v.pageState, cpu.pageIdx(mm, p));
    if (!ptePresent(loadShared(cpu.v.pte, idx))) {
      if (locked) cpu.mem.unlockPage(idx);
      return;
    }
    if (!locked && !cpu.mem.trylockPage(idx, cpu.id)) {
      busy.push(p);
      return;
    }
    zapped.push(clearPte(cpu, mm, p)!);
  };
  const first: UnmappedPage[] = [];
  forEachPteLocked(cpu, mm, pages, (p) => look(p, false, first));
  cpu.schedPoint(); // the PTE lock is dropped; tlb_finish_mmu() comes later, and another zap may run meanwhile
  // tlb_finish_mmu(): another mmu_gather of the mm in flight (mm_tlb_flush_nested) may have cleared PTEs
  // this zap found none and not flushed them yet: flush the whole mm, freed_tables set (fullmm, as since
  // 7a30df49f63a), whatever this zap gathered.
  const nested = cpu.config.nestedFlush && mmTlbFlushNested(cpu.v.mm, cpu.config.cpus, mm);
  if (nested) cpu.count('tlb_nested_flushes');
  // free_pgtables(): the first flush carries freed_tables, so it reaches lazy CPUs too;
  // if nothing was left to zap, the freed page tables still need that flush.
  if (!flushAndFreeZapped(cpu, mm, first, freedTables || nested, nested) && (freedTables || nested)) flushTlbMmRange(cpu, mm, TLB_FLUSH_ALL, true);
  // `--page-walk-cache`: the flush was acknowledged; the page-table pages are freed (their generation moves on).
  if (freedTables && cpu.pwc) freePageTablesOf(cpu.v.pageState, cpu.pages, mm, pages);
  for (const p of busy) {
    cpu.lockPage(cpu.pageIdx(mm, p));
    const again: UnmappedPage[] = [];
    forEachPteLocked(cpu, mm, [p], (q) => look(q, true, again));
    flushAndFreeZapped(cpu, mm, again);
  }
  for (const p of pages) {
    publishUnmapped(cpu.v.pageState, cpu.pageIdx(mm, p));
  }
}

/**
 * tlb_finish_mmu() for zapped pages (held locked): flush their span (the
 * whole mm if `fullmm`), write back the dirty ones, free and unlock. Returns
 * whether it flushed.
 */
function flushAndFreeZapped(cpu: SyscallHost, mm: number, zapped: readonly UnmappedPage[], freedTables = false, fullmm = false): boolean {
  const span = gatherSpan(zapped.map((u) => u.page));
  if (span.length > 0) flushTlbMmRange(cpu, mm, fullmm ? TLB_FLUSH_ALL : span, freedTables);
  for (const u of zapped) {
    cpu.mem.markFlushed(u.frame);
    if (pteDirty(u.oldPte)) pageout(cpu, mm, u);
    freeReclaimedPage(cpu, mm, u);
  }
  return span.length > 0;
}

/**
 * Whether munmap of `pages` frees page tables: it covers all PTRS_PER_PTE
 * pages of some page table (free_pgtables() frees a page-table page once no
 * VMA maps any of its range). A table only partly inside `--pages` is taken
 * to map other things too (the process has more than this one mapping), so
 * a munmap smaller than a whole table never frees one.
 */
export function freesPageTables(pages: readonly number[]): boolean {
  const covered = new Set(pages);
  const tables = new Set(pages.map((p) => Math.floor(p / PTRS_PER_PTE)));
  for (const t of tables) {
    let all = true;
    for (let p = t * PTRS_PER_PTE; p < (t + 1) * PTRS_PER_PTE && all; p++) all = covered.has(p);
    if (all) return true;
  }
  return false;
}

/** munmap(pages): the VMA goes away; later accesses fault with SIGSEGV. */
export function sysMunmap(cpu: SyscallHost, mm: number, pages: readonly number[]): void {
  cpu.mmapLock(mm, true);
  try {
    for (const p of pages) storeVmaWrite(cpu.v.pageState, cpu.pageIdx(mm, p), VMA_NONE);
    zapPageRange(cpu, mm, pages, freesPageTables(pages));
  } finally {
    cpu.mmapUnlock(mm, true);
  }
}

/** madvise(pages, MADV_DONTNEED): drop the mappings; the VMA stays and later accesses refault. */
export function sysMadviseDontneed(cpu: SyscallHost, mm: number, pages: readonly number[]): void {
  cpu.mmapLock(mm, false);
  try {
    zapPageRange(cpu, mm, pages);
  } finally {
    cpu.mmapUnlock(mm, false);
  }
}

/**
 * mremap(from -> to) of one page, as move_ptes() does it: under mmap_lock
 * (write) and the PTE lock (one page table holds both pages here), clear the
 * source PTE and install it, same frame, at the destination; then flush the
 * source address. The page itself is not freed or copied: mremap does not
 * own it, so its lifetime is guarded only by the PTE lock, and a flush
 * after the lock is dropped (`--no-flush-under-ptl`, the kernel before
 * eb66ae030829) lets another CPU unmap and free the page at its new address,
 * flushing only that address, while a stale entry for the old one remains.
 * @throws Error if the two pages are in different page tables (one lock is modelled).
 */
export function sysMremap(cpu: SyscallHost, mm: number, from: number, to: number): void {
  if (Math.floor(from / PTRS_PER_PTE) !== Math.floor(to / PTRS_PER_PTE)) throw new Error('sysMremap: both pages must be in one page table');
  cpu.mmapLock(mm, true);
  try {
    storeVmaWrite(cpu.v.pageState, cpu.pageIdx(mm, from), VMA_NONE);
    let moved = false;
    cpu.lockPtl(mm, from);
    try {
      if (pendingFlushEnabled(cpu)) flushTlbBatchedPending(cpu, mm);
      // Entries filled from here on belong to the old mapping's last generation (see zapPageRange).
      bumpMapGen(cpu.v.pageState, cpu.pageIdx(mm, from));
      const old = ptepGetAndClear(cpu.v.pte, cpu.pageIdx(mm, from));
      if (ptePresent(old)) {
        exchangeShared(cpu.v.pte, cpu.pageIdx(mm, to), old);
        storePageStep(cpu.v.pageState, cpu.pageIdx(mm, to), PAGE_STEP_MAPPED);
        moved = true;
        if (cpu.config.flushUnderPtl) flushTlbRange(cpu, mm, [from]);
      }
    } finally {
      cpu.unlockPtl(mm, from);
    }
    cpu.schedPoint(); // the PTE lock is free: another CPU may take it now
    if (moved && !cpu.config.flushUnderPtl) flushTlbRange(cpu, mm, [from]);
    publishUnmapped(cpu.v.pageState, cpu.pageIdx(mm, from));
  } finally {
    cpu.mmapUnlock(mm, true);
  }
}

/**
 * madvise(MADV_COLLAPSE) / khugepaged of one PMD-sized range whose pages a
 * file THP already holds, as collapse_pte_mapped_thp() does it
 * (mm/khugepaged.c): under mmap_lock and the page table's lock,
 * pmdp_collapse_flush() clears the PMD that points to the page table and
 * flushes the range with flush_tlb_range() (freed_tables since 3ef938c35035;
 * `--no-flush-range-freed-tables`: false, skipping lazy CPUs); then the page
 * table is freed (pte_free_defer). The translations stay what they were (the
 * huge mapping the next fault installs maps the same frames), so the PTE
 * words, which stand for them, are left alone and no frame is freed: only
 * the page-table page goes (`--page-walk-cache`: its generation moves on).
 * @throws Error unless `pages` is exactly one whole page table.
 */
export function sysMadviseCollapse(cpu: SyscallHost, mm: number, pages: readonly number[]): void {
  const table = Math.floor(pages[0] / PTRS_PER_PTE);
  if (pages.length !== PTRS_PER_PTE || !freesPageTables(pages)) throw new Error(`sysMadviseCollapse: pages must be one whole page table (${PTRS_PER_PTE} pages from ${table * PTRS_PER_PTE})`);
  cpu.mmapLock(mm, true);
  try {
    cpu.lockPtl(mm, pages[0]);
    try {
      // pmdp_collapse_flush(): pmdp_huge_get_and_clear + flush_tlb_range(vma, haddr, haddr + HPAGE_PMD_SIZE).
      flushTlbRange(cpu, mm, pages);
    } finally {
      cpu.unlockPtl(mm, pages[0]);
    }
    // pte_free_defer(): the page table is freed once the flush was acknowledged.
    if (cpu.pwc) freePageTablesOf(cpu.v.pageState, cpu.pages, mm, pages);
  } finally {
    cpu.mmapUnlock(mm, true);
  }
}
