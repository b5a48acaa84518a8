/**
 * Race `nested-zap` (2017): "mm: fix MADV_[FREE|DONTNEED] TLB flush miss
 * problem" (99baac21e458, Minchan Kim, Linux 4.13; reported by Nadav Amit
 * for parallel MADV_DONTNEED, by Mel Gorman for MADV_FREE). madvise() zaps
 * under mmap_lock held for read, so two threads can zap the same range at
 * once. Each gathers the PTEs it clears in its own mmu_gather and flushes
 * them in tlb_finish_mmu(), after dropping the PTE lock. The second zap
 * finds the PTEs already clear, gathers nothing, flushes nothing and
 * returns, while the first has not flushed yet: the caller's stale entry
 * (or a third CPU's) still reaches the page after madvise returned. Mel
 * Gorman's words in the changelog: "CPU 1 may have writable TLB entries
 * for a page but fail the pte_dirty check (because CPU 0 has updated it
 * already) and potentially fail to flush". The fix counts the mmu_gathers
 * in flight in mm->tlb_flush_pending (inc_tlb_flush_pending in
 * tlb_gather_mmu, dec at the end of tlb_finish_mmu) and makes
 * tlb_finish_mmu flush when mm_tlb_flush_nested() sees another one
 * (a forced flush of the range in 4.13; of the whole mm, freed_tables set,
 * since 7a30df49f63a, which is what the fixed side models). It replaced
 * Mel Gorman's 4647706ebeee ("mm: always flush VMA ranges affected by
 * zap_page_range"), later reverted (50c150f26261).
 *
 * Introduced by: not identified here (the zap's deferred flush under a
 * shared mmap_lock predates the report; the changelog names no commit).
 *
 *   CPU 0 (thread: madvise)                 CPU 1 (thread: madvise)
 *   ---------------------------------       ------------------------------
 *                                           load from P: entry cached
 *   madvise(P, MADV_DONTNEED):
 *     tlb_gather_mmu(): pending 1
 *     zap_pte_range(): P's PTE cleared,
 *     PTE lock dropped (flush deferred to
 *     tlb_finish_mmu)
 *                                           madvise(P, MADV_DONTNEED):
 *                                             tlb_gather_mmu(): pending 2
 *                                             zap_pte_range(): P's PTE none,
 *                                             nothing gathered
 *                                             tlb_finish_mmu(): buggy: no
 *                                             flush (fixed: nested, flush
 *                                             the whole mm)
 *                                           load from P through the stale
 *                                           entry after madvise returned
 *     tlb_finish_mmu(): flush P, free it
 *
 * With `--cpus 3`, CPU 2 (a third thread) also loads P first and loads it
 * again once CPU 1's madvise returned (a user-space flag), as in the
 * fix's summary: any CPU's stale entry outlives the second call.
 *
 * Buggy side: `--no-nested-flush` (tlb_finish_mmu ignores
 * mm_tlb_flush_nested). Fixed: the nested flush (the default).
 *
 * Invariant: CPUs 1.. load P, report warm; CPU 0 waits for them, then
 * madvises P once; CPU 1 enters the system call (a scheduling point),
 * madvises P, sets the program's flag and loads P `--ops` times; CPU 2
 * waits for the flag and loads P `--ops` times. Nothing else runs.
 */
import type { Cpu } from '../../engine/cpu.js';
import { ringDoorbell } from '../../engine/scheduler.js';
import { sysMadviseDontneed } from '../../kernel/syscalls.js';
import { BARRIER_SAFETY_MS, loadRepeatedly } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import type { RaceEntry } from './types.js';

const P = 0;
const MM = 0;
/** The first zapper's CPU. */
const FIRST = 0;
/** The second zapper's CPU. */
const SECOND = 1;

export const nestedZapWorkload: Workload = {
  name: 'nested-zap',
  summary: "CPUs 0 and 1 madvise(MADV_DONTNEED) the same page at once; the second finds the PTE already clear and returns before the first has flushed (the 2017 nested mmu_gather race)",
  initiators: () => [FIRST, SECOND],
  run(cpu: Cpu) {
    const program = cpu.program;
    const c = cpu.config;
    cpu.switchMm(MM);
    if (cpu.id === FIRST) {
      cpu.blockUntil(() => program.warmArrivals() >= c.cpus - 1, BARRIER_SAFETY_MS, true, true);
      sysMadviseDontneed(cpu, MM, [P]);
      return;
    }
    cpu.tick();
    cpu.load(MM, P);
    program.arriveWarm();
    ringDoorbell(cpu.v.cpuCtl, FIRST);
    if (cpu.id === SECOND) {
      cpu.schedPoint(); // syscall entry
      sysMadviseDontneed(cpu, MM, [P]);
      // The program's "P is gone" flag (a futex wake).
      program.setUserFlag();
      for (let o = SECOND + 1; o < c.cpus; o++) ringDoorbell(cpu.v.cpuCtl, o);
    } else {
      cpu.blockUntil(() => program.userFlag(), BARRIER_SAFETY_MS, true, true);
    }
    loadRepeatedly(cpu, MM, P, c.ops);
  },
};

export const nestedZap: RaceEntry = {
  name: 'nested-zap',
  year: 2017,
  commit: '99baac21e458',
  title: 'mm: fix MADV_[FREE|DONTNEED] TLB flush miss problem',
  author: 'Minchan Kim',
  release: '4.13',
  introduced: 'not identified (the changelog names none)',
  arch: 'any',
  effect: 'access after unmap',
  summary: 'two threads zap the same page under a shared mmap_lock; the second finds the PTE already clear, flushes nothing and returns before the first has flushed; a stale entry still reaches the page',
  workload: 'nested-zap',
  defaults: { workload: 'nested-zap', cpus: 2, pages: 1, batch: 1, ops: 2, writeRatio: 0, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'batched' },
  buggy: { nestedFlush: false },
};
