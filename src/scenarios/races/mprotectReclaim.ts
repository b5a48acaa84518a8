/**
 * Race `mprotect-reclaim` (2017): "mm, mprotect: flush TLB if potentially
 * racing with a parallel reclaim leaving stale TLB entries" (3ea277194daa,
 * Mel Gorman, Linux 4.13), reported by Nadav Amit. Batched reclaim clears a PTE and
 * defers its flush; mprotect (or munmap, madvise, mremap) then finds the PTE
 * not present, has nothing to change and so nothing to flush, and returns
 * while the caller's TLB still holds the entry. The fix makes each of those
 * calls run flush_tlb_batched_pending() under the PTE lock before it looks
 * at the PTEs: in mm/mprotect.c change_pte_range(), mm/memory.c
 * zap_pte_range() (munmap, MADV_DONTNEED), mm/madvise.c
 * madvise_free_pte_range() and mm/mremap.c move_ptes() (which skips a none
 * source PTE and forces a flush only for a present one).
 *
 *   CPU 0 (kswapd, batched reclaim)         CPU 1 (thread)
 *   ---------------------------------       ------------------------------
 *                                           store to P: writable entry cached
 *                                           (a load with mprotect-none, mremap)
 *   try_to_unmap_one(P):
 *     ptep_get_and_clear()
 *     set_tlb_ubc_flush_pending()
 *                                           mprotect(P, PROT_READ)
 *                                             change_pte_range(): PTE not
 *                                             present, nothing flushed
 *                                           (mprotect(P, PROT_NONE): the same;
 *                                           munmap, madvise: zap_pte_range()
 *                                           skips the none PTE; mremap(P -> Q):
 *                                           move_ptes() skips it, nothing
 *                                           moved, no flush forced)
 *                                           store to P through the cached
 *                                           writable entry: succeeds after
 *                                           mprotect returned (a load after
 *                                           PROT_NONE, or from old P after
 *                                           mremap, hits the stale entry too)
 *   try_to_unmap_flush()
 *
 * Variants (`--syscall`), each the same interleaving with another call:
 * - `mprotect` (default): mprotect(P, PROT_READ), then stores: a write after
 *   protect.
 * - `munmap`, `madvise`: munmap(P) or madvise(P, MADV_DONTNEED)
 *   (zap_pte_range), then stores: an access after unmap.
 * - `mprotect-none`: mprotect(P, PROT_NONE) (change_pte_range), then loads: a
 *   read after protect. The thread warms up with a load (readable entry).
 * - `mremap`: mremap(P -> Q), Q = page 1 (move_ptes finds P's PTE none:
 *   nothing to move, nothing to flush), then loads from the old address P: an
 *   access after unmap. Every access is a load (as in mremap-ptl): a store
 *   to P would leave its value in a frame mapped at Q when the call moved
 *   the PTE, which the end-of-run check would read as lost. Runs on 2 pages.
 *
 * Buggy side: the 4.12 kernel's calls: `--no-batched-pending-flush` (no
 * flush_tlb_batched_pending in the syscalls) and `--mprotect-flush range`
 * (4.12's change_protection_range flushed the call's whole [start, end)
 * whenever it changed any present PTE in it, so mprotect races only when
 * reclaim had already cleared every PTE of the range: with one page, as
 * here, that is the only case anyway). Fixed: the pending flush; the access
 * after the call then misses, walks, and faults (SIGSEGV after PROT_NONE,
 * munmap, mremap; a refault after PROT_READ's store or MADV_DONTNEED).
 *
 * Introduced by 72b252aed506 (Linux 4.3), the deferred reclaim flush: a
 * reading of the race (3ea277194daa's changelog has no Fixes: tag).
 *
 * Invariant: CPU 1 touches P, enters the system call (a scheduling point),
 * makes it, then accesses P `--ops` times; CPU 0 reclaims P once.
 */
import { sysMadviseDontneed, sysMprotectNone, sysMprotectReadOnly, sysMremap, sysMunmap } from '../../kernel/syscalls.js';
import { everyCpuInitiates, kswapdAndThreads, loadRepeatedly, storeEach, warmUp } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import type { RaceEntry } from './types.js';
import { ConfigError, type SimConfig } from '../../config/params.js';

const PAGE = 0;
/** mremap's destination. */
const NEW = 1;

export const mprotectReclaimWorkload: Workload = {
  name: 'mprotect-reclaim',
  summary: 'CPU 0 reclaims a page (batched) while CPU 1, which caches it, calls mprotect(PROT_READ) (or munmap, madvise, mprotect(PROT_NONE), mremap) and accesses it again (the 2017 race)',
  validate(c: SimConfig): void {
    if (c.syscall === 'mremap' && c.pages < 2) throw new ConfigError(`--pages must be at least 2 for --syscall mremap (page 0 moves to page 1), got ${c.pages}`);
  },
  // kswapdAndThreads runs the thread part on every CPU but 0, so every thread CPU makes the mprotect/munmap/madvise/mremap call and
  // may flush the others (CPU 1 is only the caller of the 2-CPU scenario): each needs a port to every CPU.
  initiators: everyCpuInitiates,
  run(cpu, protocol) {
    const c = cpu.config;
    const loads = c.syscall === 'mprotect-none' || c.syscall === 'mremap';
    kswapdAndThreads(cpu, protocol, [PAGE], (mm) => {
      warmUp(cpu, mm, [PAGE], !loads);
      cpu.schedPoint(); // syscall entry
      if (c.syscall === 'mprotect') sysMprotectReadOnly(cpu, mm, [PAGE]);
      else if (c.syscall === 'mprotect-none') sysMprotectNone(cpu, mm, [PAGE]);
      else if (c.syscall === 'munmap') sysMunmap(cpu, mm, [PAGE]);
      else if (c.syscall === 'mremap') sysMremap(cpu, mm, PAGE, NEW);
      else sysMadviseDontneed(cpu, mm, [PAGE]);
      if (!loads) {
        storeEach(cpu, mm, Array.from({ length: c.ops }, () => PAGE));
        return;
      }
      loadRepeatedly(cpu, mm, PAGE, c.ops);
    });
  },
};

export const mprotectReclaim: RaceEntry = {
  name: 'mprotect-reclaim',
  year: 2017,
  commit: '3ea277194daa',
  title: 'mm, mprotect: flush TLB if potentially racing with a parallel reclaim leaving stale TLB entries',
  author: 'Mel Gorman',
  release: '4.13',
  introduced: '72b252aed506 ("mm: send one IPI per CPU to TLB flush all entries after unmapping pages"), whose deferred reclaim flush the calls race with',
  arch: 'any',
  effect: 'write after protect',
  summary: "mprotect/munmap/madvise/mremap finds the PTE reclaim already cleared, flushes nothing and returns; the caller's stale entry still writes (or reads, after PROT_NONE or mremap)",
  workload: 'mprotect-reclaim',
  defaults: { workload: 'mprotect-reclaim', cpus: 2, pages: 1, batch: 1, ops: 2, writeRatio: 1, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'batched' },
  buggy: { batchedPendingFlush: false, mprotectFlush: 'range' },
  variants: {
    munmap: { effect: 'access after unmap' },
    madvise: { effect: 'access after unmap' },
    'mprotect-none': { effect: 'read after protect', defaults: { writeRatio: 0 } },
    mremap: { effect: 'access after unmap', defaults: { pages: 2, writeRatio: 0 } },
  },
};
