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
 * - Counters follow /proc/vmstat: the initiator counts nr_tlb_remote_flush once
 *   per round that has remote targets and nr_tlb_local_flush_{one,all} for its
 *   own TLB; each target counts nr_tlb_remote_flush_received (and what it did:
 *   remote_flush_pages, remote_flush_full). `ipis_sent` counts messages (one
 *   per target per round); each round's target count and page count go to the
 *   sender's ipiRoundTargets/ipiRoundPages for the cost model.
 */
import type { Cpu } from './cpu.js';
import { ABORT_IPI_TIMEOUT, G_SCHED_STEPS, MM_NEXT_TRIM_CPUMASK } from './layout.js';
import { IpiTimeoutError, type FlushRequest, type IpiMessage } from './ipi.js';
import { incMmTlbGen, mmBase, mmCpumask, mmCpumaskClear, mmTlbGen } from './mm.js';
import { isLazyCpu, loadedMmOf } from './tlbState.js';

export { TLB_SINGLE_PAGE_FLUSH_CEILING } from './config.js';

/** `ipiRoundPages` entry of a round that asked for a full flush. */
export const ROUND_FULL_FLUSH = -1;

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
  if (cpu.isLazy()) {
    // Lazy, and flushed anyway (page tables were freed): the kernel switches
    // to init_mm here, dropping the mm's translations; the switch back finds
    // its TLB caught up to this generation.
    cpu.count('lazy_tlb_flushes');
    if (cpu.trace) cpu.traceEvent({ k: 'flush', ts: cpu.traceNow(), reason: 'TLB_REMOTE_SHOOTDOWN', full: true, pages: 0, mm });
    cpu.count('tlb_entries_flushed', cpu.tlb.flushAsid(ts.loadedTag, true));
    ts.setLoadedTlbGen(mmTlbGen(cpu.v.mm, cpu.config.cpus, mm));
    return;
  }
  // `--no-tlb-gen` (the kernel before 4.14): every request is done as asked.
  let pagesOnly = req.kind === 'flush-pages';
  if (cpu.config.tlbGen) {
    const localGen = ts.loadedTlbGen();
    const mmGen = req.tlbGen !== TLB_GENERATION_INVALID && req.tlbGen <= localGen ? localGen : mmTlbGen(cpu.v.mm, cpu.config.cpus, mm);
    if (localGen === mmGen) {
      cpu.count('tlb_flushes_elided');
      return;
    }
    const exactlyNext = req.tlbGen === localGen + 1 && req.tlbGen === mmGen;
    if (pagesOnly && !exactlyNext) cpu.count('tlb_partial_to_full');
    pagesOnly &&= exactlyNext;
    ts.setLoadedTlbGen(mmGen);
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
 * every acknowledgement. Turns a timeout into an aborted run naming the CPU.
 */
export function smpCallFunctionMany(cpu: Cpu, targets: readonly number[], req: FlushRequest): void {
  if (targets.length === 0) return;
  cpu.count('nr_tlb_remote_flush');
  cpu.count('ipis_sent', targets.length);
  cpu.ipiRoundTargets.push(targets.length);
  cpu.ipiRoundPages.push(req.kind === 'flush-pages' ? req.pages.length : ROUND_FULL_FLUSH);
  const full = req.kind === 'flush-all';
  const pages = req.kind === 'flush-pages' ? req.pages.length : 0;
  const t0 = cpu.traceNow();
  if (cpu.trace) cpu.traceEvent({ k: 'flush', ts: t0, reason: 'TLB_REMOTE_SEND_IPI', full, pages, mm: req.mm });
  try {
    cpu.ipiRoundUs.push(cpu.ipi.sendAndWait(targets, req, cpu, cpu.config.ipiTimeoutMs));
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
 * flush_tlb_mm_range(): flush `pages` of `mm` (or all of it, TLB_FLUSH_ALL).
 * Ranges longer than `--ceiling` (tlb_single_page_flush_ceiling) become full
 * flushes. The initiator counts its own part as the kernel does: the range's
 * pages in nr_tlb_local_flush_one, or 1 in nr_tlb_local_flush_all. The IPIs go
 * to the CPUs of mm_cpumask that should_flush_tlb picks: every one if page
 * tables were freed (native_flush_tlb_multi), else those running the mm and
 * not lazy, plus, when should_trim_cpumask says so, the ones that no longer
 * run it (they leave the mask in flushTlbFunc).
 */
export function flushTlbMmRange(cpu: Cpu, mm: number, pages: readonly number[] | typeof TLB_FLUSH_ALL, freedTables = false): void {
  cpu.count('tlb_flush_calls');
  const tlbGen = incMmTlbGen(cpu.v.mm, cpu.config.cpus, mm);
  const req: FlushRequest =
    pages === TLB_FLUSH_ALL || pages.length > cpu.config.tlbSinglePageFlushCeiling
      ? { kind: 'flush-all', mm, tlbGen }
      : { kind: 'flush-pages', mm, tlbGen, pages: [...pages] };
  if (cpu.loadedMm === mm) flushTlbFunc(cpu, req, true);
  const others = mmCpumask(cpu.v.mm, cpu.config.cpus, mm).filter((c) => c !== cpu.id);
  if (others.length === 0) return;
  const trim = !freedTables && shouldTrimCpumask(cpu, mm);
  const ctl = cpu.v.cpuCtl;
  const targets = freedTables ? others : others.filter((c) => !isLazyCpu(ctl, c) && (trim || loadedMmOf(ctl, c) === mm));
  smpCallFunctionMany(cpu, targets, req);
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
  const i = mmBase(cpu.config.cpus, mm) + MM_NEXT_TRIM_CPUMASK;
  const next = Atomics.load(cpu.v.mm, i);
  if (next === 0) {
    Atomics.compareExchange(cpu.v.mm, i, 0, (now + interval) | 0 || 1);
    return false;
  }
  if (((next - now) | 0) >= 0) return false; // !time_after(now, next)
  return Atomics.compareExchange(cpu.v.mm, i, next, (now + interval) | 0 || 1) === next;
}

/** flush_tlb_mm(): the whole mm, everywhere it may be cached. */
export function flushTlbMm(cpu: Cpu, mm: number): void {
  flushTlbMmRange(cpu, mm, TLB_FLUSH_ALL);
}

/**
 * arch_tlbbatch_flush(): the batched-unmap flush. A full flush (of every mm:
 * the batch may span several) on every CPU in the batch's cpumask.
 */
export function archTlbbatchFlush(cpu: Cpu, cpus: readonly number[]): void {
  cpu.count('tlb_flush_calls');
  const req: FlushRequest = { kind: 'flush-all', mm: -1, tlbGen: TLB_GENERATION_INVALID };
  if (cpus.includes(cpu.id)) flushTlbFunc(cpu, req, true);
  // info->mm is NULL: should_flush_tlb sends to every CPU of the batch's mask that is not lazy.
  const ctl = cpu.v.cpuCtl;
  smpCallFunctionMany(
    cpu,
    cpus.filter((c) => c !== cpu.id && !isLazyCpu(ctl, c)),
    req,
  );
}
