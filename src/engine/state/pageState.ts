/**
 * Per-page state: Int32Array `pageState` (src/engine/state/machineViews.ts),
 * PAGE_WORDS words per page slot (page p of mm m is slot m * pages + p).
 * Only this module knows the words' offsets; everybody else names a slot.
 *
 * Invariants (who writes which word; order):
 * - Page lock: CAS only (src/kernel/locks.ts mutex), through `pageLockWord`.
 * - Step: Atomics.store by the CPU moving the page through its protocol
 *   (reclaim, fault, migrate); read plainly by the oracle for race reports.
 * - VMA write permission and "protected": stored by mprotect/munmap/mmap under
 *   mmap_lock held for write (Atomics); faults load them under mmap_lock read;
 *   the MMU's race checks read them plainly.
 * - Mapping generation: bumped (Atomics.add) by munmap/madvise for every page
 *   of its range *before* the PTE is cleared, so an entry filled from the old
 *   PTE carries an older value; "unmapped at" is published from it when the
 *   call returns (`publishUnmapped`).
 * - The coordinator initialises the block between runs, while no CPU runs.
 */
import { addShared, loadShared, readShared } from '../footprint.js';

/** Page lock (lock_page): 0 free, 1 + cpu holding it. */
const P_LOCK = 0;
/** Protocol step the page is in (PAGE_STEP_*), for race reports. */
const P_STEP = 1;
/** VMA allows writes (1) or not (0, after mprotect(PROT_READ)). */
const P_VMA_WRITE = 2;
/**
 * PROTECTED_READ once mprotect(PROT_READ) covering this page has returned (any
 * later completed store is a race), PROTECTED_NONE once mprotect(PROT_NONE)
 * has (any later completed load or store is).
 */
const P_PROTECTED = 3;
export const PROTECTED_READ = 1;
export const PROTECTED_NONE = 2;
/**
 * Mapping generation: bumped by munmap/madvise(MADV_DONTNEED) for every page
 * of its range, before it clears the PTE (so an entry filled from the old PTE
 * carries an older value). TLB fills record it in E_MAPGEN.
 */
const P_MAP_GEN = 4;
/**
 * Value of P_MAP_GEN at which munmap/madvise covering this page returned
 * (0: never). An access through an entry whose E_MAPGEN is older is an
 * access after unmap.
 */
const P_UNMAPPED_AT = 5;
/**
 * `--page-walk-cache` only, on the first page of each page table: the
 * generation of that page-table page, bumped when munmap frees the table
 * (src/engine/pageWalkCache.ts). 0 otherwise.
 */
const P_PT_GEN = 6;
const PAGE_WORDS = 8;

/** Words of the `pageState` buffer for `slots` page slots. */
export function pageStateWords(slots: number): number {
  return slots * PAGE_WORDS;
}

export const PAGE_STEP_MAPPED = 0;
export const PAGE_STEP_WRPROTECTED = 1; // rik step 2: PTE made read-only, flush not yet done
export const PAGE_STEP_WRPROTECT_FLUSHED = 2; // rik step 3 done
export const PAGE_STEP_UNMAPPED = 3; // PTE cleared, flush pending (the unmap window)
export const PAGE_STEP_FLUSHED = 4; // flush covering the unmap acknowledged
export const PAGE_STEP_WRITTEN_BACK = 5;
export const PAGE_STEP_FREED = 6;
export const PAGE_STEP_NAMES = [
  'mapped',
  'write-protected (rik step 2, flush pending)',
  'write-protect flushed (rik step 3 done)',
  'unmapped, flush pending (the unmap window)',
  'unmapped and flushed',
  'written back',
  'frame freed',
] as const;

/** Word index of the page lock (lock_page) of `slot`, for the mutex in src/kernel/locks.ts. */
export function pageLockWord(slot: number): number {
  return slot * PAGE_WORDS + P_LOCK;
}

/** `--page-walk-cache`: word index of the page-table generation kept on `slot`, the first page of its table. */
export function pageTableGenWord(slot: number): number {
  return slot * PAGE_WORDS + P_PT_GEN;
}

/** Protocol step of the page (PAGE_STEP_*), a plain read: for race reports. */
export function pageStep(ps: Int32Array, slot: number): number {
  return readShared(ps, slot * PAGE_WORDS + P_STEP);
}

export function storePageStep(ps: Int32Array, slot: number, step: number): void {
  Atomics.store(ps, slot * PAGE_WORDS + P_STEP, step);
}

/** VMA permission bits of the page (src/kernel/fault.ts VMA_*). */
export function loadVmaWrite(ps: Int32Array, slot: number): number {
  return loadShared(ps, slot * PAGE_WORDS + P_VMA_WRITE);
}

export function storeVmaWrite(ps: Int32Array, slot: number, vma: number): void {
  Atomics.store(ps, slot * PAGE_WORDS + P_VMA_WRITE, vma);
}

/** PROTECTED_READ / PROTECTED_NONE once an mprotect covering the page returned, else 0 (plain read: the MMU's race check). */
export function protectedLevel(ps: Int32Array, slot: number): number {
  return readShared(ps, slot * PAGE_WORDS + P_PROTECTED);
}

export function storeProtected(ps: Int32Array, slot: number, level: number): void {
  Atomics.store(ps, slot * PAGE_WORDS + P_PROTECTED, level);
}

export function loadMapGen(ps: Int32Array, slot: number): number {
  return loadShared(ps, slot * PAGE_WORDS + P_MAP_GEN);
}

/** munmap/madvise: a new mapping generation, before the PTE is cleared. */
export function bumpMapGen(ps: Int32Array, slot: number): void {
  addShared(ps, slot * PAGE_WORDS + P_MAP_GEN, 1);
}

/** The mapping generation at which munmap/madvise covering the page returned (0: never); plain read (the MMU's race check). */
export function unmappedAt(ps: Int32Array, slot: number): number {
  return readShared(ps, slot * PAGE_WORDS + P_UNMAPPED_AT);
}

export function loadUnmappedAt(ps: Int32Array, slot: number): number {
  return loadShared(ps, slot * PAGE_WORDS + P_UNMAPPED_AT);
}

/** munmap/madvise returned: any access through an entry older than the current mapping generation is after unmap. */
export function publishUnmapped(ps: Int32Array, slot: number): void {
  Atomics.store(ps, slot * PAGE_WORDS + P_UNMAPPED_AT, loadShared(ps, slot * PAGE_WORDS + P_MAP_GEN));
}
