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
 *   value, so a target could tell how far behind it is (no target reads it
 *   yet). The batched-unmap flush (archTlbbatchFlush) flushes every mm and
 *   carries tlbGen 0 without bumping.
 * - Counters follow /proc/vmstat: the initiator counts nr_tlb_remote_flush once
 *   per round that has remote targets and nr_tlb_local_flush_{one,all} for its
 *   own TLB; each target counts nr_tlb_remote_flush_received. `ipis_sent` counts
 *   messages (one per target per round).
 */
import type { Cpu } from './cpu.js';
import { ABORT_IPI_TIMEOUT } from './layout.js';
import { IpiTimeoutError, type FlushRequest, type IpiMessage } from './ipi.js';
import { incMmTlbGen, mmAsid, mmCpumask } from './mm.js';

export { TLB_SINGLE_PAGE_FLUSH_CEILING } from './config.js';

/** Mark for "flush the whole mm" in a range request. */
export const TLB_FLUSH_ALL = null;

/**
 * flush_tlb_func(): the target side of a shootdown, run on the CPU that
 * received the IPI, against its own TLB.
 */
export function flushTlbFunc(cpu: Cpu, m: IpiMessage): void {
  let dropped: number;
  if (m.kind === 'flush-all') {
    dropped = m.mm < 0 ? cpu.tlb.flushAll() : cpu.tlb.flushAsid(mmAsid(m.mm));
  } else {
    const asid = mmAsid(m.mm);
    dropped = 0;
    for (const p of m.pages) dropped += cpu.tlb.invalidatePage(p, asid);
  }
  cpu.count('tlb_entries_flushed', dropped);
}

/** Flush this CPU's own TLB for a request (the local half of a shootdown). */
function flushLocal(cpu: Cpu, req: FlushRequest): void {
  if (req.kind === 'flush-all') {
    cpu.count('nr_tlb_local_flush_all');
    cpu.count('tlb_entries_flushed', req.mm < 0 ? cpu.tlb.flushAll() : cpu.tlb.flushAsid(mmAsid(req.mm)));
  } else {
    const asid = mmAsid(req.mm);
    let dropped = 0;
    for (const p of req.pages) {
      cpu.count('nr_tlb_local_flush_one');
      dropped += cpu.tlb.invalidatePage(p, asid);
    }
    cpu.count('tlb_entries_flushed', dropped);
  }
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
 * every CPU in mm_cpumask. Ranges longer than `--ceiling`
 * (tlb_single_page_flush_ceiling) become full flushes. The initiator counts
 * its own part as the kernel does: the range's pages in
 * nr_tlb_local_flush_one, or 1 in nr_tlb_local_flush_all.
 */
export function flushTlbMmRange(cpu: Cpu, mm: number, pages: readonly number[] | typeof TLB_FLUSH_ALL): void {
  const tlbGen = incMmTlbGen(cpu.v.mm, cpu.config.cpus, mm);
  const req: FlushRequest =
    pages === TLB_FLUSH_ALL || pages.length > cpu.config.tlbSinglePageFlushCeiling
      ? { kind: 'flush-all', mm, tlbGen }
      : { kind: 'flush-pages', mm, tlbGen, pages: [...pages] };
  if (cpu.loadedMm === mm) flushLocal(cpu, req);
  const targets = mmCpumask(cpu.v.mm, cpu.config.cpus, mm).filter((c) => c !== cpu.id);
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
  const req: FlushRequest = { kind: 'flush-all', mm: -1, tlbGen: 0 };
  if (cpus.includes(cpu.id)) flushLocal(cpu, req);
  smpCallFunctionMany(
    cpu,
    cpus.filter((c) => c !== cpu.id),
    req,
  );
}
