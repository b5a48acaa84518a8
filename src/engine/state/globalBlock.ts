/**
 * The global control block: Int32Array `global` (src/engine/state/machineViews.ts),
 * one per machine, read and written by every CPU.
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

/** Set to non-zero to make every CPU stop at its next poll (failure or abort). Value = `AbortReason`. */
export const G_ABORT = 0;
/** Set to 1 once every CPU has finished its workload: idle CPUs leave their IPI loop. */
export const G_RUN_DONE = 1;
/** Number of CPUs that finished their workload. */
export const G_FINISHED = 2;
/** Number of thread CPUs that finished warm-up (the reclaimer waits for all of them). */
const G_WARM = 3;
/** 1 once the reclaimer has unmapped every page. */
const G_RECLAIM_DONE = 4;
/** Free run tokens (free mode). */
export const G_TOKENS_FREE = 5;
/** Round-robin cursor for handing run tokens to waiting CPUs. */
export const G_TOKEN_RR = 6;
/** Seeded mode: the CPU allowed to run its next step. */
export const G_SCHED_TURN = 7;
/** Seeded mode: PRNG state (mulberry32) of the scheduler. */
export const G_SCHED_PRNG = 8;
/** Seeded mode: steps taken so far. */
export const G_SCHED_STEPS = 9;
/** CPU id that failed (stuck or crashed) or -1. */
export const G_FAIL_CPU = 10;
/** Number of race records written to the race log (may exceed capacity; extra records are counted, not stored). */
export const G_RACE_COUNT = 11;
/** Exact race totals by kind (the log holds at most RACE_LOG_CAPACITY records in detail). */
export const G_RACES_LOST = 12;
export const G_RACES_STALE = 13;
export const G_RACES_WAP = 14;
/** CPUs sleeping on a kernel lock (page lock, PTL, mmap_lock): unlock scans for them only when this is non-zero. */
export const G_LOCK_WAITERS = 15;
/** Exact total of accesses after munmap/madvise returned (see G_RACES_LOST). */
export const G_RACES_AAU = 16;
/** PTEs cleared so far in this run, by reclaim or zap (Atomics.add): workloads place calls at a point of the reclaim pass with it. */
export const G_PAGES_UNMAPPED = 17;
/** 1 once the reclaimer has seen every thread warm and begins reclaiming (threads start their access loops then). */
const G_RECLAIM_STARTED = 18;
/** Seeded mode: CPUs that have reset their TLB for this run (a schedule-driven run makes its first choice when all have). */
export const G_SCHED_STARTED = 19;
/**
 * `--protocol luf`: the last pending-flush generation handed out (Atomics.add
 * by the reclaimer, one per batch that deferred a page's flush; frames carry
 * it in F_LUF_GEN).
 */
export const G_LUF_GEN = 20;
/**
 * `--protocol luf`: every deferred flush of generation <= this value has been
 * done on every CPU that may cache it (raised with a CAS-max after an
 * allocation-time flush completes; never lowered during a run).
 */
export const G_LUF_FLUSHED = 21;
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
export const G_LAST_GLOBAL_ASID = 23;
/** Exact total of loads after mprotect(PROT_NONE) returned (see G_RACES_LOST; the last word, away from new control words). */
export const G_RACES_RAP = 31;
export const GLOBAL_WORDS = 32;

/** Why a run was aborted (value of `G_ABORT`). */
export const ABORT_NONE = 0;
export const ABORT_IPI_TIMEOUT = 1;
export const ABORT_CPU_CRASHED = 2;
export const ABORT_STOPPED = 3;
export const ABORT_INVARIANT = 4;
export const ABORT_SEEDED_STEPS = 5;

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
    return Atomics.add(this.global, G_WARM, 1) + 1;
  }

  /** CPUs that have arrived at the warm-up barrier. */
  warmArrivals(): number {
    return Atomics.load(this.global, G_WARM);
  }

  /** kswapd saw every thread warm and begins reclaiming (threads start their access loops). */
  markReclaimStarted(): void {
    Atomics.store(this.global, G_RECLAIM_STARTED, 1);
  }

  reclaimStarted(): boolean {
    return Atomics.load(this.global, G_RECLAIM_STARTED) !== 0;
  }

  /** The reclaim pass (or the workload's driving CPU, where no kswapd runs) is done. */
  markReclaimDone(): void {
    Atomics.store(this.global, G_RECLAIM_DONE, 1);
  }

  reclaimDone(): boolean {
    return Atomics.load(this.global, G_RECLAIM_DONE) !== 0;
  }

  /** PTEs cleared so far in this run by reclaim or zap (the kernel counts them; programs only read). */
  pagesUnmapped(): number {
    return Atomics.load(this.global, G_PAGES_UNMAPPED);
  }

  /** Set the process's user-space flag (a futex-like word its threads store and load) to `value` (default 1). */
  setUserFlag(value = 1): void {
    Atomics.store(this.global, G_USER_FLAG, value);
  }

  userFlag(): boolean {
    return Atomics.load(this.global, G_USER_FLAG) !== 0;
  }

  /** The user flag's value (a scenario plug-in's program word, src/plugin/api.ts). */
  userFlagValue(): number {
    return Atomics.load(this.global, G_USER_FLAG);
  }
}
