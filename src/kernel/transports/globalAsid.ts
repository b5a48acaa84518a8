/**
 * Global ASIDs (Linux 6.15 arch/x86/mm/tlb.c: consider_global_asid,
 * use_global_asid, allocate_global_asid, finish_asid_transition), shared by
 * the transports that use them: INVLPGB (invlpgb.ts) and the RAR series
 * (rar.ts), which enables them for X86_FEATURE_RAR too.
 *
 * Invariants: a global ASID is written once per mm per run (MM_GLOBAL_ASID,
 * after MM_ASID_TRANSITION) and never revoked; G_LAST_GLOBAL_ASID is -1 only
 * while the first allocation resets the global ASID space (global_asid_lock),
 * and every other allocator waits for it.
 */
import type { FlushHost } from './types.js';
import type { FlushRequest } from '../../engine/ipi.js';
import { mmAssignGlobalAsid, mmClearAsidTransition, mmCpumask, mmGlobalAsid, mmGlobalAsidSample, mmInAsidTransition } from '../mm.js';
import { flushTlbFunc } from '../tlbFlush.js';
import { TLB_NR_DYN_ASIDS } from '../tlbState.js';
import { isLazyCpu, loadedGlobalAsidOf, loadedMmOf } from '../../engine/state/cpuControl.js';
import type { FlushTransport } from './types.js';
import { lastGlobalAsid, setLastGlobalAsid, swapLastGlobalAsid } from '../../engine/state/globalBlock.js';

/**
 * Linux 6.15 gives an mm a global ASID, and flushes it with INVLPGB, when it
 * is active on more than 3 CPUs (consider_global_asid:
 * mm_active_cpus_exceeds(mm, 3), arch/x86/mm/tlb.c).
 */
const GLOBAL_ASID_ACTIVE_CPUS = 3;

/**
 * consider_global_asid() looks only "every once in a while": when
 * (current->pid & 0x1f) == (jiffies & 0x1f), about one IPI-path flush in 32.
 * tlbsim has neither pids nor jiffies and needs exact, replayable counts: it
 * checks on every 32nd IPI-path flush_tlb_mm_range of the mm.
 */
const GLOBAL_ASID_CHECK_EVERY = 32;

/** TLB_NR_DYN_ASIDS: the first global ASID after reset_global_asid_space (last_global_asid = TLB_NR_DYN_ASIDS). */
const FIRST_GLOBAL_ASID = TLB_NR_DYN_ASIDS;

/**
 * finish_asid_transition(): while the mm is in transition, if some CPU of
 * mm_cpumask runs it under a dynamic ASID (C_LOADED_MM without
 * LOADED_GLOBAL_ASID_BIT), one flush_tlb_multi to the whole mm_cpumask
 * (native_flush_tlb_multi does not filter while mm_in_asid_transition), whose
 * flush_tlb_func moves each such CPU to the global ASID; else the transition
 * is over.
 */
export function finishAsidTransition(t: FlushTransport, cpu: FlushHost, mm: number, req: FlushRequest): void {
  const c = cpu.config;
  if (!mmInAsidTransition(cpu.v.mm, c.cpus, mm)) return;
  const ctl = cpu.v.cpuCtl;
  const mask = mmCpumask(cpu.v.mm, c.cpus, mm);
  const straggler = mask.some((x) => (x === cpu.id ? cpu.loadedMm === mm && !cpu.tlbState.loadedGlobal : loadedMmOf(ctl, x) === mm && !loadedGlobalAsidOf(ctl, x)));
  if (!straggler) {
    mmClearAsidTransition(cpu.v.mm, c.cpus, mm);
    return;
  }
  cpu.count('nr_tlb_remote_flush');
  if (mask.includes(cpu.id)) flushTlbFunc(cpu, req, true);
  t.flushTlbMulti(cpu, mask.filter((x) => x !== cpu.id), req);
}

/**
 * consider_global_asid(): on every GLOBAL_ASID_CHECK_EVERY-th IPI-path flush
 * of the mm (tlbsim's stand-in for the pid/jiffies sampling), give the mm a
 * global ASID if more than 3 CPUs run it (mm_active_cpus_exceeds).
 */
export function considerGlobalAsid(t: FlushTransport, cpu: FlushHost, mm: number): void {
  if (mmGlobalAsidSample(cpu.v.mm, cpu.config.cpus, mm) % GLOBAL_ASID_CHECK_EVERY !== 0) return;
  if (mmActiveCpusExceed(cpu, mm, GLOBAL_ASID_ACTIVE_CPUS)) useGlobalAsid(t, cpu, mm);
}

/**
 * use_global_asid() + allocate_global_asid(): the next global ASID (they are
 * never freed in a run); the run's first allocation finds last_global_asid at
 * its boot value and resets the global ASID space first
 * (reset_global_asid_space: the transport's full flush everywhere).
 * G_LAST_GLOBAL_ASID is -1 while that runs (global_asid_lock).
 */
function useGlobalAsid(t: FlushTransport, cpu: FlushHost, mm: number): void {
  const c = cpu.config;
  if (mmGlobalAsid(cpu.v.mm, c.cpus, mm) !== 0) return;
  const g = cpu.v.global;
  let asid = 0;
  for (;;) {
    const last = lastGlobalAsid(g);
    if (last === -1) {
      cpu.blockUntil(() => lastGlobalAsid(g) !== -1);
      continue;
    }
    if (last === 0) {
      if (!swapLastGlobalAsid(g, 0, -1)) continue;
      t.resetGlobalAsidSpace?.(cpu);
      cpu.count('tlb_entries_flushed', cpu.tlb.flushAll(true));
      asid = FIRST_GLOBAL_ASID;
      setLastGlobalAsid(g, asid);
      break;
    }
    if (swapLastGlobalAsid(g, last, last + 1)) {
      asid = last + 1;
      break;
    }
  }
  if (mmAssignGlobalAsid(cpu.v.mm, c.cpus, mm, asid)) cpu.count('global_asids_assigned');
}

/**
 * mm_active_cpus_exceeds(): more than `threshold` CPUs of mm_cpumask run the
 * mm and are not lazy (the initiator included, as in the kernel).
 */
function mmActiveCpusExceed(cpu: FlushHost, mm: number, threshold: number): boolean {
  const ctl = cpu.v.cpuCtl;
  let n = 0;
  for (const x of mmCpumask(cpu.v.mm, cpu.config.cpus, mm)) {
    if (loadedMmOf(ctl, x) === mm && !isLazyCpu(ctl, x) && ++n > threshold) return true;
  }
  return false;
}
