/**
 * Race `mprotect-reclaim` (2017): "mm, mprotect: flush TLB if potentially
 * racing with a parallel reclaim leaving stale TLB entries" (3ea277194daa,
 * Linux 4.13), reported by Nadav Amit. Batched reclaim clears a PTE and
 * defers its flush; mprotect (or munmap, madvise, mremap) then finds the PTE
 * not present, has nothing to change and so nothing to flush, and returns
 * while the caller's TLB still holds the writable entry. The fix makes each
 * of those calls run flush_tlb_batched_pending() under the PTE lock first.
 *
 *   CPU 0 (kswapd, batched reclaim)         CPU 1 (thread)
 *   ---------------------------------       ------------------------------
 *                                           store to P: writable entry cached
 *   try_to_unmap_one(P):
 *     ptep_get_and_clear()
 *     set_tlb_ubc_flush_pending()
 *                                           mprotect(P, PROT_READ)
 *                                             change_pte_range(): PTE not
 *                                             present, nothing flushed
 *                                           store to P through the cached
 *                                           writable entry: succeeds after
 *                                           mprotect returned
 *   try_to_unmap_flush()
 *
 * `--syscall munmap` and `--syscall madvise` make the call munmap or
 * madvise(MADV_DONTNEED): a store through the entry after the call returned
 * is then an access after unmap.
 *
 * Buggy side: `--no-batched-pending-flush` (no flush_tlb_batched_pending in
 * the syscalls). Fixed: the pending flush.
 *
 * Invariant: CPU 1 stores to P, enters the system call (a scheduling
 * point), makes it, then stores `--ops` times; CPU 0 reclaims P once.
 */
import { sysMadviseDontneed, sysMprotectReadOnly, sysMunmap } from '../syscalls.js';
import { kswapdAndThreads, storeEach, warmUp } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import type { RaceEntry } from './types.js';

const PAGE = 0;

export const mprotectReclaimWorkload: Workload = {
  name: 'mprotect-reclaim',
  summary: 'CPU 0 reclaims a page (batched) while CPU 1, which caches it writable, calls mprotect(PROT_READ) (or munmap, madvise) and stores again (the 2017 race)',
  initiators: () => [0, 1],
  run(cpu, protocol) {
    const c = cpu.config;
    kswapdAndThreads(cpu, protocol, [PAGE], (mm) => {
      warmUp(cpu, mm, [PAGE], true);
      cpu.schedPoint(); // syscall entry
      if (c.syscall === 'mprotect') sysMprotectReadOnly(cpu, mm, [PAGE]);
      else if (c.syscall === 'munmap') sysMunmap(cpu, mm, [PAGE]);
      else sysMadviseDontneed(cpu, mm, [PAGE]);
      storeEach(cpu, mm, Array.from({ length: c.ops }, () => PAGE));
    });
  },
};

export const mprotectReclaim: RaceEntry = {
  name: 'mprotect-reclaim',
  year: 2017,
  commit: '3ea277194daa',
  title: 'mm, mprotect: flush TLB if potentially racing with a parallel reclaim leaving stale TLB entries',
  arch: 'any',
  effect: 'write after protect',
  summary: "mprotect/munmap/madvise finds the PTE reclaim already cleared, flushes nothing and returns; the caller's stale writable entry still writes",
  workload: 'mprotect-reclaim',
  defaults: { workload: 'mprotect-reclaim', cpus: 2, pages: 1, batch: 1, ops: 2, writeRatio: 1, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'batched' },
  buggy: { batchedPendingFlush: false },
};
