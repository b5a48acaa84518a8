/**
 * The plug-in API: what a protocol or race scenario written outside src/
 * (docs/extending.md) sees of the kernel, and the adapters that run it inside
 * every CPU worker over today's `Cpu`. Internal changes stay behind these
 * types: a plug-in imports only TYPES from 'tlbsim' and receives every
 * function it calls through its arguments, so no second copy of the engine's
 * modules loads in a worker.
 *
 * Invariants the facade keeps (the engine's, not the plug-in's, to uphold):
 * - Only the owning CPU writes its TLB: a plug-in never gets the TLB; remote
 *   entries go away only through the flush calls here (IPIs the targets
 *   handle themselves), exactly as `UnmapProtocol`s in src/kernel/protocols.
 * - PTEs are cleared only under the PTE lock (`tryToUnmapOne`), frames are
 *   freed only through `freePage`, which lets the oracle check the frame
 *   against the backing store (a free before a covering flush shows up as a
 *   race, not as silent corruption).
 * - A throw from plug-in code in a worker aborts the run; the run's failure
 *   names the plug-in file (`PluginFault`), and the CLI turns it into one
 *   line and exit 2.
 * Modelled on shrink_folio_list()/try_to_unmap_one()/try_to_unmap_flush()
 * (mm/vmscan.c, mm/rmap.c), the same functions src/kernel/protocols models.
 */
import type { SimConfig } from '../config/config.js';
import { SimAbort, type Cpu } from '../engine/cpu.js';
import { ringDoorbell } from '../engine/scheduler.js';
import { PAGE_STEP_FLUSHED, PAGE_STEP_UNMAPPED } from '../engine/state/pageState.js';
import { pteDirty } from '../engine/pageTable.js';
import { freeReclaimedPage, lockPageForReclaim, pageout, setPageStep, tryToUnmapOne, type UnmappedPage } from '../kernel/protocols/common.js';
import { newTlbflushUnmapBatch, setTlbUbcFlushPending, tryToUnmapFlush, type TlbflushUnmapBatch } from '../kernel/protocols/batched.js';
import type { UnmapProtocol } from '../kernel/protocols/types.js';
import { sysMadviseDontneed, sysMprotectReadOnly, sysMunmap } from '../kernel/syscalls.js';
import { flushTlbPage } from '../kernel/tlbFlush.js';
import { BARRIER_SAFETY_MS, runReclaimer, warmUp } from '../scenarios/workloads/common.js';
import type { Workload } from '../scenarios/workloads/types.js';
import type { RaceEffect } from '../scenarios/races/types.js';

export type { UnmappedPage } from '../kernel/protocols/common.js';
/** struct tlbflush_unmap_batch, opaque to a plug-in: fill it with `setTlbUbcFlushPending`, flush it with `tryToUnmapFlush`. */
export type ReclaimBatch = TlbflushUnmapBatch;

/** The kernel as a reclaim protocol sees it on the reclaiming CPU. */
export interface ReclaimKernel {
  /** The reclaiming CPU's id. */
  readonly cpu: number;
  readonly config: Readonly<SimConfig>;
  /** lock_page() for reclaim (sleeps, handling IPIs, while a fault holds it). */
  lockPage(mm: number, page: number): void;
  /** unlock_page(). */
  unlockPage(mm: number, page: number): void;
  /** try_to_unmap_one(): under the PTE lock, clear the PTE and run `underPtl`; null if it was not mapped. */
  tryToUnmapOne(mm: number, page: number, underPtl?: (u: UnmappedPage) => void): UnmappedPage | null;
  /** pte_dirty() of the PTE value the clear returned. */
  isDirty(u: UnmappedPage): boolean;
  /** A new, empty tlbflush_unmap_batch. */
  newBatch(): ReclaimBatch;
  /** set_tlb_ubc_flush_pending(): call under the PTE lock (inside tryToUnmapOne's underPtl). */
  setTlbUbcFlushPending(batch: ReclaimBatch, mm: number, u: UnmappedPage, writable: boolean): void;
  /** try_to_unmap_flush(): one flush round to the batch's CPUs (no-op if nothing is owed); marks its frames flushed. */
  tryToUnmapFlush(batch: ReclaimBatch): void;
  /** flush_tlb_page(): flush one page on every CPU of the mm (ptep_clear_flush), then count `u`'s frame flushed. */
  flushTlbPage(mm: number, page: number, u: UnmappedPage): void;
  /** pageout(): write a dirty page back to the backing store. */
  pageout(mm: number, u: UnmappedPage): void;
  /** Free the frame (the oracle checks it); unlocks the page unless `unlock` is false (already unlocked). */
  freePage(mm: number, u: UnmappedPage, unlock?: boolean): void;
  /** Record the protocol step for race reports and traces. */
  setStep(mm: number, page: number, step: 'unmapped' | 'flushed'): void;
  /** Let another CPU run here (seeded mode); call wherever an interleaving matters. */
  schedPoint(): void;
}

