/**
 * The run-control block: how the coordinator starts a run on every CPU worker
 * and learns that each one finished, through shared memory instead of a
 * comlink round trip per worker and run (issue 19 §2: a seeded machine is
 * reused for thousands of short runs by `stress`, `explore` and `bench`;
 * measured on the 2-core host, machines run alternately in one process, a
 * 3-CPU seeded run of 6 steps took 272-287 us with a comlink call per
 * worker, 207-221 us with this block, 174-179 us once only the first turn
 * holder is woken, below).
 *
 * Between runs a configured worker sits in its `serve` loop (workers/cpu.ts):
 * asleep on its own doorbell (src/engine/state/cpuControl.ts, which the
 * coordinator leaves alone between runs). The coordinator writes the run's
 * seed and trace epoch, the command, zeroes RC_DONE, THEN bumps RC_EPOCH,
 * THEN rings the doorbells of the CPUs that must start at once (`issue`); a
 * worker reads its doorbell before RC_EPOCH and sleeps only if the doorbell
 * is unchanged, so no command is missed, and a worker that sees the new
 * epoch sees everything written before it. A PRNG-seeded run rings only the
 * CPU that takes the first turn: every other CPU starts its run when a ring
 * of that run first wakes it (its first turn, or an IPI), which it would
 * have slept until anyway, so a run costs two futex wake-ups fewer on a
 * 3-CPU machine. That is safe because a CPU's start of run (Cpu.beginRun)
 * resets only its own state and its TLB, which no other CPU reads, and
 * writes shared words only to the values the coordinator already set.
 *
 * At the end of its run a worker writes its per-run figures (the IPI rounds
 * it sent, when they fit in ROUND_CAP, and its flags), THEN stores the
 * epoch in its own R_DONE_EPOCH, THEN bumps RC_DONE; the last CPU to finish
 * (or any CPU of an aborted run, where some CPUs may never finish) notifies
 * RC_DONE, on which the coordinator waits (Atomics.waitAsync). Whatever does
 * not fit in plain numbers (an error message, a trace, more rounds than
 * ROUND_CAP) is flagged F_DETAIL, and the coordinator fetches it over comlink
 * after asking the worker to leave its loop (CMD_LEAVE), as it does before
 * any other comlink call (stats, close).
 *
 * Invariants:
 * - Only the coordinator writes the header words (RC_EPOCH, RC_COMMAND,
 *   RC_SEED, RC_TRACE_EPOCH) and only while no CPU runs; RC_EPOCH only grows.
 * - CPU c alone writes its own record (R_*), and only at the end of a run,
 *   before it publishes R_DONE_EPOCH; the coordinator reads a record only
 *   after seeing R_DONE_EPOCH equal the run's epoch.
 * - A worker acts at most once per epoch, on the command current when it
 *   wakes (commands are never queued: the coordinator waits for a run to end
 *   before it issues the next one).
 * - The block is never part of the machine's state (not hashed, not reset
 *   by initRun): it is the control plane, like comlink.
 */

import { idleDoorbell, ringDoorbell, waitDoorbell } from './cpuControl.js';

/** Int32 words per 64-byte line: the header and every CPU's record start on a line of their own. */
const LINE = 16;
/** Run epoch: bumped by the coordinator to issue RC_COMMAND (then it rings the CPUs that must start). */
const RC_EPOCH = 0;
/** What the current epoch asks: CMD_RUN or CMD_LEAVE. */
const RC_COMMAND = 1;
/** CPUs that finished the current epoch's run (Atomics.add; notified by the last one, or on abort). */
const RC_DONE = 2;
/** Float64 slots of the header (after its Int32 words): the run's seed and its trace epoch (performance.timeOrigin + now, ms). */
const RC_SEED = 2;
const RC_TRACE_EPOCH = 3;

/** Run the workload once with RC_SEED. */
export const CMD_RUN = 1;
/** Leave the serve loop (the coordinator is about to make comlink calls). */
export const CMD_LEAVE = 2;

