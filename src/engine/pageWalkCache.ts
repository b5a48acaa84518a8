/**
 * A per-CPU page-walk cache (x86's paging-structure cache), used only with
 * `--page-walk-cache` (the `lazy-pgtable-free` scenario): the CPU remembers,
 * for the last page it walked, which page-table page (the 512-PTE table
 * holding that page's PTE) the walk went through, and that page's
 * generation when it was cached.
 *
 * Invariants:
 * - Only the owning CPU writes its cache (like its TLB): its MMU fills it on
 *   a walk, and its own flush handler (flushTlbFunc, run on the CPU for the
 *   initiator's own part and for every IPI it handles) drops it. Every flush
 *   that reaches a CPU for its loaded mm drops it: INVLPG and a CR3 write
 *   both invalidate the paging-structure caches of the current PCID.
 * - A page-table page's generation lives in the page-state word P_PT_GEN of
 *   its table's first page; freeing the table (munmap of its whole range,
 *   after the flush carrying freed_tables was acknowledged) bumps it. A walk
 *   through a cached entry whose generation no longer matches is a walk
 *   through freed page-table memory: the oracle's `stale_access` with
 *   frame -1 (a use after free of the page-table page).
 * - Off (the default): nothing fills it and no table generation is bumped,
 *   so no existing run changes.
 */
import { PTRS_PER_PTE } from './layout.js';
import { pageTableGenWord } from './state/pageState.js';
import { addShared } from './footprint.js';

/** The page-state word index of the page-table generation for the table holding `vpn` of `mm` (`pages` page slots per mm). */
export function ptGenWord(pages: number, mm: number, vpn: number): number {
  return pageTableGenWord(mm * pages + Math.floor(vpn / PTRS_PER_PTE) * PTRS_PER_PTE);
}

/** One CPU's paging-structure cache: one entry (the last walk's page table). */
export class PageWalkCache {
  /** mm of the cached entry, or -1 (empty). */
  mm = -1;
  /** A page the cached table maps (the walked one). */
  vpn = 0;
  /** The table's generation when cached. */
  gen = 0;

  reset(): void {
    this.mm = -1;
  }

  /** A walk of `vpn` of `mm` went through its table, now at generation `gen`. */
  fill(mm: number, vpn: number, gen: number): void {
    this.mm = mm;
    this.vpn = vpn;
    this.gen = gen;
  }

  /** A flush of `mm` reached this CPU: drop its entries. Returns whether one was cached. */
  drop(mm: number): boolean {
    if (this.mm !== mm || mm < 0) return false;
    this.mm = -1;
    return true;
  }
}

/**
 * free_pgtables() after tlb_finish_mmu's flush: bump the generation of every
 * page table whose whole PTRS_PER_PTE range `pages` covers (the tables
 * `freesPageTables` says munmap frees).
 */
export function freePageTablesOf(pageState: Int32Array, perMm: number, mm: number, pages: readonly number[]): void {
  const covered = new Set(pages);
  const tables = new Set(pages.map((p) => Math.floor(p / PTRS_PER_PTE)));
  for (const t of tables) {
    let all = true;
    for (let p = t * PTRS_PER_PTE; p < (t + 1) * PTRS_PER_PTE && all; p++) all = covered.has(p);
    if (all) addShared(pageState, ptGenWord(perMm, mm, t * PTRS_PER_PTE), 1);
  }
}
