/**
 * Building blocks shared by workloads: the reclaimer (kswapd on CPU 0) and the
 * access loop of a process thread.
 *
 * Invariant: reclaim starts only after every thread CPU finished warm-up, so
 * every thread CPU is in mm_cpumask and caches every page when the first
 * flush goes out (that is what makes the IPI counts exact).
 */
import type { Cpu } from '../cpu.js';
import { G_RECLAIM_DONE, G_WARM } from '../layout.js';
import type { UnmapProtocol } from '../protocols/types.js';

/** Check the reclaim-done flag every this many accesses (an Atomics.load per access would cost ~10%). */
export const RECLAIM_DONE_CHECK_EVERY = 64;

/** kswapd: wait for warm-up, reclaim pages [0, pages) in batches of `batch`, then flag reclaim done. */
export function runReclaimer(cpu: Cpu, protocol: UnmapProtocol, mm: number, pages: number, batch: number, threads: number): void {
  const g = cpu.v.global;
  cpu.blockUntil(() => Atomics.load(g, G_WARM) >= threads);
  for (let start = 0; start < pages; start += batch) {
    const chunk: number[] = [];
    for (let p = start; p < Math.min(pages, start + batch); p++) chunk.push(p);
    protocol.shrinkPageList(cpu, mm, chunk);
    cpu.schedPoint();
  }
  Atomics.store(g, G_RECLAIM_DONE, 1);
}

/** The process's mm in the built-in workloads. */
export const PROCESS_MM = 0;

/**
 * The common shape of the built-in workloads: CPU 0 is kswapd and reclaims
 * every page of the process's mm; every other CPU loads the mm (joining its
 * cpumask) and runs `thread`.
 */
export function kswapdAndThreads(cpu: Cpu, protocol: UnmapProtocol, thread: (mm: number) => void): void {
  const c = cpu.config;
  if (cpu.id === 0) {
    runReclaimer(cpu, protocol, PROCESS_MM, c.pages, c.batch, c.cpus - 1);
    return;
  }
  cpu.switchMm(PROCESS_MM);
  thread(PROCESS_MM);
}

/** Thread warm-up: load every page once (writable-clean entries), then report warm. */
export function warmUp(cpu: Cpu, mm: number, pages: number, store: boolean): void {
  for (let p = 0; p < pages; p++) {
    cpu.tick();
    if (store) cpu.store(mm, p);
    else cpu.load(mm, p);
  }
  Atomics.add(cpu.v.global, G_WARM, 1);
}

/** Random loads and stores until at least `ops` accesses are done and reclaim has finished. */
export function accessLoop(cpu: Cpu, mm: number, pages: number, ops: number, writeRatio: number): void {
  const g = cpu.v.global;
  const prng = cpu.prng;
  let done = 0;
  let reclaimDone = false;
  for (;;) {
    if (done % RECLAIM_DONE_CHECK_EVERY === 0) {
      reclaimDone = Atomics.load(g, G_RECLAIM_DONE) !== 0;
      if (reclaimDone && done >= ops) return;
    }
    cpu.tick();
    const p = prng.below(pages);
    if (prng.next() < writeRatio) cpu.store(mm, p);
    else cpu.load(mm, p);
    done++;
  }
}