/**
 * IPI rounds per CPU and run whose figures travel through the block; a run
 * with more flags R_DETAIL and its figures go over comlink. A seeded
 * unmap-window run sends at most a handful per CPU (`stress`, `explore`); 64
 * keeps the block at 2.6 KB per CPU (2.6 MB at 1024 CPUs), and the long free
 * runs that send more pay one comlink round trip per run, as before.
 */
export const ROUND_CAP = 64;
/** Figures per round: latency us, targets, pages, groups, largest group (CpuRunStats). */
const ROUND_FIELDS = 5;

/** Int32 words of a CPU's record: the epoch it finished, its flags, then the length of each of its ROUND_FIELDS columns (they may differ: a round cut short by an abort has no latency). */
const R_DONE_EPOCH = 0;
const R_FLAGS = 1;
const R_LENGTHS = 2;
/** The run was aborted on this CPU (CpuRunStats.aborted). */
const F_ABORTED = 1;
/** Part of this CPU's run figures did not fit: fetch them over comlink. */
const F_DETAIL = 2;

/** The per-run figures a CPU reports (the plain-number part of CpuRunStats). */
interface RunFigures {
  ipiRoundUs: readonly number[];
  ipiRoundTargets: readonly number[];
  ipiRoundPages: readonly number[];
  ipiRoundGroups: readonly number[];
  ipiRoundMaxGroup: readonly number[];
  aborted: boolean;
}

/** What the coordinator reads of CPU c's finished run: its figures, or a request to fetch them over comlink. */
type CpuOutcome = { detail: true } | { detail: false; ipiRoundUs: number[]; ipiRoundTargets: number[]; ipiRoundPages: number[]; ipiRoundGroups: number[]; ipiRoundMaxGroup: number[]; aborted: boolean };

/** Atomics.waitAsync (V8, Node >= 16), which this TypeScript lib does not declare. */
type WaitAsync = (view: Int32Array, index: number, value: number) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync: WaitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync.bind(Atomics);

/** Bytes of the block for `cpus` CPUs. */
function blockBytes(cpus: number): number {
  return (LINE + cpus * LINE) * 4 + (LINE / 2 + cpus * ROUND_CAP * ROUND_FIELDS) * 8;
}

/** Allocate the block of a machine of `cpus` CPUs (coordinator, once; sent to every worker at configure). */
export function allocateRunControl(cpus: number): SharedArrayBuffer {
  return new SharedArrayBuffer(blockBytes(cpus));
}

