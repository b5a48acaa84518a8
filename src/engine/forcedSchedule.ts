/**
 * Schedule-driven seeded scheduling: instead of drawing the next CPU from the
 * PRNG, every choice point follows a given schedule, and every choice point
 * of the run is recorded so the explorer (src/campaigns/explore.ts) can branch on it.
 *
 * A schedule is a list of forced choices `step:cpu` ("at choice point `step`
 * run `cpu`"), or `none` for no forced choice; every other choice point takes the default choice, which never
 * preempts: keep running the CPU that yielded if it can go on, else the next
 * enabled CPU after it (cyclically). Choice point 0 is the first CPU of the
 * run; choice point s >= 1 is the s-th `yieldTurn` (G_SCHED_STEPS = s).
 *
 * Where invalidations are applied by hardware (`--arch arm64`: broadcast
 * TLBIs; `--transport invlpgb` / `rar`: INVLPGB broadcasts, RAR requests) the
 * choices range over agents (`schedAgents`): the CPUs 0..cpus-1 and their MMUs
 * cpus..2*cpus-1 (an MMU is runnable while invalidations wait for it, and its
 * step, applying them, ends in a free switch); elsewhere "CPU" below reads
 * "agent".
 *
 * Enabled: runnable (workload left or IPIs pending) and not disabled. A CPU
 * that yields from a wait (a lock, a barrier, IPI acknowledgements) is
 * *blocked*; it stays disabled while the shared state hash is the one it saw
 * when it blocked (its condition reads only shared state, so running it again
 * would only spin). Switching away from a CPU that yielded blocked, retired,
 * or is disabled is free; switching away from one that could go on is a
 * *preemption* (the quantity CHESS bounds). With `--ipi-step`, a CPU
 * yields again right after handling interrupts at the start of its turn:
 * the interrupt is a step of its own (a thread of its own, in CHESS's
 * terms, that has finished), so switching away there is free too, and the
 * CPU stays enabled.
 *
 * Invariants:
 * - Only the turn holder (or the coordinator before the run) touches the
 *   schedule buffer, so a schedule-driven run is a pure function of (config,
 *   seed, schedule), like a PRNG-seeded one.
 * - The state hash covers every shared word a CPU's wait condition or the
 *   oracle reads, and none the scheduler itself writes (doorbells, turn,
 *   step count, run tokens), so a hand-off alone never changes it.
 * - The machine records at most SCHED_RECORD_MAX choice points; a run that
 *   takes more is marked truncated (the explorer refuses it).
 * - `explore --stateful on` (S_STATEFUL): every choice point also records a
 *   complete key (`ChoicePoint.key`): a second, independent hash of every
 *   shared buffer the program reads, and a 64-bit hash of every CPU
 *   thread's read history (published by the yielding thread,
 *   src/engine/footprint.ts) and of the blocked agents. A failed re-check
 *   (blocked, run again, nothing written, nothing else on its thread,
 *   blocked again) puts its thread's history back, and the seeded clock of
 *   a schedule-driven run counts only steps that did not end waiting
 *   (`scheduleClock`), so looking again at an unchanged condition changes
 *   nothing a key or a later step sees.
 */
import { SCHED_MAX_CPUS } from './layout.js';
import { mixCpuState } from './state/cpuControl.js';
import type { MachineViews } from './state/machineViews.js';
import { mixGlobalState } from './state/globalBlock.js';
import { usedRaceLogWords } from './oracle.js';
import { E_VPN, TLB_ENTRY_WORDS, TLB_INVALID } from './tlb.js';
import { closeStep, openStep, publishHistory, restoreHistory } from './footprint.js';

export { SCHED_MAX_CPUS };

// The `sched` buffer (size in src/engine/state/machineViews.ts): only this file knows its words.
/** Most forced choices in a schedule: the explorer bounds preemptions to a handful; 256 leaves room for hand-written replays. */
const SCHED_FORCED_MAX = 256;
/** Most choice points recorded per run: the catalogue's scenarios take a few hundred; more means the scenario is too big to explore. */
export const SCHED_RECORD_MAX = 16_384;

