/**
 * TLB shootdown, after Linux arch/x86/mm/tlb.c: who gets flushed, how, and
 * what is counted.
 *
 * Invariants:
 * - The initiator flushes its own TLB directly (it owns it) and asks every
 *   other CPU in the target mask by IPI; it returns only when every target
 *   has acknowledged (smp_call_function_many with wait=1). Callers that free
 *   frames rely on that: after `flushTlbMmRange`/`archTlbbatchFlush` return, no
 *   CPU holds a translation covered by the flush.
 * - Every flushTlbMmRange request bumps mm->tlb_gen first and carries the new
 *   value; every deferred reclaim flush bumps it too (arch_tlbbatch_add_pending),
 *   and the batched-unmap flush (archTlbbatchFlush) carries
 *   TLB_GENERATION_INVALID. flushTlbFunc compares them with the generation
 *   the CPU's TLB has caught up to (see there).
 * - Which CPUs a flush_tlb_mm_range reaches (native_flush_tlb_multi, Linux
 *   6.x arch/x86/mm/tlb.c): with freed_tables every CPU of mm_cpumask but the
 *   initiator (on_each_cpu_mask), lazy ones included; without, those that
 *   should_flush_tlb picks (not lazy, and running the mm or being trimmed).
 *   freed_tables is what the caller passes, as in the kernel: flush_tlb_mm()
 *   true, flush_tlb_range() true since 3ef938c35035 (CVE-2025-22045; false
 *   with `--no-flush-range-freed-tables`), flush_tlb_page() false, mmu_gather's
 *   tlb_flush() tlb->freed_tables (arch/x86/include/asm/tlbflush.h, tlb.h).
 * - A lazy CPU that a flush reaches does not flush: flush_tlb_func switches it
 *   to init_mm (switch_mm_irqs_off(NULL, &init_mm, NULL)); it stays in
 *   mm_cpumask (6.x clears no bit on a switch) until the next flush that
 *   reaches it finds another mm loaded and clears its bit (TLB_REMOTE_WRONG_CPU).
 * - `--protocol invlpgb` (Linux 6.15): an mm is flushed by IPIs until it has
 *   a global ASID (consider_global_asid, sampled every
 *   GLOBAL_ASID_CHECK_EVERY IPI-path flushes), then by INVLPGB of that ASID
 *   (broadcastTlbFlush), plus one IPI round to the whole mm_cpumask per
 *   broadcast while some CPU still runs the mm under a dynamic ASID
 *   (finishAsidTransition). The global ASID is written once per run
 *   (MM_GLOBAL_ASID, after MM_ASID_TRANSITION), never revoked.
 * - `--protocol rar` (Rik van Riel's "[RFC PATCH v3 7/7] x86/mm: userspace &
 *   pageout flushing using Intel RAR", 2025-06-05, never merged): the same
 *   global ASIDs; an mm with one is flushed by one RAR to its unfiltered
 *   mm_cpumask (lazy CPUs included) unless should_trim_cpumask is due; other
 *   mms by IPIs (rarFlushTlbMmRange). A lazy CPU an IPI reaches clears its
 *   mm_cpumask bit (the series' flush_tlb_func), and a CPU new to the mask
 *   flushes the global ASID at switch_mm (tlbState.ts).
 * - Counters follow /proc/vmstat where the kernel has one: the initiator counts
 *   nr_tlb_remote_flush once per native_flush_tlb_multi call (every flush whose
 *   mm_cpumask, or batch mask, names another CPU, even if should_flush_tlb then
 *   filters out every one) and nr_tlb_local_flush_{one,all} for its own TLB;
 *   each target counts nr_tlb_remote_flush_received (and what it did:
 *   remote_flush_pages, remote_flush_full). tlbsim's own: `remote_flush_rounds`
 *   (calls that had targets), `ipis_sent` (messages: one per target per round);
 *   each round's target count and page count go to the sender's
 *   ipiRoundTargets/ipiRoundPages for the cost model.
 */
import type { Cpu } from '../engine/cpu.js';
import { IpiTimeoutError, type FlushRequest, type IpiMessage } from '../engine/ipi.js';
import { HW_SLOT_PAGES, type HwRequest, type HwVia } from '../engine/hwInval.js';
import { archTlbbatchFlush as arm64ArchTlbbatchFlush, arm64FlushTlbMmRange } from './arm64Tlbi.js';
import { cpumaskToList, incMmTlbGen, mmAssignGlobalAsid, mmClearAsidTransition, mmCpumask, mmCpumaskClear, mmGlobalAsid, mmGlobalAsidSample, mmInAsidTransition, mmTlbGen, nextTrimCpumaskWord } from './mm.js';
import { globalAsidTag, isLazyCpu, loadedGlobalAsidOf, loadedMmOf, TLB_NR_DYN_ASIDS } from './tlbState.js';
import { ABORT_IPI_TIMEOUT, G_LAST_GLOBAL_ASID, G_LUF_FLUSHED, G_LUF_GEN, G_SCHED_STEPS } from '../engine/state/globalBlock.js';

export { TLB_SINGLE_PAGE_FLUSH_CEILING } from '../config/config.js';

/** `ipiRoundPages` entry of a round that asked for a full flush. */
export const ROUND_FULL_FLUSH = -1;

