/**
 * Per-page unmap flush (Linux before 4.3): ptep_clear_flush() for every page,
 * i.e. under the PTE lock, clear one PTE and flush it on every CPU in the
 * mm's cpumask before touching the next page. One IPI round per page.
 *
 * Invariant: the unmap window of a page is open only from its PTE clear to the
 * acknowledgement of its own flush: the race Rik van Riel described still exists on
 * `weak` hardware, but the window is one page long instead of one batch.
 */
import { pteDirty } from '../../engine/pageTable.js';
import { flushTlbPage } from '../tlbFlush.js';
import { freeReclaimedPage, lockPageForReclaim, pageout, setPageStep, tryToUnmapOne } from './common.js';
import type { UnmapProtocol } from './types.js';
import { PAGE_STEP_FLUSHED, PAGE_STEP_UNMAPPED } from '../../engine/state/pageState.js';

export const perPageProtocol: UnmapProtocol = {
  name: 'per-page',
  summary: 'ptep_clear_flush per page (before Linux 4.3): one IPI round per page',
  shrinkPageList(cpu, mm, pages) {
    for (const p of pages) {
      lockPageForReclaim(cpu, mm, p);
      const plantedBug = cpu.config.inject === 'free-before-flush';
      // ptep_clear_flush() under the PTE lock: clear, then flush before the lock is dropped.
      const u = tryToUnmapOne(cpu, mm, p, (x) => {
        setPageStep(cpu, mm, p, PAGE_STEP_UNMAPPED);
        cpu.schedPoint(); // the IPI is on its way: the window is open
        if (plantedBug && !pteDirty(x.oldPte)) {
          freeReclaimedPage(cpu, mm, x); // planted bug: freed (and unlocked) before its flush
          cpu.schedPoint();
        }
        flushTlbPage(cpu, mm, p); // ptep_clear_flush(): flush_tlb_page
      });
      if (!u) {
        cpu.mem.unlockPage(cpu.pageIdx(mm, p));
        continue;
      }
      if (plantedBug && !pteDirty(u.oldPte)) continue;
      cpu.mem.markFlushed(u.frame);
      setPageStep(cpu, mm, p, PAGE_STEP_FLUSHED);
      if (pteDirty(u.oldPte)) {
        pageout(cpu, mm, u);
        cpu.schedPoint();
      }
      freeReclaimedPage(cpu, mm, u);
      cpu.schedPoint();
    }
  },
};
