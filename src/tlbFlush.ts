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
 *   own TLB; each target counts nr_tlb_remote_flush_received. `ipis_sent` counts
 *   messages (one per target per round).
 */
import type { Cpu } from './cpu.js';
import { ABORT_IPI_TIMEOUT, C_IS_LAZY, CPU_CTL_WORDS } from './layout.js';
import { IpiTimeoutError, type FlushRequest, type IpiMessage } from './ipi.js';
import { incMmTlbGen, mmAsid, mmCpumask, mmTlbGen } from './mm.js';

export { TLB_SINGLE_PAGE_FLUSH_CEILING } from './config.js';

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
  const mm = cpu.loadedMm;
  // A kernel thread (no user mm, like kswapd) has nothing to flush; a request
  // for another mm cannot reach this CPU (one mm per machine today).
  if (mm < 0 || (req.mm >= 0 && req.mm !== mm)) return;
  if (cpu.isLazy()) {
    // Lazy, and flushed anyway (page tables were freed): the kernel switches
    // to init_mm here, dropping the mm's translations; the switch back finds
    // its TLB caught up to this generation.
    cpu.count('lazy_tlb_flushes');
    cpu.count('tlb_entries_flushed', cpu.tlb.flushAsid(mmAsid(mm)));
    cpu.setLocalTlbGen(mm, mmTlbGen(cpu.v.mm, cpu.config.cpus, mm));
    return;
  }
  // `--no-tlb-gen` (the kernel before 4.14): every request is done as asked.
  let pagesOnly = req.kind === 'flush-pages';
  if (cpu.config.tlbGen) {
    const localGen = cpu.localTlbGen(mm);
    const mmGen = req.tlbGen !== TLB_GENERATION_INVALID && req.tlbGen <= localGen ? localGen : mmTlbGen(cpu.v.mm, cpu.config.cpus, mm);
    if (localGen === mmGen) {
      cpu.count('tlb_flushes_elided');
      return;
    }
    const exactlyNext = req.tlbGen === localGen + 1 && req.tlbGen === mmGen;
    if (pagesOnly && !exactlyNext) cpu.count('tlb_partial_to_full');
    pagesOnly &&= exactlyNext;
    cpu.setLocalTlbGen(mm, mmGen);
  }
  const asid = mmAsid(mm);
  let dropped = 0;
  if (pagesOnly && req.kind === 'flush-pages') {
    for (const p of req.pages) dropped += cpu.tlb.invalidatePage(p, asid);
    if (local) cpu.count('nr_tlb_local_flush_one', req.pages.length);
  } else {
    dropped = cpu.tlb.flushAsid(asid);
    if (local) cpu.count('nr_tlb_local_flush_all');
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
  try {
    cpu.ipiRoundUs.push(cpu.ipi.sendAndWait(targets, req, cpu, cpu.config.ipiTimeoutMs));
  } catch (e) {
    if (e instanceof IpiTimeoutError) {
      cpu.timeoutMessage = e.message;
      cpu.abortRun(ABORT_IPI_TIMEOUT, e.missing[0]);
    }
    throw e;
  }
}

/**
 * flush_tlb_mm_range(): flush `pages` of `mm` (or all of it, TLB_FLUSH_ALL) on
 * every CPU in mm_cpumask that is not lazy (every one, if `freedTables`). Ranges longer than `--ceiling`
 * (tlb_single_page_flush_ceiling) become full flushes. The initiator counts
 * its own part as the kernel does: the range's pages in
 * nr_tlb_local_flush_one, or 1 in nr_tlb_local_flush_all.
 */
export function flushTlbMmRange(cpu: Cpu, mm: number, pages: readonly number[] | typeof TLB_FLUSH_ALL, freedTables = false): void {
  const tlbGen = incMmTlbGen(cpu.v.mm, cpu.config.cpus, mm);
  const req: FlushRequest =
    pages === TLB_FLUSH_ALL || pages.length > cpu.config.tlbSinglePageFlushCeiling
      ? { kind: 'flush-all', mm, tlbGen }
      : { kind: 'flush-pages', mm, tlbGen, pages: [...pages] };
  if (cpu.loadedMm === mm) flushTlbFunc(cpu, req, true);
  const targets = mmCpumask(cpu.v.mm, cpu.config.cpus, mm).filter((c) => c !== cpu.id && (freedTables || !isLazyCpu(cpu, c)));
  smpCallFunctionMany(cpu, targets, req);
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
  const req: FlushRequest = { kind: 'flush-all', mm: -1, tlbGen: TLB_GENERATION_INVALID };
  if (cpus.includes(cpu.id)) flushTlbFunc(cpu, req, true);
  smpCallFunctionMany(
    cpu,
    cpus.filter((c) => c !== cpu.id && !isLazyCpu(cpu, c)),
    req,
  );
}

/**
 * should_flush_tlb(): a CPU in lazy TLB mode gets no IPI (it catches up when
 * it switches back), unless page tables were freed (native_flush_tlb_multi
 * sends to every CPU in the mask then: a lazy CPU may still walk them
 * speculatively). Read after the tlb_gen bump, so a CPU leaving lazy mode
 * either is seen here or sees the new generation (Cpu.leaveLazyTlb).
 */
function isLazyCpu(cpu: Cpu, c: number): boolean {
  return Atomics.load(cpu.v.cpuCtl, c * CPU_CTL_WORDS + C_IS_LAZY) !== 0;
}