/** Views over the block; one per thread. */
export class RunControl {
  private readonly words: Int32Array;
  /** Header Float64 slots (RC_SEED, RC_TRACE_EPOCH), then every CPU's rounds. */
  private readonly values: Float64Array;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly cpus: number,
  ) {
    const intWords = LINE + cpus * LINE;
    this.words = new Int32Array(buffer, 0, intWords);
    this.values = new Float64Array(buffer, intWords * 4);
  }

  // --- Coordinator ---------------------------------------------------------------

  /** The current epoch. */
  epoch(): number {
    return Atomics.load(this.words, RC_EPOCH);
  }

  /**
   * Issue `command` (with the run's seed and trace epoch) to every serving
   * worker, ringing the doorbells of CPUs `only` (default: every CPU); the
   * others act on it when something else rings them. Returns the new epoch.
   * No CPU may be running.
   */
  issue(cpuCtl: Int32Array, command: number, seed = 0, traceEpochMs = 0, only: number | null = null): number {
    this.values[RC_SEED] = seed;
    this.values[RC_TRACE_EPOCH] = traceEpochMs;
    this.words[RC_COMMAND] = command;
    Atomics.store(this.words, RC_DONE, 0);
    const epoch = Atomics.add(this.words, RC_EPOCH, 1) + 1;
    if (only !== null) ringDoorbell(cpuCtl, only);
    else for (let c = 0; c < this.cpus; c++) ringDoorbell(cpuCtl, c);
    return epoch;
  }

  /** CPUs that finished the current run so far. */
  doneCount(): number {
    return Atomics.load(this.words, RC_DONE);
  }

  /** Resolve when RC_DONE may have moved from `seen` (a notify, or at once if it already has); the caller re-checks. */
  async waitDone(seen: number): Promise<void> {
    const w = waitAsync(this.words, RC_DONE, seen);
    if (w.async) await w.value;
  }

  /** Wake a `waitDone` that is no longer needed (its promise would otherwise stay pending). */
  releaseWaiter(): void {
    Atomics.notify(this.words, RC_DONE);
  }

  /** True once CPU `cpu` has finished the run of `epoch`. */
  finished(cpu: number, epoch: number): boolean {
    return Atomics.load(this.words, LINE + cpu * LINE + R_DONE_EPOCH) === epoch;
  }

  /** CPU `cpu`'s figures of the run it finished (after `finished`). */
  outcome(cpu: number): CpuOutcome {
    const r = LINE + cpu * LINE;
    const flags = this.words[r + R_FLAGS];
    if (flags & F_DETAIL) return { detail: true };
    const base = RC_TRACE_EPOCH + 1 + cpu * ROUND_CAP * ROUND_FIELDS;
    const field = (f: number): number[] => Array.from(this.values.subarray(base + f * ROUND_CAP, base + f * ROUND_CAP + this.words[r + R_LENGTHS + f]));
    return { detail: false, ipiRoundUs: field(0), ipiRoundTargets: field(1), ipiRoundPages: field(2), ipiRoundGroups: field(3), ipiRoundMaxGroup: field(4), aborted: (flags & F_ABORTED) !== 0 };
  }

  // --- Worker ----------------------------------------------------------------------

  /**
   * CPU `cpu` sleeps on its doorbell until the epoch differs from `seen`
   * (re-checking every `timeoutMs`, so a terminating worker is never stuck
   * here). Returns the new epoch; read its command, seed and trace epoch
   * with the accessors below.
   */
  awaitEpoch(cpuCtl: Int32Array, cpu: number, seen: number, timeoutMs: number): number {
    for (;;) {
      const rung = idleDoorbell(cpuCtl, cpu);
      const e = Atomics.load(this.words, RC_EPOCH);
      if (e !== seen) return e;
      waitDoorbell(cpuCtl, cpu, rung, timeoutMs);
    }
  }

  command(): number {
    return this.words[RC_COMMAND];
  }

  seed(): number {
    return this.values[RC_SEED];
  }

  traceEpochMs(): number {
    return this.values[RC_TRACE_EPOCH];
  }

  /**
   * CPU `cpu` finished the run of `epoch`: publish its figures (`detail`:
   * they must be fetched over comlink instead), then count it done; the last
   * CPU, or any CPU of an aborted run, wakes the coordinator.
   */
  publish(cpu: number, epoch: number, figures: RunFigures, detail: boolean, runAborted: boolean): void {
    const r = LINE + cpu * LINE;
    const cols = [figures.ipiRoundUs, figures.ipiRoundTargets, figures.ipiRoundPages, figures.ipiRoundGroups, figures.ipiRoundMaxGroup];
    const fits = !detail && cols.every((col) => col.length <= ROUND_CAP);
    const base = RC_TRACE_EPOCH + 1 + cpu * ROUND_CAP * ROUND_FIELDS;
    for (let f = 0; f < ROUND_FIELDS; f++) {
      const col = cols[f];
      const n = fits ? col.length : 0;
      for (let i = 0; i < n; i++) this.values[base + f * ROUND_CAP + i] = col[i];
      this.words[r + R_LENGTHS + f] = n;
    }
    this.words[r + R_FLAGS] = (figures.aborted ? F_ABORTED : 0) | (fits ? 0 : F_DETAIL);
    Atomics.store(this.words, r + R_DONE_EPOCH, epoch);
    const done = Atomics.add(this.words, RC_DONE, 1) + 1;
    if (done >= this.cpus || runAborted) Atomics.notify(this.words, RC_DONE);
  }
}
