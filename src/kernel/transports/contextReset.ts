/**
 * The context-reset transport (`--transport context-reset`, alias
 * `--protocol context-reset`): PowerPC's answer to long flushes (seed 004):
 * a flush of more than `--context-reset-cutoff` pages (or of the whole mm)
 * gives the mm a new context (ASID/VSID) on every CPU instead of invalidating
 * page by page; the notification still goes by IPI (flush_tlb_func ->
 * CpuTlbState.resetContext, tlbState.ts). The cutoff and the reset are
 * seed 004's description; the IPIs are x86's native_flush_tlb_multi (ipi.ts).
 *
 * Invariants: each reclaim batch is flushed as one range of its mm (through
 * flush_tlb_mm_range, so with a tlb_gen bump and the cutoff), a batch that
 * names no single mm as arch_tlbbatch_flush; the old entries die as zombies
 * under the old context id, never reachable again: when an id comes round,
 * its zombies are flushed first (CpuTlbState.resetContext), which the planted
 * `--inject context-reuse` skips.
 */
import type { SimConfig } from '../../config/config.js';
import type { FlushRequest } from '../../engine/ipi.js';
import { flushTlbMm, flushTlbMmRange, x86RangeRequest } from '../tlbFlush.js';
import { ipiRound, nativeArchTlbbatchFlush, nativeFlushTlbMmRange } from './ipi.js';
import type { FlushTransport } from './types.js';

export function contextResetTransport(c: SimConfig): FlushTransport {
  const t: FlushTransport = {
    name: 'context-reset',
    summary: `IPIs; above --context-reset-cutoff (${c.contextResetCutoff}) pages the mm gets a new context (PowerPC VSID reset) instead of a page-by-page flush`,
    globalAsids: 'none',
    flushTlbMmRange(cpu, mm, pages, freedTables, tlbGen) {
      const reset = pages === null || pages.length > cpu.config.contextResetCutoff;
      const req: FlushRequest = reset ? { kind: 'context-reset', mm, tlbGen } : x86RangeRequest(cpu, mm, pages, tlbGen);
      nativeFlushTlbMmRange(t, cpu, mm, req, freedTables);
    },
    archTlbbatchFlush(cpu, cpus, mm, pages) {
      // The batch's pages are flushed as one range of one mm: page by page up to the cutoff, a context reset above it.
      if (mm >= 0) flushTlbMmRange(cpu, mm, pages);
      else nativeArchTlbbatchFlush(t, cpu, cpus);
    },
    archTlbbatchAddPending: () => {},
    archFlushTlbBatchedPending: (cpu, mm) => flushTlbMm(cpu, mm),
    flushTlbMulti: ipiRound(c.ipiFanout, c.ipiGroup),
  };
  return t;
}
