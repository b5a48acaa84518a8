/**
 * `luf`: the lazy unmap flush (Byungchul Park, SK hynix: the "mm: LUF (Lazy
 * Unmap Flush)" patch series on linux-mm, 2024-2025; LPC 2024 reported ~97%
 * fewer TLB shootdown interrupts on an LLM inference run). Reclaim unmaps a
 * page whose every mapping is read-only without flushing it: no CPU can
 * write through a read-only translation, so the only danger is a CPU reading
 * the frame after it is reused for something else. The frame is freed
 * carrying a pending-flush generation, and the flush happens when the frame
 * is allocated again, before it is reused (`lufFlushBeforeReuse`, called by
 * PhysicalMemory.allocFrame). Pages with a writable mapping are batched and
 * flushed as Gorman's protocol does.
 *
 * Invariants:
 * - Only pages whose cleared PTE was read-only are deferred (`--inject
 *   luf-writable` defers writable ones too: the planted bug the oracle must
 *   see as lost writes or stale accesses).
 * - Order of a deferral, under the PTE lock: OR the mm's cpumask into the LUF
 *   cpumask, bump tlb_gen (a lazy or switched-out CPU catches up at its
 *   switch back), mark tlb_flush_batched (mprotect/munmap/madvise flush the
 *   mm first, as after any deferred flush). After the batch's last unmap, one
 *   generation is taken from G_LUF_GEN for all its deferred pages (the luf_key
 *   of the series: one pending flush per batch), and only then are their
 *   frames freed. An allocator that reads G_LUF_GEN >= that generation
 *   (before it reads the cpumask) flushes after every deferral it covers.
 * - A deferred frame keeps its generation until it is reused (allocFrame
 *   bumps it after the flush): a load through a stale read-only entry before
 *   then reads the page's unchanged contents, which is not a race.
 * - A frame is never reused before a flush that covers its generation
 *   (G_LUF_FLUSHED >= it); in debug mode allocFrame throws otherwise.
 * Counters: luf_deferred (pages), luf_flushes_at_alloc (flush rounds),
 * luf_flushes_avoided (frames reused whose flush an earlier one had done).
 */
import type { Cpu } from '../../engine/cpu.js';
import { incMmTlbGen, markTlbFlushBatched, mmCpumaskOrInto } from '../mm.js';
import { checkFrameDrop } from '../../engine/oracle.js';
import { pteDirty, pteWrite } from '../../engine/pageTable.js';
import { lockPagesForReclaim, unmapBatchAndFree, type LazyUnmapFlush } from './batched.js';
import { setPageStep, type UnmappedPage } from './common.js';
import type { UnmapProtocol } from './types.js';
import { nextLufGen } from '../../engine/state/globalBlock.js';
import { PAGE_STEP_FREED } from '../../engine/state/pageState.js';

/** May this page's flush be deferred: its cleared PTE was read-only (every planted-bug page with `--inject luf-writable`). */
export function lufDeferrable(cpu: Cpu, u: UnmappedPage): boolean {
  return cpu.config.inject === 'luf-writable' || !pteWrite(u.oldPte);
}

/** Under the PTE lock: record a deferred flush (see the header's order). */
export function lufDefer(cpu: Cpu, mm: number): void {
  mmCpumaskOrInto(cpu.v.mm, cpu.config.cpus, mm, cpu.v.lufMask);
  incMmTlbGen(cpu.v.mm, cpu.config.cpus, mm);
  markTlbFlushBatched(cpu.v.mm, cpu.config.cpus, mm, cpu.config.pendingFlush);
  cpu.count('luf_deferred');
}

/** After a batch's deferrals, before any of their frames is freed: the batch's pending-flush generation. */
export function newLufGeneration(cpu: Cpu): number {
  return nextLufGen(cpu.v.global);
}

/** The hooks of one shrinkPageList call: which pages were deferred; one generation for all of them. */
function lazyUnmapFlush(): LazyUnmapFlush {
  const deferred = new Map<number, UnmappedPage>();
  return {
    defers(u: UnmappedPage): boolean {
      return !pteWrite(u.oldPte);
    },
    deferUnderPtl(cpu: Cpu, mm: number, u: UnmappedPage): void {
      lufDefer(cpu, mm);
      deferred.set(u.page, u);
    },
    deferred(u: UnmappedPage): boolean {
      return deferred.has(u.page);
    },
    freeDeferred(cpu: Cpu, mm: number): void {
      if (deferred.size === 0) return;
      // Taken after every deferral of the batch: an allocator that reads G_LUF_GEN >= gen flushes after all of them.
      const gen = newLufGeneration(cpu);
      for (const u of deferred.values()) {
        const idx = cpu.pageIdx(mm, u.page);
        cpu.mem.freeFrame(u.frame, () => checkFrameDrop(cpu.v, cpu.W, idx, u.frame), gen);
        cpu.count('pages_freed');
        setPageStep(cpu, mm, u.page, PAGE_STEP_FREED);
        cpu.mem.unlockPage(idx);
      }
      deferred.clear();
    },
  };
}

/** `--inject luf-writable`: defer every page, writable mappings included (the planted bug). */
function lazyUnmapFlushWritable(): LazyUnmapFlush {
  const l = lazyUnmapFlush();
  return { ...l, defers: () => true };
}

export const lufProtocol: UnmapProtocol = {
  name: 'luf',
  summary: 'lazy unmap flush (LUF): read-only-mapped pages are unmapped without a flush, done when their frames are allocated again; the rest batched',
  shrinkPageList(cpu, mm, pages) {
    lockPagesForReclaim(cpu, mm, pages);
    const lazy = cpu.config.inject === 'luf-writable' ? lazyUnmapFlushWritable() : lazyUnmapFlush();
    unmapBatchAndFree(cpu, mm, pages, (u) => pteDirty(u.oldPte), lazy);
  },
};
