/**
 * The race oracle (docs/design.md, "The oracle"): what counts as a race found.
 *
 * - lost write: a completed store whose value is in neither the resident frame
 *   nor the backing store and was not overwritten by a later store. Checked
 *   (a) whenever reclaim drops a frame: every word that differs from the
 *   backing store is a store that is about to vanish; (b) at the end of the
 *   run: every CPU's last store to every page must be in the page's final
 *   contents.
 * - stale access: a load or store through a TLB entry whose frame generation
 *   no longer matches the frame's (freed or reused): checked on every access.
 * - write after protect: a store that completed after mprotect(PROT_READ) or
 *   mprotect(PROT_NONE) on its page had returned: checked on every store.
 * - read after protect: a load that completed after mprotect(PROT_NONE) on its
 *   page had returned (only a stale TLB entry can serve it: a fresh walk of a
 *   PROT_NONE PTE faults): checked on every load.
 * - access after unmap: a load or store that completed, after munmap or
 *   madvise(MADV_DONTNEED) of its page had returned, through a TLB entry
 *   filled before that call zapped the page (its E_MAPGEN is older than the
 *   page's P_UNMAPPED_AT): checked on every access. An access through an entry
 *   filled by a refault after the zap is legitimate and is not counted.
 *
 * Invariants:
 * - Word w of every page is written only by CPU w, and store values are that
 *   CPU's store sequence numbers (1, 2, 3...), so "later" is well defined.
 * - The race log is append-only: a writer reserves a slot with Atomics.add on
 *   G_RACE_COUNT; records past capacity are counted but not stored.
 * - Recording happens on the CPU that saw the race; the analysis runs on the
 *   coordinator after every worker has stopped.
 */
import { ptePresent, pteFrame } from './pageTable.js';
import type { MachineViews } from './state/machineViews.js';
import { claimRaceRecord, countRace, raceRecords, raceTotal } from './state/globalBlock.js';
import { PAGE_STEP_NAMES, pageStep } from './state/pageState.js';
import { loadShared, noteFrameRead, readShared } from './footprint.js';

// The race log: Int32Array `raceLog` (size in src/engine/state/machineViews.ts), records of RACE_WORDS; only this
// file knows the offsets. A record's words are written plainly by the CPU that saw the race, its kind last (Atomics).
const R_KIND = 0;
const R_CPU = 1;
const R_PAGE = 2;
const R_VALUE = 3;
const R_STEP = 4;
const R_FRAME = 5;
/** 1 load, 2 store. */
const R_OP = 6;
const RACE_WORDS = 8;
/** Races recorded in detail; more are counted (exact totals in the global block), not stored. 4096 is far above any run that is still readable. */
const RACE_LOG_CAPACITY = 4096;
const RACE_LOST_WRITE = 1;
const RACE_STALE_ACCESS = 2;
const RACE_WRITE_AFTER_PROTECT = 3;
const RACE_ACCESS_AFTER_UNMAP = 4;
const RACE_READ_AFTER_PROTECT = 5;

/** Words of the `raceLog` buffer. */
export function raceLogWords(): number {
  return RACE_LOG_CAPACITY * RACE_WORDS;
}

/** Words of the race log that hold records (the rest is zero: cleared before every run, written record by record). */
export function usedRaceLogWords(v: Pick<MachineViews, 'global'>): number {
  return Math.min(raceRecords(v.global), RACE_LOG_CAPACITY) * RACE_WORDS;
}

/** The kind of access a race report is about. */
export type AccessOp = 'load' | 'store';

export type RaceKind = 'lost_write' | 'stale_access' | 'write_after_protect' | 'access_after_unmap' | 'read_after_protect';
const KIND_CODES: Record<RaceKind, number> = {
  lost_write: RACE_LOST_WRITE,
  stale_access: RACE_STALE_ACCESS,
  write_after_protect: RACE_WRITE_AFTER_PROTECT,
  access_after_unmap: RACE_ACCESS_AFTER_UNMAP,
  read_after_protect: RACE_READ_AFTER_PROTECT,
};
const KIND_NAMES: Record<number, RaceKind> = {
  [RACE_LOST_WRITE]: 'lost_write',
  [RACE_STALE_ACCESS]: 'stale_access',
  [RACE_WRITE_AFTER_PROTECT]: 'write_after_protect',
  [RACE_ACCESS_AFTER_UNMAP]: 'access_after_unmap',
  [RACE_READ_AFTER_PROTECT]: 'read_after_protect',
};

/** Race totals, as they appear in every JSON result. */
export interface RaceCounts {
  lost_writes: number;
  stale_accesses: number;
  writes_after_protect: number;
  /** Loads and stores through a stale entry after munmap/madvise(MADV_DONTNEED) of the page returned. */
  accesses_after_unmap: number;
  /** Loads through a stale entry after mprotect(PROT_NONE) of the page returned. */
  reads_after_protect: number;
}