/** One run's reclaim on one CPU: state lives in the closure `start` returns. */
export interface ReclaimRun {
  /** shrink_page_list(): reclaim `pages` of `mm` (one pass of at most --batch pages). */
  shrinkPageList(mm: number, pages: readonly number[]): void;
  /** After the last pass (kswapd goes back to sleep): settle whatever is still deferred. */
  reclaimDone?(): void;
}

/** A reclaim protocol plug-in (`tlbsim run --protocol ./mine.ts`): `export default defineProtocol({...})`. */
export interface ProtocolPlugin {
  readonly kind: 'protocol';
  /** Its name in reports; must not be a built-in protocol's. */
  readonly name: string;
  readonly summary: string;
  /** Called once per run on the reclaiming CPU. */
  start(k: ReclaimKernel): ReclaimRun;
}

/** What one CPU's part of a scenario plug-in can do. */
export interface ScenarioContext {
  /** This CPU's id. */
  readonly cpu: number;
  readonly config: Readonly<SimConfig>;
  /** Load the process `mm` on this CPU (joining its mm_cpumask). */
  switchMm(mm: number): void;
  /** A user load / store (one scheduling step each). A store returns false on SIGSEGV. */
  load(mm: number, page: number): void;
  store(mm: number, page: number): boolean;
  /** Touch `pages` once, then count this CPU warm (the barrier `reclaim` waits behind). */
  warmUp(mm: number, pages: readonly number[], store: boolean): void;
  /** kswapd: wait until `threads` CPUs are warm, then reclaim `pages` of every mm with the run's protocol, in --batch passes. */
  reclaim(pages: readonly number[], threads: number): void;
  /** Wait until reclaim started (rung by kswapd) / test whether it is done. */
  waitReclaimStarted(): void;
  reclaimDone(): boolean;
  /** PTEs reclaim has cleared so far in this run (try_to_unmap_one). */
  pagesUnmapped(): number;
  /** Block (handling IPIs; a scheduling point in seeded mode) until `cond()` holds; polled, so use it once per run, not per access. */
  waitUntil(cond: () => boolean): void;
  /** System calls on this CPU. */
  mprotectReadOnly(mm: number, pages: readonly number[]): void;
  munmap(mm: number, pages: readonly number[]): void;
  madviseDontneed(mm: number, pages: readonly number[]): void;
  /** The process's one shared program word (a futex-like flag), and a wait on it. */
  setFlag(value: number): void;
  waitFlag(until: (value: number) => boolean): void;
  /** Seeded random integer in [0, n) (this CPU's PRNG: replays exactly). */
  random(n: number): number;
  schedPoint(): void;
}

/** A race scenario plug-in (`tlbsim stress --scenario ./race.ts`): `export default defineScenario({...})`. */
export interface ScenarioPlugin {
  readonly kind: 'scenario';
  /** Its name in reports; must not be a built-in workload or scenario's. */
  readonly name: string;
  readonly summary: string;
  /** What goes wrong on the buggy side. */
  readonly effect: RaceEffect;
  /** The machine both sides run (the user's flags go over these). */
  readonly defaults: Partial<SimConfig>;
  /** The knobs that select the buggy kernel path (`--kernel buggy`); the fixed side is the engine's default. */
  readonly buggy: Partial<SimConfig>;
  /** CPUs that may send IPIs. */
  initiators(config: Readonly<SimConfig>): number[];
  /** CPU `ctx.cpu`'s part; must terminate. */
  run(ctx: ScenarioContext): void;
}

/** Identity helpers: type-check a plug-in where it is written (at run time they return their argument). */
export function defineProtocol(p: ProtocolPlugin): ProtocolPlugin {
  return p;
}
export function defineScenario(s: ScenarioPlugin): ScenarioPlugin {
  return s;
}

/** A failure inside plug-in code, naming the file. */
class PluginFault extends Error {
  constructor(file: string, what: string) {
    super(`plug-in ${file}: ${what}`);
    this.name = 'PluginFault';
  }
}

