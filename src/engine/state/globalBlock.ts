/**
 * The global control block: Int32Array `global` (src/engine/state/machineViews.ts),
 * one per machine, read and written by every CPU. Only this file knows the
 * offsets: the engine and kernel use the accessors below (each takes the
 * view), the simulated programs `ProgramState`.
 *
 * Invariants (who writes which word; order):
 * - Run control (G_ABORT, G_RUN_DONE, G_FINISHED, G_FAIL_CPU): Atomics only;
 *   the first abort wins (CAS from ABORT_NONE), and the abort is published
 *   before any doorbell rings, so a woken CPU sees it.
 * - Scheduling (G_TOKENS_FREE, G_TOKEN_RR, G_SCHED_*): written by the CPU that
 *   holds the run token or seeded turn (src/engine/scheduler.ts).
 * - Oracle totals (G_RACE_*, G_RACES_*): Atomics.add by the CPU that saw the race.
 * - Kernel-wide words (G_LOCK_WAITERS, G_LUF_*, G_LAST_GLOBAL_ASID): Atomics,
 *   by the kernel path named next to each word.
 * - Program state (G_WARM, G_RECLAIM_STARTED, G_RECLAIM_DONE,
 *   G_PAGES_UNMAPPED, G_USER_FLAG): what the simulated programs see of each
 *   other. Workloads and races reach it only through `ProgramState` below,
 *   never by offset; a flag is stored before the waiters are rung.
 * - The coordinator zeroes the block between runs, while no CPU runs.
 */
import { addShared, casShared, loadShared, subShared } from '../footprint.js';

/** Set to non-zero to make every CPU stop at its next poll (failure or abort). Value = `AbortReason`. */
const G_ABORT = 0;
/** Set to 1 once every CPU has finished its workload: idle CPUs leave their IPI loop. */
const G_RUN_DONE = 1;
/** Number of CPUs that finished their workload. */
const G_FINISHED = 2;
/** Number of thread CPUs that finished warm-up (the reclaimer waits for all of them). */
const G_WARM = 3;
/** 1 once the reclaimer has unmapped every page. */
const G_RECLAIM_DONE = 4;
/** Free run tokens (free mode). */
const G_TOKENS_FREE = 5;
/** Round-robin cursor for handing run tokens to waiting CPUs. */
const G_TOKEN_RR = 6;
/** Seeded mode: the CPU allowed to run its next step. */
const G_SCHED_TURN = 7;
/** Seeded mode: PRNG state (mulberry32) of the scheduler. */
const G_SCHED_PRNG = 8;
/** Seeded mode: steps taken so far. */
const G_SCHED_STEPS = 9;
/** CPU id that failed (stuck or crashed) or -1. */
const G_FAIL_CPU = 10;
/** Number of race records written to the race log (may exceed capacity; extra records are counted, not stored). */
const G_RACE_COUNT = 11;
/** Exact race totals by kind (the log holds at most RACE_LOG_CAPACITY records in detail). */
const G_RACES_LOST = 12;
const G_RACES_STALE = 13;
const G_RACES_WAP = 14;
/** CPUs sleeping on a kernel lock (page lock, PTL, mmap_lock): unlock scans for them only when this is non-zero. */
const G_LOCK_WAITERS = 15;
/** Exact total of accesses after munmap/madvise returned (see G_RACES_LOST). */
const G_RACES_AAU = 16;
/** PTEs cleared so far in this run, by reclaim or zap (Atomics.add): workloads place calls at a point of the reclaim pass with it. */
const G_PAGES_UNMAPPED = 17;
/** 1 once the reclaimer has seen every thread warm and begins reclaiming (threads start their access loops then). */
const G_RECLAIM_STARTED = 18;
/** Seeded mode: CPUs that have reset their TLB for this run (a schedule-driven run makes its first choice when all have). */
const G_SCHED_STARTED = 19;
/**
 * `--protocol luf`: the last pending-flush generation handed out (Atomics.add
 * by the reclaimer, one per batch that deferred a page's flush; frames carry
 * it in F_LUF_GEN).
 */
const G_LUF_GEN = 20;
/**
 * `--protocol luf`: every deferred flush of generation <= this value has been
 * done on every CPU that may cache it (raised with a CAS-max after an
 * allocation-time flush completes; never lowered during a run).
 */
const G_LUF_FLUSHED = 21;
/**
 * A user-space program variable of the process (a shared word its threads
 * store and load, e.g. a futex word), for workloads whose threads synchronise
 * in the program itself: pending-flush-lost's "mprotect returned" flag.
 */
