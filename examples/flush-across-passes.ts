/**
 * Protocol plug-in `flush-across-passes` (tlbsim run --protocol
 * ./examples/flush-across-passes.ts): Gorman's batched unmap flush
 * (try_to_unmap_flush, mm/rmap.c), but the flush of a reclaim pass (one
 * shrink_folio_list call of at most --batch pages) is deferred into the next
 * pass, up to MAX_DEFERRED_PASSES passes: one IPI round then covers them all.
 *
 * Rule (what the counts follow): with no dirty page, passes 1..D share one
 * round, D+1..2D the next, ...; the passes still owed when kswapd is done
 * (reclaimDone) get one last round. So P pages in batches of B take
 * ceil(ceil(P / B) / D) rounds. A dirty page cannot wait (its write-back
 * must follow a flush, try_to_unmap_flush_dirty): a pass with one flushes
 * the whole batch at once, deferred passes included.
 *
 * Invariant (the engine checks it): no frame is freed before the round that
 * covers its unmap; the frames of deferred passes stay allocated meanwhile.
 * Their page locks are dropped before the round (as batched does for clean
 * pages), so a thread may fault the page back in while the old frame waits.
 */
import type { ProtocolPlugin, ReclaimBatch, ReclaimKernel, ReclaimRun, UnmappedPage } from 'tlbsim';

/**
 * Passes one round may cover. 4 is a guess at what a real kernel could
 * afford: every deferred pass keeps its frames out of the free pool (4 x
 * SWAP_CLUSTER_MAX = 128 pages) and its stale entries alive on other CPUs.
 */
const MAX_DEFERRED_PASSES = 4;

function start(k: ReclaimKernel): ReclaimRun {
  let batch: ReclaimBatch = k.newBatch();
  /** Clean pages unmapped into `batch` whose frames wait for its round. */
  let waiting: { mm: number; u: UnmappedPage }[] = [];
  let passesOwed = 0;

  /** The round for everything in the batch, then free the frames it covers. */
  function flushAndFree(): void {
    k.tryToUnmapFlush(batch);
    for (const w of waiting) k.setStep(w.mm, w.u.page, 'flushed');
    for (const w of waiting) {
      k.freePage(w.mm, w.u, false); // unlocked when its pass ended
      k.schedPoint();
    }
    waiting = [];
    passesOwed = 0;
    batch = k.newBatch();
  }

  return {
    shrinkPageList(mm, pages) {
      for (const p of pages) k.lockPage(mm, p);
      const dirty: UnmappedPage[] = [];
      const clean: UnmappedPage[] = [];
      for (const p of pages) {
        const u = k.tryToUnmapOne(mm, p, (x) => k.setTlbUbcFlushPending(batch, mm, x, k.isDirty(x)));
        if (!u) {
          k.unlockPage(mm, p); // not mapped: nothing to reclaim
          continue;
        }
        k.setStep(mm, p, 'unmapped');
        (k.isDirty(u) ? dirty : clean).push(u);
        k.schedPoint(); // the unmap window is open
      }
      for (const u of clean) k.unlockPage(mm, u.page);
      for (const u of clean) waiting.push({ mm, u });
      if (dirty.length > 0) {
        // try_to_unmap_flush_dirty(): the write-back must not start while a CPU may still write.
        flushAndFree();
        for (const u of dirty) {
          k.pageout(mm, u);
          k.schedPoint();
          k.freePage(mm, u);
        }
        return;
      }
      if (++passesOwed >= MAX_DEFERRED_PASSES) flushAndFree();
    },
    reclaimDone() {
      if (passesOwed > 0) flushAndFree();
    },
  };
}

export default {
  kind: 'protocol',
  name: 'flush-across-passes',
  summary: `batched unmap flush deferred across up to ${MAX_DEFERRED_PASSES} reclaim passes: one IPI round per ${MAX_DEFERRED_PASSES} batches`,
  start,
} satisfies ProtocolPlugin;
