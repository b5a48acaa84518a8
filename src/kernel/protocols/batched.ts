/**
 * Mel Gorman's batched unmap flush (Linux 4.3, mm/rmap.c) and
 * flush_tlb_batched_pending (Linux 4.13).
 *
 * The unmapping task keeps a tlbflush_unmap_batch. Each unmap clears the PTE,
 * ORs the mm's cpumask into the batch, sets flushRequired, marks the mm
 * tlb_flush_batched, and sets `writable` if the old PTE was dirty. One IPI
 * round (a full flush on each CPU of the batch) covers the whole batch.
 *
 * Order inside shrinkPageList (one batch of at most `--batch` pages):
 *   1. lock and unmap every page (setTlbUbcFlushPending for each);
 *   2. tryToUnmapFlushDirty() if any page was dirty: a dirty page must not be
 *      written back while a CPU may still write to it through a cached
 *      writable entry;
 *   3. pageout() the dirty pages;
 *   4. if no flush happened yet: unlock the clean pages (shrink_folio_list
 *      unlocks a clean folio after __remove_mapping, before the batch's
 *      final flush), then tryToUnmapFlush();
 *   5. free every frame (and unlock the pages still locked).
 * So every batch costs exactly one IPI round. (The kernel interleaves steps
 * 2-3 per page inside shrink_page_list, which can flush more than once per
 * batch; batching the dirty flush keeps the count exact.)
 *
 * Invariants:
 * - A frame is freed only after the round that covers its unmap was
 *   acknowledged (markFlushed runs when tryToUnmapFlush returns).
 * - The PTE clear and setTlbUbcFlushPending happen under one PTE-lock hold.
 * - mm->tlb_flush_batched still says "owed" after the reclaim flush; only
 *   flushTlbBatchedPending settles it, after flushing the mm.
 */
import type { FlushHost } from '../transports/types.js';
import type { Cpu } from '../../engine/cpu.js';
import { cpumaskWords } from '../../engine/layout.js';
import { cpumaskToList, finishTlbFlushBatched, incMmTlbGen, markTlbFlushBatched, mmCpumaskOrInto, readTlbFlushBatched } from '../mm.js';
import { pteDirty } from '../../engine/pageTable.js';
import { archTlbbatchFlush } from '../tlbFlush.js';
import { freeReclaimedPage, lockPageForReclaim, pageout, setPageStep, tryToUnmapOne, type UnmappedPage } from './common.js';
import type { UnmapProtocol } from './types.js';
import { PAGE_STEP_FLUSHED, PAGE_STEP_UNMAPPED } from '../../engine/state/pageState.js';

/** struct tlbflush_unmap_batch. */
export interface TlbflushUnmapBatch {
  /** CPUs that may cache a translation unmapped into this batch. */
  cpumask: Int32Array;
  /** A flush is owed for something unmapped into this batch. */
  flushRequired: boolean;
  /** Some PTE unmapped into this batch was dirty (a writable entry may exist). */
  writable: boolean;
  /** Frames whose unmap this batch's flush covers (for the debug invariant). */
  frames: number[];
  /** The mm and pages unmapped into it (`--protocol context-reset` flushes them as one range; a batch never mixes mms). */
  mm: number;
  pages: number[];
}

export function newTlbflushUnmapBatch(cpus: number): TlbflushUnmapBatch {
  return { cpumask: new Int32Array(cpumaskWords(cpus)), flushRequired: false, writable: false, frames: [], mm: -1, pages: [] };
}

/**
 * set_tlb_ubc_flush_pending(): record a deferred flush for an unmap of `mm`.
 * Runs under the PTE lock that covered the PTE clear (see tryToUnmapOne):
 * mprotect/munmap/madvise read tlb_flush_batched under that same lock, so
 * they see either the PTE still present or the flush recorded as pending.
 */
