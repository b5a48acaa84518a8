/**
 * The shared buffers of one simulated machine: how many elements each holds,
 * allocated (coordinator, once per machine) and viewed (every thread, once).
 *
 * Invariants:
 * - `MACHINE_BUFFERS` is the only place a buffer's size is stated: the
 *   allocation (`allocateMachine`) and the memory estimate checked before boot
 *   (`machineBytes`, behind `sharedMemoryBytes` in src/config/config.ts) both
 *   read it, so the `--cpus`/`--pages` limit counts every byte a machine takes
 *   (the arm64 TLBI rings and the schedule buffer included).
 * - Each buffer's layout (which word means what, who may write it) belongs to
 *   the module named next to it; this file knows sizes, not offsets.
 * - A buffer holds at least one element (a SharedArrayBuffer of 0 bytes is
 *   legal, but one element keeps every view indexable); the `tlbi` view is
 *   empty unless `--arch arm64`, so the state hash of other machines is the
 *   one it was before arm64 existed.
 * - Buffers are structured-clone safe: sent to every worker once.
 */
import type { SimConfig } from '../../config/config.js';
import { COUNTER_WORDS, cpumaskWords, frameCount, pageSlots, ptlCount, wordsPerPage } from '../layout.js';
import { mmBlockWords } from '../../kernel/mm.js';
import { pageStateWords } from './pageState.js';
import { GLOBAL_WORDS } from './globalBlock.js';
import { CPU_CTL_WORDS } from './cpuControl.js';
import { frameMetaWords, freeListWords } from '../memory.js';
import { hwSlotsWords } from '../hwInval.js';
import { raceLogWords } from '../oracle.js';
import { schedWords } from '../forcedSchedule.js';
import { footprintWords } from '../footprint.js';
import { tlbWords } from '../tlb.js';
import { tlbiWords } from '../../kernel/arm64Tlbi.js';

/** What a machine's buffer sizes depend on. */
export type MachineShape = Pick<SimConfig, 'cpus' | 'pages' | 'mms' | 'tlbSets' | 'tlbWays' | 'arch' | 'sched'>;

interface BufferSpec {
  /** Bytes per element: 4 (Int32Array) or 8 (Float64Array). */
  readonly bytesPer: 4 | 8;
  readonly elements: (c: MachineShape) => number;
}

function int32(elements: (c: MachineShape) => number): BufferSpec {
  return { bytesPer: 4, elements };
}

const frames = (c: MachineShape): number => frameCount(pageSlots(c));