// Words of the `sched` buffer.
/** 0: PRNG-seeded; 1: schedule-driven (forced choices + default). */
const S_MODE = 0;
/** Number of forced choices. */
const S_NFORCED = 1;
/** Index of the next forced choice to apply. */
const S_NEXT_FORCED = 2;
/** Choice points recorded so far (may exceed SCHED_RECORD_MAX: then the record is truncated). */
const S_RECORDED = 3;
/**
 * 1: the run records a full state key at every choice point (`explore
 * --stateful on`): a second hash of shared memory, and a hash of every CPU
 * thread's read history (src/engine/footprint.ts) and the blocked agents.
 */
const S_STATEFUL = 4;
/**
 * Schedulable agents: the CPUs, and with MMU agents (`schedAgents`) each
 * CPU's MMU as agent cpus + c (it applies the TLBIs, src/kernel/arm64Tlbi.ts,
 * or INVLPGB/RAR requests, src/engine/hwInval.ts, posted to CPU c).
 */
const SCHED_MAX_AGENTS = 2 * SCHED_MAX_CPUS;

/**
 * Schedulable agents of a seeded machine: its CPUs, and where invalidations
 * are applied by hardware with no interrupt (`--arch arm64`: TLBI;
 * `--transport invlpgb` / `rar`) each CPU's MMU as agent cpus + c, so when
 * the hardware applies an invalidation is a scheduling choice of its own.
 */
export function schedAgents(c: { cpus: number; arch: string; transport: string }): number {
  return c.arch === 'arm64' || c.transport === 'invlpgb' || c.transport === 'rar' ? 2 * c.cpus : c.cpus;
}
/** Per agent: 1 if its last yield was from a wait. */
const S_BLOCKED = 8;
/** Per agent: the state hash when it last yielded blocked. */
const S_BLOCKED_HASH = S_BLOCKED + SCHED_MAX_AGENTS;
/** Per agent: yields that were not from a wait (its progress, part of the state). */
const S_PROGRESS = S_BLOCKED_HASH + SCHED_MAX_AGENTS;
/** Per CPU thread: its read history (two words), published at every yield of one of its agents (`publishHistory`). */
const S_HIST = S_PROGRESS + SCHED_MAX_AGENTS;
/** Per agent: the history its thread had at the agent's last blocked yield (two words). */
const S_BLOCK_HIST = S_HIST + 2 * SCHED_MAX_CPUS;
/** Per CPU thread: the agent whose yield published its history last. */
const S_THREAD_LAST = S_BLOCK_HIST + 2 * SCHED_MAX_AGENTS;
/** The shared-state hash at the previous choice point, both lanes. */
const S_LAST_SHARED = S_THREAD_LAST + SCHED_MAX_CPUS;
/** Forced choices: pairs (step, cpu). */
const S_FORCED = S_LAST_SHARED + 2;
/** Recorded choice points, SCHED_REC_WORDS each. */
const S_RECORD = S_FORCED + 2 * SCHED_FORCED_MAX;
/**
 * Words per recorded choice point: yielding CPU + flags, enabled mask, chosen
 * CPU, state hash, and with S_STATEFUL the second shared-memory hash and the
 * histories' hash (two words).
 */
const SCHED_REC_WORDS = 7;
/** Flag bits of a record's first word (the yielding CPU is the low byte, 0xff for choice point 0). */
const REC_BLOCKED = 1 << 8;
const REC_FORCED = 1 << 9;
const REC_FORCED_INVALID = 1 << 10;
/** The CPU yielded right after handling an interrupt (`--ipi-step`): switching away is free, and it stays enabled. */
const REC_AFTER_IRQ = 1 << 11;
/** A recorded "CPU" of 0xff: choice point 0 (nobody yielded). */
const REC_NO_CPU = 0xff;