export function setTlbUbcFlushPending(cpu: Cpu, batch: TlbflushUnmapBatch, mm: number, u: UnmappedPage, writable: boolean): void {
  // arch_tlbbatch_add_pending(): the deferred flush is a new generation of the mm.
  incMmTlbGen(cpu.v.mm, cpu.config.cpus, mm);
  mmCpumaskOrInto(cpu.v.mm, cpu.config.cpus, mm, batch.cpumask);
  batch.flushRequired = true;
  batch.frames.push(u.frame);
  batch.mm = mm;
  batch.pages.push(u.page);
  markTlbFlushBatched(cpu.v.mm, cpu.config.cpus, mm, cpu.config.pendingFlush);
  if (writable) batch.writable = true;
  // arch_tlbbatch_add_pending(): the transport's part (arm64: the page's TLBI goes out now, its DSB waits for arch_tlbbatch_flush).
  cpu.flushTransport.archTlbbatchAddPending(cpu, mm, u.page);
}

/** try_to_unmap_flush(): one IPI round to the batch's CPUs, then reset the batch. */
export function tryToUnmapFlush(cpu: Cpu, batch: TlbflushUnmapBatch): void {
  if (!batch.flushRequired) return;
  archTlbbatchFlush(cpu, cpumaskToList(batch.cpumask), batch.mm, batch.pages);
  for (const f of batch.frames) cpu.mem.markFlushed(f);
  batch.frames.length = 0;
  batch.pages.length = 0;
  batch.mm = -1;
  batch.cpumask.fill(0);
  batch.flushRequired = false;
  batch.writable = false;
}

/** try_to_unmap_flush_dirty(): flush only if a dirty PTE was unmapped into the batch. */
export function tryToUnmapFlushDirty(cpu: Cpu, batch: TlbflushUnmapBatch): void {
  if (batch.writable) tryToUnmapFlush(cpu, batch);
}

/**
 * flush_tlb_batched_pending(): called by mprotect, munmap and madvise, under
 * the PTE lock, before they change PTEs. If reclaim deferred a flush of this
 * mm that nobody has flushed since, flush the mm now, so a CPU cannot keep
 * using an entry whose PTE reclaim already cleared (the 2017 race).
 * `--pending-flush gen` then publishes flushed = pending with a CAS that fails
 * if reclaim made a new flush pending meanwhile (it stays owed); `bool`
 * clears the flag unconditionally, losing such a flush.
 */
export function flushTlbBatchedPending(cpu: FlushHost, mm: number): void {
  const mode = cpu.config.pendingFlush;
  const seen = readTlbFlushBatched(cpu.v.mm, cpu.config.cpus, mm, mode);
  if (!seen.owed) return;
  // arch_flush_tlb_batched_pending(): x86 flush_tlb_mm(); arm64 the same, or a lone DSB before 4b634918384c.
  cpu.flushTransport.archFlushTlbBatchedPending(cpu, mm);
  finishTlbFlushBatched(cpu.v.mm, cpu.config.cpus, mm, mode, seen.word);
}

/**
 * Steps 4 and 5 of both `batched` and `rik`: unmap the (already locked) pages
 * into a batch, flush before writing back dirty ones, flush, free.
 * `isDirty(u)` decides clean or dirty for each unmapped page.
 */
