/**
 * Step footprints for partial-order reduction (`tlbsim explore --por on`):
 * what each scheduling step (the code one agent runs between two choice
 * points, src/engine/forcedSchedule.ts) wrote and read of the machine's
 * shared memory, so the explorer (src/campaigns/explore.ts) can tell two
 * steps apart that commute.
 *
 * How a footprint is taken:
 * - Writes are exact: at every choice point the turn holder compares every
 *   shared state word with a shadow copy kept in this module's buffer
 *   (`footprint`, sized in src/engine/state/machineViews.ts) and records the
 *   words that changed. The scheduler's own words (turn, step count,
 *   doorbells, run tokens, the PRNG) are left out: the owners name them
 *   (`isSchedGlobalWord`, `isSchedCpuWord`). Per-CPU statistics (`counters`)
 *   are left out too: nothing a CPU does depends on them (the coordinator reads
 *   them after the run). A word that changes and changes back within a step is
 *   missed, which only hides a write that left no trace in the state.
 * - Reads are noted where they happen: every Atomics operation and every
 *   plain read of a shared word in src/engine, src/kernel and src/scenarios
 *   goes through the helpers below (`loadShared`, `casShared`, `readShared`,
 *   ...), which note the word in the current step's read signature while a
 *   run records. Reads that stay inside one CPU are not noted: CPU c's TLB
 *   (only CPU c's thread touches it, its MMU agent included:
 *   src/engine/tlb.ts), word c of every frame and its store step (only CPU c
 *   stores there: src/engine/memory.ts), and CPU c's last-store row. A step
 *   of agent a (CPU a, or with `--arch arm64` the MMU agent cpus + c, which
 *   runs on CPU c's thread) is taken to read ALL private words of its own CPU;
 *   the code that reads another CPU's private words (whole-frame writeback,
 *   copies and the oracle's frame-drop checks) notes them (`noteFrameRead`).
 *   What the scheduler reads to make a choice (every agent's runnable words)
 *   belongs to no step (`openStep` clears it).
 * - Dependence (`stepsDependent`): two steps of different agents conflict
 *   when one wrote a word the other read or wrote. Read and write sets are
 *   supersets of the truth (a signature collision only adds a conflict), so
 *   the relation over-approximates dependence, which is sound (more
 *   dependence = less reduction). A step not recorded conflicts with all.
 * - Time: in seeded mode the kernel's clock is the scheduler's step count
 *   (`shouldTrimCpumask`), which every step advances; a step that reads it
 *   (`noteClockRead`) conflicts with every step.
 * - Enabledness: a CPU that yielded blocked is disabled until the shared
 *   state hash changes (forcedSchedule.ts), so any write re-enables it in the
 *   engine. That adds no reachable state: its next step re-checks its wait
 *   condition, and if no step wrote a word the condition read, the re-check
 *   finds it unchanged and yields blocked again without writing: the state is
 *   the one it would be without the re-check (only which CPUs the hash rule
 *   lets run differs). A write to a word the condition read is a conflict
 *   with the re-check by the rule above, so the orders that matter are
 *   explored. A CPU made runnable by an IPI or a TLBI reads the pending word
 *   that was written, so that enabling is a conflict too. The soundness test
 *   (test/porSoundness.test.ts) checks the consequence on the catalogue:
 *   the same final states with and without the reduction.
 *
 * Record k is the step taken after choice point k (by the agent chosen
 * there), closed at choice point k + 1. Signatures are 1024-bit Bloom filters
 * of word ids (segment, index): a collision can only add dependence.
 *
 * Read histories (`explore --stateful on`): besides the footprints, each
 * CPU thread keeps a running 64-bit hash of every value it obtained from
 * outside its own deterministic code while it held the turn: each shared
 * word it read (the helpers below; the scheduler's own words excepted), the
 * words of frames another thread may have written (`noteFrameRead`,
 * `readOwnFrameWord`), each IPI message it received (`noteIpiMessage`) and
 * the seeded clock (`noteClockRead`). A thread's program is deterministic,
 * so its program position and every JS local at a yield are a function of
 * that history; the yielding thread publishes it at every choice point
 * (`publishHistory`, src/engine/forcedSchedule.ts), and equal shared memory
 * plus equal histories is the same machine state (what a message in flight
 * carries is a function of its sender's history). While the scheduler
 * chooses, and while a thread waits for its turn, nothing is folded
 * (`histLive`): those reads depend on host timing, not on the program.
 *
 * Invariants:
 * - Only the turn holder (or the coordinator between runs) touches this
 *   buffer, like the schedule buffer: recording is a pure function of the run.
 * - A thread folds only between taking the turn (`resumeHistory`) and
 *   yielding it (`publishHistory`), so its history is a pure function of the
 *   values its steps read.
 * - With recording off (`FP_ON` 0: every free-mode run and every seeded run
 *   outside `explore --por on`) a read helper costs one test of a
 *   module-level flag (`readsOn`, set once per run by `syncFootprints`)
 *   besides the Atomics operation it wraps.
 * - Recording never writes a word the simulated machine reads: a run with
 *   recording on takes exactly the same choices as one without.
 */