/** `ipiRoundPages` entry of a round that asked for a context reset (`--protocol context-reset`). */
export const ROUND_CONTEXT_RESET = -2;

/**
 * Linux 6.15 gives an mm a global ASID, and flushes it with INVLPGB, when it
 * is active on more than 3 CPUs (consider_global_asid:
 * mm_active_cpus_exceeds(mm, 3), arch/x86/mm/tlb.c).
 */
export const GLOBAL_ASID_ACTIVE_CPUS = 3;

/**
 * consider_global_asid() looks only "every once in a while": when
 * (current->pid & 0x1f) == (jiffies & 0x1f), about one IPI-path flush in 32.
 * tlbsim has neither pids nor jiffies and needs exact, replayable counts: it
 * checks on every 32nd IPI-path flush_tlb_mm_range of the mm.
 */
export const GLOBAL_ASID_CHECK_EVERY = 32;

/** TLB_NR_DYN_ASIDS: the first global ASID after reset_global_asid_space (last_global_asid = TLB_NR_DYN_ASIDS). */
const FIRST_GLOBAL_ASID = TLB_NR_DYN_ASIDS;

/** Mark for "flush the whole mm" in a range request. */
export const TLB_FLUSH_ALL = null;

/** new_tlb_gen of a request that carries none (the batched-unmap flush): TLB_GENERATION_INVALID. */
export const TLB_GENERATION_INVALID = 0;

/**
 * flush_tlb_func() (arch/x86/mm/tlb.c), on this CPU's own TLB: the target
 * side of a shootdown (`local` false) and the initiator's own part (`local`
 * true). Three generations decide what it does:
 * - mm_tlb_gen, the mm's latest (bumped before every flush request);
 * - local_tlb_gen, what this CPU's TLB has caught up to;
 * - the request's new_tlb_gen.
 * Already covered (new_tlb_gen <= local_tlb_gen, or local_tlb_gen ==
 * mm_tlb_gen): nothing to do (`tlb_flushes_elided`). A range request that is
 * exactly the next generation and the latest: flush its pages. Anything else
 * (a full request, or a range request while this CPU is further behind): a
 * full flush, which catches up on every generation at once
 * (`tlb_partial_to_full` when a range was asked for). Either way local_tlb_gen
 * becomes mm_tlb_gen. Only the initiator counts nr_tlb_local_flush_{one,all}.
 * Example of two racing flushes: CPU 2 has both a range flush for generation
 * 5 (from CPU 1) and a full one for 6 (from CPU 0) queued, local_tlb_gen 4.
 * It handles 5 first: 5 is the next generation but not the latest (6), so it
 * does a full flush and catches up to 6; then 6 <= 6: elided.
 */
