/**
 * Building blocks shared by workloads: the reclaimer (kswapd on CPU 0) and the
 * access loop of a process thread.
 *
 * Invariants:
 * - Reclaim starts only after every thread CPU finished warm-up, so every
 *   thread CPU is in mm_cpumask and caches every page when the first flush
 *   goes out (that is what makes the IPI counts exact).
 * - Threads start their access loops when reclaim starts, so their accesses
 *   overlap the reclaim pass (the unmap window) in free mode as in seeded
 *   mode, with the entries still as warm-up left them.
 * - Both barriers are rung: the warm-up that completes rings the reclaimer,
 *   and the reclaimer rings every CPU when it starts (no sleeper polls).
 * - `--mms M`: thread CPU i runs process (i - 1) mod M; kswapd reclaims
 *   every process's pages, one process after the other.
 * - `--lazy-cpus K`: the last K thread CPUs enter lazy TLB mode after warm-up
 *   (before they count as warm, so every reclaim round sees them lazy) and
 *   leave it when reclaim is done (the reclaimer rings every CPU then); in
 *   `munmap`, before they arrive at the load barrier, until CPU 0 is done.
 */
import type { SimConfig } from '../../config/config.js';
import type { Cpu } from '../../engine/cpu.js';
import { ringDoorbell } from '../../engine/scheduler.js';
import type { UnmapProtocol } from '../../kernel/protocols/types.js';

/** Check the reclaim-done flag every this many accesses (an Atomics.load per access would cost ~10%). */
export const RECLAIM_DONE_CHECK_EVERY = 64;

/** The pages 0..pages-1: the working set of the workloads that touch every page. */
export function allPages(pages: number): number[] {
  return Array.from({ length: pages }, (_, p) => p);
}

/**
 * kswapd: wait for warm-up, then reclaim `pages` of every process (mm 0 first,
 * then mm 1, ...; one process by default) in batches of `batch` (in list
 * order), then flag reclaim done.
 */
export function runReclaimer(cpu: Cpu, protocol: UnmapProtocol, pages: readonly number[], batch: number, threads: number): void {
  const program = cpu.program;
  cpu.blockUntil(() => program.warmArrivals() >= threads, BARRIER_SAFETY_MS, true, true);
  program.markReclaimStarted();
  for (let c = 0; c < cpu.config.cpus; c++) if (c !== cpu.id) ringDoorbell(cpu.v.cpuCtl, c);
  for (let mm = 0; mm < cpu.config.mms; mm++) {
    for (let start = 0; start < pages.length; start += batch) {
      protocol.shrinkPageList(cpu, mm, pages.slice(start, start + batch));
      cpu.schedPoint();
    }
  }
  protocol.reclaimDone?.(cpu);
  program.markReclaimDone();
  // Lazy CPUs sleep until reclaim is done.
  for (let c = 0; c < cpu.config.cpus; c++) if (c !== cpu.id) ringDoorbell(cpu.v.cpuCtl, c);
}

/**
 * For workloads where every CPU is a thread of the process: load the mm, then
 * wait until every CPU has (the last to arrive rings the others), so every
 * flush from then on reaches all of them.
 */
export function loadMmOnEveryCpu(cpu: Cpu, mm: number): void {
  const program = cpu.program;
  const n = cpu.config.cpus;
  cpu.switchMm(mm);
  // `--lazy-cpus K` (munmap): a lazy thread's CPU runs a kernel thread from before it arrives, so every flush sees it lazy.
  if (isLazyThread(cpu)) cpu.enterLazyTlb();
  if (program.arriveWarm() === n) for (let o = 0; o < n; o++) if (o !== cpu.id) ringDoorbell(cpu.v.cpuCtl, o);
  cpu.blockUntil(() => program.warmArrivals() >= n, BARRIER_SAFETY_MS, true, true);
}

/** `--lazy-cpus K`: the last K CPUs are the threads that run a kernel thread (lazy TLB) while reclaim runs. */
export function isLazyThread(cpu: Cpu): boolean {
  return cpu.config.lazyCpus > 0 && cpu.id >= cpu.config.cpus - cpu.config.lazyCpus;
}

/** The process's mm in the built-in workloads (the first one, with `--mms`). */
export const PROCESS_MM = 0;

/** `--mms M`: the process thread CPU `id` (1..N-1) runs first: thread CPUs are dealt round-robin to the processes. */
function initialMm(cpu: Cpu): number {
  return (cpu.id - 1) % cpu.config.mms;
}
/** kswapd's CPU in the built-in workloads. */
const RECLAIMER_CPU = 0;
/**
 * Safety-net re-check of a (rung) workload barrier: only bounds a lost
 * wake-up (the last CPU to arrive rings the others). At 20 ms the warm-up
 * barrier of a 1024-CPU machine, which takes seconds on a 2-core host, woke
 * every waiting CPU dozens of times and slowed the warm-up it waits for.
 */
export const BARRIER_SAFETY_MS = 250;

/**
 * The common shape of the built-in workloads: CPU 0 is kswapd and reclaims
 * the process's working set `pages`; every other CPU loads the mm (joining
 * its cpumask) and runs `thread`.
 */
