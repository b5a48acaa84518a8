/**
 * The INVLPGB transport (`--transport invlpgb`, alias `--protocol invlpgb`):
 * Linux 6.15 with X86_FEATURE_INVLPGB (arch/x86/mm/tlb.c). Models
 * flush_tlb_mm_range -> broadcast_tlb_flush for an mm with a global ASID
 * (INVLPGB of the range or the PCID, finish_asid_transition, TLBSYNC),
 * native_flush_tlb_multi + consider_global_asid for the others,
 * arch_tlbbatch_flush -> invlpgb_flush_all_nonglobals + TLBSYNC, and
 * reset_global_asid_space -> invlpgb_flush_all_nonglobals.
 *
 * Invariants: a broadcast reaches every CPU, whatever mm_cpumask says, and
 * returns when every CPU applied it (TLBSYNC; not with `--inject
 * no-tlbsync`); no IPI is counted for it. A global ASID is kept up to date
 * everywhere by the broadcasts (GlobalAsidMode `broadcast`). Reclaim of P
 * pages in batches of B: ceil(P/B) broadcasts, 0 IPIs.
 */
import type { SimConfig } from '../../config/config.js';
import type { FlushHost } from './types.js';
import type { FlushRequest } from '../../engine/ipi.js';
import type { HwRequest } from '../../engine/hwInval.js';
import { mmGlobalAsid } from '../mm.js';
import { flushTlbFunc, flushTlbMm, TLB_GENERATION_INVALID, x86RangeRequest } from '../tlbFlush.js';
import { globalAsidTag } from '../tlbState.js';
import { considerGlobalAsid, finishAsidTransition } from './globalAsid.js';
import { allOtherCpus, postHw, toHwRequest } from './hwQueue.js';
import { ipiRound, nativeFlushTlbMmRange } from './ipi.js';
import type { FlushTransport } from './types.js';

/**
 * INVLPGB + TLBSYNC: one broadcast (`invlpgb_sent`) that every other CPU's
 * MMU applies to its own TLB with no interrupt, then TLBSYNC
 * (`tlbsync_waits`): wait until every CPU applied it. No IPI is counted.
 */
function invlpgbBroadcast(cpu: FlushHost, req: HwRequest): void {
  cpu.count('invlpgb_sent');
  cpu.count('tlbsync_waits');
  const t0 = cpu.traceNow();
  const targets = allOtherCpus(cpu);
  const us = postHw(cpu, targets, req);
  cpu.hwRoundUs.push(us);
  if (cpu.trace) cpu.traceEvent({ k: 'hw_send', ts: t0, dur: cpu.traceNow() - t0, via: 'invlpgb', targets: targets.length, full: req.kind !== 'mm-pages', pages: req.pages.length });
}

/** An INVLPGB of `req.mm`'s global ASID on this CPU's own TLB (its PCID's entries and paging-structure cache). */
function applyGlobalInvlpgb(cpu: FlushHost, req: HwRequest): number {
  const asid = mmGlobalAsid(cpu.v.mm, cpu.config.cpus, req.mm);
  if (asid === 0) return 0;
  const tag = globalAsidTag(asid);
  cpu.pwc?.drop(req.mm);
  let dropped = 0;
  if (req.kind === 'mm-all') dropped = cpu.tlb.flushAsid(tag, true);
  else for (const p of req.pages) dropped += cpu.tlb.invalidatePage(p, tag, true);
  cpu.count('tlb_entries_flushed', dropped);
  return dropped;
}

/**
 * broadcast_tlb_flush() (the mm has a global ASID): INVLPGB of the range (or
 * the PCID) under the global ASID, which every CPU's MMU applies, this one
 * included (applied here directly: the initiator counts no
 * nr_tlb_local_flush_* for it); then finish_asid_transition(); then TLBSYNC
 * (the engine's broadcast already waited for every application).
 */
function broadcastTlbFlush(t: FlushTransport, cpu: FlushHost, mm: number, req: FlushRequest): void {
  const hw = toHwRequest('invlpgb', mm, req);
  invlpgbBroadcast(cpu, hw);
  if (cpu.tlbState.loadedGlobal && cpu.loadedMm === mm) applyGlobalInvlpgb(cpu, hw);
  finishAsidTransition(t, cpu, mm, req);
}

export function invlpgbTransport(c: SimConfig): FlushTransport {
  const t: FlushTransport = {
    name: 'invlpgb',
    summary: 'AMD INVLPGB broadcast + TLBSYNC (Linux 6.15): one broadcast per reclaim batch, global ASIDs for busy mms, IPIs for the rest',
    globalAsids: 'broadcast',
    flushTlbMmRange(cpu, mm, pages, freedTables, tlbGen) {
      const req = x86RangeRequest(cpu, mm, pages, tlbGen);
      if (mmGlobalAsid(cpu.v.mm, cpu.config.cpus, mm) !== 0) {
        // mm_global_asid(mm): broadcast_tlb_flush(). No flush_tlb_func here: the INVLPGB covers this CPU too.
        broadcastTlbFlush(t, cpu, mm, req);
        return;
      }
      if (nativeFlushTlbMmRange(t, cpu, mm, req, freedTables)) considerGlobalAsid(t, cpu, mm);
    },
    archTlbbatchFlush(cpu, cpus) {
      cpu.count('tlb_flush_calls');
      const req: FlushRequest = { kind: 'flush-all', mm: -1, tlbGen: TLB_GENERATION_INVALID };
      if (cpus.includes(cpu.id)) flushTlbFunc(cpu, req, true);
      // arch_tlbbatch_flush with X86_FEATURE_INVLPGB: invlpgb_flush_all_nonglobals() + TLBSYNC, to every CPU.
      invlpgbBroadcast(cpu, { via: 'invlpgb', kind: 'all-nonglobals', mm: -1, pages: [] });
    },
    archTlbbatchAddPending: () => {},
    archFlushTlbBatchedPending: (cpu, mm) => flushTlbMm(cpu, mm),
    flushTlbMulti: ipiRound(c.ipiFanout, c.ipiGroup),
    // reset_global_asid_space(): invlpgb_flush_all_nonglobals(), one INVLPGB + TLBSYNC.
    resetGlobalAsidSpace: (cpu) => invlpgbBroadcast(cpu, { via: 'invlpgb', kind: 'all-nonglobals', mm: -1, pages: [] }),
  };
  return t;
}