/**
 * Kernel time in a schedule-driven run (the seeded clock of
 * `should_trim_cpumask`, src/kernel/tlbFlush.ts): the steps agents took that
 * did not end waiting (the sum of their progress). A re-check of a wait
 * condition that fails again does not advance it, so two schedules that
 * differ only in how often a waiter looked reach the same state
 * (`explore --stateful`). Null in a PRNG-seeded run, which counts every
 * step (G_SCHED_STEPS).
 */
export function scheduleClock(sched: Int32Array, agents: number): number | null {
  if (!scheduleDriven(sched)) return null;
  let t = 0;
  for (let c = 0; c < agents; c++) t += sched[S_PROGRESS + c];
  return t;
}

/** Words of the `sched` buffer a machine with `cpus` CPUs needs (1 when it cannot be schedule-driven). */
export function schedWords(c: { cpus: number; sched: string }): number {
  return c.sched === 'seeded' && c.cpus <= SCHED_MAX_CPUS ? S_RECORD + SCHED_RECORD_MAX * SCHED_REC_WORDS : 1;
}

/** One forced choice. */
export interface ForcedChoice {
  step: number;
  cpu: number;
}

/** One recorded choice point of a schedule-driven run. */
export interface ChoicePoint {
  /** The CPU that yielded (-1 at choice point 0). */
  cur: number;
  /** It yielded from a wait (switching away is free). */
  blocked: boolean;
  /** It yielded right after handling an interrupt (`--ipi-step`; switching away is free, it stays enabled). */
  afterIrq: boolean;
  /** Bitmask of the enabled CPUs. */
  enabled: number;
  /** The CPU that runs next (-1: nobody, the run is over). */
  chosen: number;
  /** The choice was forced by the schedule. */
  forced: boolean;
  /** Hash of the machine state at this point (shared memory + each CPU's progress). */
  hash: number;
  /**
   * `explore --stateful on`: the complete machine state at this point
   * (shared memory in two independent 32-bit hashes, each CPU thread's read
   * history, the blocked agents and what they saw, the enabled set): two
   * points with equal keys have the same futures. Which agent yielded, and
   * how, is not in it: it decides only the default choice and what a
   * switch costs, which the explorer adds where a bound makes it matter.
   * Null otherwise.
   */
  key: string | null;
}

/** What the recorder saw of one run. */
export interface ScheduleRecord {
  points: ChoicePoint[];
  /** The run took more than SCHED_RECORD_MAX choice points (`points` is the first ones). */
  truncated: boolean;
  /** Forced choices of the schedule that named a CPU that was not enabled (they took the default). */
  invalidForced: number;
}

/**
 * Parse a schedule `step:cpu,step:cpu,...` (steps strictly increasing, empty
 * = no forced choice). @throws Error with a one-line message naming the bad item.
 */
export function parseSchedule(spec: string, cpus: number, agents = cpus): ForcedChoice[] {
  const out: ForcedChoice[] = [];
  if (spec.trim() === '' || spec.trim() === SCHEDULE_DEFAULT_ONLY) return out;
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    const m = /^(\d+):(\d+)$/.exec(item);
    if (!m) throw new Error(`--replay takes choices like 12:1,40:0 (choice point:CPU), got '${item}' in '${spec}'`);
    const step = Number(m[1]);
    const cpu = Number(m[2]);
    if (cpu >= agents) {
      throw new Error(`--replay: CPU ${cpu} in '${item}' is not one of the ${cpus} CPUs${agents > cpus ? ` or their MMUs (${cpus}-${agents - 1})` : ''}`);
    }
    if (out.length > 0 && step <= out[out.length - 1].step) throw new Error(`--replay: choice points must increase, got '${item}' after ${out[out.length - 1].step}`);
    out.push({ step, cpu });
  }
  if (out.length > SCHED_FORCED_MAX) throw new Error(`--replay holds at most ${SCHED_FORCED_MAX} choices, got ${out.length}`);
  return out;
}