export function unmapBatchAndFree(
  cpu: Cpu,
  mm: number,
  pages: readonly number[],
  isDirty: (u: UnmappedPage) => boolean,
  lazy?: LazyUnmapFlush,
): void {
  const batch = newTlbflushUnmapBatch(cpu.config.cpus);
  const unmapped: { u: UnmappedPage; dirty: boolean; freed: boolean }[] = [];
  for (const p of pages) {
    const u = tryToUnmapOne(cpu, mm, p, (x) => {
      if (lazy?.defers(x)) lazy.deferUnderPtl(cpu, mm, x);
      else setTlbUbcFlushPending(cpu, batch, mm, x, pteDirty(x.oldPte));
    });
    if (u && lazy?.deferred(u)) {
      // Lazy unmap flush: no flush now; write back if dirty; the frame is
      // freed with the batch's pending-flush generation after the loop.
      setPageStep(cpu, mm, p, PAGE_STEP_UNMAPPED);
      cpu.schedPoint();
      if (isDirty(u)) {
        pageout(cpu, mm, u);
        cpu.schedPoint();
      }
      continue;
    }
    if (u) {
      const dirty = isDirty(u);
      setPageStep(cpu, mm, p, PAGE_STEP_UNMAPPED);
      unmapped.push({ u, dirty, freed: false });
    } else {
      cpu.mem.unlockPage(cpu.pageIdx(mm, p)); // not mapped: nothing to reclaim
    }
    cpu.schedPoint(); // the unmap window is open: let other CPUs run
  }
  if (lazy) {
    lazy.freeDeferred(cpu, mm);
    cpu.schedPoint();
  }
  const inject = cpu.config.inject;
  const markFlushed = (): void => {
    for (const x of unmapped) if (!x.freed) setPageStep(cpu, mm, x.u.page, PAGE_STEP_FLUSHED);
  };
  if (inject === 'free-before-flush') {
    // Planted bug: free the clean pages before any flush covers them.
    for (const x of unmapped) {
      if (x.dirty) continue;
      freeReclaimedPage(cpu, mm, x.u);
      x.freed = true;
      cpu.schedPoint();
    }
  }
  if (unmapped.some((x) => x.dirty)) {
    if (inject !== 'skip-dirty-flush') {
      tryToUnmapFlushDirty(cpu, batch);
      if (!batch.flushRequired) markFlushed();
    }
    for (const x of unmapped) {
      if (!x.dirty) continue;
      pageout(cpu, mm, x.u);
      cpu.schedPoint();
    }
  }
  // __remove_mapping + folio_unlock: a clean page's lock goes before the final
  // flush (a refault may map it again meanwhile); its frame is freed only after.
  const cleanUnlocked = batch.flushRequired;
  if (cleanUnlocked) {
    for (const x of unmapped) if (!x.freed && !x.dirty) cpu.mem.unlockPage(cpu.pageIdx(mm, x.u.page));
    cpu.schedPoint();
    tryToUnmapFlush(cpu, batch);
    markFlushed();
  }
  for (const x of unmapped) {
    if (x.freed) continue;
    freeReclaimedPage(cpu, mm, x.u, !(cleanUnlocked && !x.dirty));
    cpu.schedPoint();
  }
}

/** `--protocol luf`'s hooks into unmapBatchAndFree (protocols/luf.ts). */
export interface LazyUnmapFlush {
  /** Under the PTE lock: may this page's flush be deferred (every mapping read-only)? */
  defers(u: UnmappedPage): boolean;
  /** Under the PTE lock, for a deferred page: record the deferral (tlb_gen, tlb_flush_batched, the LUF cpumask). */
  deferUnderPtl(cpu: Cpu, mm: number, u: UnmappedPage): void;
  /** Was this page's flush deferred? */
  deferred(u: UnmappedPage): boolean;
  /** After the batch's unmaps: take one pending-flush generation for every page deferred, free their frames with it, unlock them. */
  freeDeferred(cpu: Cpu, mm: number): void;
}

/** Lock every page of a batch (reclaim isolates and locks before unmapping). */
export function lockPagesForReclaim(cpu: Cpu, mm: number, pages: readonly number[]): void {
  for (const p of pages) lockPageForReclaim(cpu, mm, p);
}

/**
 * shrink_page_list() of Gorman's batched unmap: lock the batch, unmap it with
 * the flush deferred (try_to_unmap_flush_dirty first for dirty pages), free.
 * How the deferred flush reaches other CPUs is tlbFlush.ts's choice (IPIs,
 * INVLPGB, RAR or a context reset; see transports.ts), not the protocol's.
 */
function batchedShrinkPageList(cpu: Cpu, mm: number, pages: readonly number[]): void {
  lockPagesForReclaim(cpu, mm, pages);
  unmapBatchAndFree(cpu, mm, pages, (u) => pteDirty(u.oldPte));
}

export const batchedProtocol: UnmapProtocol = {
  name: 'batched',
  summary: "Mel Gorman's batched unmap flush (Linux 4.3): one full-flush IPI round per batch",
  shrinkPageList: batchedShrinkPageList,
};
