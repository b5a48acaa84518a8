/**
 * Race `reclaim-dirty` (2015): Mel Gorman's batched unmap flush, "mm: defer
 * flush of writable TLB entries" (d950c9477d51, Linux 4.3). Batching defers
 * reclaim's TLB flush past the PTE clear; for a page whose cleared PTE was
 * dirty, the flush must still come before the write-back
 * (try_to_unmap_flush_dirty), or a CPU keeps writing through its cached
 * dirty entry into a frame whose contents already went to disk, and the
 * write is lost when the frame is freed. The commit says: "if the PTE was
 * dirty then a flush is required before the IO is initiated to prevent
 * writes being lost"; Rik van Riel's reviews of the series drew the window.
 *
 *   CPU 0 (kswapd, batched reclaim)         CPU 1 (thread)
 *   ---------------------------------       ------------------------------
 *                                           store to P: entry cached
 *                                           writable and dirty
 *   try_to_unmap_one(P): PTE cleared
 *   (it was dirty), flush deferred
 *   buggy: no try_to_unmap_flush_dirty()
 *   pageout(P): backing store := frame
 *                                           store to P through the cached
 *                                           dirty entry: lands in the frame
 *   try_to_unmap_flush()
 *   free P's frame: that store is in neither the frame nor the backing
 *   store (a lost write)
 *
 * Buggy side: `--inject skip-dirty-flush` (try_to_unmap_flush_dirty is
 * skipped; the final flush stays). Fixed: the flush before write-back.
 *
 * Invariant: CPU 1 makes `--ops` stores to P after warm-up and nothing
 * else; CPU 0 reclaims P once, in a batch of one.
 */
import { kswapdAndThreads, storeEach, warmUp } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import type { RaceEntry } from './types.js';

/** The page reclaim takes and the thread writes. */
const PAGE = 0;

export const reclaimDirtyWorkload: Workload = {
  name: 'reclaim-dirty',
  summary: 'CPU 0 reclaims a dirty page (batched) while CPU 1 keeps storing to it (the 2015 dirty write-back race)',
  initiators: () => [0],
  run(cpu, protocol) {
    kswapdAndThreads(cpu, protocol, [PAGE], (mm) => {
      warmUp(cpu, mm, [PAGE], true);
      storeEach(cpu, mm, Array.from({ length: cpu.config.ops }, () => PAGE));
    });
  },
};

export const reclaimDirty: RaceEntry = {
  name: 'reclaim-dirty',
  year: 2015,
  commit: 'd950c9477d51',
  title: 'mm: defer flush of writable TLB entries',
  arch: 'any',
  effect: 'lost write',
  summary: 'a dirty page is written back while another CPU can still write through its cached dirty entry; the write is lost with the frame',
  workload: 'reclaim-dirty',
  defaults: { workload: 'reclaim-dirty', cpus: 2, pages: 1, batch: 1, ops: 3, writeRatio: 1, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'batched' },
  buggy: { inject: 'skip-dirty-flush' },
};