export function kswapdAndThreads(cpu: Cpu, protocol: UnmapProtocol, pages: readonly number[], thread: (mm: number) => void): void {
  const c = cpu.config;
  if (cpu.id === RECLAIMER_CPU) {
    runReclaimer(cpu, protocol, pages, c.batch, c.cpus - 1);
    return;
  }
  const mm = initialMm(cpu);
  cpu.switchMm(mm);
  thread(mm);
}

/**
 * `Workload.initiators` of a workload in which every CPU may send flush IPIs
 * (N^2 ports: config.ts caps such workloads at TLB_FLUSH_MAX_CPUS).
 */
export function everyCpuInitiates(c: SimConfig): number[] {
  return Array.from({ length: c.cpus }, (_, i) => i);
}

/** Thread warm-up: touch every page of the working set once (loads: writable-clean entries; stores: writable-dirty), then report warm. */
export function warmUp(cpu: Cpu, mm: number, pages: readonly number[], store: boolean): void {
  for (const p of pages) {
    cpu.tick();
    // `--ro-pages`: a read-only mapping is only loaded.
    if (store && p >= cpu.config.roPages) cpu.store(mm, p);
    else cpu.load(mm, p);
  }
  // A lazy thread blocks before reclaim starts: its CPU runs a kernel thread, mm still loaded.
  if (isLazyThread(cpu)) cpu.enterLazyTlb();
  cpu.program.arriveWarm();
  ringDoorbell(cpu.v.cpuCtl, RECLAIMER_CPU);
}

/** One store to each of `pages`, in order (a thread writing its range). */
export function storeEach(cpu: Cpu, mm: number, pages: readonly number[]): void {
  for (const p of pages) {
    cpu.tick();
    cpu.store(mm, p);
  }
}

/** `times` loads of one page, each a scheduling step (`tick`): a thread reading a page after a call returned. */
export function loadRepeatedly(cpu: Cpu, mm: number, page: number, times: number): void {
  for (let i = 0; i < times; i++) {
    cpu.tick();
    cpu.load(mm, page);
  }
}

/**
 * Random loads and stores to the working set until at least `ops` accesses
 * are done and reclaim has finished. With `--switch-every S`, the CPU
 * context-switches to the next process (mm + 1, round-robin over `--mms`)
 * after every S accesses and stops after exactly `ops` accesses (so a thread
 * CPU makes 1 + floor((ops - 1) / S) switches, its first load included).
 */
export function accessLoop(cpu: Cpu, mm: number, pages: readonly number[], ops: number, writeRatio: number): void {
  const program = cpu.program;
  const prng = cpu.prng;
  const n = pages.length;
  const switchEvery = cpu.config.switchEvery;
  const roPages = cpu.config.roPages;
  const irqOff = cpu.config.irqOffAccesses;
  let done = 0;
  let reclaimDone = false;
  if (isLazyThread(cpu)) {
    // The kernel thread runs until reclaim is over, then the process's thread is switched back in.
    cpu.blockUntil(() => program.reclaimDone(), BARRIER_SAFETY_MS, true, true);
    cpu.leaveLazyTlb();
  }
  cpu.blockUntil(() => program.reclaimStarted(), BARRIER_SAFETY_MS, true, true);
  for (;;) {
    if (switchEvery > 0) {
      if (done === ops) {
        cpu.setIrqsOff(false);
        return;
      }
      if (done > 0 && done % switchEvery === 0) {
        mm = (mm + 1) % cpu.config.mms;
        cpu.switchMm(mm);
      }
    } else if (done % RECLAIM_DONE_CHECK_EVERY === 0) {
      reclaimDone = program.reclaimDone();
      if (reclaimDone && done >= ops) {
        cpu.setIrqsOff(false);
        return;
      }
    }
    if (irqOff > 0 && done % irqOff === 0) cpu.setIrqsOff((done / irqOff) % 2 === 1);
    cpu.tick();
    const p = pages[prng.below(n)];
    // `--ro-pages`: the first pages are a read-only mapping; the thread only loads them.
    if (prng.next() < writeRatio && p >= roPages) cpu.store(mm, p);
    else cpu.load(mm, p);
    done++;
  }
}

/**
 * Where a thread makes its system call: after reclaim has cleared a seeded
 * number of PTEs (0 to `reclaimed`, or reclaim is over), then after a seeded
 * number of loads of `pages` (0 to `ops` - 1). Seeded, so the call lands at
 * every point of the reclaim pass over many seeds. The progress wait is
 * polled (nobody rings on each PTE clear); it happens once per run.
 */
export function placeSyscall(cpu: Cpu, mm: number, pages: readonly number[], reclaimed: number, ops: number): void {
  const program = cpu.program;
  const after = cpu.prng.below(reclaimed + 1);
  cpu.blockUntil(() => program.pagesUnmapped() >= after || program.reclaimDone());
  const delay = cpu.prng.below(Math.max(1, ops));
  for (let i = 0; i < delay; i++) {
    cpu.tick();
    cpu.load(mm, pages[cpu.prng.below(pages.length)]);
  }
  cpu.schedPoint();
}
