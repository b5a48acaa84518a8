/**
 * mm_struct: address-space state shared by every CPU that runs the process.
 *
 * Invariants:
 * - A CPU sets its own bit in mm_cpumask when it loads the mm (switch_mm) and
 *   keeps it while it may cache the mm's translations; flushes target the
 *   mask (minus the sender).
 * - `tlb_flush_batched` is set by reclaim when it defers a flush of this mm
 *   (setTlbUbcFlushPending) and cleared only by flushTlbBatchedPending after
 *   it has flushed the mm (Linux 4.13 semantics).
 * - `tlb_gen` only grows; every flush request bumps it.
 * All words are changed with Atomics.
 */
import { MM_ASID, MM_CPUMASK, MM_TLB_FLUSH_BATCHED, MM_TLB_GEN, cpumaskWords, mmWords } from './layout.js';

/** ASID of mm `m`: 0 is reserved for "no user mm". */
export function mmAsid(m: number): number {
  return m + 1;
}

/** Word offset of mm `m`. */
export function mmBase(cpus: number, m: number): number {
  return m * mmWords(cpus);
}

export function initMm(mm: Int32Array, cpus: number, m: number): void {
  const b = mmBase(cpus, m);
  mm.fill(0, b, b + mmWords(cpus));
  mm[b + MM_ASID] = mmAsid(m);
}

/** cpumask_set_cpu(cpu, mm_cpumask(mm)). */
export function mmCpumaskSet(mm: Int32Array, cpus: number, m: number, cpu: number): void {
  Atomics.or(mm, mmBase(cpus, m) + MM_CPUMASK + (cpu >> 5), 1 << (cpu & 31));
}

/** CPUs in mm_cpumask(mm), ascending. */
export function mmCpumask(mm: Int32Array, cpus: number, m: number): number[] {
  const out: number[] = [];
  const b = mmBase(cpus, m) + MM_CPUMASK;
  for (let w = 0; w < cpumaskWords(cpus); w++) {
    const bits = Atomics.load(mm, b + w);
    if (bits === 0) continue;
    for (let i = 0; i < 32; i++) if (bits & (1 << i)) out.push(w * 32 + i);
  }
  return out;
}

/** OR mm_cpumask(mm) into a cpumask (the unmap batch's). */
export function mmCpumaskOrInto(mm: Int32Array, cpus: number, m: number, into: Int32Array): void {
  const b = mmBase(cpus, m) + MM_CPUMASK;
  for (let w = 0; w < into.length; w++) into[w] |= Atomics.load(mm, b + w);
}

export function setTlbFlushBatched(mm: Int32Array, cpus: number, m: number, v: boolean): void {
  Atomics.store(mm, mmBase(cpus, m) + MM_TLB_FLUSH_BATCHED, v ? 1 : 0);
}
export function tlbFlushBatched(mm: Int32Array, cpus: number, m: number): boolean {
  return Atomics.load(mm, mmBase(cpus, m) + MM_TLB_FLUSH_BATCHED) !== 0;
}

/** inc_mm_tlb_gen(): returns the new generation. */
export function incMmTlbGen(mm: Int32Array, cpus: number, m: number): number {
  return Atomics.add(mm, mmBase(cpus, m) + MM_TLB_GEN, 1) + 1;
}

/** Bits of a cpumask (Int32Array bitset), ascending. */
export function cpumaskToList(mask: Int32Array): number[] {
  const out: number[] = [];
  for (let w = 0; w < mask.length; w++) {
    const bits = mask[w];
    if (bits === 0) continue;
    for (let i = 0; i < 32; i++) if (bits & (1 << i)) out.push(w * 32 + i);
  }
  return out;
}