/** Every shared buffer, its element type and its size; the owner of its layout in the comment. */
const MACHINE_BUFFERS = {
  /** Global control block (src/engine/state/globalBlock.ts). */
  global: int32(() => GLOBAL_WORDS),
  /** Per-CPU control words (src/engine/state/cpuControl.ts), one cache line per CPU. */
  cpuCtl: int32((c) => c.cpus * CPU_CTL_WORDS),
  /** src/engine/ipi.ts: per sender, the cpumask of targets that still owe an ack. */
  ackBits: int32((c) => c.cpus * cpumaskWords(c.cpus)),
  /** Per-CPU counters (layout.ts COUNTER_NAMES), Float64: exact past 2^31. */
  counters: { bytesPer: 8, elements: (c) => c.cpus * COUNTER_WORDS },
  /** mm_struct words (src/kernel/mm.ts, their owner). */
  mm: int32((c) => mmBlockWords(c.cpus, c.mms)),
  /** One PTE per page slot (src/engine/pageTable.ts). */
  pte: int32((c) => pageSlots(c)),
  /** Per-page state (src/engine/state/pageState.ts). */
  pageState: int32((c) => pageStateWords(pageSlots(c))),
  /** Split PTE locks (src/kernel/locks.ts). */
  ptl: int32((c) => c.mms * ptlCount(c.pages)),
  /** Every CPU's TLB (src/engine/tlb.ts owns the entry layout). */
  tlb: int32((c) => c.cpus * tlbWords(c)),
  /** Physical memory (src/engine/memory.ts): one word per CPU per frame, and the step it was stored in. */
  frameData: int32((c) => frames(c) * wordsPerPage(c)),
  frameStep: int32((c) => frames(c) * wordsPerPage(c)),
  frameGen: int32(frames),
  frameMeta: int32((c) => frameMetaWords(frames(c))),
  freeList: int32((c) => freeListWords(frames(c))),
  /** Swap/backing store of every page slot (src/engine/memory.ts). */
  backing: int32((c) => pageSlots(c) * wordsPerPage(c)),
  /** The oracle's race log and last store per CPU and slot (src/engine/oracle.ts). */
  raceLog: int32(raceLogWords),
  lastStore: int32((c) => c.cpus * pageSlots(c)),
  /** Schedule-driven scheduling: forced choices in, recorded choice points out (src/engine/forcedSchedule.ts). */
  sched: int32((c) => schedWords(c)),
  /** src/engine/hwInval.ts: one request slot per CPU. */
  hwSlots: int32((c) => hwSlotsWords(c.cpus)),
  /** src/engine/hwInval.ts: row t, bit i set while CPU i's request waits to be applied by CPU t. */
  hwPendBits: int32((c) => c.cpus * cpumaskWords(c.cpus)),
  /** `--protocol luf`: the CPUs that may cache a translation whose flush was deferred (a cpumask). */
  lufMask: int32((c) => cpumaskWords(c.cpus)),
  /** `--arch arm64`: TLBIs in flight (src/kernel/arm64Tlbi.ts); one word, unused, otherwise. */
  tlbi: int32((c) => tlbiWords(c)),
  /**
   * Step footprints for `explore --por on` (src/engine/footprint.ts): a record per choice point and a
   * shadow of the diffed buffers; one word unless the machine can be schedule-driven.
   */
  footprint: int32((c) => (schedWords(c) > 1 ? footprintWords((n) => elementsOf(n, c)) : 1)),
} as const satisfies Record<string, BufferSpec>;

/** Elements of buffer `name` (the footprint buffer shadows other buffers). */
function elementsOf(name: string, c: MachineShape): number {
  const spec: BufferSpec = (MACHINE_BUFFERS as Record<string, BufferSpec>)[name];
  return spec.elements(c);
}

type BufferName = keyof typeof MACHINE_BUFFERS;
const BUFFER_NAMES = Object.keys(MACHINE_BUFFERS) as BufferName[];

/** All shared buffers of one simulated machine. */
export type MachineBuffers = { readonly [N in BufferName]: SharedArrayBuffer };

/** Typed views over `MachineBuffers`, made once per thread. */
export type MachineViews = { readonly [N in BufferName]: (typeof MACHINE_BUFFERS)[N]['bytesPer'] extends 8 ? Float64Array : Int32Array };

function bufferBytes(spec: BufferSpec, c: MachineShape): number {
  return Math.max(1, spec.elements(c)) * spec.bytesPer;
}

/** Bytes of shared memory a machine of shape `c` allocates: exactly what `allocateMachine(c)` takes. */
export function machineBytes(c: MachineShape): number {
  let total = 0;
  for (const name of BUFFER_NAMES) total += bufferBytes(MACHINE_BUFFERS[name], c);
  return total;
}

/** Allocate every shared buffer for `c`. Contents are zero; call `initMachine` before each run. */
export function allocateMachine(c: MachineShape): MachineBuffers {
  return Object.fromEntries(BUFFER_NAMES.map((name) => [name, new SharedArrayBuffer(bufferBytes(MACHINE_BUFFERS[name], c))])) as MachineBuffers;
}

/** Make typed views over the buffers (once per thread). */
export function viewMachine(b: MachineBuffers): MachineViews {
  const views: Record<string, Int32Array | Float64Array> = Object.fromEntries(BUFFER_NAMES.map((name) => [name, MACHINE_BUFFERS[name].bytesPer === 8 ? new Float64Array(b[name]) : new Int32Array(b[name])]));
  // Empty unless --arch arm64 allocated real rings (see the header).
  views.tlbi = b.tlbi.byteLength > 4 ? new Int32Array(b.tlbi) : new Int32Array(0);
  return views as MachineViews;
}