export function flushTlbFunc(cpu: Cpu, req: FlushRequest, local: boolean): void {
  const ts = cpu.tlbState;
  const mm = ts.loadedMm;
  if (req.mm >= 0 && req.mm !== mm) {
    // A flush for an mm this CPU no longer runs (it switched away after the
    // initiator looked, or the initiator is trimming the mask): leave the
    // mm's cpumask. Its entries of that mm, under another ASID, are caught at
    // the switch back by tlb_gen (tlbState.ts).
    if (!local) {
      mmCpumaskClear(cpu.v.mm, cpu.config.cpus, req.mm, cpu.id);
      cpu.count('tlb_remote_wrong_cpu');
    }
    return;
  }
  // A kernel thread (no user mm, like kswapd) has nothing to flush.
  if (mm < 0) return;
  const rar = cpu.config.protocol === 'rar';
  if (!rar) {
    // `--protocol invlpgb`: reload the ASID if the mm moved to a global one; a global ASID is kept up to date by INVLPGB.
    if (ts.needsGlobalAsid()) ts.reloadGlobalAsid();
    if (ts.loadedGlobal) return;
  }
  // `--page-walk-cache`: INVLPG and a CR3 write both drop the paging-structure caches of the current PCID.
  cpu.pwc?.drop(mm);
  if (cpu.isLazy()) {
    // The RAR series (v3 7/7) clears the lazy CPU's mm_cpumask bit here (cpumask_clear_cpu before switching to
    // init_mm): RAR goes to the unfiltered mask, so a lazy CPU must leave it to stop receiving them.
    if (rar && !local) mmCpumaskClear(cpu.v.mm, cpu.config.cpus, mm, cpu.id);
    // Lazy, and reached anyway (a freed_tables flush): flush_tlb_func does not
    // flush but switches to init_mm (switch_mm_irqs_off(NULL, &init_mm, NULL)):
    // the CPU stops using the mm's page tables (its paging-structure cache of
    // the mm's PCID is no longer walked). Its TLB entries of the mm stay under
    // their ASID, behind tlb_gen, and are flushed when it switches back
    // (choose_new_asid's need_flush). It stays in mm_cpumask until the next
    // flush that reaches it clears the bit (the branch above).
    cpu.count('lazy_tlb_flushes');
    ts.switchToInitMm();
    return;
  }
  // `--protocol rar` (the series' flush_tlb_func): the lazy check comes first, then the reload into a global ASID;
  // a global ASID is not skipped (only INVLPGB keeps it up to date everywhere): the IPI is processed, with
  // local_tlb_gen 0 (is_dyn_asid false: ctxs[] is not read or written), so it is a full flush but for generation 1.
  if (rar && ts.needsGlobalAsid()) ts.reloadGlobalAsid();
  const globalRar = rar && ts.loadedGlobal;
  if (req.kind === 'context-reset') {
    // PowerPC's VSID reset (seed 004): no page is flushed; the mm's old
    // entries die as zombies under the old context id.
    const mmGen = mmTlbGen(cpu.v.mm, cpu.config.cpus, mm);
    if (cpu.config.tlbGen && ts.loadedTlbGen() === mmGen) {
      cpu.count('tlb_flushes_elided');
      return;
    }
    if (cpu.trace) cpu.traceEvent({ k: 'flush', ts: cpu.traceNow(), reason: local ? 'TLB_LOCAL_MM_SHOOTDOWN' : 'TLB_REMOTE_SHOOTDOWN', full: true, pages: 0, mm });
    ts.resetContext(mm, mmGen);
    return;
  }
  // `--no-tlb-gen` (the kernel before 4.14): every request is done as asked.
  let pagesOnly = req.kind === 'flush-pages';
  if (cpu.config.tlbGen) {
    const localGen = globalRar ? 0 : ts.loadedTlbGen();
    const mmGen = req.tlbGen !== TLB_GENERATION_INVALID && req.tlbGen <= localGen ? localGen : mmTlbGen(cpu.v.mm, cpu.config.cpus, mm);
    if (localGen === mmGen) {
      cpu.count('tlb_flushes_elided');
      return;
    }
    const exactlyNext = req.tlbGen === localGen + 1 && req.tlbGen === mmGen;
    if (pagesOnly && !exactlyNext) cpu.count('tlb_partial_to_full');
    pagesOnly &&= exactlyNext;
    if (!globalRar) ts.setLoadedTlbGen(mmGen);
  }
  const asid = ts.loadedTag;
  let dropped = 0;
  if (cpu.trace) {
    const fullFlush = !(pagesOnly && req.kind === 'flush-pages');
    const reason = !local ? 'TLB_REMOTE_SHOOTDOWN' : fullFlush ? 'TLB_LOCAL_MM_SHOOTDOWN' : 'TLB_LOCAL_SHOOTDOWN';
    cpu.traceEvent({ k: 'flush', ts: cpu.traceNow(), reason, full: fullFlush, pages: req.kind === 'flush-pages' && !fullFlush ? req.pages.length : 0, mm });
  }
  if (pagesOnly && req.kind === 'flush-pages') {
    for (const p of req.pages) dropped += cpu.tlb.invalidatePage(p, asid, true);
    cpu.count(local ? 'nr_tlb_local_flush_one' : 'remote_flush_pages', req.pages.length);
  } else {
    dropped = cpu.tlb.flushAsid(asid, true);
    cpu.count(local ? 'nr_tlb_local_flush_all' : 'remote_flush_full');
  }
  cpu.count('tlb_entries_flushed', dropped);
}

/**
 * Send one IPI round to `targets` (never including the sender) and wait for
 * every acknowledgement (on_each_cpu_cond_mask / on_each_cpu_mask with
 * wait=1). The caller counted nr_tlb_remote_flush (native_flush_tlb_multi).
 * Turns a timeout into an aborted run naming the CPU.
 */
export function smpCallFunctionMany(cpu: Cpu, targets: readonly number[], req: FlushRequest): void {
  if (targets.length === 0) return;
  cpu.count('remote_flush_rounds');
  const fanout = cpu.config.ipiFanout;
  const groups = fanout === 'tree' ? multicastGroups(targets, cpu.config.ipiGroup) : null;
  // Serial: one message per target. Tree: one per group from here; each group's first target sends the rest (counted there).
  // Cluster: one message (interrupt) per target, but one ICR write per x2APIC cluster reaches all of a cluster's targets.
  cpu.count('ipis_sent', groups ? groups.length : targets.length);
  const clusters = fanout === 'cluster' ? x2apicClusters(targets) : 0;
  cpu.count('apic_icr_writes', groups ? groups.length : fanout === 'cluster' ? clusters : targets.length);
  cpu.ipiRoundTargets.push(targets.length);
  // The cost model prices a cluster round as sends to `clusters` destinations whose members all take the interrupt at once.
  cpu.ipiRoundGroups.push(groups ? groups.length : clusters);
  cpu.ipiRoundMaxGroup.push(groups ? Math.max(...groups.map((g) => g.length)) : clusters > 0 ? 1 : 0);
  cpu.ipiRoundPages.push(req.kind === 'flush-pages' ? req.pages.length : req.kind === 'context-reset' ? ROUND_CONTEXT_RESET : ROUND_FULL_FLUSH);
  const full = req.kind === 'flush-all';
  const pages = req.kind === 'flush-pages' ? req.pages.length : 0;
  const t0 = cpu.traceNow();
  if (cpu.trace) cpu.traceEvent({ k: 'flush', ts: t0, reason: 'TLB_REMOTE_SEND_IPI', full, pages, mm: req.mm });
  try {
    const tree = groups ? { groups, writeRound: (m: IpiMessage) => cpu.hw.writeRound(m) } : undefined;
    cpu.ipiRoundUs.push(cpu.ipi.sendAndWait(targets, req, cpu, cpu.config.ipiTimeoutMs, tree));
    if (cpu.trace) cpu.traceEvent({ k: 'ipi_send', ts: t0, dur: cpu.traceNow() - t0, round: cpu.ipi.lastRound, targets: [...targets], full, pages });
  } catch (e) {
    if (e instanceof IpiTimeoutError) {
      cpu.timeoutMessage = e.message;
      cpu.abortRun(ABORT_IPI_TIMEOUT, e.missing[0]);
    }
    throw e;
  }
}