/** One race, in detail. */
export interface RaceReport {
  kind: RaceKind;
  /** CPU that made the access (for a lost write: the CPU whose store vanished). */
  cpu: number;
  page: number;
  /** The store's value (its sequence number on that CPU); for a stale load, the value read. */
  value: number;
  /** Protocol step the page was in when the access happened. */
  step: string;
  frame: number;
  /** Whether the racing access was a load or a store (a lost write is always a store). */
  op: AccessOp;
  /** Where the oracle noticed it. */
  detectedAt: 'access' | 'frame-drop' | 'end-of-run';
}

export function zeroRaces(): RaceCounts {
  return { lost_writes: 0, stale_accesses: 0, writes_after_protect: 0, accesses_after_unmap: 0, reads_after_protect: 0 };
}

/** Add `from` into `into`. */
export function addRaces(into: RaceCounts, from: RaceCounts): void {
  into.lost_writes += from.lost_writes;
  into.stale_accesses += from.stale_accesses;
  into.writes_after_protect += from.writes_after_protect;
  into.accesses_after_unmap += from.accesses_after_unmap;
  into.reads_after_protect += from.reads_after_protect;
}

/** Races of every kind together. */
export function totalRaceCount(r: RaceCounts): number {
  return r.lost_writes + r.stale_accesses + r.writes_after_protect + r.accesses_after_unmap + r.reads_after_protect;
}

function stepName(step: number): string {
  return PAGE_STEP_NAMES[step] ?? `step ${step}`;
}

/** Append a race record (any CPU, any time). */
/** Called with every race this thread records (a CPU worker that traces sets it; see trace.ts). */
type RaceTraceHook = (kind: RaceKind, cpu: number, page: number, value: number, frame: number, op: AccessOp) => void;
let raceTraceHook: RaceTraceHook | null = null;

/** Set (or clear, with null) the hook that puts this thread's races on its trace. One simulated CPU per worker thread. */
export function setRaceTraceHook(hook: RaceTraceHook | null): void {
  raceTraceHook = hook;
}

export function recordRace(v: MachineViews, kind: RaceKind, cpu: number, page: number, value: number, step: number, frame: number, op: AccessOp): void {
  raceTraceHook?.(kind, cpu, page, value, frame, op);
  countRace(v.global, kind);
  const slot = claimRaceRecord(v.global);
  if (slot >= RACE_LOG_CAPACITY) return;
  const b = slot * RACE_WORDS;
  const log = v.raceLog;
  log[b + R_CPU] = cpu;
  log[b + R_PAGE] = page;
  log[b + R_VALUE] = value;
  log[b + R_STEP] = step;
  log[b + R_FRAME] = frame;
  log[b + R_OP] = op === 'load' ? 1 : 2;
  Atomics.store(log, b + R_KIND, KIND_CODES[kind]); // published last
}

/**
 * Reclaim is about to drop `frame` (holding `page`): every word that differs from
 * the backing store is a store that will be lost. Returns how many were found.
 */
export function checkFrameDrop(v: MachineViews, wordsPerPage: number, page: number, frame: number): number {
  let lost = 0;
  const W = wordsPerPage;
  noteFrameRead(v, frame, W); // every CPU's word of the frame (explore's footprints)
  for (let w = 0; w < W; w++) {
    // Atomics: ordered after the generation bump (see PhysicalMemory.freeFrame).
    const inFrame = loadShared(v.frameData, frame * W + w);
    if (inFrame !== readShared(v.backing, page * W + w)) {
      lost++;
      recordRace(v, 'lost_write', w, page, inFrame, v.frameStep[frame * W + w], frame, 'store');
    }
  }
  return lost;
}

/**
 * Migration is about to free `oldFrame` after copying it to `newFrame`: every
 * word of the old frame that differs from the copy is a store that landed
 * after the copy (through a stale entry) and is about to be lost.
 */
export function checkMigrationDrop(v: MachineViews, wordsPerPage: number, page: number, oldFrame: number, newFrame: number): number {
  let lost = 0;
  const W = wordsPerPage;
  noteFrameRead(v, oldFrame, W); // every CPU's word of both frames (explore's footprints)
  noteFrameRead(v, newFrame, W);
  for (let w = 0; w < W; w++) {
    const inOld = loadShared(v.frameData, oldFrame * W + w);
    if (inOld !== loadShared(v.frameData, newFrame * W + w)) {
      lost++;
      recordRace(v, 'lost_write', w, page, inOld, v.frameStep[oldFrame * W + w], oldFrame, 'store');
    }
  }
  return lost;
}

