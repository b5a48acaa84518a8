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
 * - How a flush reaches the other CPUs is the CPU's FlushTransport, chosen
 *   once when the CPU is built (transports/: IPI with its fan-out, INVLPGB,
 *   RAR, context reset, arm64 TLBI), as Linux picks flush_tlb_multi at boot;
 *   the functions here do what every transport shares (the tlb_gen bump, the
 *   counting, flush_tlb_func on the target) and call it.
 * - `--transport invlpgb` (Linux 6.15): an mm is flushed by IPIs until it has
 *   a global ASID (consider_global_asid, sampled every
 *   GLOBAL_ASID_CHECK_EVERY IPI-path flushes), then by INVLPGB of that ASID
 *   (broadcastTlbFlush), plus one IPI round to the whole mm_cpumask per
 *   broadcast while some CPU still runs the mm under a dynamic ASID
 *   (finishAsidTransition). The global ASID is written once per run
 *   (MM_GLOBAL_ASID, after MM_ASID_TRANSITION), never revoked.
 * - `--transport rar` (Rik van Riel's "[RFC PATCH v3 7/7] x86/mm: userspace &
 *   pageout flushing using Intel RAR", 2025-06-05, never merged): the same
 *   global ASIDs; an mm with one is flushed by one RAR to its unfiltered
 *   mm_cpumask (lazy CPUs included) unless should_trim_cpumask is due; other
 *   mms by IPIs (rarFlushTlbMmRange, transports/rar.ts). A lazy CPU an IPI reaches clears its
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
import type { FlushHost } from './transports/types.js';
import { lufFlushed, lufGen, raiseLufFlushed, schedSteps } from '../engine/state/globalBlock.js';
import type { FlushRequest } from '../engine/ipi.js';
import { schedAgents, scheduleClock } from '../engine/forcedSchedule.js';
import type { HwRequest } from '../engine/hwInval.js';
import { cpumaskToList, incMmTlbGen, mmCpumaskClear, mmGlobalAsid, mmTlbGen, nextTrimCpumaskWord } from './mm.js';
import { globalAsidTag } from './tlbState.js';
import { postHw } from './transports/hwQueue.js';
import { casShared, loadShared, noteClockRead } from '../engine/footprint.js';

export { TLB_SINGLE_PAGE_FLUSH_CEILING } from '../config/params.js';

/** `ipiRoundPages` entry of a round that asked for a full flush. */
export const ROUND_FULL_FLUSH = -1;

/** `ipiRoundPages` entry of a round that asked for a context reset (`--transport context-reset`). */
export const ROUND_CONTEXT_RESET = -2;

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
export function flushTlbFunc(cpu: FlushHost, req: FlushRequest, local: boolean): void {
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
  // GlobalAsidMode `targeted` (the RAR series) or not (`broadcast`: INVLPGB; `none`: no global ASID ever).
  const rar = cpu.flushTransport.globalAsids === 'targeted';
  if (!rar) {
    // `--transport invlpgb`: reload the ASID if the mm moved to a global one; a global ASID is kept up to date by INVLPGB.
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
  // `--transport rar` (the series' flush_tlb_func): the lazy check comes first, then the reload into a global ASID;
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
 * flush_tlb_mm_range(): flush `pages` of `mm` (or all of it, TLB_FLUSH_ALL).
 * Counts tlb_flush_calls and bumps mm->tlb_gen (every transport), then hands
 * the request to the CPU's FlushTransport (transports/), which flushes this
 * CPU and reaches the others: on x86 ranges longer than `--ceiling`
 * (tlb_single_page_flush_ceiling) become full flushes (x86RangeRequest), the
 * initiator counts its own part as the kernel does (the range's pages in
 * nr_tlb_local_flush_one, or 1 in nr_tlb_local_flush_all), and if mm_cpumask
 * names another CPU, native_flush_tlb_multi (transports/ipi.ts).
 * `freedTables` is what the kernel caller passes (see the header): use
 * flushTlbMm / flushTlbRange / flushTlbPage where the kernel calls
 * flush_tlb_mm / flush_tlb_range / flush_tlb_page.
 */
export function flushTlbMmRange(cpu: FlushHost, mm: number, pages: readonly number[] | typeof TLB_FLUSH_ALL, freedTables = false): void {
  cpu.count('tlb_flush_calls');
  const tlbGen = incMmTlbGen(cpu.v.mm, cpu.config.cpus, mm);
  cpu.flushTransport.flushTlbMmRange(cpu, mm, pages, freedTables, tlbGen);
}

/**
 * The x86 flush_tlb_mm_range request for `pages` (TLB_FLUSH_ALL: null) of
 * `mm` at generation `tlbGen`: a full flush of the mm above `--ceiling`
 * pages (tlb_single_page_flush_ceiling), else those pages.
 */
export function x86RangeRequest(cpu: FlushHost, mm: number, pages: readonly number[] | typeof TLB_FLUSH_ALL, tlbGen: number): FlushRequest {
  const full = pages === TLB_FLUSH_ALL || pages.length > cpu.config.tlbSinglePageFlushCeiling;
  return full ? { kind: 'flush-all', mm, tlbGen } : { kind: 'flush-pages', mm, tlbGen, pages: [...pages] };
}

/**
 * flush_tlb_range() (arch/x86/include/asm/tlbflush.h): flush_tlb_mm_range with
 * freed_tables = true since 3ef938c35035 (`--no-flush-range-freed-tables`:
 * false, as from 016c4d92cd16 until that fix). mremap's move_ptes,
 * migrate_vma_collect_pmd and pmdp_collapse_flush call it.
 */
export function flushTlbRange(cpu: FlushHost, mm: number, pages: readonly number[]): void {
  flushTlbMmRange(cpu, mm, pages, cpu.config.flushRangeFreedTables);
}

/**
 * flush_tlb_page(): one page, freed_tables = false (ptep_clear_flush in
 * try_to_unmap_one / try_to_migrate_one when the flush is not deferred).
 */
export function flushTlbPage(cpu: FlushHost, mm: number, page: number): void {
  flushTlbMmRange(cpu, mm, [page], false);
}

/**
 * What a CPU's hardware does with a queue request from `sender` (INVLPGB or
 * RAR: no interrupt, no handler, only the invalidation), or, for a
 * queue-carried IPI, what its interrupt handler does (flush_tlb_func).
 * Runs on the target, against its own TLB.
 */
export function applyHwRequest(cpu: FlushHost, req: HwRequest, sender: number): void {
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
export function lufFlushBeforeReuse(cpu: FlushHost, gen: number): void {
  const g = cpu.v.global;
  if (lufFlushed(g) >= gen) {
    cpu.count('luf_flushes_avoided');
    return;
  }
  const upTo = lufGen(g);
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
  raiseLufFlushed(g, upTo);
}

/**
 * should_trim_cpumask(): true at most once per `--cpumask-trim-ms` per mm
 * (the kernel: once a second, jiffies + HZ). The clock is host milliseconds
 * in free mode and scheduler steps in seeded mode (replayable; in a
 * schedule-driven run the steps that did not end waiting, `scheduleClock`), compared
 * with wrap-around like time_after(). The first flush of a run arms it, as
 * fork does (init_new_context sets next_trim_cpumask = jiffies + HZ).
 */
export function shouldTrimCpumask(cpu: FlushHost, mm: number): boolean {
  const interval = cpu.config.cpumaskTrimMs;
  if (interval === 0) return true;
  // Seeded: the step count, or in a schedule-driven run (explore, --replay) the steps that did not end waiting.
  const now = cpu.config.sched === 'seeded' ? (scheduleClock(cpu.v.sched, schedAgents(cpu.config)) ?? schedSteps(cpu.v.global)) : Date.now() | 0;
  if (cpu.config.sched === 'seeded') noteClockRead(now); // explore's footprints and histories: seeded time is the step count
  const i = nextTrimCpumaskWord(cpu.config.cpus, mm);
  const next = loadShared(cpu.v.mm, i);
  if (next === 0) {
    casShared(cpu.v.mm, i, 0, (now + interval) | 0 || 1);
    return false;
  }
  if (((next - now) | 0) >= 0) return false; // !time_after(now, next)
  return casShared(cpu.v.mm, i, next, (now + interval) | 0 || 1) === next;
}

/**
 * flush_tlb_mm(): the whole mm, everywhere it may be cached; freed_tables =
 * true (flush_tlb_mm_range(mm, 0UL, TLB_FLUSH_ALL, 0UL, true)), so it reaches
 * lazy CPUs (arch_flush_tlb_batched_pending calls it).
 */
export function flushTlbMm(cpu: FlushHost, mm: number): void {
  flushTlbMmRange(cpu, mm, TLB_FLUSH_ALL, true);
}

/**
 * arch_tlbbatch_flush(): the batched-unmap flush: a full flush (of every mm:
 * the batch may span several) on every CPU in the batch's cpumask, by the
 * CPU's FlushTransport (the context-reset one flushes a single-mm batch as a
 * range of that mm instead).
 */
export function archTlbbatchFlush(cpu: FlushHost, cpus: readonly number[], mm = -1, pages: readonly number[] = []): void {
  cpu.flushTransport.archTlbbatchFlush(cpu, cpus, mm, pages);
}