/**
 * CPUs per x2APIC cluster: in x2APIC cluster mode a CPU's logical APIC ID is
 * (APIC ID >> 4) << 16 | 1 << (APIC ID & 0xf) (arch/x86/kernel/apic/
 * x2apic_cluster.c: x2apic_prepare_cpu / init_x2apic_ldr), so 16 CPUs share a
 * cluster and one ICR write can name any subset of them. The engine takes
 * APIC ID = CPU id.
 */
export const X2APIC_CLUSTER_SIZE = 16;

/**
 * `--ipi-fanout cluster`: how many ICR writes __x2apic_send_IPI_mask()
 * makes for `targets`: one per cluster that holds a target (it ORs the
 * logical IDs of the mask's CPUs in a cluster into one destination).
 */
export function x2apicClusters(targets: readonly number[]): number {
  return new Set(targets.map((t) => Math.floor(t / X2APIC_CLUSTER_SIZE))).size;
}

/**
 * `--ipi-fanout tree`: the round's targets grouped by `group` consecutive CPU
 * ids (CPU c in group floor(c / group), the NUMA-aware grouping of
 * Barrelfish's multicast), each group's lowest target first (it gets the
 * message and forwards it to the others).
 */
export function multicastGroups(targets: readonly number[], group: number): number[][] {
  const byGroup = new Map<number, number[]>();
  for (const t of [...targets].sort((a, b) => a - b)) {
    const g = Math.floor(t / group);
    const list = byGroup.get(g);
    if (list) list.push(t);
    else byGroup.set(g, [t]);
  }
  return [...byGroup.values()];
}

/**
 * flush_tlb_mm_range(): flush `pages` of `mm` (or all of it, TLB_FLUSH_ALL).
 * Ranges longer than `--ceiling` (tlb_single_page_flush_ceiling) become full
 * flushes. The initiator counts its own part as the kernel does: the range's
 * pages in nr_tlb_local_flush_one, or 1 in nr_tlb_local_flush_all. If
 * mm_cpumask names another CPU, native_flush_tlb_multi: nr_tlb_remote_flush,
 * then IPIs to every other CPU of the mask if `freedTables` (lazy ones
 * included), else to those should_flush_tlb picks: running the mm and not
 * lazy, plus, when should_trim_cpumask says so (asked on every such flush, as
 * the kernel does), the ones that no longer run it (they leave the mask in
 * flushTlbFunc). `freedTables` is what the kernel caller passes (see the
 * header): use flushTlbMm / flushTlbRange / flushTlbPage where the kernel
 * calls flush_tlb_mm / flush_tlb_range / flush_tlb_page.
 */
export function flushTlbMmRange(cpu: Cpu, mm: number, pages: readonly number[] | typeof TLB_FLUSH_ALL, freedTables = false): void {
  cpu.count('tlb_flush_calls');
  const c = cpu.config;
  const tlbGen = incMmTlbGen(cpu.v.mm, c.cpus, mm);
  if (c.arch === 'arm64') {
    // arm64: broadcast TLBIs (every CPU, no IPI), then this CPU's DSB.
    arm64FlushTlbMmRange(cpu, mm, pages);
    return;
  }
  const full = pages === TLB_FLUSH_ALL || pages.length > c.tlbSinglePageFlushCeiling;
  // `--protocol context-reset`: above the cutoff, a new context instead of a page-by-page flush (seed 004).
  const reset = c.protocol === 'context-reset' && (pages === TLB_FLUSH_ALL || pages.length > c.contextResetCutoff);
  const req: FlushRequest = reset
    ? { kind: 'context-reset', mm, tlbGen }
    : full
      ? { kind: 'flush-all', mm, tlbGen }
      : { kind: 'flush-pages', mm, tlbGen, pages: [...(pages ?? [])] };
  if (c.protocol === 'rar') {
    rarFlushTlbMmRange(cpu, mm, req, freedTables);
    return;
  }
  if (c.protocol === 'invlpgb' && mmGlobalAsid(cpu.v.mm, c.cpus, mm) !== 0) {
    // mm_global_asid(mm): broadcast_tlb_flush(). No flush_tlb_func here: the INVLPGB covers this CPU too.
    broadcastTlbFlush(cpu, mm, req);
    return;
  }
  if (cpu.loadedMm === mm) flushTlbFunc(cpu, req, true);
  const others = mmCpumask(cpu.v.mm, c.cpus, mm).filter((x) => x !== cpu.id);
  if (others.length === 0) return;
  const trim = shouldTrimCpumask(cpu, mm);
  const ctl = cpu.v.cpuCtl;
  // freed_tables: on_each_cpu_mask, lazy CPUs too (native_flush_tlb_multi), unless `--no-lazy-flush-on-table-free` (an ablation: no release did that).
  // `--no-lazy-tlb-skip` (up to 4.19, before 145f573b89a6): lazy CPUs get every flush (they switch to init_mm in flushTlbFunc).
  const lazyToo = (freedTables && c.lazyFlushOnTableFree) || !c.lazyTlbSkip;
  const targets = freedTables && c.lazyFlushOnTableFree ? others : others.filter((x) => (lazyToo || !isLazyCpu(ctl, x)) && (trim || loadedMmOf(ctl, x) === mm));
  cpu.count('nr_tlb_remote_flush');
  smpCallFunctionMany(cpu, targets, req);
  if (c.protocol === 'invlpgb') considerGlobalAsid(cpu, mm);
}