import { Buffer } from 'node:buffer';
import { isSchedCpuWord } from './state/cpuControl.js';
import { isSchedGlobalWord } from './state/globalBlock.js';
import type { MachineViews } from './state/machineViews.js';
import { usedRaceLogWords } from './oracle.js';

// Words of the `footprint` buffer.
/** 1 while footprints are recorded (set by the coordinator before a run). */
const FP_ON = 0;
/** 1 if the current step read the scheduler's step count as a clock (`noteClockRead`). */
const FP_CLOCK = 1;
/** Signature of the reads noted during the current step (FP_SIG words). */
const FP_READ = 2;
/** Words per signature: 1024 bits keep collisions rare for the few dozen words a step touches (a collision only adds dependence). */
const FP_SIG = 32;
/** 1 while each thread keeps its read history (explore --stateful on; set by the coordinator before a run). */
const FP_HIST = FP_READ + FP_SIG;
const FP_HEADER = FP_HIST + 1;
/** Steps recorded per run: the catalogue's runs take a few hundred; a later step is taken as touching everything. */
const FP_RECORD_MAX = 4096;
/** Words per step record: flags, private-owner mask, shared-write sig, private-write sig, read sig. */
const FP_REC_WORDS = 2 + 3 * FP_SIG;
const R_FLAGS = 0;
const R_PRIV_MASK = 1;
const R_W_SHARED = 2;
const R_W_PRIV = R_W_SHARED + FP_SIG;
const R_READ = R_W_PRIV + FP_SIG;
/** Record flags: the step wrote anything; it ended with a blocked yield; it was closed. */
const F_WROTE = 2;
/** The step read the step count as a clock: every step advances it, so it conflicts with every step. */
const F_CLOCK = 16;
const F_BLOCKED = 4;
const F_CLOSED = 8;

/** Segments: the shared buffers whose words are diffed, in a fixed order (a word id is segment << 24 | index). */
const SEG_GLOBAL = 0;
const SEG_CPU_CTL = 1;
const SEG_TLB = 2;
const SEG_FRAME_DATA = 3;
const SEG_FRAME_STEP = 4;
const SEG_LAST_STORE = 5;
/** Shared buffers diffed whole (segments 6...). */
const SHARED_WHOLE = ['ackBits', 'mm', 'pte', 'pageState', 'ptl', 'frameGen', 'frameMeta', 'freeList', 'backing', 'hwSlots', 'hwPendBits', 'lufMask', 'tlbi'] as const;
const SEG_RACE_LOG = 6 + SHARED_WHOLE.length;

type BufName = 'global' | 'cpuCtl' | 'tlb' | 'frameData' | 'frameStep' | 'lastStore' | (typeof SHARED_WHOLE)[number] | 'raceLog';
const DIFFED: readonly BufName[] = ['global', 'cpuCtl', 'tlb', 'frameData', 'frameStep', 'lastStore', ...SHARED_WHOLE, 'raceLog'];