const G_USER_FLAG = 22;
/**
 * `--protocol invlpgb`: last_global_asid (arch/x86/mm/tlb.c). 0 stands for the
 * boot value MAX_ASID_AVAILABLE (the first allocation of a run resets the
 * global ASID space with invlpgb_flush_all_nonglobals); -1 while that reset
 * runs (global_asid_lock); else the last global ASID handed out.
 */
const G_LAST_GLOBAL_ASID = 23;
/**
 * Seeded mode, timing only: 1 + the CPU whose thread spins on its doorbell as
 * the machine's standby waiter, or 0 (src/engine/scheduler.ts, `standBy`).
 * Claimed and released with a CAS by the waiting thread itself; never read by
 * a choice.
 */
const G_SCHED_STANDBY = 24;
/** Exact total of loads after mprotect(PROT_NONE) returned (see G_RACES_LOST; the last word, away from new control words). */
const G_RACES_RAP = 31;
export const GLOBAL_WORDS = 32;

/** Why a run was aborted (value of `G_ABORT`). */
export const ABORT_NONE = 0;
export const ABORT_IPI_TIMEOUT = 1;
export const ABORT_CPU_CRASHED = 2;
export const ABORT_STOPPED = 3;
export const ABORT_INVARIANT = 4;
export const ABORT_SEEDED_STEPS = 5;

/** Global words the scheduler and the run tokens write: left out of the explorer's state hash. */
const SCHED_GLOBAL_WORDS: ReadonlySet<number> = new Set([G_SCHED_TURN, G_SCHED_PRNG, G_SCHED_STEPS, G_SCHED_STARTED, G_SCHED_STANDBY, G_TOKENS_FREE, G_TOKEN_RR]);

/** True for a global word only the scheduler and the run tokens write (left out of step footprints, src/engine/footprint.ts). */
export function isSchedGlobalWord(i: number): boolean {
  return SCHED_GLOBAL_WORDS.has(i);
}

// --- Run control -----------------------------------------------------------------

/** Coordinator, before a run (no CPU runs; the block was zeroed): `tokens` free run tokens, no failed CPU. Plain writes. */
export function initRunControl(g: Int32Array, tokens: number): void {
  g[G_TOKENS_FREE] = tokens;
  g[G_FAIL_CPU] = -1;
}

/** Abort the run with `reason` unless it is aborted already; the first caller also records `failedCpu` (if >= 0). */
export function claimAbort(g: Int32Array, reason: number, failedCpu: number): void {
  if (casShared(g, G_ABORT, 0, reason) === 0 && failedCpu >= 0) Atomics.store(g, G_FAIL_CPU, failedCpu);
}

/** Why the run was aborted (`ABORT_*`; ABORT_NONE while it runs). */
export function abortReason(g: Int32Array): number {
  return loadShared(g, G_ABORT);
}

/** The CPU that failed (stuck or crashed), or -1. */
export function failedCpu(g: Int32Array): number {
  return loadShared(g, G_FAIL_CPU);
}

/** A CPU finished its workload; returns how many have, this one included. */
export function finishWorkload(g: Int32Array): number {
  return addShared(g, G_FINISHED, 1) + 1;
}

/** Every CPU finished (or the seeded scheduler has no runnable CPU left): idle CPUs leave their IPI loop. */
export function markRunDone(g: Int32Array): void {
  Atomics.store(g, G_RUN_DONE, 1);
}

export function runDone(g: Int32Array): boolean {
  return loadShared(g, G_RUN_DONE) !== 0;
}

// --- Free mode: run tokens (src/engine/scheduler.ts) ---------------------------

/** Free run tokens in the pool. */
export function tokensFree(g: Int32Array): number {
  return loadShared(g, G_TOKENS_FREE);
}

/** Take one token from a pool seen holding `seen` (CAS seen -> seen - 1); false if the pool changed meanwhile. */
export function takeFreeToken(g: Int32Array, seen: number): boolean {
  return casShared(g, G_TOKENS_FREE, seen, seen - 1) === seen;
}

/** Put one token back in the pool. */
export function returnFreeToken(g: Int32Array): void {
  addShared(g, G_TOKENS_FREE, 1);
}

/** The round-robin cursor for handing tokens to waiters. */
export function tokenCursor(g: Int32Array): number {
  return loadShared(g, G_TOKEN_RR);
}

/** Advance the round-robin cursor; returns its value before. */
export function advanceTokenCursor(g: Int32Array): number {
  return addShared(g, G_TOKEN_RR, 1);
}

// --- Seeded mode (src/engine/scheduler.ts) ---------------------------------------

