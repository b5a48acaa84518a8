/**
 * Shared words and start-up data of the raw hand-off workers
 * (workers/benchHandoff.ts) that src/campaigns/bench/seededStep.ts times: the
 * floor of one seeded hand-off. Each word sits on its own 64-byte line so the
 * threads never false-share.
 *
 * Invariants: only the main thread writes H_N, H_GO and H_STOP (between
 * batches); during a batch only the worker whose turn it is writes H_TURN;
 * each worker bumps H_DONE once per batch it finished.
 */

/** Int32 words per line (64 bytes). */
const LINE = 16;
/** Hand-offs made so far in this batch: worker `k % 2` holds the turn and hands it on by storing k + 1. */
export const H_TURN = 0;
/** Hand-offs in this batch (set by the main thread before it bumps H_GO). */
export const H_N = LINE;
/** Batch generation: bumped and notified by the main thread to start a batch. */
export const H_GO = 2 * LINE;
/** Bumped and notified by each worker at the end of a batch. */
export const H_DONE = 3 * LINE;
/** Non-zero: leave. */
export const H_STOP = 4 * LINE;
/** Int32 words of the control buffer. */
export const H_CTL_WORDS = 5 * LINE;

/** What a hand-off worker gets. */
export interface HandoffWorkerData {
  /** 0 or 1: the worker holds the turn when H_TURN % 2 equals it. */
  me: number;
  ctl: SharedArrayBuffer;
  /** Reads of H_TURN before sleeping in Atomics.wait (0: sleep at once, the engine's sleeping hand-off). */
  spinLoads: number;
}
