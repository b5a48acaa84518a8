/**
 * Reclaim primitives shared by every protocol (mm/rmap.c and mm/vmscan.c).
 *
 * Invariants:
 * - The reclaimer holds the page lock of every page from `lockPageForReclaim`
 *   until it is done with the page (batched/rik drop the lock of a clean page
 *   before the batch's final flush, as shrink_folio_list does, and free its
 *   frame after it); faults on the page wait for the lock, so only the
 *   reclaimer clears the PTE meanwhile (hardware A/D updates, and mprotect
 *   write-protecting it under the PTE lock, aside).
 * - PTEs are cleared under the PTE lock (`tryToUnmapOne`); lock order is page
 *   lock, then PTE lock.
 * - Clean or dirty is decided from the PTE value returned by the atomic clear
 *   (ptep_get_and_clear), the last value any CPU could have changed.
 * - `P_STEP` is written by the reclaimer (and set back to "mapped" by the
 *   fault that maps the page again), so race reports can name the protocol
 *   step an access happened in.
 */
import type { Cpu } from '../../engine/cpu.js';
import { checkFrameDrop } from '../../engine/oracle.js';
import { pteFrame, ptepGetAndClear, ptePresent } from '../../engine/pageTable.js';
import { countPageUnmapped } from '../../engine/state/globalBlock.js';
import { PAGE_STEP_FLUSHED, PAGE_STEP_FREED, PAGE_STEP_UNMAPPED, PAGE_STEP_WRITTEN_BACK, storePageStep } from '../../engine/state/pageState.js';

/** What reclaim's page steps use of a CPU (a narrow view of `Cpu`). */
type ReclaimHost = Pick<Cpu, 'W' | 'v' | 'mem' | 'pageIdx' | 'count' | 'lockPage' | 'lockPtl' | 'unlockPtl' | 'trace' | 'traceEvent' | 'traceNow' | 'unmapStarts'>;

/** lock_page() on behalf of reclaim: sleeps (handling IPIs) while a fault holds it. */
export function lockPageForReclaim(cpu: ReclaimHost, mm: number, page: number): void {
  cpu.lockPage(cpu.pageIdx(mm, page));
}

/** Record which protocol step a page is in (for race reports). */
export function setPageStep(cpu: ReclaimHost, mm: number, page: number, step: number): void {
  const slot = cpu.pageIdx(mm, page);
  storePageStep(cpu.v.pageState, slot, step);
  if (cpu.trace) {
    // The unmap window on the initiator's track: PTE cleared until the flush covering it is acknowledged.
    if (step === PAGE_STEP_UNMAPPED) cpu.unmapStarts.set(slot, cpu.traceNow());
    else if (step === PAGE_STEP_FLUSHED) {
      const t0 = cpu.unmapStarts.get(slot);
      if (t0 !== undefined) {
        cpu.unmapStarts.delete(slot);
        cpu.traceEvent({ k: 'unmap_window', ts: t0, dur: cpu.traceNow() - t0, mm, page });
      }
    }
  }
}

/** What `tryToUnmapOne` found. */
export interface UnmappedPage {
  page: number;
  frame: number;
  /** PTE value returned by the atomic clear. */
  oldPte: number;
}

/**
 * Atomically clear the PTE (ptep_get_and_clear); the caller holds the PTE
 * lock. Returns null if the page was not mapped. The frame is marked
 * unflushed until a covering flush completes.
 */
export function clearPte(cpu: ReclaimHost, mm: number, page: number): UnmappedPage | null {
  const old = ptepGetAndClear(cpu.v.pte, cpu.pageIdx(mm, page));
  if (!ptePresent(old)) return null;
  const frame = pteFrame(old);
  cpu.mem.markUnflushed(frame);
  cpu.count('pages_unmapped');
  countPageUnmapped(cpu.v.global);
  return { page, frame, oldPte: old };
}

/**
 * try_to_unmap_one(): under the PTE lock, clear the PTE and run `underPtl`
 * on what was unmapped (batched: set_tlb_ubc_flush_pending; per-page: the
 * flush itself, as ptep_clear_flush does). Holding the lock across both is
 * what lets mprotect/munmap/madvise, which read tlb_flush_batched under the
 * same lock, never see the PTE gone without the pending flush recorded.
 * Returns null if the page was not mapped.
 */
export function tryToUnmapOne(cpu: ReclaimHost, mm: number, page: number, underPtl?: (u: UnmappedPage) => void): UnmappedPage | null {
  cpu.lockPtl(mm, page);
  try {
    const u = clearPte(cpu, mm, page);
    if (u && underPtl) underPtl(u);
    return u;
  } finally {
    cpu.unlockPtl(mm, page);
  }
}

/** pageout(): write a dirty page back to the backing store. */
export function pageout(cpu: ReclaimHost, mm: number, u: UnmappedPage): void {
  cpu.mem.writeBack(cpu.pageIdx(mm, u.page), u.frame);
  cpu.count('pages_written_back');
  setPageStep(cpu, mm, u.page, PAGE_STEP_WRITTEN_BACK);
}

/**
 * Drop the page from memory: the frame is retired (generation bump), the
 * oracle checks it against the backing store (any difference is a store about
 * to be lost), the frame goes back to the pool and the page is unlocked.
 */
export function freeReclaimedPage(cpu: ReclaimHost, mm: number, u: UnmappedPage, unlock = true): void {
  const idx = cpu.pageIdx(mm, u.page);
  cpu.mem.freeFrame(u.frame, () => checkFrameDrop(cpu.v, cpu.W, idx, u.frame));
  cpu.count('pages_freed');
  setPageStep(cpu, mm, u.page, PAGE_STEP_FREED);
  if (unlock) cpu.mem.unlockPage(idx);
}
