/**
 * The RAR transport (`--transport rar`, alias `--protocol rar`): Intel Remote
 * Action Requests as in Rik van Riel's "[RFC PATCH v3 7/7] x86/mm: userspace
 * & pageout flushing using Intel RAR" (2025-06-05,
 * <20250605163544.3852565-8-riel@surriel.com>, never merged). Models its
 * flush_tlb_mm_range (rarFlushTlbMmRange below), arch_tlbbatch_flush ->
 * rar_full_flush(&batch->cpumask), and reset_global_asid_space ->
 * flush_tlb_all -> rar_flush_all.
 *
 * Invariants: a RAR goes to a cpumask like an IPI (lazy CPUs included), is
 * applied by the target's hardware with no interrupt (also with interrupts
 * off), and returns when every target completed (not with `--inject
 * no-tlbsync`). Global ASIDs are the ones INVLPGB uses (globalAsid.ts), but
 * kept up to date only on mm_cpumask (GlobalAsidMode `targeted`: a lazy CPU
 * an IPI reaches leaves the mask, a CPU new to it flushes at switch_mm).
 */
import type { SimConfig } from '../../config/config.js';
import type { FlushHost } from './types.js';
import type { FlushRequest } from '../../engine/ipi.js';
import type { HwRequest } from '../../engine/hwInval.js';
import { mmCpumask, mmGlobalAsid, mmInAsidTransition } from '../mm.js';
import { flushTlbFunc, flushTlbMm, shouldTrimCpumask, TLB_GENERATION_INVALID, x86RangeRequest } from '../tlbFlush.js';
import { isLazyCpu, loadedMmOf } from '../../engine/state/cpuControl.js';
import { considerGlobalAsid, finishAsidTransition } from './globalAsid.js';
import { allOtherCpus, postHw, toHwRequest } from './hwQueue.js';
import { ipiRound } from './ipi.js';
import type { FlushTransport } from './types.js';

/**
 * Intel RAR: one remote action to `targets` (a cpumask, like an IPI's), each
 * applied by the target's hardware with no interrupt; the initiator waits for
 * every completion.
 */
function rarFlush(cpu: FlushHost, targets: readonly number[], req: HwRequest): void {
  if (targets.length === 0) return;
  cpu.count('rar_sent');
  cpu.count('rar_targets', targets.length);
  const t0 = cpu.traceNow();
  const us = postHw(cpu, targets, req);
  cpu.hwRoundUs.push(us);
  if (cpu.trace) cpu.traceEvent({ k: 'hw_send', ts: t0, dur: cpu.traceNow() - t0, via: 'rar', targets: targets.length, full: req.kind !== 'mm-pages', pages: req.pages.length });
}

/**
 * flush_tlb_mm_range() of the RAR series:
 * - info->trim_cpumask = should_trim_cpumask(mm) on every flush (without
 *   INVLPGB the series asks before choosing the path);
 * - the mm has a global ASID and no trim is due: broadcast_tlb_flush ->
 *   rar_tlb_flush (one RAR to the unfiltered mm_cpumask, lazy CPUs
 *   included, smp_call_rar_many skipping this CPU; then flush_tlb_func here
 *   if this CPU is in the mask), then finish_asid_transition;
 * - otherwise IPIs as without RAR (flush_tlb_multi, then
 *   consider_global_asid), except that the series' should_flush_all sends to
 *   the whole mask (lazy CPUs too) when freed_tables, trim_cpumask, a global
 *   ASID or an ASID transition: should_flush_tlb filters only the rest.
 * Not modelled: the second RAR for the user PCID under PTI (the engine has no PTI).
 */
function rarFlushTlbMmRange(t: FlushTransport, cpu: FlushHost, mm: number, req: FlushRequest, freedTables: boolean): void {
  const c = cpu.config;
  const trim = shouldTrimCpumask(cpu, mm);
  const global = mmGlobalAsid(cpu.v.mm, c.cpus, mm) !== 0;
  if (global && !trim) {
    // rar_tlb_flush(): remote CPUs by RAR (the global PCID), this one by flush_tlb_func if it is in the mask.
    const mask = mmCpumask(cpu.v.mm, c.cpus, mm);
    rarFlush(cpu, mask.filter((x) => x !== cpu.id), toHwRequest('rar', mm, req));
    if (mask.includes(cpu.id)) flushTlbFunc(cpu, req, true);
    finishAsidTransition(t, cpu, mm, req);
    return;
  }
  if (cpu.loadedMm === mm) flushTlbFunc(cpu, req, true);
  const others = mmCpumask(cpu.v.mm, c.cpus, mm).filter((x) => x !== cpu.id);
  if (others.length === 0) return;
  const ctl = cpu.v.cpuCtl;
  // should_flush_all(info): on_each_cpu_mask to the whole mask; else should_flush_tlb (running the mm, not lazy).
  const all = (freedTables && c.lazyFlushOnTableFree) || trim || global || mmInAsidTransition(cpu.v.mm, c.cpus, mm) || !c.lazyTlbSkip;
  const targets = all ? others : others.filter((x) => !isLazyCpu(ctl, x) && loadedMmOf(ctl, x) === mm);
  cpu.count('nr_tlb_remote_flush');
  t.flushTlbMulti(cpu, targets, req);
  considerGlobalAsid(t, cpu, mm);
}

export function rarTransport(c: SimConfig): FlushTransport {
  const t: FlushTransport = {
    name: 'rar',
    summary: 'Intel Remote Action Request to the cpumask (RAR series v3, 2025): hardware-handled, no interrupt; IPIs for mms without a global ASID',
    globalAsids: 'targeted',
    flushTlbMmRange(cpu, mm, pages, freedTables, tlbGen) {
      rarFlushTlbMmRange(t, cpu, mm, x86RangeRequest(cpu, mm, pages, tlbGen), freedTables);
    },
    archTlbbatchFlush(cpu, cpus) {
      cpu.count('tlb_flush_calls');
      const req: FlushRequest = { kind: 'flush-all', mm: -1, tlbGen: TLB_GENERATION_INVALID };
      if (cpus.includes(cpu.id)) flushTlbFunc(cpu, req, true);
      // The RAR series: arch_tlbbatch_flush -> rar_full_flush(&batch->cpumask): the whole batch mask, lazy CPUs included.
      rarFlush(cpu, cpus.filter((x) => x !== cpu.id), { via: 'rar', kind: 'all-nonglobals', mm: -1, pages: [] });
    },
    archTlbbatchAddPending: () => {},
    archFlushTlbBatchedPending: (cpu, mm) => flushTlbMm(cpu, mm),
    flushTlbMulti: ipiRound(c.ipiFanout, c.ipiGroup),
    resetGlobalAsidSpace(cpu) {
      // The series' reset_global_asid_space: flush_tlb_all() (NR_TLB_REMOTE_FLUSH, then rar_flush_all:
      // rar_full_flush(cpu_online_mask), one RAR to every other CPU, and invpcid_flush_all() here).
      cpu.count('nr_tlb_remote_flush');
      rarFlush(cpu, allOtherCpus(cpu), { via: 'rar', kind: 'all-nonglobals', mm: -1, pages: [] });
    },
  };
  return t;
}
