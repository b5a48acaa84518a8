/**
 * Page table entries (pte_t) and the atomic operations on them.
 *
 * A PTE is one Int32 word: frame number in bits 8..30, flag bits below.
 *
 * Invariants:
 * - Every change to a PTE word is an Atomics read-modify-write. Hardware
 *   (accessed/dirty updates during a walk), the fault handler, reclaim and
 *   mprotect all write the same words from different threads, and the races
 *   between them are the point of the simulator.
 * - A cleared PTE is 0 apart from stray bits: on `weak` hardware a store through a
 *   stale clean entry ORs PTE_DIRTY into a word that is no longer present
 *   (the lost dirty bit Rik van Riel described in his reply to Gorman's batching patch). Nothing reads the dirty bit of a
 *   non-present PTE; the next fault overwrites the word.
 * - Only the holder of the page lock installs a present PTE (fault path), and
 *   only the holder of the page lock clears one (reclaim, or munmap/madvise's
 *   zap), always under the PTE lock as well.
 */

export const PTE_PRESENT = 1 << 0;
import { casShared, exchangeShared, loadShared, orShared } from './footprint.js';
export const PTE_WRITE = 1 << 1;
export const PTE_DIRTY = 1 << 2;
export const PTE_ACCESSED = 1 << 3;
/**
 * mprotect(PROT_NONE) of a present PTE (x86 _PAGE_PROTNONE, arm64
 * PTE_PROT_NONE): present to the kernel (ptePresent: reclaim and zap still
 * unmap it) but not to the hardware walk, which faults (pteHwPresent).
 */
export const PTE_PROTNONE = 1 << 4;
const PTE_FRAME_SHIFT = 8;
/** Largest frame number a PTE can hold (23 bits keep the word positive). */
export const PTE_FRAME_MAX = (1 << 23) - 1;

export function pteFrame(pte: number): number {
  return pte >>> PTE_FRAME_SHIFT;
}
export function ptePresent(pte: number): boolean {
  return (pte & PTE_PRESENT) !== 0;
}
/** What a hardware walk sees: present and not PROT_NONE. */
export function pteHwPresent(pte: number): boolean {
  return (pte & (PTE_PRESENT | PTE_PROTNONE)) === PTE_PRESENT;
}
export function pteWrite(pte: number): boolean {
  return (pte & PTE_WRITE) !== 0;
}
export function pteDirty(pte: number): boolean {
  return (pte & PTE_DIRTY) !== 0;
}
export function pteYoung(pte: number): boolean {
  return (pte & PTE_ACCESSED) !== 0;
}

/** mk_pte(): a present PTE for `frame` with the given extra flags. */
export function mkPte(frame: number, flags: number): number {
  if (frame < 0 || frame > PTE_FRAME_MAX) throw new RangeError(`frame ${frame} does not fit in a PTE`);
  return (frame << PTE_FRAME_SHIFT) | PTE_PRESENT | flags;
}

/**
 * ptep_get_and_clear(): atomically clear the PTE and return its old value.
 * The caller decides clean or dirty from the returned value: that is the
 * only value no store can change any more.
 */
export function ptepGetAndClear(pt: Int32Array, idx: number): number {
  return exchangeShared(pt, idx, 0);
}

/** ptep_set_wrprotect(): clear PTE_WRITE if the PTE is present; returns the old value. */
export function ptepSetWrprotect(pt: Int32Array, idx: number): number {
  for (;;) {
    const old = loadShared(pt, idx);
    if (!ptePresent(old) || !pteWrite(old)) return old;
    if (casShared(pt, idx, old, old & ~PTE_WRITE) === old) return old;
  }
}

/** change_pte_range() with PROT_NONE: a present PTE loses write and hardware access; returns the old value. */
export function ptepSetProtNone(pt: Int32Array, idx: number): number {
  for (;;) {
    const old = loadShared(pt, idx);
    if (!ptePresent(old) || (old & PTE_PROTNONE) !== 0) return old;
    if (casShared(pt, idx, old, (old & ~PTE_WRITE) | PTE_PROTNONE) === old) return old;
  }
}

/**
 * Hardware walk for a load: if present, set the accessed bit (locked RMW, as x86
 * page walkers do) and return the PTE; else return it unchanged (not present).
 */
export function walkForRead(pt: Int32Array, idx: number): number {
  for (;;) {
    const old = loadShared(pt, idx);
    if (!pteHwPresent(old) || pteYoung(old)) return old;
    if (casShared(pt, idx, old, old | PTE_ACCESSED) === old) return old | PTE_ACCESSED;
  }
}

/**
 * Hardware walk for a store, and the x86 clean-to-dirty re-walk: set accessed
 * and dirty only if the PTE is present, writable, and (when `expectFrame` >= 0)
 * still maps that frame. Returns the new PTE, or the unchanged non-matching PTE
 * (the caller faults).
 */
export function walkForWrite(pt: Int32Array, idx: number, expectFrame: number): number {
  for (;;) {
    const old = loadShared(pt, idx);
    if (!pteHwPresent(old) || !pteWrite(old)) return old;
    if (expectFrame >= 0 && pteFrame(old) !== expectFrame) return old;
    const next = old | PTE_ACCESSED | PTE_DIRTY;
    if (old === next) return old;
    if (casShared(pt, idx, old, next) === old) return next;
  }
}

/** The `weak` clean-to-dirty transition: OR the dirty bit in blindly, present or not. */
export function weakSetDirty(pt: Int32Array, idx: number): number {
  return orShared(pt, idx, PTE_DIRTY);
}

/**
 * do_wp_page() for a shared writable mapping: make a present, read-only PTE
 * writable and dirty again. Returns false if the PTE is not present any more.
 */
export function pteMkwriteDirty(pt: Int32Array, idx: number): boolean {
  for (;;) {
    const old = loadShared(pt, idx);
    if (!ptePresent(old)) return false;
    const next = old | PTE_WRITE | PTE_DIRTY | PTE_ACCESSED;
    if (old === next) return true;
    if (casShared(pt, idx, old, next) === old) return true;
  }
}