/** Coordinator, before a seeded run (no CPU runs): the scheduler's PRNG seed, no steps taken, no CPU started. Plain writes. */
export function initSeededWords(g: Int32Array, seed: number): void {
  g[G_SCHED_PRNG] = seed | 0;
  g[G_SCHED_STEPS] = 0;
  g[G_SCHED_STARTED] = 0;
}

/** Coordinator, before a seeded run, after `initSeededWords`: the first turn. A plain write. */
export function initSchedTurn(g: Int32Array, turn: number): void {
  g[G_SCHED_TURN] = turn;
}

/** The seeded scheduler's PRNG state (mulberry32). */
export function schedPrng(g: Int32Array): number {
  return loadShared(g, G_SCHED_PRNG);
}

export function setSchedPrng(g: Int32Array, state: number): void {
  Atomics.store(g, G_SCHED_PRNG, state);
}

/** The agent allowed to take its next step. */
export function schedTurn(g: Int32Array): number {
  return loadShared(g, G_SCHED_TURN);
}

export function setSchedTurn(g: Int32Array, turn: number): void {
  Atomics.store(g, G_SCHED_TURN, turn);
}

/** Seeded steps taken so far (the replayable clock of seeded runs). */
export function schedSteps(g: Int32Array): number {
  return loadShared(g, G_SCHED_STEPS);
}

/** Count one seeded step; returns the steps taken, this one included. */
export function takeSchedStep(g: Int32Array): number {
  return addShared(g, G_SCHED_STEPS, 1) + 1;
}

/** Seeded waiter `cpu` becomes the machine's standby spinner if none is (timing only, never a choice). */
export function claimStandby(g: Int32Array, cpu: number): boolean {
  return Atomics.compareExchange(g, G_SCHED_STANDBY, 0, cpu + 1) === 0;
}

/** Seeded waiter `cpu` takes the standby role over (the spinner it replaces sees it and sleeps). */
export function takeStandby(g: Int32Array, cpu: number): void {
  Atomics.store(g, G_SCHED_STANDBY, cpu + 1);
}

/** The standby spinner, or -1. */
export function standbyCpu(g: Int32Array): number {
  return Atomics.load(g, G_SCHED_STANDBY) - 1;
}

/** The standby spinner `cpu` stops spinning (it got its ring, or its spin ran out). */
export function releaseStandby(g: Int32Array, cpu: number): void {
  Atomics.compareExchange(g, G_SCHED_STANDBY, cpu + 1, 0);
}

/** A CPU has reset its TLB for this run; returns how many have, this one included. */
export function arriveSchedStarted(g: Int32Array): number {
  return addShared(g, G_SCHED_STARTED, 1) + 1;
}

// --- Oracle (src/engine/oracle.ts) ------------------------------------------------

/** Race kinds with an exact total in the block. */
type RaceTotalKind = 'lost_write' | 'stale_access' | 'write_after_protect' | 'access_after_unmap' | 'read_after_protect';
const RACE_TOTAL_WORDS: Record<RaceTotalKind, number> = {
  lost_write: G_RACES_LOST,
  stale_access: G_RACES_STALE,
  write_after_protect: G_RACES_WAP,
  access_after_unmap: G_RACES_AAU,
  read_after_protect: G_RACES_RAP,
};

/** Count one race of `kind` in its exact total. */
export function countRace(g: Int32Array, kind: RaceTotalKind): void {
  addShared(g, RACE_TOTAL_WORDS[kind], 1);
}

/** The exact total of races of `kind`. */
export function raceTotal(g: Int32Array, kind: RaceTotalKind): number {
  return loadShared(g, RACE_TOTAL_WORDS[kind]);
}

/** Claim the next race-log record; returns its index (may be past the log's capacity: then it is counted, not stored). */
export function claimRaceRecord(g: Int32Array): number {
  return addShared(g, G_RACE_COUNT, 1);
}

/** Race records claimed so far (may exceed the log's capacity). */
export function raceRecords(g: Int32Array): number {
  return loadShared(g, G_RACE_COUNT);
}

// --- Kernel-wide words --------------------------------------------------------------

/** A CPU starts (+1) or stops (-1) sleeping on a kernel lock (src/kernel/locks.ts). */
export function addLockWaiter(g: Int32Array, delta: 1 | -1): void {
  if (delta > 0) addShared(g, G_LOCK_WAITERS, 1);
  else subShared(g, G_LOCK_WAITERS, 1);
}

/** CPUs sleeping on a kernel lock: unlock scans for them only when this is non-zero. */
export function lockWaiters(g: Int32Array): number {
  return loadShared(g, G_LOCK_WAITERS);
}

