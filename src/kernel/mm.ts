/**
 * mm_struct: address-space state shared by every CPU that runs the process.
 *
 * Invariants:
 * - A CPU sets its own bit in mm_cpumask when it loads the mm (switch_mm) and
 *   keeps it after switching away (its ASID may still hold the mm's entries);
 *   only the CPU itself clears its bit, when a flush for an mm it no longer
 *   runs reaches it. Flushes target the mask (minus the sender), filtered by
 *   should_flush_tlb (tlbFlush.ts).
 * - `tlb_flush_batched` records deferred reclaim flushes of this mm
 *   (setTlbUbcFlushPending) and what flushTlbBatchedPending has flushed since.
 *   Two encodings (`--pending-flush`):
 *   `gen` (mm/rmap.c today): pending generation in bits 0-14, flushed
 *   generation in bits 16-30; pending only grows (reset to 1/0 past half its
 *   range, as TLB_FLUSH_BATCH_PENDING_LARGE does), and the flusher publishes
 *   flushed = pending with a CAS that fails if a new pending arrived while it
 *   flushed, so that flush stays owed.
 *   `bool` (Linux 4.13): set to 1, and stored 0 after the flush: a pending
 *   set during the flush is wiped out by that store (the race the generation
 *   pair fixed).
 * - `tlb_flush_pending` counts the mmu_gathers of the mm in flight (zaps
 *   between tlb_gather_mmu and the end of tlb_finish_mmu): each zap
 *   increments it before it looks at a PTE and decrements it after its
 *   flush, so a zap that finds it above 1 knows another may have cleared
 *   PTEs it has not flushed yet (mm_tlb_flush_nested, 99baac21e458).
 * - `tlb_gen` only grows; every flushTlbMmRange request and every deferred
 *   reclaim flush (setTlbUbcFlushPending) bumps it.
 * All words are changed with Atomics. Only this module knows their offsets
 * (Int32Array `mm`, mm m at m * mmWords(cpus)); the mmap_lock and the trim
 * clock are handed out as word indices, for the rwsem and the CAS that use them.
 */
import type { PendingFlushMode } from '../config/config.js';
import { cpumaskWords } from '../engine/layout.js';
import { addShared, andShared, casShared, loadShared, orShared, readShared, subShared } from '../engine/footprint.js';

/**
 * mmap_lock (an rw_semaphore): 0 free, n > 0 held by n readers (page faults,
 * madvise), -1 held by one writer (mprotect, munmap). Changed only with CAS.
 */
const MM_MMAP_LOCK = 0;
/**
 * mm->tlb_flush_batched. `--pending-flush gen` (current kernels): bits 0-14
 * hold the pending generation (bumped by every deferred reclaim flush), bits
 * 16-30 the generation flushTlbBatchedPending last flushed. `--pending-flush
 * bool` (Linux 4.13): 1 while a deferred flush may be outstanding. Atomics only.
 */
const MM_TLB_FLUSH_BATCHED = 1;
/**
 * mm->context.tlb_gen: bumped by every flushTlbMmRange request against the mm
 * (and carried in its IPIs) and by every deferred reclaim flush; each CPU
 * compares it with the generation its own TLB has caught up to (flushTlbFunc).
 */
const MM_TLB_GEN = 2;
/**
 * mm->context.next_trim_cpumask: the clock value (ms, wrapping like jiffies)
 * after which the next flushTlbMmRange also IPIs CPUs in mm_cpumask that no
 * longer run the mm, so they leave the mask (should_trim_cpumask). 0: not yet
 * armed (the first flush arms it, as init_new_context does at fork).
 */
const MM_NEXT_TRIM_CPUMASK = 3;
/**
 * mm->tlb_flush_pending: how many mmu_gathers of this mm are between
 * tlb_gather_mmu (inc_tlb_flush_pending) and the end of tlb_finish_mmu
 * (dec_tlb_flush_pending); more than one is mm_tlb_flush_nested(). Atomics only.
 */
const MM_TLB_FLUSH_PENDING = 4;
/**
 * `--protocol invlpgb`: mm->context.global_asid (0: none; else the global
 * ASID, >= TLB_NR_DYN_ASIDS, the same on every CPU). Set once by
 * use_global_asid (CAS from 0) after MM_ASID_TRANSITION; never revoked in a run.
 */
const MM_GLOBAL_ASID = 5;
/** mm->context.asid_transition: 1 from the global ASID's assignment until finish_asid_transition saw every CPU on it. */
const MM_ASID_TRANSITION = 6;
/** tlbsim's sampling of consider_global_asid: IPI-path flush_tlb_mm_range calls of this mm (see GLOBAL_ASID_CHECK_EVERY). */
const MM_GLOBAL_ASID_SAMPLE = 7;
/** mm_cpumask(mm): bit c set while CPU c may cache this mm's translations. */
const MM_CPUMASK = 8;
function mmWords(cpus: number): number {
  return MM_CPUMASK + cpumaskWords(cpus);
}