/** `--replay` text of the schedule with no forced choice (every choice the default). */
export const SCHEDULE_DEFAULT_ONLY = 'none';

/** The `--replay` text of a schedule (`none` when it forces nothing). */
export function formatSchedule(s: readonly ForcedChoice[]): string {
  return s.length === 0 ? SCHEDULE_DEFAULT_ONLY : s.map((f) => `${f.step}:${f.cpu}`).join(',');
}

/** Set up the sched buffer before a run: `schedule` null = PRNG mode. Coordinator only, between runs. */
export function initSchedule(sched: Int32Array, cpus: number, schedule: readonly ForcedChoice[] | null, stateful = false): void {
  if (sched.length < S_RECORD) return;
  sched.fill(0, 0, S_RECORD);
  if (schedule === null) return;
  if (cpus > SCHED_MAX_CPUS) throw new Error(`a schedule-driven run needs at most ${SCHED_MAX_CPUS} CPUs`);
  sched[S_MODE] = 1;
  sched[S_STATEFUL] = stateful ? 1 : 0;
  sched[S_NFORCED] = schedule.length;
  schedule.forEach((f, i) => {
    sched[S_FORCED + 2 * i] = f.step;
    sched[S_FORCED + 2 * i + 1] = f.cpu;
  });
}

/** True if the run is schedule-driven. */
export function scheduleDriven(sched: Int32Array): boolean {
  return sched.length > S_MODE && sched[S_MODE] === 1;
}

/** Read what the recorder saw (coordinator, after the run). */
export function readScheduleRecord(sched: Int32Array): ScheduleRecord {
  const n = sched[S_RECORDED];
  const kept = Math.min(n, SCHED_RECORD_MAX);
  const points: ChoicePoint[] = [];
  let invalid = 0;
  for (let i = 0; i < kept; i++) {
    const b = S_RECORD + i * SCHED_REC_WORDS;
    const w = sched[b];
    const cpu = w & 0xff;
    if (w & REC_FORCED_INVALID) invalid++;
    points.push({
      cur: cpu === REC_NO_CPU ? -1 : cpu,
      blocked: (w & REC_BLOCKED) !== 0,
      afterIrq: (w & REC_AFTER_IRQ) !== 0,
      enabled: sched[b + 1],
      chosen: sched[b + 2],
      forced: (w & REC_FORCED) !== 0,
      hash: sched[b + 3] >>> 0,
      key:
        sched[S_STATEFUL] === 1
          ? `${(sched[b + 3] >>> 0).toString(36)}.${(sched[b + 4] >>> 0).toString(36)}.${(sched[b + 5] >>> 0).toString(36)}.${(sched[b + 6] >>> 0).toString(36)}.${sched[b + 1]}`
          : null,
    });
  }
  return { points, truncated: n > SCHED_RECORD_MAX, invalidForced: invalid };
}

// ---------------------------------------------------------------------------
// State hashing
// ---------------------------------------------------------------------------


const FNV_PRIME = 0x01000193;
const FNV_OFFSET = 0x811c9dc5;

/**
 * The hash lanes: lane 0 is FNV-1a (the recorded state hash); lane 1 the same
 * scheme with another odd multiplier and offset, an independent second
 * 32 bits of the shared state for `--stateful` keys (a key collision would
 * prune a state not seen: 64 bits keep that out of reach of the few million
 * states an exploration sees).
 */
/** Lane 1's multiplier (LANE_PRIME[1], named for the hashing loop). */
const LANE1_PRIME = 0x2f0b3a49;
const LANE_PRIME = [FNV_PRIME, LANE1_PRIME] as const;
const LANE_OFFSET = [FNV_OFFSET, 0x6a09e667] as const;
type Lane = 0 | 1;

const LANE_MIX = [(h: number, x: number): number => Math.imul(h ^ x, FNV_PRIME), (h: number, x: number): number => Math.imul(h ^ x, LANE_PRIME[1])] as const;