/** Reclaim or zap cleared one PTE (the count programs read through `ProgramState.pagesUnmapped`). */
export function countPageUnmapped(g: Int32Array): void {
  addShared(g, G_PAGES_UNMAPPED, 1);
}

/** PTEs cleared so far in this run. */
export function pagesUnmapped(g: Int32Array): number {
  return loadShared(g, G_PAGES_UNMAPPED);
}

/** `--protocol luf`: hand out the next pending-flush generation. */
export function nextLufGen(g: Int32Array): number {
  return addShared(g, G_LUF_GEN, 1) + 1;
}

/** `--protocol luf`: the last pending-flush generation handed out. */
export function lufGen(g: Int32Array): number {
  return loadShared(g, G_LUF_GEN);
}

/** `--protocol luf`: every deferred flush of a generation up to this one is done. */
export function lufFlushed(g: Int32Array): number {
  return loadShared(g, G_LUF_FLUSHED);
}

/** `--protocol luf`: raise the flushed generation to `upTo` (CAS-max: never lowered). */
export function raiseLufFlushed(g: Int32Array, upTo: number): void {
  for (;;) {
    const cur = loadShared(g, G_LUF_FLUSHED);
    if (cur >= upTo || casShared(g, G_LUF_FLUSHED, cur, upTo) === cur) break;
  }
}

/** `--protocol invlpgb`: last_global_asid (0: the boot value, -1: the reset runs). */
export function lastGlobalAsid(g: Int32Array): number {
  return loadShared(g, G_LAST_GLOBAL_ASID);
}

/** CAS last_global_asid from `seen` to `next`; false if another CPU changed it first. */
export function swapLastGlobalAsid(g: Int32Array, seen: number, next: number): boolean {
  return casShared(g, G_LAST_GLOBAL_ASID, seen, next) === seen;
}

export function setLastGlobalAsid(g: Int32Array, asid: number): void {
  Atomics.store(g, G_LAST_GLOBAL_ASID, asid);
}

// --- State hash (src/engine/forcedSchedule.ts) ---------------------------------------

/** Mix every global word but the scheduler's and the run tokens' into `h` with `mix`, in order (plain reads, between turns). */
export function mixGlobalState(g: Int32Array, h: number, mix: (h: number, word: number) => number): number {
  for (let i = 0; i < GLOBAL_WORDS; i++) if (!SCHED_GLOBAL_WORDS.has(i)) h = mix(h, g[i]);
  return h;
}

/**
 * What the simulated programs (workloads, races) share: the warm-up barrier,
 * the reclaim pass's progress, and one user-space program variable. One per
 * CPU thread, over the machine's global block. Every access is an Atomic: the
 * programs run on different workers. Waking waiters (ringDoorbell) is the
 * caller's job, after the store.
 */
export class ProgramState {
  constructor(private readonly global: Int32Array) {}

  /** Arrive at the warm-up barrier; returns the arrivals so far, this one included. */
  arriveWarm(): number {
    return addShared(this.global, G_WARM, 1) + 1;
  }

  /** CPUs that have arrived at the warm-up barrier. */
  warmArrivals(): number {
    return loadShared(this.global, G_WARM);
  }

  /** kswapd saw every thread warm and begins reclaiming (threads start their access loops). */
  markReclaimStarted(): void {
    Atomics.store(this.global, G_RECLAIM_STARTED, 1);
  }

  reclaimStarted(): boolean {
    return loadShared(this.global, G_RECLAIM_STARTED) !== 0;
  }

  /** The reclaim pass (or the workload's driving CPU, where no kswapd runs) is done. */
  markReclaimDone(): void {
    Atomics.store(this.global, G_RECLAIM_DONE, 1);
  }

  reclaimDone(): boolean {
    return loadShared(this.global, G_RECLAIM_DONE) !== 0;
  }

  /** PTEs cleared so far in this run by reclaim or zap (the kernel counts them; programs only read). */
  pagesUnmapped(): number {
    return loadShared(this.global, G_PAGES_UNMAPPED);
  }

  /** Set the process's user-space flag (a futex-like word its threads store and load) to `value` (default 1). */
  setUserFlag(value = 1): void {
    Atomics.store(this.global, G_USER_FLAG, value);
  }

  userFlag(): boolean {
    return loadShared(this.global, G_USER_FLAG) !== 0;
  }

  /** The user flag's value (a scenario plug-in's program word, src/plugin/api.ts). */
  userFlagValue(): number {
    return loadShared(this.global, G_USER_FLAG);
  }
}
