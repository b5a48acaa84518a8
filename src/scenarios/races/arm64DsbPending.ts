/**
 * Race `arm64-dsb-pending` (2025): "arm64/mm: Close theoretical race where
 * stale TLB entry remains valid" (4b634918384c, Ryan Roberts, Linux 6.16,
 * backported to 6.15.y). Introduced by 43b3dfdd0455 ("arm64: support
 * batched/deferred tlb shootdown during page reclamation/migration", Linux
 * 6.5), its Fixes: tag. The fix's
 * changelog restates the 2017 race of `mprotect-reclaim` (Nadav Amit's
 * table, 3ea277194daa) and explains why arm64 was still open to it:
 * arm64's batched reclaim issues each page's TLBI at queue time
 * (arch_tlbbatch_add_pending -> __flush_tlb_page_nosync: TLBI VALE1IS, no
 * DSB) and completes them with one dsb(ish) in arch_tlbbatch_flush, on the
 * same CPU. arch_flush_tlb_batched_pending, which flush_tlb_batched_pending
 * (mm/rmap.c) runs in mprotect, munmap and madvise, was a dsb(ish) too; but
 * it runs on another CPU, and the Arm ARM promises completion of a TLBI
 * only to a DSB "by the observer that performed the TLB maintenance
 * instruction". The fix makes it flush_tlb_mm(mm): a TLBI ASIDE1IS of its
 * own, completed by its own DSB.
 *
 *   CPU 0 (kswapd, batched reclaim)         CPU 1 (thread)
 *   ---------------------------------       --------------------------------
 *                                           store to P: writable entry cached
 *   try_to_unmap_one(P):
 *     ptep_get_and_clear()
 *     set_tlb_ubc_flush_pending():
 *       arch_tlbbatch_add_pending():
 *       TLBI VALE1IS P, no DSB (in flight:
 *       CPU 1's MMU has not applied it)
 *                                           mprotect(P, PROT_READ)
 *                                             flush_tlb_batched_pending():
 *                                               buggy: dsb(ish) only: waits
 *                                               for CPU 1's TLBIs (none),
 *                                               not CPU 0's
 *                                             change_pte_range(): PTE not
 *                                             present, nothing flushed
 *                                           store to P through the cached
 *                                           writable entry: succeeds after
 *                                           mprotect returned
 *   try_to_unmap_flush():
 *     arch_tlbbatch_flush(): dsb(ish)
 *
 * (The table is the 3ea277194daa interleaving the fix's changelog quotes,
 * with arm64's TLBI/DSB steps written in from the changelog's prose.)
 *
 * Needs `--arch arm64` (src/kernel/arm64Tlbi.ts): TLBIs reach every CPU with no
 * interrupt, each CPU's MMU applies them to its own TLB as a scheduling
 * step of its own (agent cpus + c), and a DSB waits only for the TLBIs
 * its own CPU issued.
 *
 * Buggy side: `--arm64-pending dsb`. Fixed: `flush-mm` (the default).
 *
 * Invariant: CPU 1 stores to P, enters the system call (a scheduling
 * point), makes it, then stores `--ops` times; CPU 0 reclaims P once. The
 * scenario's machine is `mprotect-reclaim`'s but for `--arch arm64`: the
 * buggy kernel path is the only thing that leaves the TLBI unwaited.
 */
import { sysMadviseDontneed, sysMprotectReadOnly, sysMunmap } from '../../kernel/syscalls.js';
import { everyCpuInitiates, kswapdAndThreads, storeEach, warmUp } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import type { RaceEntry } from './types.js';
import { ConfigError, type SimConfig } from '../../config/params.js';

const PAGE = 0;

export const arm64DsbPendingWorkload: Workload = {
  name: 'arm64-dsb-pending',
  summary: "arm64: CPU 0 reclaims a page (TLBI issued, DSB deferred) while CPU 1, which caches it writable, calls mprotect(PROT_READ) (or munmap, madvise) and stores again (the 2025 race)",
  validate(c: SimConfig): void {
    if (c.syscall === 'mprotect-none' || c.syscall === 'mremap') {
      throw new ConfigError(`--syscall ${c.syscall} applies to the mprotect-reclaim scenario (arm64-dsb-pending takes mprotect, munmap or madvise)`);
    }
  },
  // kswapdAndThreads runs the thread part on every CPU but 0, so every thread CPU makes the mprotect/munmap/madvise call and
  // may flush the others (CPU 1 is only the caller of the 2-CPU scenario): each needs a port to every CPU.
  initiators: everyCpuInitiates,
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

export const arm64DsbPending: RaceEntry = {
  name: 'arm64-dsb-pending',
  year: 2025,
  commit: '4b634918384c',
  title: 'arm64/mm: Close theoretical race where stale TLB entry remains valid',
  author: 'Ryan Roberts',
  release: '6.16',
  introduced: '43b3dfdd0455 ("arm64: support batched/deferred tlb shootdown during page reclamation/migration")',
  arch: 'arm64',
  effect: 'write after protect',
  summary: "flush_tlb_batched_pending issues only a DSB on the calling CPU, which does not wait for the TLBI reclaim issued on another; the caller's stale writable entry still writes after mprotect returned",
  workload: 'arm64-dsb-pending',
  defaults: { workload: 'arm64-dsb-pending', cpus: 2, pages: 1, batch: 1, ops: 2, writeRatio: 1, tlbSets: 2, tlbWays: 1, arch: 'arm64', protocol: 'batched' },
  buggy: { arm64Pending: 'dsb' },
};
