/**
 * Scenario `reclaim-dirty`: a planted ablation, not a historical bug. It
 * shows why Mel Gorman's "mm: defer flush of writable TLB entries"
 * (d950c9477d51, Linux 4.3) has try_to_unmap_flush_dirty(). Before that
 * commit (after 72b252aed506, "mm: send one IPI per CPU to TLB flush all
 * entries after unmapping pages", the same release) reclaim deferred only
 * the flush of clean PTEs and flushed a dirty one at once; d950c9477d51
 * deferred the dirty ones too and added, in the same commit, the flush that
 * must run before their write-back: "if the PTE was dirty then a flush is
 * required before the IO is initiated to prevent writes being lost". No
 * released kernel deferred a dirty PTE's flush without it, so the buggy
 * side never shipped (introduced: ablation). Without it, a CPU keeps
 * writing through its cached dirty entry into a frame whose contents
 * already went to disk, and the write is lost when the frame is freed.
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
 * Ablation side (`--kernel buggy`, labelled `ablation`): `--inject
 * skip-dirty-flush` (try_to_unmap_flush_dirty is skipped; the final flush
 * stays). Fixed: the flush before write-back (every kernel since 4.3).
 *
 * Invariant: CPU 1 makes `--ops` stores to P after warm-up and nothing
 * else; CPU 0 reclaims P once, in a batch of one.
 */
import { kswapdAndThreads, storeEach, warmUp } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import { ABLATION, type RaceEntry } from './types.js';

/** The page reclaim takes and the thread writes. */
const PAGE = 0;

export const reclaimDirtyWorkload: Workload = {
  name: 'reclaim-dirty',
  summary: 'CPU 0 reclaims a dirty page (batched) while CPU 1 keeps storing to it (why try_to_unmap_flush_dirty exists: an ablation)',
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
  author: 'Mel Gorman',
  release: '4.3',
  introduced: ABLATION,
  arch: 'any',
  effect: 'lost write',
  summary: 'without try_to_unmap_flush_dirty a dirty page is written back while another CPU can still write through its cached dirty entry; the write is lost with the frame',
  workload: 'reclaim-dirty',
  defaults: { workload: 'reclaim-dirty', cpus: 2, pages: 1, batch: 1, ops: 3, writeRatio: 1, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'batched' },
  buggy: { inject: 'skip-dirty-flush' },
};
