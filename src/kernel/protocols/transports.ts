/**
 * Gorman's batched reclaim (batched.ts) over three other flush mechanisms.
 * The protocol decides only how reclaim unmaps; how the batch's flush reaches
 * other CPUs is chosen in tlbFlush.ts from `--protocol`:
 * - `invlpgb`: arch_tlbbatch_flush does one invlpgb_flush_all_nonglobals()
 *   per batch and a TLBSYNC (Linux 6.15, arch/x86/mm/tlb.c); flush_tlb_mm_range
 *   broadcasts for an mm active on more than 3 CPUs (a global ASID). A
 *   reclaim of P pages in batches of B: ceil(P/B) broadcasts, 0 IPIs.
 * - `rar`: each batch's flush is one Remote Action Request to the batch's
 *   cpumask (minus lazy CPUs), handled by hardware, no interrupt.
 * - `context-reset`: each batch is flushed as one range of its mm: page by
 *   page up to `--context-reset-cutoff` pages, and above it the mm gets a new
 *   context (ASID/VSID) on every CPU instead (seed 004, PowerPC): the
 *   notification still goes by IPI, but no page is invalidated.
 * Invariants: those of batched.ts (a frame is freed only after the flush
 * covering its unmap completed: TLBSYNC returned, every RAR completed, every
 * context-reset IPI acknowledged).
 */
import { batchedShrinkPageList } from './batched.js';
import type { UnmapProtocol } from './types.js';

export const invlpgbProtocol: UnmapProtocol = {
  name: 'invlpgb',
  summary: 'batched unmap, flushed by AMD INVLPGB broadcast + TLBSYNC (Linux 6.15): one broadcast per batch, no IPI',
  shrinkPageList: batchedShrinkPageList,
};

export const rarProtocol: UnmapProtocol = {
  name: 'rar',
  summary: 'batched unmap, flushed by Intel Remote Action Request to the batch cpumask: hardware-handled, no interrupt',
  shrinkPageList: batchedShrinkPageList,
};

export const contextResetProtocol: UnmapProtocol = {
  name: 'context-reset',
  summary: 'batched unmap; above --context-reset-cutoff pages the mm gets a new context (PowerPC VSID reset) instead of a page-by-page flush',
  shrinkPageList: batchedShrinkPageList,
};