/** LANE_POW[lane][k] = prime^k mod 2^32: mixing k zero words multiplies the hash by it (h ^ 0 = h). Grown on demand. */
const LANE_POW = [new Int32Array([1]), new Int32Array([1])];

/** LANE_POW[lane], grown to hold prime^k (a run of k zero words). */
function lanePowTable(k: number, lane: Lane): Int32Array {
  const pow = LANE_POW[lane];
  if (k < pow.length) return pow;
  const t = new Int32Array(Math.max(k + 1, 2 * pow.length));
  t.set(pow);
  for (let i = pow.length; i < t.length; i++) t[i] = Math.imul(t[i - 1], LANE_PRIME[lane]);
  LANE_POW[lane] = t;
  return t;
}

/** prime^k mod 2^32 of `lane`. */
function fnvPow(k: number, lane: Lane = 0): number {
  return lanePowTable(k, lane)[k];
}

/** Both lanes of `mixArrayBoth`'s result (module-level: no allocation per call). */
let both0 = 0;
let both1 = 0;

/**
 * FNV-1a over a[from..to) (default: all of `a`) in lanes 0 and 1 at once,
 * from (both0, both1) to (both0, both1): one pass, so `--stateful` pays one
 * read per word. A run of k zero words is mixed in one multiplication by
 * prime^k, which gives exactly the hash the word-by-word loop gives (the tiny
 * machines explored are mostly zeros).
 */
function mixArrayBoth(a: Int32Array, from = 0, to = a.length): void {
  // The longest zero run is the whole range: both power tables cover it, then are indexed directly.
  const pow0 = lanePowTable(to - from, 0);
  const pow1 = lanePowTable(to - from, 1);
  let h0 = both0;
  let h1 = both1;
  let i = from;
  while (i < to) {
    const start = i;
    while (i < to && a[i] === 0) i++;
    if (i > start) {
      h0 = Math.imul(h0, pow0[i - start]);
      h1 = Math.imul(h1, pow1[i - start]);
    }
    if (i === to) break;
    const x = a[i++];
    h0 = Math.imul(h0 ^ x, FNV_PRIME);
    h1 = Math.imul(h1 ^ x, LANE1_PRIME);
  }
  both0 = h0;
  both1 = h1;
}

/** Lane 1 of the last `hashSharedState(v, cpus, true)` (its lane 0 is the return value). */
let lastLane1 = 0;

/**
 * FNV-1a over the machine's shared state (as an Int32, the way the sched buffer stores it): page tables, page state and
 * locks, frames, free list, backing store, TLBs, mm words, IPI and ack
 * bookkeeping, and the oracle's words. Word by word in effect, but a run of
 * zero words costs one multiplication and the race log past its used records
 * is not read, so a machine of a few hundred mostly untouched pages (two page
 * tables) hashes in microseconds. With `withLane1` (explore --stateful keys)
 * the same pass also computes lane 1 (`lastLane1`), which is complete: every
 * control word but the host scheduling's, and the INVLPGB/RAR queue slots and
 * pending bits and the LUF mask too. Lane 0 is the same either way.
 */