/**
 * flush_tlb_mm_range() of the RAR series (Rik van Riel, "[RFC PATCH v3 7/7]
 * x86/mm: userspace & pageout flushing using Intel RAR", 2025-06-05,
 * <20250605163544.3852565-8-riel@surriel.com>), `--protocol rar`:
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
 * Global ASIDs are the ones `--protocol invlpgb` uses (consider_global_asid,
 * use_global_asid, finish_asid_transition below; the series enables them for
 * X86_FEATURE_RAR too). Not modelled: the second RAR for the user PCID under
 * PTI (the engine has no PTI).
 */
function rarFlushTlbMmRange(cpu: Cpu, mm: number, req: FlushRequest, freedTables: boolean): void {
  const c = cpu.config;
  const trim = shouldTrimCpumask(cpu, mm);
  const global = mmGlobalAsid(cpu.v.mm, c.cpus, mm) !== 0;
  if (global && !trim) {
    // rar_tlb_flush(): remote CPUs by RAR (the global PCID), this one by flush_tlb_func if it is in the mask.
    const mask = mmCpumask(cpu.v.mm, c.cpus, mm);
    rarFlush(cpu, mask.filter((x) => x !== cpu.id), toHwRequest('rar', mm, req));
    if (mask.includes(cpu.id)) flushTlbFunc(cpu, req, true);
    finishAsidTransition(cpu, mm, req);
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
  smpCallFunctionMany(cpu, targets, req);
  considerGlobalAsid(cpu, mm);
}

/**
 * broadcast_tlb_flush() (Linux 6.15, `--protocol invlpgb`, the mm has a
 * global ASID): INVLPGB of the range (or the PCID) under the global ASID,
 * which every CPU's MMU applies, this one included (applied here directly:
 * the initiator counts no nr_tlb_local_flush_* for it); then
 * finish_asid_transition(); then TLBSYNC (the engine's broadcast already
 * waited for every application).
 */
function broadcastTlbFlush(cpu: Cpu, mm: number, req: FlushRequest): void {
  const hw = toHwRequest('invlpgb', mm, req);
  invlpgbBroadcast(cpu, hw);
  if (cpu.tlbState.loadedGlobal && cpu.loadedMm === mm) applyGlobalInvlpgb(cpu, hw);
  finishAsidTransition(cpu, mm, req);
}

/** An INVLPGB of `req.mm`'s global ASID on this CPU's own TLB (its PCID's entries and paging-structure cache). */
function applyGlobalInvlpgb(cpu: Cpu, req: HwRequest): number {
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
 * finish_asid_transition(): while the mm is in transition, if some CPU of
 * mm_cpumask runs it under a dynamic ASID (C_LOADED_MM without
 * LOADED_GLOBAL_ASID_BIT), one flush_tlb_multi to the whole mm_cpumask
 * (native_flush_tlb_multi does not filter while mm_in_asid_transition), whose
 * flush_tlb_func moves each such CPU to the global ASID; else the transition
 * is over.
 */
function finishAsidTransition(cpu: Cpu, mm: number, req: FlushRequest): void {
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
  smpCallFunctionMany(cpu, mask.filter((x) => x !== cpu.id), req);
}

/**
 * consider_global_asid(): on every GLOBAL_ASID_CHECK_EVERY-th IPI-path flush
 * of the mm (tlbsim's stand-in for the pid/jiffies sampling), give the mm a
 * global ASID if more than 3 CPUs run it (mm_active_cpus_exceeds).
 */
function considerGlobalAsid(cpu: Cpu, mm: number): void {
  if (mmGlobalAsidSample(cpu.v.mm, cpu.config.cpus, mm) % GLOBAL_ASID_CHECK_EVERY !== 0) return;
  if (mmActiveCpusExceed(cpu, mm, GLOBAL_ASID_ACTIVE_CPUS)) useGlobalAsid(cpu, mm);
}

/**
 * use_global_asid() + allocate_global_asid(): the next global ASID (they are
 * never freed in a run); the run's first allocation finds last_global_asid at
 * its boot value and resets the global ASID space first
 * (reset_global_asid_space: invlpgb_flush_all_nonglobals, one INVLPGB +
 * TLBSYNC). G_LAST_GLOBAL_ASID is -1 while that runs (global_asid_lock).
 */
function useGlobalAsid(cpu: Cpu, mm: number): void {
  const c = cpu.config;
  if (mmGlobalAsid(cpu.v.mm, c.cpus, mm) !== 0) return;
  const g = cpu.v.global;
  let asid = 0;
  for (;;) {
    const last = Atomics.load(g, G_LAST_GLOBAL_ASID);
    if (last === -1) {
      cpu.blockUntil(() => Atomics.load(g, G_LAST_GLOBAL_ASID) !== -1);
      continue;
    }
    if (last === 0) {
      if (Atomics.compareExchange(g, G_LAST_GLOBAL_ASID, 0, -1) !== 0) continue;
      if (c.protocol === 'rar') {
        // The RAR series' reset_global_asid_space: flush_tlb_all() (NR_TLB_REMOTE_FLUSH, then rar_flush_all:
        // rar_full_flush(cpu_online_mask), one RAR to every other CPU, and invpcid_flush_all() here).
        cpu.count('nr_tlb_remote_flush');
        rarFlush(cpu, allOtherCpus(cpu), { via: 'rar', kind: 'all-nonglobals', mm: -1, pages: [] });
      } else invlpgbBroadcast(cpu, { via: 'invlpgb', kind: 'all-nonglobals', mm: -1, pages: [] });
      cpu.count('tlb_entries_flushed', cpu.tlb.flushAll(true));
      asid = FIRST_GLOBAL_ASID;
      Atomics.store(g, G_LAST_GLOBAL_ASID, asid);
      break;
    }
    if (Atomics.compareExchange(g, G_LAST_GLOBAL_ASID, last, last + 1) === last) {
      asid = last + 1;
      break;
    }
  }
  if (mmAssignGlobalAsid(cpu.v.mm, c.cpus, mm, asid)) cpu.count('global_asids_assigned');
}

/**
 * flush_tlb_range() (arch/x86/include/asm/tlbflush.h): flush_tlb_mm_range with
 * freed_tables = true since 3ef938c35035 (`--no-flush-range-freed-tables`:
 * false, as from 016c4d92cd16 until that fix). mremap's move_ptes,
 * migrate_vma_collect_pmd and pmdp_collapse_flush call it.
 */
export function flushTlbRange(cpu: Cpu, mm: number, pages: readonly number[]): void {
  flushTlbMmRange(cpu, mm, pages, cpu.config.flushRangeFreedTables);
}

/**
 * flush_tlb_page(): one page, freed_tables = false (ptep_clear_flush in
 * try_to_unmap_one / try_to_migrate_one when the flush is not deferred).
 */
export function flushTlbPage(cpu: Cpu, mm: number, page: number): void {
  flushTlbMmRange(cpu, mm, [page], false);
}

/** The queue form of a flush_tlb_mm_range request (a context reset or a long range flushes the whole mm). */
function toHwRequest(via: HwVia, mm: number, req: FlushRequest): HwRequest {
  if (req.kind === 'flush-pages' && req.pages.length <= HW_SLOT_PAGES) return { via, kind: 'mm-pages', mm, pages: req.pages };
  return { via, kind: 'mm-all', mm, pages: [] };
}

/**
 * mm_active_cpus_exceeds(): more than `threshold` CPUs of mm_cpumask run the
 * mm and are not lazy (the initiator included, as in the kernel).
 */
export function mmActiveCpusExceed(cpu: Cpu, mm: number, threshold: number): boolean {
  const ctl = cpu.v.cpuCtl;
  let n = 0;
  for (const x of mmCpumask(cpu.v.mm, cpu.config.cpus, mm)) {
    if (loadedMmOf(ctl, x) === mm && !isLazyCpu(ctl, x) && ++n > threshold) return true;
  }
  return false;
}

/** Every CPU but the initiator: INVLPGB reaches them all, whatever mm_cpumask says. */
function allOtherCpus(cpu: Cpu): number[] {
  const out: number[] = [];
  for (let x = 0; x < cpu.config.cpus; x++) if (x !== cpu.id) out.push(x);
  return out;
}

/** Post a queue request and wait; a timeout aborts the run naming the CPU, as an IPI round's does. Returns host us. */
function postHw(cpu: Cpu, targets: readonly number[], req: HwRequest): number {
  try {
    // `--inject no-tlbsync`: INVLPGB/RAR without waiting for completion (the frames are freed while stale entries live).
    const wait = req.via === 'ipi' || cpu.config.inject !== 'no-tlbsync';
    return cpu.hw.postAndWait(targets, req, cpu, cpu.config.ipiTimeoutMs, wait);
  } catch (e) {
    if (e instanceof IpiTimeoutError) {
      cpu.timeoutMessage = e.message;
      cpu.abortRun(ABORT_IPI_TIMEOUT, e.missing[0]);
    }
    throw e;
  }
}

/**
 * INVLPGB + TLBSYNC: one broadcast (`invlpgb_sent`) that every other CPU's
 * MMU applies to its own TLB with no interrupt, then TLBSYNC
 * (`tlbsync_waits`): wait until every CPU applied it. No IPI is counted.
 */
export function invlpgbBroadcast(cpu: Cpu, req: HwRequest): void {
  cpu.count('invlpgb_sent');
  cpu.count('tlbsync_waits');
  const t0 = cpu.traceNow();
  const targets = allOtherCpus(cpu);
  const us = postHw(cpu, targets, req);
  cpu.hwRoundUs.push(us);
  if (cpu.trace) cpu.traceEvent({ k: 'hw_send', ts: t0, dur: cpu.traceNow() - t0, via: 'invlpgb', targets: targets.length, full: req.kind !== 'mm-pages', pages: req.pages.length });
}

/**
 * Intel RAR: one remote action to `targets` (a cpumask, like an IPI's), each
 * applied by the target's hardware with no interrupt; the initiator waits for
 * every completion.
 */
export function rarFlush(cpu: Cpu, targets: readonly number[], req: HwRequest): void {
  if (targets.length === 0) return;
  cpu.count('rar_sent');
  cpu.count('rar_targets', targets.length);
  const t0 = cpu.traceNow();
  const us = postHw(cpu, targets, req);
  cpu.hwRoundUs.push(us);
  if (cpu.trace) cpu.traceEvent({ k: 'hw_send', ts: t0, dur: cpu.traceNow() - t0, via: 'rar', targets: targets.length, full: req.kind !== 'mm-pages', pages: req.pages.length });
}

/**
 * What a CPU's hardware does with a queue request from `sender` (INVLPGB or
 * RAR: no interrupt, no handler, only the invalidation), or, for a
 * queue-carried IPI, what its interrupt handler does (flush_tlb_func).
 * Runs on the target, against its own TLB.
 */
export function applyHwRequest(cpu: Cpu, req: HwRequest, sender: number): void {
  if (req.via === 'ipi-fwd' && req.msg) {
    // A multicast round forwarded by the group's first target: an interrupt like any IPI, acknowledged to the initiator.
    cpu.handleIpi(req.msg);
    cpu.ipi.ack(sender);
    return;
  }
  if (req.via === 'ipi') {
    cpu.count('nr_tlb_remote_flush_received');
    const t0 = cpu.traceNow();
    flushTlbFunc(cpu, { kind: 'flush-all', mm: req.mm, tlbGen: TLB_GENERATION_INVALID }, false);
    if (cpu.trace) cpu.traceEvent({ k: 'ipi_handle', ts: t0, dur: cpu.traceNow() - t0, sender, round: 0 });
    return;
  }
  cpu.count(req.via === 'invlpgb' ? 'invlpgb_applied' : 'rar_applied');
  const ts = cpu.tlbState;
  let dropped = 0;
  if (req.kind === 'all-nonglobals') {
    // Every entry of every PCID (the engine has no global entries).
    if (cpu.pwc) cpu.pwc.drop(cpu.pwc.mm);
    dropped = cpu.tlb.flushAll(true);
    cpu.count('hw_flush_full');
  } else {
    // INVLPGB and the RAR series' rar_tlb_flush name the mm's global ASID (kern_pcid(global_asid), the same PCID on
    // every CPU); an mm without one is never flushed by INVLPGB, and by RAR only under the PCID this CPU gave it.
    const global = mmGlobalAsid(cpu.v.mm, cpu.config.cpus, req.mm);
    const tag = global !== 0 ? globalAsidTag(global) : req.via === 'invlpgb' ? -1 : ts.tagOf(req.mm);
    if (tag >= 0) {
      cpu.pwc?.drop(req.mm);
      if (req.kind === 'mm-all') {
        dropped = cpu.tlb.flushAsid(tag, true);
        cpu.count('hw_flush_full');
      } else {
        for (const p of req.pages) dropped += cpu.tlb.invalidatePage(p, tag, true);
        cpu.count('hw_flush_pages', req.pages.length);
      }
    }
  }
  cpu.count('tlb_entries_flushed', dropped);
  if (cpu.trace) cpu.traceEvent({ k: 'hw_apply', ts: cpu.traceNow(), via: req.via, sender, full: req.kind !== 'mm-pages', pages: req.pages.length });
}

/**
 * `--protocol luf`, on the CPU allocating a frame whose flush was deferred
 * with generation `gen`: unless a flush already covers it, flush every CPU
 * that may cache a deferred translation (the LUF cpumask) and this one, as
 * an IPI round carried by the queue (the allocating CPU may have no IPI
 * ports), then record every generation handed out before it as flushed.
 */
export function lufFlushBeforeReuse(cpu: Cpu, gen: number): void {
  const g = cpu.v.global;
  if (Atomics.load(g, G_LUF_FLUSHED) >= gen) {
    cpu.count('luf_flushes_avoided');
    return;
  }
  const upTo = Atomics.load(g, G_LUF_GEN);
  cpu.count('luf_flushes_at_alloc');
  cpu.count('tlb_flush_calls');
  const req: FlushRequest = { kind: 'flush-all', mm: -1, tlbGen: TLB_GENERATION_INVALID };
  flushTlbFunc(cpu, req, true);
  const targets = cpumaskToList(cpu.v.lufMask).filter((x) => x !== cpu.id);
  if (targets.length > 0) {
    cpu.count('nr_tlb_remote_flush');
    cpu.count('remote_flush_rounds');
    cpu.count('ipis_sent', targets.length);
    cpu.ipiRoundTargets.push(targets.length);
    cpu.ipiRoundPages.push(ROUND_FULL_FLUSH);
    const t0 = cpu.traceNow();
    if (cpu.trace) cpu.traceEvent({ k: 'flush', ts: t0, reason: 'TLB_REMOTE_SEND_IPI', full: true, pages: 0, mm: -1 });
    cpu.ipiRoundUs.push(postHw(cpu, targets, { via: 'ipi', kind: 'all-nonglobals', mm: -1, pages: [] }));
  }
  // CAS-max: generations up to `upTo` are flushed everywhere.
  for (;;) {
    const cur = Atomics.load(g, G_LUF_FLUSHED);
    if (cur >= upTo || Atomics.compareExchange(g, G_LUF_FLUSHED, cur, upTo) === cur) break;
  }
}

/**
 * should_trim_cpumask(): true at most once per `--cpumask-trim-ms` per mm
 * (the kernel: once a second, jiffies + HZ). The clock is host milliseconds
 * in free mode and scheduler steps in seeded mode (replayable), compared
 * with wrap-around like time_after(). The first flush of a run arms it, as
 * fork does (init_new_context sets next_trim_cpumask = jiffies + HZ).
 */
export function shouldTrimCpumask(cpu: Cpu, mm: number): boolean {
  const interval = cpu.config.cpumaskTrimMs;
  if (interval === 0) return true;
  const now = cpu.config.sched === 'seeded' ? Atomics.load(cpu.v.global, G_SCHED_STEPS) : Date.now() | 0;
  const i = nextTrimCpumaskWord(cpu.config.cpus, mm);
  const next = Atomics.load(cpu.v.mm, i);
  if (next === 0) {
    Atomics.compareExchange(cpu.v.mm, i, 0, (now + interval) | 0 || 1);
    return false;
  }
  if (((next - now) | 0) >= 0) return false; // !time_after(now, next)
  return Atomics.compareExchange(cpu.v.mm, i, next, (now + interval) | 0 || 1) === next;
}

/**
 * flush_tlb_mm(): the whole mm, everywhere it may be cached; freed_tables =
 * true (flush_tlb_mm_range(mm, 0UL, TLB_FLUSH_ALL, 0UL, true)), so it reaches
 * lazy CPUs (arch_flush_tlb_batched_pending calls it).
 */
export function flushTlbMm(cpu: Cpu, mm: number): void {
  flushTlbMmRange(cpu, mm, TLB_FLUSH_ALL, true);
}

/**
 * arch_tlbbatch_flush(): the batched-unmap flush. A full flush (of every mm:
 * the batch may span several) on every CPU in the batch's cpumask.
 */
export function archTlbbatchFlush(cpu: Cpu, cpus: readonly number[], mm = -1, pages: readonly number[] = []): void {
  const protocol = cpu.config.protocol;
  if (protocol === 'context-reset' && mm >= 0) {
    // The batch's pages are flushed as one range of one mm: page by page up
    // to the cutoff, a context reset above it.
    flushTlbMmRange(cpu, mm, pages);
    return;
  }
  cpu.count('tlb_flush_calls');
  if (cpu.config.arch === 'arm64') {
    // arm64: the batch's TLBIs went out in arch_tlbbatch_add_pending; dsb(ish) completes them.
    arm64ArchTlbbatchFlush(cpu);
    return;
  }
  const req: FlushRequest = { kind: 'flush-all', mm: -1, tlbGen: TLB_GENERATION_INVALID };
  if (cpus.includes(cpu.id)) flushTlbFunc(cpu, req, true);
  if (protocol === 'invlpgb') {
    // arch_tlbbatch_flush with X86_FEATURE_INVLPGB: invlpgb_flush_all_nonglobals() + TLBSYNC, to every CPU.
    invlpgbBroadcast(cpu, { via: 'invlpgb', kind: 'all-nonglobals', mm: -1, pages: [] });
    return;
  }
  if (protocol === 'rar') {
    // The RAR series (Rik van Riel, "[RFC PATCH v3 7/7] x86/mm: userspace & pageout flushing using Intel RAR",
    // 2025-06-05): arch_tlbbatch_flush -> rar_full_flush(&batch->cpumask): the whole batch mask, lazy CPUs included.
    rarFlush(cpu, cpus.filter((c) => c !== cpu.id), { via: 'rar', kind: 'all-nonglobals', mm: -1, pages: [] });
    return;
  }
  // info->mm is NULL: should_flush_tlb sends to every CPU of the batch's mask that is not lazy.
  const ctl = cpu.v.cpuCtl;
  // `--no-lazy-tlb-skip` (up to 4.19, before 145f573b89a6): native_flush_tlb_others sent to lazy CPUs too.
  const targets = cpus.filter((c) => c !== cpu.id && (!cpu.config.lazyTlbSkip || !isLazyCpu(ctl, c)));
  // cpumask_any_but(&batch->cpumask, cpu) < nr_cpu_ids: flush_tlb_multi, which counts NR_TLB_REMOTE_FLUSH even if every target is lazy.
  if (cpus.some((c) => c !== cpu.id)) cpu.count('nr_tlb_remote_flush');
  smpCallFunctionMany(cpu, targets, req);
}
