/**
 * Posting to the shared invalidation queue (src/engine/hwInval.ts) on behalf
 * of a transport: INVLPGB and RAR requests, and IPIs to CPUs without ports.
 * Invariant: the initiator has one request in flight and waits for it (unless
 * `--inject no-tlbsync` drops the wait of an INVLPGB/RAR); a timeout aborts
 * the run naming the CPU that never applied it, as an IPI round's does.
 */
import type { FlushHost } from './types.js';
import { IpiTimeoutError, type FlushRequest } from '../../engine/ipi.js';
import { HW_SLOT_PAGES, type HwRequest, type HwVia } from '../../engine/hwInval.js';
import { ABORT_IPI_TIMEOUT } from '../../engine/state/globalBlock.js';

/** Every CPU but the initiator: INVLPGB reaches them all, whatever mm_cpumask says. */
export function allOtherCpus(cpu: FlushHost): number[] {
  const out: number[] = [];
  for (let x = 0; x < cpu.config.cpus; x++) if (x !== cpu.id) out.push(x);
  return out;
}

/** Post a queue request and wait; a timeout aborts the run naming the CPU, as an IPI round's does. Returns host us. */
export function postHw(cpu: FlushHost, targets: readonly number[], req: HwRequest): number {
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

/** The queue form of a flush_tlb_mm_range request (a context reset or a long range flushes the whole mm). */
export function toHwRequest(via: HwVia, mm: number, req: FlushRequest): HwRequest {
  if (req.kind === 'flush-pages' && req.pages.length <= HW_SLOT_PAGES) return { via, kind: 'mm-pages', mm, pages: req.pages };
  return { via, kind: 'mm-all', mm, pages: [] };
}
