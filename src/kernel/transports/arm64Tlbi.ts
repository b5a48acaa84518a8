/**
 * The arm64 transport (chosen by `--arch arm64`): broadcast TLBI + DSB ISH,
 * no IPI (arch/arm64/include/asm/tlbflush.h: flush_tlb_mm,
 * __flush_tlb_range_nosync, arch_tlbbatch_add_pending, arch_tlbbatch_flush,
 * arch_flush_tlb_batched_pending). The mechanism itself
 * lives in ../arm64Tlbi.ts (TLBI rings, DSB); this module plugs it into the
 * FlushTransport interface.
 *
 * Invariants: every CPU's TLB is reached whatever mm_cpumask says (the TLBI
 * is broadcast in the inner-shareable domain); a flush is complete only when
 * this CPU's DSB returned; reclaim's TLBIs go out as pages are added to the
 * batch and one DSB completes them. No flush IPI exists on arm64.
 */
import { archFlushTlbBatchedPending, archTlbbatchAddPending, archTlbbatchFlush, arm64FlushTlbMmRange } from '../arm64Tlbi.js';
import type { FlushTransport } from './types.js';

export const arm64TlbiTransport: FlushTransport = {
  name: 'arm64-tlbi',
  summary: 'arm64 broadcast TLBI (inner shareable) + DSB ISH: no IPI',
  globalAsids: 'none',
  flushTlbMmRange: (cpu, mm, pages) => arm64FlushTlbMmRange(cpu, mm, pages),
  archTlbbatchFlush(cpu) {
    cpu.count('tlb_flush_calls');
    // The batch's TLBIs went out in arch_tlbbatch_add_pending; dsb(ish) completes them.
    archTlbbatchFlush(cpu);
  },
  archTlbbatchAddPending,
  archFlushTlbBatchedPending,
  flushTlbMulti() {
    throw new Error('internal error: arm64 flushes by broadcast TLBI, a flush IPI was asked for');
  },
};