/** Words of the `footprint` buffer: header, FP_RECORD_MAX step records, and a shadow of every diffed buffer. */
export function footprintWords(elements: (name: BufName) => number): number {
  let shadow = 0;
  for (const n of DIFFED) shadow += Math.max(1, elements(n));
  return FP_HEADER + FP_RECORD_MAX * FP_REC_WORDS + shadow;
}

/** One step's footprint, as the explorer reads it. */
export interface StepFootprint {
  /** Not recorded (the run ended inside it): taken as reading and writing everything. */
  unknown: boolean;
  /** It wrote any word. */
  wrote: boolean;
  /** It read the scheduler's step count as a clock (seeded time): it conflicts with every step. */
  clock: boolean;
  /** It ended with a blocked yield (its CPU waits until the state changes). */
  blocked: boolean;
  /** CPUs whose private words it wrote (bit c). */
  privMask: number;
  /** 1024-bit signatures: shared words written, private words written, words read (shared, and other CPUs' private). */
  wShared: Int32Array;
  wPriv: Int32Array;
  read: Int32Array;
}

function sigBit(seg: number, index: number): number {
  let h = Math.imul((seg << 24) ^ index, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  return (h ^ (h >>> 13)) & 1023;
}

function sigAdd(a: Int32Array, base: number, bit: number): void {
  a[base + (bit >> 5)] |= 1 << (bit & 31);
}

// ---------------------------------------------------------------------------
// Reads: every Atomics operation and plain read of a shared word in the engine, the kernel and the
// scenarios goes through these helpers (the scheduler's hash and the coordinator read directly: they
// are not steps). With recording off they cost one test of a module-level flag.
// ---------------------------------------------------------------------------

/** This thread notes reads in the current run: footprints or histories (`syncFootprints`, per run). */
let readsOn = false;
/** This run records footprints (read signatures). */
let sigOn = false;
/** This run keeps read histories (`explore --stateful on`). */
let histOn = false;
/** This thread holds the turn and runs a step: its reads are folded into its history. */
let histLive = false;
/** This thread's read history, two 32-bit lanes (FNV-1a and a multiply-xorshift), reset every run. */
let histA = 0;
let histB = 0;
/** This thread's footprint buffer (`registerFootprintViews`, once per thread). */
let fpBuf: Int32Array | null = null;
/** Segment of each diffed buffer, by its SharedArrayBuffer. */
const segOf = new Map<ArrayBufferLike, number>();

/** Declare this thread's views (once per thread: each CPU worker, and the coordinator). */
export function registerFootprintViews(v: MachineViews): void {
  fpBuf = v.footprint;
  segOf.clear();
  DIFFED.forEach((name, seg) => {
    const a = v[name];
    if (a.length > 0) segOf.set(a.buffer, seg);
  });
}

/** A CPU thread at the start of a run: does this run record footprints or histories? Resets the history. */
export function syncFootprints(v: MachineViews): void {
  sigOn = v.footprint.length > FP_HEADER && v.footprint[FP_ON] === 1;
  histOn = v.footprint.length > FP_HEADER && v.footprint[FP_HIST] === 1;
  readsOn = sigOn || histOn;
  histLive = false;
  histA = 0;
  histB = 0;
}

/** Fold one value into this thread's history. */
function fold(x: number): void {
  histA = Math.imul(histA ^ x, 0x01000193);
  let b = Math.imul(histB ^ x, 0x9e3779b1);
  b ^= b >>> 15;
  histB = Math.imul(b, 0x85ebca6b);
}

function noteRead(a: Int32Array, i: number, x: number): void {
  if (!sigOn && !histLive) return; // a waiting thread's read (--stateful without footprints): nothing to note
  const seg = segOf.get(a.buffer);
  if (seg === undefined || fpBuf === null) return;
  const index = (a.byteOffset >> 2) + i;
  if (sigOn) sigAdd(fpBuf, FP_READ, sigBit(seg, index));
  // The scheduler's words (doorbells, turn, tokens) change with host timing: they are not the program's input.
  if (histLive && !(seg === SEG_GLOBAL && isSchedGlobalWord(index)) && !(seg === SEG_CPU_CTL && isSchedCpuWord(index))) fold(x);
}

/** Atomics.load of a shared word, noted as a read. */
export function loadShared(a: Int32Array, i: number): number {
  const x = Atomics.load(a, i);
  if (readsOn) noteRead(a, i, x);
  return x;
}
/** A plain read of a shared word, noted as a read. */
export function readShared(a: Int32Array, i: number): number {
  const x = a[i];
  if (readsOn) noteRead(a, i, x);
  return x;
}
/** Atomics.compareExchange, noted as a read of the old value (the write is seen by the diff). */
export function casShared(a: Int32Array, i: number, expected: number, replacement: number): number {
  const x = Atomics.compareExchange(a, i, expected, replacement);
  if (readsOn) noteRead(a, i, x);
  return x;
}
/** Atomics.add, noted as a read of the old value. */
export function addShared(a: Int32Array, i: number, x: number): number {
  const old = Atomics.add(a, i, x);
  if (readsOn) noteRead(a, i, old);
  return old;
}
/** Atomics.sub, noted as a read of the old value. */
export function subShared(a: Int32Array, i: number, x: number): number {
  const old = Atomics.sub(a, i, x);
  if (readsOn) noteRead(a, i, old);
  return old;
}
/** Atomics.exchange, noted as a read of the old value. */
export function exchangeShared(a: Int32Array, i: number, x: number): number {
  const old = Atomics.exchange(a, i, x);
  if (readsOn) noteRead(a, i, old);
  return old;
}
/** Atomics.or, noted as a read of the old value. */
export function orShared(a: Int32Array, i: number, x: number): number {
  const old = Atomics.or(a, i, x);
  if (readsOn) noteRead(a, i, old);
  return old;
}
/** Atomics.and, noted as a read of the old value. */
export function andShared(a: Int32Array, i: number, x: number): number {
  const old = Atomics.and(a, i, x);
  if (readsOn) noteRead(a, i, old);
  return old;
}

/**
 * CPU `cpu`'s own word of frame `frame` (`frameData[i]`, a private word it
 * reads without noting it): other threads write it too (swap-in, migration
 * copies), so its value goes into the reader's history.
 */
export function readOwnFrameWord(frameData: Int32Array, i: number): number {
  const x = frameData[i];
  if (histLive) fold(x);
  return x;
}

/** An IPI message this thread received: its payload goes into the history (it is not in shared memory). */
export function noteMessage(words: readonly number[]): void {
  if (!histLive) return;
  fold(words.length);
  for (const w of words) fold(w);
}

/** True while this thread's reads go into its history (a caller may skip building what it would note). */
export function historyLive(): boolean {
  return histLive;
}

/** A failed re-check of a wait condition left this thread where it was: its history goes back to (a, b). */
export function restoreHistory(a: number, b: number): void {
  histA = a;
  histB = b;
}

/** This thread takes the turn: its steps' reads are folded from here (explore --stateful on). */
export function resumeHistory(): void {
  histLive = histOn;
}

/**
 * The yielding thread at a choice point: stop folding (the scheduler's reads
 * are not the program's) and publish its history to `out[at]`, `out[at + 1]`.
 */
export function publishHistory(out: Int32Array, at: number): void {
  histLive = false;
  if (!histOn) return;
  out[at] = histA;
  out[at + 1] = histB;
}

/** Coordinator, before a run: record footprints in this run (or not), keep read histories (or not), clear the records. */
export function initFootprints(v: MachineViews, on: boolean, histories = false): void {
  const fp = v.footprint;
  if (fp.length < FP_HEADER) return;
  fp[FP_ON] = on ? 1 : 0;
  fp[FP_HIST] = histories ? 1 : 0;
  fp.fill(0, FP_CLOCK, FP_READ + FP_SIG);
}

/** True while this run records footprints. */
function recording(v: MachineViews): boolean {
  return v.footprint[FP_ON] === 1;
}

/**
 * A step reads the whole of frame `frame` (every CPU's word and its store
 * step): another CPU's private words. Called by the frame copies and checks.
 */
export function noteFrameRead(v: MachineViews, frame: number, wordsPerPage: number): void {
  if (histLive) {
    for (let w = 0; w < wordsPerPage; w++) {
      fold(v.frameData[frame * wordsPerPage + w]);
      fold(v.frameStep[frame * wordsPerPage + w]);
    }
  }
  if (v.footprint[FP_ON] !== 1) return;
  const fp = v.footprint;
  for (let w = 0; w < wordsPerPage; w++) {
    const i = frame * wordsPerPage + w;
    sigAdd(fp, FP_READ, sigBit(SEG_FRAME_DATA, i));
    sigAdd(fp, FP_READ, sigBit(SEG_FRAME_STEP, i));
  }
}

/** Words compared per native call once a buffer differs from its shadow. */
const DIFF_CHUNK = 64;

/** Byte views (node Buffers) over the diffed buffers and the footprint buffer, made once per thread. */
interface ByteViews {
  fp: Buffer;
  segs: Buffer[];
  of: Int32Array;
}
let byteCache: ByteViews | null = null;

function byteViews(v: MachineViews): ByteViews {
  if (byteCache !== null && byteCache.of === v.footprint) return byteCache;
  const fp = v.footprint;
  byteCache = {
    fp: Buffer.from(fp.buffer, fp.byteOffset, fp.byteLength),
    segs: DIFFED.map((name) => {
      const a = v[name];
      return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    }),
    of: fp,
  };
  return byteCache;
}

/** Which CPU owns word `i` of a private segment (-1: a shared word). */
function ownerOf(seg: number, i: number, v: MachineViews, cpus: number): number {
  switch (seg) {
    case SEG_TLB:
      return Math.floor(i / (v.tlb.length / cpus));
    case SEG_FRAME_DATA:
    case SEG_FRAME_STEP:
      return i % cpus; // word w of a frame belongs to CPU w (wordsPerPage = cpus)
    case SEG_LAST_STORE:
      return Math.floor(i / (v.lastStore.length / cpus));
    default:
      return -1;
  }
}

/**
 * At choice point `point` (turn holder, in schedule-driven runs): close the
 * step taken since the previous choice point (`blocked`: it ended with a
 * blocked yield), or at point 0 take the first shadow copy.
 */
export function closeStep(v: MachineViews, cpus: number, point: number, blocked: boolean): void {
  const recordMax = FP_RECORD_MAX;
  if (!recording(v)) return;
  const fp = v.footprint;
  const bytes = byteViews(v);
  let sh = FP_HEADER + recordMax * FP_REC_WORDS;
  const rec = point >= 1 && point <= recordMax ? FP_HEADER + (point - 1) * FP_REC_WORDS : -1;
  if (rec >= 0) fp.fill(0, rec, rec + FP_REC_WORDS);
  let flags = 0;
  let privMask = 0;
  for (let seg = 0; seg < DIFFED.length; seg++) {
    const name = DIFFED[seg];
    const a = v[name];
    // The race log past its used records is zero and unwritten: compare only the records (see oracle.ts).
    const n = seg === SEG_RACE_LOG ? usedRaceLogWords(v) : a.length;
    const src = bytes.segs[seg];
    // Most buffers are untouched by a step: compare them natively (memcmp), whole, then by chunks.
    if (n > 0 && src.compare(bytes.fp, (sh << 2), ((sh + n) << 2), 0, n << 2) !== 0) {
      for (let c = 0; c < n; c += DIFF_CHUNK) {
        const end = Math.min(n, c + DIFF_CHUNK);
        if (src.compare(bytes.fp, ((sh + c) << 2), ((sh + end) << 2), c << 2, end << 2) === 0) continue;
        for (let i = c; i < end; i++) {
          const x = a[i];
          if (x === fp[sh + i]) continue;
          fp[sh + i] = x;
          if (point === 0 || rec < 0) continue;
          if ((seg === SEG_GLOBAL && isSchedGlobalWord(i)) || (seg === SEG_CPU_CTL && isSchedCpuWord(i))) continue;
          flags |= F_WROTE;
          const owner = ownerOf(seg, i, v, cpus);
          if (owner < 0) {
            sigAdd(fp, rec + R_W_SHARED, sigBit(seg, i));
          } else {
            privMask |= 1 << owner;
            sigAdd(fp, rec + R_W_PRIV, sigBit(seg, i));
          }
        }
      }
    }
    sh += Math.max(1, a.length);
  }
  if (rec >= 0) {
    fp[rec + R_FLAGS] = flags | (blocked ? F_BLOCKED : 0) | (fp[FP_CLOCK] === 1 ? F_CLOCK : 0) | F_CLOSED;
    fp[rec + R_PRIV_MASK] = privMask;
    for (let k = 0; k < FP_SIG; k++) fp[rec + R_READ + k] = fp[FP_READ + k];
  }
}

/**
 * The choice is made (turn holder, end of a choice point): the next step's
 * reads start here. What the scheduler itself read to make the choice (every
 * agent's runnable words) is not the next step's.
 */
export function openStep(v: MachineViews): void {
  if (!recording(v)) return;
  v.footprint.fill(0, FP_CLOCK, FP_READ + FP_SIG);
}

/**
 * The current step reads the seeded scheduler's step count as its clock
 * (kernel time in seeded mode): the value depends on how many steps every
 * agent took before, so the step conflicts with every other step.
 */
export function noteClockRead(now: number): void {
  if (histLive) fold(now);
  if (sigOn && fpBuf !== null) fpBuf[FP_CLOCK] = 1;
}

/** Read the footprints of the first `steps` steps of the last run (coordinator, after it). Null if none was recorded. */
export function readFootprints(v: MachineViews, steps: number): StepFootprint[] | null {
  const recordMax = FP_RECORD_MAX;
  const fp = v.footprint;
  if (fp.length < FP_HEADER || fp[FP_ON] !== 1) return null;
  const out: StepFootprint[] = [];
  for (let k = 0; k < steps; k++) {
    // A step past the record is unknown (it conflicts with every step).
    const r = FP_HEADER + Math.min(k, recordMax - 1) * FP_REC_WORDS;
    const f = k < recordMax ? fp[r + R_FLAGS] : 0;
    // A step never closed (the run ended inside it) is taken as writing and reading everything.
    const closed = (f & F_CLOSED) !== 0;
    out.push({
      unknown: !closed,
      wrote: !closed || (f & F_WROTE) !== 0,
      clock: (f & F_CLOCK) !== 0,
      blocked: (f & F_BLOCKED) !== 0,
      privMask: closed ? fp[r + R_PRIV_MASK] : -1,
      wShared: fp.slice(r + R_W_SHARED, r + R_W_SHARED + FP_SIG),
      wPriv: fp.slice(r + R_W_PRIV, r + R_W_PRIV + FP_SIG),
      read: fp.slice(r + R_READ, r + R_READ + FP_SIG),
    });
  }
  return out;
}

function sigMeets(a: Int32Array, b: Int32Array): boolean {
  for (let k = 0; k < FP_SIG; k++) if ((a[k] & b[k]) !== 0) return true;
  return false;
}

/**
 * May steps `a` (of agent `agentA`) and `b` (of agent `agentB`, another
 * agent) fail to commute? `cpus` maps an agent to the CPU whose private words
 * it reads (agent mod cpus). Symmetric. See the header for why each rule is
 * needed.
 */
export function stepsDependent(a: StepFootprint, agentA: number, b: StepFootprint, agentB: number, cpus: number): boolean {
  if (a.unknown || b.unknown || a.clock || b.clock) return true;
  // Shared words: both wrote one, or one read what the other wrote.
  if (sigMeets(a.wShared, b.wShared) || sigMeets(a.wShared, b.read) || sigMeets(b.wShared, a.read)) return true;
  // Every step is taken to read its own CPU's private words.
  if ((a.privMask & (1 << agentB % cpus)) !== 0 || (b.privMask & (1 << agentA % cpus)) !== 0) return true;
  // Private words of a third CPU: both wrote one, or one read what the other wrote.
  return sigMeets(a.wPriv, b.wPriv) || sigMeets(a.read, b.wPriv) || sigMeets(b.read, a.wPriv);
}