/** Run plug-in code; a throw becomes a PluginFault naming `file` and the CPU. */
function guarded<T>(file: string, cpu: Cpu, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof PluginFault || !(e instanceof Error) || e instanceof SimAbort) throw e;
    throw new PluginFault(file, `threw on CPU ${cpu.id}: ${e.message}`);
  }
}

function reclaimKernel(cpu: Cpu): ReclaimKernel {
  return {
    cpu: cpu.id,
    config: cpu.config,
    lockPage: (mm, page) => lockPageForReclaim(cpu, mm, page),
    unlockPage: (mm, page) => cpu.mem.unlockPage(cpu.pageIdx(mm, page)),
    tryToUnmapOne: (mm, page, underPtl) => tryToUnmapOne(cpu, mm, page, underPtl),
    isDirty: (u) => pteDirty(u.oldPte),
    newBatch: () => newTlbflushUnmapBatch(cpu.config.cpus),
    setTlbUbcFlushPending: (batch, mm, u, writable) => setTlbUbcFlushPending(cpu, batch, mm, u, writable),
    tryToUnmapFlush: (batch) => tryToUnmapFlush(cpu, batch),
    flushTlbPage: (mm, page, u) => {
      flushTlbPage(cpu, mm, page);
      cpu.mem.markFlushed(u.frame);
    },
    pageout: (mm, u) => pageout(cpu, mm, u),
    freePage: (mm, u, unlock = true) => freeReclaimedPage(cpu, mm, u, unlock),
    setStep: (mm, page, step) => setPageStep(cpu, mm, page, step === 'unmapped' ? PAGE_STEP_UNMAPPED : PAGE_STEP_FLUSHED),
    schedPoint: () => cpu.schedPoint(),
  };
}

/** The `UnmapProtocol` a protocol plug-in runs as (one per worker; a ReclaimRun per run and CPU). */
export function protocolFromPlugin(p: ProtocolPlugin, file: string): UnmapProtocol & { beginRun(): void } {
  let run: ReclaimRun | null = null;
  const current = (cpu: Cpu): ReclaimRun => (run ??= guarded(file, cpu, () => p.start(reclaimKernel(cpu))));
  return {
    name: file as UnmapProtocol['name'],
    summary: p.summary,
    beginRun: () => {
      run = null;
    },
    shrinkPageList: (cpu, mm, pages) => guarded(file, cpu, () => current(cpu).shrinkPageList(mm, pages)),
    reclaimDone: (cpu) => guarded(file, cpu, () => current(cpu).reclaimDone?.()),
  };
}

function scenarioContext(cpu: Cpu, protocol: UnmapProtocol): ScenarioContext {
  const program = cpu.program;
  return {
    cpu: cpu.id,
    config: cpu.config,
    switchMm: (mm) => cpu.switchMm(mm),
    load: (mm, page) => {
      cpu.tick();
      cpu.load(mm, page);
    },
    store: (mm, page) => {
      cpu.tick();
      return cpu.store(mm, page);
    },
    warmUp: (mm, pages, store) => warmUp(cpu, mm, pages, store),
    reclaim: (pages, threads) => runReclaimer(cpu, protocol, pages, cpu.config.batch, threads),
    waitReclaimStarted: () => cpu.blockUntil(() => program.reclaimStarted(), BARRIER_SAFETY_MS, true, true),
    reclaimDone: () => program.reclaimDone(),
    pagesUnmapped: () => program.pagesUnmapped(),
    waitUntil: (cond) => cpu.blockUntil(cond),
    mprotectReadOnly: (mm, pages) => sysMprotectReadOnly(cpu, mm, pages),
    munmap: (mm, pages) => sysMunmap(cpu, mm, pages),
    madviseDontneed: (mm, pages) => sysMadviseDontneed(cpu, mm, pages),
    setFlag: (value) => {
      program.setUserFlag(value);
      for (let c = 0; c < cpu.config.cpus; c++) if (c !== cpu.id) ringDoorbell(cpu.v.cpuCtl, c);
    },
    waitFlag: (until) => cpu.blockUntil(() => until(program.userFlagValue()), BARRIER_SAFETY_MS, true, true),
    random: (n) => cpu.prng.below(n),
    schedPoint: () => cpu.schedPoint(),
  };
}

/** The `Workload` a scenario plug-in runs as. */
export function workloadFromPlugin(s: ScenarioPlugin, file: string): Workload {
  return {
    name: file as Workload['name'],
    summary: s.summary,
    initiators: (c) => s.initiators(c),
    run: (cpu, protocol) => guarded(file, cpu, () => s.run(scenarioContext(cpu, protocol))),
  };
}