/** Words of the `mm` buffer for `mms` mm_structs. */
export function mmBlockWords(cpus: number, mms: number): number {
  return mms * mmWords(cpus);
}

/** Word offset of mm `m`. */
function mmBase(cpus: number, m: number): number {
  return m * mmWords(cpus);
}

/** Word index of mm `m`'s mmap_lock (an rw_semaphore: src/kernel/locks.ts). */
export function mmapLockWord(cpus: number, m: number): number {
  return mmBase(cpus, m) + MM_MMAP_LOCK;
}

/** Word index of mm `m`'s next_trim_cpumask (should_trim_cpumask's CAS, tlbFlush.ts). */
export function nextTrimCpumaskWord(cpus: number, m: number): number {
  return mmBase(cpus, m) + MM_NEXT_TRIM_CPUMASK;
}

export function initMm(mm: Int32Array, cpus: number, m: number): void {
  const b = mmBase(cpus, m);
  mm.fill(0, b, b + mmWords(cpus));
}

/** cpumask_set_cpu(cpu, mm_cpumask(mm)); true if the bit was clear (the CPU is new to the mask). */
export function mmCpumaskSet(mm: Int32Array, cpus: number, m: number, cpu: number): boolean {
  const bit = 1 << (cpu & 31);
  return (orShared(mm, mmBase(cpus, m) + MM_CPUMASK + (cpu >> 5), bit) & bit) === 0;
}

/** cpumask_clear_cpu(cpu, mm_cpumask(mm)): only `cpu` itself clears its bit. */
export function mmCpumaskClear(mm: Int32Array, cpus: number, m: number, cpu: number): void {
  andShared(mm, mmBase(cpus, m) + MM_CPUMASK + (cpu >> 5), ~(1 << (cpu & 31)));
}

/** CPUs in mm_cpumask(mm), ascending. */
export function mmCpumask(mm: Int32Array, cpus: number, m: number): number[] {
  const out: number[] = [];
  const b = mmBase(cpus, m) + MM_CPUMASK;
  for (let w = 0; w < cpumaskWords(cpus); w++) {
    const bits = loadShared(mm, b + w);
    if (bits === 0) continue;
    for (let i = 0; i < 32; i++) if (bits & (1 << i)) out.push(w * 32 + i);
  }
  return out;
}

/** OR mm_cpumask(mm) into a cpumask (the unmap batch's). */
export function mmCpumaskOrInto(mm: Int32Array, cpus: number, m: number, into: Int32Array): void {
  const b = mmBase(cpus, m) + MM_CPUMASK;
  for (let w = 0; w < into.length; w++) into[w] |= loadShared(mm, b + w);
}

/** inc_tlb_flush_pending(mm): an mmu_gather of `m` starts (tlb_gather_mmu). */
export function incTlbFlushPending(mm: Int32Array, cpus: number, m: number): void {
  addShared(mm, mmBase(cpus, m) + MM_TLB_FLUSH_PENDING, 1);
}

/** dec_tlb_flush_pending(mm): the end of tlb_finish_mmu. */
export function decTlbFlushPending(mm: Int32Array, cpus: number, m: number): void {
  subShared(mm, mmBase(cpus, m) + MM_TLB_FLUSH_PENDING, 1);
}

/** mm_tlb_flush_nested(mm): another mmu_gather of `m` is in flight besides the caller's. */
export function mmTlbFlushNested(mm: Int32Array, cpus: number, m: number): boolean {
  return loadShared(mm, mmBase(cpus, m) + MM_TLB_FLUSH_PENDING) > 1;
}

/** Bits 16-30 of tlb_flush_batched hold the flushed generation (TLB_FLUSH_BATCH_FLUSHED_SHIFT). */
export const TLB_FLUSH_BATCH_FLUSHED_SHIFT = 16;
/** Bits 0-14 hold the pending generation. */
const TLB_FLUSH_BATCH_PENDING_MASK = (1 << (TLB_FLUSH_BATCH_FLUSHED_SHIFT - 1)) - 1;
/** Past this, pending restarts at 1 (flushed 0) so it never wraps onto flushed. */
export const TLB_FLUSH_BATCH_PENDING_LARGE = TLB_FLUSH_BATCH_PENDING_MASK >> 1;

/** Index of mm `m`'s tlb_flush_batched word (its encoding is tested word by word). */
export function tlbFlushBatchedWord(cpus: number, m: number): number {
  return mmBase(cpus, m) + MM_TLB_FLUSH_BATCHED;
}