export function hashSharedState(v: MachineViews, cpus: number, withLane1 = false): number {
  both0 = FNV_OFFSET;
  both1 = LANE_OFFSET[1];
  both0 = mixGlobalState(v.global, both0, LANE_MIX[0]);
  if (withLane1) both1 = mixGlobalState(v.global, both1, LANE_MIX[1]);
  for (let c = 0; c < cpus; c++) {
    both0 = mixCpuState(v.cpuCtl, c, both0, LANE_MIX[0]);
    if (withLane1) both1 = mixCpuState(v.cpuCtl, c, both1, LANE_MIX[1], true);
  }
  // Arrays go through both lanes (lane 1 is simply not read without `withLane1`).
  const mix = mixArrayBoth;
  for (const a of [v.ackBits, v.mm, v.pte, v.pageState, v.ptl, v.frameData, v.frameGen, v.frameMeta, v.freeList, v.backing, v.lastStore]) mix(a);
  if (withLane1) {
    const h0 = both0;
    for (const a of [v.hwSlots, v.hwPendBits, v.lufMask]) mix(a); // lane 1 only
    both0 = h0;
  }
  // The race log past its used records is zero (cleared before every run, written record by record within one turn):
  // those words are mixed as one run of zeros without reading them.
  const used = usedRaceLogWords(v);
  mix(v.raceLog, 0, used);
  both0 = Math.imul(both0, fnvPow(v.raceLog.length - used, 0));
  both1 = Math.imul(both1, fnvPow(v.raceLog.length - used, 1));
  // `--arch arm64`: TLBIs in flight (empty otherwise, so other machines hash as before).
  mix(v.tlbi);
  // TLBs: valid entries only (a reset leaves an invalid entry's other words as they were).
  const t = v.tlb;
  let h0 = both0;
  let h1 = both1;
  for (let e = 0; e < t.length; e += TLB_ENTRY_WORDS) {
    if (t[e + E_VPN] === TLB_INVALID) {
      h0 = Math.imul(h0 ^ TLB_INVALID, FNV_PRIME);
      if (withLane1) h1 = Math.imul(h1 ^ TLB_INVALID, LANE_PRIME[1]);
      continue;
    }
    for (let w = 0; w < TLB_ENTRY_WORDS; w++) {
      h0 = Math.imul(h0 ^ t[e + w], FNV_PRIME);
      if (withLane1) h1 = Math.imul(h1 ^ t[e + w], LANE_PRIME[1]);
    }
  }
  lastLane1 = h1 | 0;
  return h0 | 0;
}

/**
 * `explore --stateful`, at a choice point where agent `cur` yielded: a failed
 * re-check (it yielded blocked before, was run again, wrote nothing: no
 * shared or private word changed, both lanes; nothing else ran on its thread
 * since; and it yields blocked again) puts its thread's history back to what
 * it was at that earlier yield. Every wait is `while (!cond())
 * schedPoint(true)` with no state carried between iterations
 * (src/engine/cpu.ts blockUntil, the IPI and queue acknowledgement waits), so
 * the thread is where it was then, and the two states are one. Runs on the
 * yielding thread (it restores its own history), after `publishHistory`.
 */
function noteFailedRecheck(sched: Int32Array, cpus: number, cur: number, blocked: boolean, shared: number, shared1: number): void {
  if (cur >= 0) {
    const thread = cur % cpus;
    const h = S_HIST + 2 * thread;
    const saved = S_BLOCK_HIST + 2 * cur;
    if (blocked && sched[S_BLOCKED + cur] === 1 && sched[S_THREAD_LAST + thread] === cur && shared === sched[S_LAST_SHARED] && shared1 === sched[S_LAST_SHARED + 1]) {
      restoreHistory(sched[saved], sched[saved + 1]);
      publishHistory(sched, h);
    } else if (blocked) {
      sched[saved] = sched[h];
      sched[saved + 1] = sched[h + 1];
    }
    sched[S_THREAD_LAST + thread] = cur;
  }
  sched[S_LAST_SHARED] = shared;
  sched[S_LAST_SHARED + 1] = shared1;
}

/**
 * Make the choice at a choice point of a schedule-driven run and record it.
 * `cur` is the yielding CPU (-1 at choice point 0), `step` the choice point,
 * `runnable(c)` whether CPU c has anything left to do. Returns the CPU to run
 * next, or -1 if nobody is runnable.
 */
