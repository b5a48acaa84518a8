/**
 * Workload `mprotect`: the 2017 race that flush_tlb_batched_pending fixed
 * (3ea277194daa, reported by Nadav Amit).
 *
 * CPU 0 reclaims the pages of `--reclaim-pages` (default: all) in batches
 * (deferring the flush); CPU 1 caches writable entries for every page
 * (stores), waits until reclaim has cleared a seeded number of PTEs, does a
 * seeded number of loads, calls mprotect(PROT_READ) on every page, then tries
 * to store to every page again: each of those stores must fault. CPUs 2..N-1 keep loading and storing
 * at random (`--write-ratio`) throughout, so their writable entries are the
 * remote half of the story: mprotect's flushes must reach them too.
 *
 * Without the pending flush, a page whose PTE reclaim had already cleared is
 * "unchanged" for mprotect; if it lies outside the span of the PTEs mprotect
 * did change, nothing flushes the writable entries other CPUs hold for it,
 * and a store succeeds after mprotect returned (a write after protect).
 * `--syscall munmap` / `madvise` make the call munmap or MADV_DONTNEED: a load
 * or store through such an entry after the call returned is an access after
 * unmap (after MADV_DONTNEED a refault is legitimate and is not counted).
 */
import { sysMadviseDontneed, sysMprotectReadOnly, sysMunmap } from '../../kernel/syscalls.js';
import { parseReclaimPages } from '../../config/params.js';
import { accessLoop, allPages, kswapdAndThreads, placeSyscall, storeEach, warmUp } from './common.js';
import type { Workload } from './types.js';
import { ConfigError, type SimConfig } from '../../config/params.js';

export const mprotectWorkload: Workload = {
  name: 'mprotect',
  summary: 'CPU 0 reclaims while CPU 1 calls mprotect(PROT_READ) (or munmap, madvise) and CPUs 2.. keep storing (the 2017 race)',
  validate(c: SimConfig): void {
    if (c.syscall === 'mprotect-none' || c.syscall === 'mremap') {
      throw new ConfigError(`--syscall ${c.syscall} applies to the mprotect-reclaim scenario (--workload mprotect takes mprotect, munmap or madvise)`);
    }
  },
  initiators: () => [0, 1],
  cpuRoles: (c) => `CPU 1 calls ${c.syscall}`,
  run(cpu, protocol) {
    const c = cpu.config;
    const all = allPages(c.pages);
    const reclaimed = parseReclaimPages(c.reclaimPages, c.pages);
    kswapdAndThreads(cpu, protocol, reclaimed, (mm) => {
      if (cpu.id !== 1) {
        warmUp(cpu, mm, all, true);
        accessLoop(cpu, mm, all, c.ops, c.writeRatio);
        return;
      }
      warmUp(cpu, mm, all, true);
      placeSyscall(cpu, mm, all, reclaimed.length, c.ops);
      if (c.syscall === 'mprotect') sysMprotectReadOnly(cpu, mm, all);
      else if (c.syscall === 'munmap') sysMunmap(cpu, mm, all);
      else sysMadviseDontneed(cpu, mm, all);
      storeEach(cpu, mm, all);
    });
  },
};