/** The reclaim half of set_tlb_ubc_flush_pending(): record that a flush of mm `m` is deferred. */
export function markTlbFlushBatched(mm: Int32Array, cpus: number, m: number, mode: PendingFlushMode): void {
  const i = tlbFlushBatchedWord(cpus, m);
  if (mode === 'bool') {
    Atomics.store(mm, i, 1);
    return;
  }
  for (;;) {
    const batch = loadShared(mm, i);
    if ((batch & TLB_FLUSH_BATCH_PENDING_MASK) > TLB_FLUSH_BATCH_PENDING_LARGE) {
      // Reset pending/flushed to 1/0 rather than let pending catch up with flushed.
      if (casShared(mm, i, batch, 1) === batch) return;
      continue;
    }
    addShared(mm, i, 1);
    return;
  }
}

/**
 * What flush_tlb_batched_pending() reads before deciding: the word itself (the
 * CAS of `finishTlbFlushBatched` compares against it) and whether a flush is owed.
 */
export function readTlbFlushBatched(mm: Int32Array, cpus: number, m: number, mode: PendingFlushMode): { word: number; owed: boolean } {
  const word = loadShared(mm, tlbFlushBatchedWord(cpus, m));
  if (mode === 'bool') return { word, owed: word !== 0 };
  const pending = word & TLB_FLUSH_BATCH_PENDING_MASK;
  const flushed = word >>> TLB_FLUSH_BATCH_FLUSHED_SHIFT;
  return { word, owed: pending !== flushed };
}

/**
 * After the flush: `bool` stores 0 (losing any pending set meanwhile); `gen`
 * publishes flushed = pending with a CAS against `seen`, which fails, leaving
 * the flush owed, if a new pending arrived during the flush. Returns whether
 * the word now says "nothing owed" because of this call.
 */
export function finishTlbFlushBatched(mm: Int32Array, cpus: number, m: number, mode: PendingFlushMode, seen: number): boolean {
  const i = tlbFlushBatchedWord(cpus, m);
  if (mode === 'bool') {
    Atomics.store(mm, i, 0);
    return true;
  }
  const pending = seen & TLB_FLUSH_BATCH_PENDING_MASK;
  return casShared(mm, i, seen, pending | (pending << TLB_FLUSH_BATCH_FLUSHED_SHIFT)) === seen;
}

/** mm->context.tlb_gen now. */
export function mmTlbGen(mm: Int32Array, cpus: number, m: number): number {
  return loadShared(mm, mmBase(cpus, m) + MM_TLB_GEN);
}

/** inc_mm_tlb_gen(): returns the new generation. */
export function incMmTlbGen(mm: Int32Array, cpus: number, m: number): number {
  return addShared(mm, mmBase(cpus, m) + MM_TLB_GEN, 1) + 1;
}

/** mm_global_asid(): the mm's global ASID, 0 if it has none (`--protocol invlpgb`). */
export function mmGlobalAsid(mm: Int32Array, cpus: number, m: number): number {
  return loadShared(mm, mmBase(cpus, m) + MM_GLOBAL_ASID);
}

/**
 * mm_assign_global_asid(): asid_transition first, then global_asid (the
 * kernel's smp_store_release: whoever sees the ASID sees the transition).
 * Returns false if the mm already had one (use_global_asid's check).
 */
export function mmAssignGlobalAsid(mm: Int32Array, cpus: number, m: number, asid: number): boolean {
  const b = mmBase(cpus, m);
  if (loadShared(mm, b + MM_GLOBAL_ASID) !== 0) return false;
  Atomics.store(mm, b + MM_ASID_TRANSITION, 1);
  return casShared(mm, b + MM_GLOBAL_ASID, 0, asid) === 0;
}

/** mm_in_asid_transition(). */
export function mmInAsidTransition(mm: Int32Array, cpus: number, m: number): boolean {
  return loadShared(mm, mmBase(cpus, m) + MM_ASID_TRANSITION) !== 0;
}

/** mm_clear_asid_transition(). */
export function mmClearAsidTransition(mm: Int32Array, cpus: number, m: number): void {
  Atomics.store(mm, mmBase(cpus, m) + MM_ASID_TRANSITION, 0);
}

/** One more IPI-path flush of the mm (tlbsim's consider_global_asid sampling); returns the new count. */
export function mmGlobalAsidSample(mm: Int32Array, cpus: number, m: number): number {
  return addShared(mm, mmBase(cpus, m) + MM_GLOBAL_ASID_SAMPLE, 1) + 1;
}

/** Bits of a cpumask (Int32Array bitset), ascending. */
export function cpumaskToList(mask: Int32Array): number[] {
  const out: number[] = [];
  for (let w = 0; w < mask.length; w++) {
    const bits = readShared(mask, w); // a shared mask (lufMask) or a local copy: noted only if shared
    if (bits === 0) continue;
    for (let i = 0; i < 32; i++) if (bits & (1 << i)) out.push(w * 32 + i);
  }
  return out;
}
