/**
 * The system calls that change a process's own mappings: mprotect(PROT_READ),
 * munmap and madvise(MADV_DONTNEED). They run on the calling CPU.
 *
 * Invariants:
 * - Each calls flushTlbBatchedPending first (Linux 4.13), unless
 *   `--no-batched-pending-flush` or `--inject no-pending-flush` turns it off:
 *   reclaim may have cleared a PTE whose flush it deferred, and these calls
 *   only flush PTEs they change themselves, so without it a CPU can keep
 *   writing through an entry after the call returned (the 2017 race).
 * - P_PROTECTED is set only after the call's own flush has been acknowledged:
 *   from then on any completed store to the page is a write after protect.
 */
import { type Cpu, VMA_NONE, VMA_READ } from './cpu.js';
import { P_PROTECTED, P_VMA_WRITE, PAGE_WORDS } from './layout.js';
import { pteDirty, ptePresent, ptepSetWrprotect, pteWrite } from './pageTable.js';
import { flushTlbBatchedPending } from './protocols/batched.js';
import { freeReclaimedPage, pageout, tryToUnmapOne, type UnmappedPage } from './protocols/common.js';
import { flushTlbMmRange } from './tlbFlush.js';

function pendingFlushEnabled(cpu: Cpu): boolean {
  return cpu.config.batchedPendingFlush && cpu.config.inject !== 'no-pending-flush';
}

function markProtected(cpu: Cpu, mm: number, pages: readonly number[]): void {
  for (const p of pages) Atomics.store(cpu.v.pageState, cpu.pageIdx(mm, p) * PAGE_WORDS + P_PROTECTED, 1);
}

/** mprotect(pages, PROT_READ): change_protection() then flush the PTEs it changed. */
export function sysMprotectReadOnly(cpu: Cpu, mm: number, pages: readonly number[]): void {
  if (pendingFlushEnabled(cpu)) flushTlbBatchedPending(cpu, mm);
  const changed: number[] = [];
  for (const p of pages) {
    const idx = cpu.pageIdx(mm, p);
    Atomics.store(cpu.v.pageState, idx * PAGE_WORDS + P_VMA_WRITE, VMA_READ);
    const old = ptepSetWrprotect(cpu.v.pte, idx);
    if (ptePresent(old) && pteWrite(old)) changed.push(p);
  }
  // A PTE that reclaim already cleared is not "changed": no flush for it. That is the bug
  // flushTlbBatchedPending exists for.
  if (changed.length > 0) flushTlbMmRange(cpu, mm, changed);
  markProtected(cpu, mm, pages);
}

/**
 * zap_page_range(): clear the PTEs that are present, flush those, write back
 * dirty pages, free the frames. A PTE that reclaim already cleared is skipped
 * (nothing to zap, nothing to flush): that is why the pending flush matters.
 * The page lock is taken for each present PTE so a concurrent fault cannot
 * refault the page from a backing store the zap has not written yet.
 */
function zapPageRange(cpu: Cpu, mm: number, pages: readonly number[]): void {
  const zapped: UnmappedPage[] = [];
  for (const p of pages) {
    const idx = cpu.pageIdx(mm, p);
    const locked = cpu.lockPage(idx, () => !ptePresent(Atomics.load(cpu.v.pte, idx)));
    if (!locked) continue; // reclaim owns it and already cleared the PTE
    const u = tryToUnmapOne(cpu, mm, p);
    if (u) zapped.push(u);
    else cpu.mem.unlockPage(idx);
  }
  if (zapped.length > 0) flushTlbMmRange(cpu, mm, zapped.map((u) => u.page));
  for (const u of zapped) {
    cpu.mem.markFlushed(u.frame);
    if (pteDirty(u.oldPte)) pageout(cpu, mm, u);
    freeReclaimedPage(cpu, mm, u);
  }
}

/** munmap(pages): the VMA goes away; later accesses fault with SIGSEGV. */
export function sysMunmap(cpu: Cpu, mm: number, pages: readonly number[]): void {
  if (pendingFlushEnabled(cpu)) flushTlbBatchedPending(cpu, mm);
  for (const p of pages) Atomics.store(cpu.v.pageState, cpu.pageIdx(mm, p) * PAGE_WORDS + P_VMA_WRITE, VMA_NONE);
  zapPageRange(cpu, mm, pages);
  markProtected(cpu, mm, pages);
}

/** madvise(pages, MADV_DONTNEED): drop the mappings; the VMA stays and later accesses refault. */
export function sysMadviseDontneed(cpu: Cpu, mm: number, pages: readonly number[]): void {
  if (pendingFlushEnabled(cpu)) flushTlbBatchedPending(cpu, mm);
  zapPageRange(cpu, mm, pages);
}
