/**
 * Workload `mprotect`: the 2017 race that flush_tlb_batched_pending fixed.
 *
 * CPU 0 reclaims every page in batches (deferring the flush); CPU 1 caches
 * writable entries for every page (stores), does a few loads, calls
 * mprotect(PROT_READ) on every page, then tries to store to every page again:
 * each of those stores must fault. Without the pending flush, a page whose
 * PTE reclaim had already cleared is "unchanged" for mprotect, nothing flushes
 * CPU 1's writable entry, and the store succeeds after mprotect returned.
 * `--syscall munmap` makes the call munmap (a store after it returned is a
 * write after protect too); `--syscall madvise` makes it MADV_DONTNEED (later
 * accesses legitimately refault; the pending flush shows up in the counters).
 * CPUs 2..N-1 only load (they keep the mm busy without storing into the
 * protected range themselves).
 */
import { sysMadviseDontneed, sysMprotectReadOnly, sysMunmap } from '../syscalls.js';
import { accessLoop, kswapdAndThreads, warmUp } from './common.js';
import type { Workload } from './types.js';

export const mprotectWorkload: Workload = {
  name: 'mprotect',
  summary: 'CPU 0 reclaims while CPU 1 calls mprotect(PROT_READ) and stores again (the 2017 race)',
  initiators: () => [0, 1],
  run(cpu, protocol) {
    const c = cpu.config;
    kswapdAndThreads(cpu, protocol, (mm) => {
      if (cpu.id !== 1) {
        warmUp(cpu, mm, c.pages, false);
        accessLoop(cpu, mm, c.pages, c.ops, 0);
        return;
      }
      warmUp(cpu, mm, c.pages, true);
      const all = Array.from({ length: c.pages }, (_, p) => p);
      // A seeded number of loads first, so the call lands at different points of the reclaim pass.
      const delay = cpu.prng.below(Math.max(1, c.ops));
      for (let i = 0; i < delay; i++) {
        cpu.tick();
        cpu.load(mm, cpu.prng.below(c.pages));
      }
      cpu.schedPoint();
      if (c.syscall === 'mprotect') sysMprotectReadOnly(cpu, mm, all);
      else if (c.syscall === 'munmap') sysMunmap(cpu, mm, all);
      else sysMadviseDontneed(cpu, mm, all);
      for (const p of all) {
        cpu.tick();
        cpu.store(mm, p);
      }
    });
  },
};
