/**
 * Workload `munmap`: CPU 0 is a thread that maps a range of `--range` pages
 * (mmap: the VMA becomes read-write), touches every page (a write fault maps
 * each), and munmaps it, `--ops` times, walking the first half of the address
 * space; `--range 1,8,64` cycles through several lengths (the mixed mode).
 * CPUs 1..N-1 are threads that keep loading and storing in the second half,
 * which is never unmapped, so they are in mm_cpumask and busy throughout.
 *
 * Exact counts: nothing else touches the ranges, so every munmap zaps all of
 * its pages in one pass and sends one IPI round to the N-1 other CPUs: ops
 * rounds, ops x (N-1) IPIs; CPU 0 counts L in nr_tlb_local_flush_one for a
 * range of L <= `--ceiling` pages and 1 in nr_tlb_local_flush_all above it.
 * A range that covers a whole page table frees it (the flush then also
 * reaches lazy CPUs). `workload_ops` counts the munmaps.
 *
 * `--lazy-cpus K`: the last K CPUs run a kernel thread (lazy TLB, mm still
 * loaded) from before CPU 0's first munmap until its last. mmu_gather's flush
 * passes tlb->freed_tables: a range that frees no page table skips them
 * (ops x (N-1-K) IPIs, still ops nr_tlb_remote_flush); one that frees a
 * table reaches them: the first such flush switches each to init_mm
 * (lazy_tlb_flushes), the second finds init_mm loaded and clears its
 * mm_cpumask bit (tlb_remote_wrong_cpu), later ones skip it.
 */
import { parseRangeLengths } from '../../config/params.js';
import { VMA_RW } from '../../kernel/fault.js';
import { sysMunmap } from '../../kernel/syscalls.js';
import { ringDoorbell } from '../../engine/scheduler.js';
import { BARRIER_SAFETY_MS, isLazyThread, loadMmOnEveryCpu, PROCESS_MM, RECLAIM_DONE_CHECK_EVERY, storeEach } from './common.js';
import type { Workload } from './types.js';
import { ConfigError, type SimConfig } from '../../config/params.js';
import { storeVmaWrite } from '../../engine/state/pageState.js';

/** The ranges CPU 0 maps and unmaps, in order: `ops` of them, lengths cycling through `--range`, laid end to end over the first half of the pages (wrapping). */
export function munmapRanges(pages: number, ops: number, lengths: readonly number[]): number[][] {
  const area = Math.floor(pages / 2);
  const out: number[][] = [];
  let at = 0;
  for (let i = 0; i < ops; i++) {
    const len = lengths[i % lengths.length];
    if (at + len > area) at = 0;
    out.push(Array.from({ length: len }, (_, k) => at + k));
    at += len;
  }
  return out;
}

export const munmapWorkload: Workload = {
  name: 'munmap',
  summary: 'CPU 0 maps, touches and munmaps ranges of --range pages --ops times while CPUs 1.. keep running',
  validate(c: SimConfig): void {
    if (c.pages < 2) throw new ConfigError(`--pages must be at least 2 for --workload munmap (ranges in the first half, the other threads in the second), got ${c.pages}`);
    parseRangeLengths(c.range, Math.floor(c.pages / 2));
    if (c.reclaimPages.trim() !== '') throw new ConfigError('--reclaim-pages does not apply to --workload munmap (no kswapd runs)');
  },
  initiators: () => [0],
  cpuRoles: () => 'CPU 0 maps and unmaps, the others run',
  // CPU 0 is the unmapping thread; every other may go lazy.
  maxLazyCpus: (c) => c.cpus - 1,
  run(cpu) {
    const c = cpu.config;
    const program = cpu.program;
    const mm = PROCESS_MM;
    const half = Math.floor(c.pages / 2);
    loadMmOnEveryCpu(cpu, mm);
    if (cpu.id === 0) {
      for (const range of munmapRanges(c.pages, c.ops, parseRangeLengths(c.range, half))) {
        // mmap(): a new read-write VMA over the range.
        cpu.mmapLock(mm, true);
        for (const p of range) storeVmaWrite(cpu.v.pageState, cpu.pageIdx(mm, p), VMA_RW);
        cpu.mmapUnlock(mm, true);
        storeEach(cpu, mm, range);
        sysMunmap(cpu, mm, range);
        cpu.count('workload_ops');
        cpu.schedPoint();
      }
      // "Reclaim done" doubles as "the driving CPU is done" (no kswapd runs here).
      program.markReclaimDone();
      // Lazy CPUs sleep until then.
      for (let o = 1; o < c.cpus; o++) ringDoorbell(cpu.v.cpuCtl, o);
      return;
    }
    if (isLazyThread(cpu)) {
      // The kernel thread runs until CPU 0 is done; then the thread's task is switched back in.
      cpu.blockUntil(() => program.reclaimDone(), BARRIER_SAFETY_MS, true, true);
      cpu.leaveLazyTlb();
      return;
    }
    // The other threads work on the second half until CPU 0 is done.
    const prng = cpu.prng;
    for (let done = 0; ; done++) {
      if (done % RECLAIM_DONE_CHECK_EVERY === 0 && program.reclaimDone()) return;
      cpu.tick();
      const p = half + prng.below(c.pages - half);
      if (prng.next() < c.writeRatio) cpu.store(mm, p);
      else cpu.load(mm, p);
    }
  },
};