/** Decoded race log. */
function readRaceLog(v: MachineViews): RaceReport[] {
  const n = Math.min(raceRecords(v.global), RACE_LOG_CAPACITY);
  const out: RaceReport[] = [];
  for (let i = 0; i < n; i++) {
    const b = i * RACE_WORDS;
    const kind = KIND_NAMES[loadShared(v.raceLog, b + R_KIND)];
    if (!kind) continue;
    out.push({
      kind,
      cpu: v.raceLog[b + R_CPU],
      page: v.raceLog[b + R_PAGE],
      value: v.raceLog[b + R_VALUE],
      step: stepName(v.raceLog[b + R_STEP]),
      frame: v.raceLog[b + R_FRAME],
      op: v.raceLog[b + R_OP] === 1 ? 'load' : 'store',
      detectedAt: kind === 'lost_write' ? 'frame-drop' : 'access',
    });
  }
  return out;
}

interface OracleVerdict {
  races: RaceCounts;
  /** The first races found (at most `maxReports`), oldest first. */
  reports: RaceReport[];
}

/**
 * End-of-run analysis, on the coordinator once every CPU is idle.
 * Counts every logged race and adds lost writes found only now: a CPU's last
 * store to a page that is not in the page's final contents (resident frame if
 * the page is mapped, else the backing store), unless it was already reported
 * when its frame was dropped.
 */
export function analyse(
  v: MachineViews,
  cpus: number,
  pages: number,
  wordsPerPage: number,
  opts: { endOfRunCheck: boolean; maxReports?: number } = { endOfRunCheck: true },
): OracleVerdict {
  const maxReports = opts.maxReports ?? 16;
  const logged = readRaceLog(v);
  const races: RaceCounts = {
    lost_writes: raceTotal(v.global, 'lost_write'),
    stale_accesses: raceTotal(v.global, 'stale_access'),
    writes_after_protect: raceTotal(v.global, 'write_after_protect'),
    accesses_after_unmap: raceTotal(v.global, 'access_after_unmap'),
    reads_after_protect: raceTotal(v.global, 'read_after_protect'),
  };

  const reportedLost = new Set(logged.filter((r) => r.kind === 'lost_write').map((r) => `${r.cpu}:${r.page}:${r.value}`));
  const endReports: RaceReport[] = [];
  const W = wordsPerPage;
  // A run that was aborted mid-way has pages in flight: only what was seen at access time counts.
  for (let p = 0; p < (opts.endOfRunCheck ? pages : 0); p++) {
    const pte = loadShared(v.pte, p);
    const resident = ptePresent(pte) ? pteFrame(pte) : -1;
    for (let c = 0; c < cpus; c++) {
      const last = v.lastStore[c * pages + p];
      if (last === 0) continue;
      const final = resident >= 0 ? v.frameData[resident * W + c] : v.backing[p * W + c];
      if (final === last) continue;
      const key = `${c}:${p}:${last}`;
      if (reportedLost.has(key)) continue;
      races.lost_writes++;
      endReports.push({
        kind: 'lost_write',
        cpu: c,
        page: p,
        value: last,
        step: stepName(pageStep(v.pageState, p)),
        frame: resident,
        op: 'store',
        detectedAt: 'end-of-run',
      });
    }
  }
  return { races, reports: [...logged, ...endReports].slice(0, maxReports) };
}

/** Human-readable one-liner for a race. */
export function describeRace(r: RaceReport): string {
  const what =
    r.kind === 'lost_write'
      ? `lost write: CPU ${r.cpu}'s store #${r.value} to page ${r.page} is in neither the frame nor the backing store`
      : r.kind === 'stale_access' && r.frame < 0
        ? `stale access: CPU ${r.cpu} walked through its cached paging-structure entry for page ${r.page} into a page-table page already freed (use after free)`
        : r.kind === 'stale_access'
        ? `stale access: CPU ${r.cpu} used a TLB entry for page ${r.page} whose frame ${r.frame} was already freed`
        : r.kind === 'write_after_protect'
          ? `write after protect: CPU ${r.cpu}'s store #${r.value} to page ${r.page} succeeded after mprotect(PROT_READ or PROT_NONE) returned`
          : r.kind === 'read_after_protect'
            ? `read after protect: CPU ${r.cpu}'s load from page ${r.page} (frame ${r.frame}) succeeded through a stale TLB entry after mprotect(PROT_NONE) returned`
            : `access after unmap: CPU ${r.cpu}'s ${r.op} reached page ${r.page} (frame ${r.frame}) through a stale TLB entry after munmap/madvise/mremap of it returned`;
  return `${what} (page was ${r.step}; detected at ${r.detectedAt})`;
}
