/**
 * Rik van Riel's read-only-then-flush protocol (the five steps of his 2015 reply to Mel
 * Gorman's batched-unmap patch on linux-mm):
 *   1. a PTE that is read-only or already dirty goes straight to step 4;
 *   2. mark the batch's writable-clean PTEs read-only in one go;
 *   3. flush the TLBs of the CPUs that may cache them;
 *   4. unmap like `batched`;
 *   5. flush like `batched`.
 * After step 3 no CPU can hold a writable-clean entry for these pages: a store
 * either takes a write-protect fault (do_wp_page marks the PTE writable and
 * dirty again) or, on `weak` before step 3 completes, ORs the dirty bit into
 * the read-only PTE. Either way the dirty bit is in the PTE step 4 clears.
 *
 * Invariant: step 4 decides clean or dirty from the PTE value it clears, not
 * from what step 1 saw. `--no-wp-recheck` breaks exactly that, on purpose.
 */
import { pteDirty, ptePresent, ptepSetWrprotect, pteWrite } from '../../engine/pageTable.js';
import { flushTlbMmRange } from '../tlbFlush.js';
import { lockPagesForReclaim, unmapBatchAndFree } from './batched.js';
import { setPageStep } from './common.js';
import type { UnmapProtocol } from './types.js';
import { PAGE_STEP_WRPROTECT_FLUSHED, PAGE_STEP_WRPROTECTED } from '../../engine/state/pageState.js';
import { loadShared } from '../../engine/footprint.js';

export const rikProtocol: UnmapProtocol = {
  name: 'rik',
  summary: "Rik van Riel's read-only-then-flush (write-protect, flush, unmap, flush)",
  shrinkPageList(cpu, mm, pages) {
    lockPagesForReclaim(cpu, mm, pages);
    // Step 1: classify from the current PTEs.
    const dirtyAtStep1 = new Map<number, boolean>();
    const writableClean: number[] = [];
    for (const p of pages) {
      const pte = loadShared(cpu.v.pte, cpu.pageIdx(mm, p));
      dirtyAtStep1.set(p, pteDirty(pte));
      if (ptePresent(pte) && pteWrite(pte) && !pteDirty(pte)) writableClean.push(p);
    }
    // Step 2: write-protect them in one go.
    for (const p of writableClean) {
      cpu.lockPtl(mm, p);
      ptepSetWrprotect(cpu.v.pte, cpu.pageIdx(mm, p));
      cpu.unlockPtl(mm, p);
      setPageStep(cpu, mm, p, PAGE_STEP_WRPROTECTED);
      cpu.schedPoint();
    }
    // Step 3: flush every CPU that may cache them.
    if (writableClean.length > 0) {
      flushTlbMmRange(cpu, mm, writableClean);
      for (const p of writableClean) setPageStep(cpu, mm, p, PAGE_STEP_WRPROTECT_FLUSHED);
      cpu.schedPoint();
    }
    // Steps 4 and 5.
    const recheck = cpu.config.wpRecheck;
    unmapBatchAndFree(cpu, mm, pages, (u) => (recheck ? pteDirty(u.oldPte) : (dirtyAtStep1.get(u.page) ?? false)));
  },
};
