/**
 * Reclaim primitives shared by every protocol (mm/rmap.c and mm/vmscan.c).
 *
 * Invariants:
 * - The reclaimer holds the page lock of every page from `lockPageForReclaim`
 *   until `freeReclaimedPage`; faults on the page wait for it, so only the
 *   reclaimer changes the PTE meanwhile (hardware A/D updates aside).
 * - Clean or dirty is decided from the PTE value returned by the atomic clear
 *   (ptep_get_and_clear), the last value any CPU could have changed.
 * - `P_STEP` is written by the reclaimer only, so race reports can name the
 *   protocol step an access happened in.
 */
import type { Cpu } from '../cpu.js';
import { P_STEP, PAGE_STEP_FREED, PAGE_STEP_WRITTEN_BACK, PAGE_WORDS } from '../layout.js';
import { checkFrameDrop } from '../oracle.js';
import { pteFrame, ptepGetAndClear, ptePresent } from '../pageTable.js';

/** lock_page() on behalf of reclaim: sleeps (handling IPIs) while a fault holds it. */
export function lockPageForReclaim(cpu: Cpu, mm: number, page: number): void {
  cpu.lockPage(cpu.pageIdx(mm, page));
}

/** Record which protocol step a page is in (for race reports). */
export function setPageStep(cpu: Cpu, mm: number, page: number, step: number): void {
  Atomics.store(cpu.v.pageState, cpu.pageIdx(mm, page) * PAGE_WORDS + P_STEP, step);
}

/** What `tryToUnmapOne` found. */
export interface UnmappedPage {
  page: number;
  frame: number;
  /** PTE value returned by the atomic clear. */
  oldPte: number;
}

/**
 * try_to_unmap_one(): atomically clear the PTE. Returns null if the page was
 * not mapped. The frame is marked unflushed until a covering flush completes.
 */
export function tryToUnmapOne(cpu: Cpu, mm: number, page: number): UnmappedPage | null {
  const old = ptepGetAndClear(cpu.v.pte, cpu.pageIdx(mm, page));
  if (!ptePresent(old)) return null;
  const frame = pteFrame(old);
  cpu.mem.markUnflushed(frame);
  cpu.count('pages_unmapped');
  return { page, frame, oldPte: old };
}

/** pageout(): write a dirty page back to the backing store. */
export function pageout(cpu: Cpu, mm: number, u: UnmappedPage): void {
  cpu.mem.writeBack(cpu.pageIdx(mm, u.page), u.frame);
  cpu.count('pages_written_back');
  setPageStep(cpu, mm, u.page, PAGE_STEP_WRITTEN_BACK);
}

/**
 * Drop the page from memory: the oracle checks the frame against the backing
 * store (any difference is a store about to be lost), then the frame is freed
 * (generation bump) and the page unlocked.
 */
export function freeReclaimedPage(cpu: Cpu, mm: number, u: UnmappedPage): void {
  const idx = cpu.pageIdx(mm, u.page);
  checkFrameDrop(cpu.v, cpu.W, idx, u.frame);
  cpu.mem.freeFrame(u.frame);
  cpu.count('pages_freed');
  setPageStep(cpu, mm, u.page, PAGE_STEP_FREED);
  cpu.mem.unlockPage(idx);
}