export function chooseScheduled(
  sched: Int32Array,
  v: MachineViews,
  cpus: number,
  cur: number,
  blocked: boolean,
  step: number,
  runnable: (c: number) => boolean,
  afterIrq = false,
  /** Schedulable agents (`schedAgents`): the CPUs, and with MMU agents their MMUs (cpus + c). */
  agents = cpus,
): number {
  // explore --stateful on: the yielding thread's history so far (its agents' steps); the scheduler's reads below are not its.
  if (cur >= 0) publishHistory(sched, S_HIST + 2 * (cur % cpus));
  // explore --por on: close the step that just ended (its footprint), before anything of this choice is written.
  closeStep(v, cpus, sched[S_RECORDED], blocked);
  const stateful = sched[S_STATEFUL] === 1;
  const shared = hashSharedState(v, cpus, stateful);
  const shared1 = stateful ? lastLane1 : 0;
  if (stateful) noteFailedRecheck(sched, cpus, cur, blocked, shared, shared1);
  if (cur >= 0) {
    if (blocked) {
      sched[S_BLOCKED + cur] = 1;
      sched[S_BLOCKED_HASH + cur] = shared;
    } else {
      sched[S_BLOCKED + cur] = 0;
      sched[S_PROGRESS + cur]++;
    }
  }
  let enabled = 0;
  let anyRunnable = -1;
  for (let c = 0; c < agents; c++) {
    if (!runnable(c)) continue;
    if (anyRunnable < 0) anyRunnable = c;
    if (sched[S_BLOCKED + c] === 1 && sched[S_BLOCKED_HASH + c] === shared) continue;
    enabled |= 1 << c;
  }
  // The default never preempts: the yielding CPU goes on if it can, else the next enabled CPU after it.
  let chosen = -1;
  if (cur >= 0 && !blocked && (enabled & (1 << cur)) !== 0) chosen = cur;
  else {
    for (let i = 1; i <= agents; i++) {
      const c = (Math.max(cur, -1) + i + agents) % agents;
      if ((enabled & (1 << c)) !== 0) {
        chosen = c;
        break;
      }
    }
  }
  // Nobody enabled but somebody runnable: every waiter waits on a state nobody can change (a deadlock);
  // run one anyway, so the step budget ends the run as a livelock.
  if (chosen < 0 && anyRunnable >= 0) chosen = anyRunnable;
  let flags = (cur < 0 ? REC_NO_CPU : cur) | (blocked ? REC_BLOCKED : 0) | (afterIrq ? REC_AFTER_IRQ : 0);
  const next = sched[S_NEXT_FORCED];
  if (next < sched[S_NFORCED] && sched[S_FORCED + 2 * next] === step) {
    sched[S_NEXT_FORCED] = next + 1;
    const want = sched[S_FORCED + 2 * next + 1];
    if ((enabled & (1 << want)) !== 0) {
      chosen = want;
      flags |= REC_FORCED;
    } else {
      flags |= REC_FORCED_INVALID;
    }
  }
  let state = shared;
  for (let c = 0; c < agents; c++) state = Math.imul(state ^ sched[S_PROGRESS + c], FNV_PRIME) | 0;
  const n = sched[S_RECORDED];
  if (n < SCHED_RECORD_MAX) {
    const b = S_RECORD + n * SCHED_REC_WORDS;
    sched[b] = flags;
    sched[b + 1] = enabled;
    sched[b + 2] = chosen;
    sched[b + 3] = state | 0;
    if (stateful) {
      sched[b + 4] = shared1;
      // Every thread's history, and what the enabled set depends on besides shared memory: who is blocked, on what
      // state. Both lanes again (64 bits), so states that share memory but not histories cannot collide in practice.
      both0 = LANE_OFFSET[0];
      both1 = LANE_OFFSET[1];
      mixArrayBoth(sched, S_HIST, S_HIST + 2 * cpus);
      mixArrayBoth(sched, S_BLOCKED, S_BLOCKED + agents);
      mixArrayBoth(sched, S_BLOCKED_HASH, S_BLOCKED_HASH + agents);
      sched[b + 5] = both0 | 0;
      sched[b + 6] = both1 | 0;
    }
  }
  sched[S_RECORDED] = n + 1;
  openStep(v);
  return chosen;
}
