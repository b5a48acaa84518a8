/**
 * What of the machine's shared layout has no single owner module.
 *
 * Every block with one owner declares its words there, offsets private: the
 * global block, page state and the per-CPU control words in src/engine/state/,
 * the frame metadata and free list in src/engine/memory.ts, the race log in
 * src/engine/oracle.ts, the invalidation-queue slots in src/engine/hwInval.ts,
 * the schedule buffer in src/engine/forcedSchedule.ts, the TLB entry in
 * src/engine/tlb.ts, the mm_struct in src/kernel/mm.ts, the arm64 TLBI rings
 * in src/kernel/arm64Tlbi.ts; buffer sizes in src/engine/state/machineViews.ts.
 *
 * What stays here, and why:
 * - The per-CPU counters (COUNTER_NAMES, K, COUNTER_WORDS): every kernel path
 *   counts (the CounterName type is imported across src/kernel/), the MMU
 *   bumps its hit/miss counters by index on the hot path, and the result
 *   reads them; an owner module is the next step.
 * - Machine geometry every layer uses: page slots, words per page, frames per
 *   page, cpumask words (ackBits, hwPendBits, lufMask), PTRS_PER_PTE and the
 *   PTE-lock count (kernel/locks.ts, config.ts), the `lastStore` shape.
 * - SCHED_MAX_CPUS: config.ts checks it before any machine exists.
 *
 * Invariants (who may write what):
 * - PTE words: changed only with Atomics read-modify-writes (hardware A/D updates,
 *   reclaim, faults, mprotect all race on them for real).
 * - Frame data words: plain reads and writes (that is what memory is); frame
 *   generations change only with Atomics, by the CPU that frees the frame.
 * - Kernel locks (page lock, PTE lock, mmap_lock): Atomics CAS only; the
 *   unlocker rings every CPU that sleeps on the lock's tag (src/engine/state/cpuControl.ts).
 * - Per-CPU counters: plain writes by the owning CPU only; read by the
 *   coordinator after the run, when every worker is idle.
 * - The coordinator zeroes/initialises everything between runs, while no CPU runs.
 *
 * Offsets are in elements of the typed array named next to each block.
 */
import type { SimConfig } from '../config/config.js';

// ---------------------------------------------------------------------------
// Per-CPU counters: Float64Array `counters`, CPU c at c * COUNTER_WORDS
// ---------------------------------------------------------------------------
/** Counter indices. Names match the JSON result and /proc/vmstat where the kernel has one. */
export const COUNTER_NAMES = [
  'ipis_sent',
  'nr_tlb_remote_flush',
  'nr_tlb_remote_flush_received',
  'nr_tlb_local_flush_all',
  'nr_tlb_local_flush_one',
  'tlb_hits',
  'tlb_misses',
  'page_faults',
  'wp_faults',
  'segv_stores',
  'segv_loads',
  'pages_unmapped',
  'pages_written_back',
  'pages_freed',
  'loads',
  'stores',
  'tlb_entries_flushed',
  // flush_tlb_func found the request already covered by an earlier flush (tlb_gen).
  'tlb_flushes_elided',
  // flush_tlb_func did a full flush for a range request: this CPU was more than one generation behind.
  'tlb_partial_to_full',
  // tlbsim's own (no vmstat counter; the kernel only traces TLB_FLUSH_ON_TASK_SWITCH): switch_mm_irqs_off
  // back from lazy TLB mode to the same mm (was_lazy) found the TLB behind the mm's tlb_gen: one full flush.
  'lazy_tlb_switch_back_flushes',
  // tlbsim's own: a flush with freed_tables (flush_tlb_mm, flush_tlb_range, mmu_gather that freed tables) reached
  // this CPU while it was lazy: flush_tlb_func switched it to init_mm (it flushes when it switches back).
  'lazy_tlb_flushes',
  // tlbsim's own: native_flush_tlb_multi calls that had at least one target (nr_tlb_remote_flush counts every call,
  // also one whose targets should_flush_tlb all filtered out).
  'remote_flush_rounds',
  // Operations a workload completed (tlb-flush: write-chunk-and-madvise loops).
  'workload_ops',
  // switch_mm_irqs_off to a different mm than the one loaded (the first load of a run included).
  'context_switches',
  // choose_new_asid found the mm's ctx_id in one of this CPU's dynamic ASIDs (its entries may still be cached).
  'asid_reuses',
  // choose_new_asid's need_flush: a newly assigned ASID, or a reused one whose tlb_gen is behind the mm's.
  'asid_flushes',
  // flush_tlb_func got a flush for an mm this CPU no longer runs: it left mm_cpumask (TLB_REMOTE_WRONG_CPU).
  'tlb_remote_wrong_cpu',
  // TLB misses that refilled (from a present PTE) an entry a flush had dropped: the refills flushes cause.
  'tlb_flush_refills',
  // Pages a flush target invalidated one by one in flush_tlb_func (invlpg), remote requests only.
  'remote_flush_pages',
  // Full flushes (of the loaded ASID) a flush target did in flush_tlb_func, remote requests only.
  'remote_flush_full',
  // flush_tlb_mm_range / arch_tlbbatch_flush calls this CPU made (with or without remote targets).
  'tlb_flush_calls',
  // INVLPGB instructions this CPU issued (one per reclaim batch: invlpgb_flush_all_nonglobals; or per broadcast flush_tlb_mm_range).
  'invlpgb_sent',
  // TLBSYNCs this CPU executed: it waited until every CPU had applied its broadcast.
  'tlbsync_waits',
  // INVLPGB broadcasts this CPU's MMU applied to its own TLB (no interrupt, no handler).
  'invlpgb_applied',
  // RAR actions this CPU initiated (one per flush, to a cpumask), and the targets they named.
  'rar_sent',
  'rar_targets',
  // RAR actions this CPU's hardware applied (no interrupt; also with interrupts disabled).
  'rar_applied',
  // Full flushes and single-page invalidations done by hardware (INVLPGB/RAR application) on this CPU's TLB.
  'hw_flush_full',
  'hw_flush_pages',
  // context-reset: this CPU gave an mm a new context (ASID/VSID) instead of flushing it page by page.
  'context_resets',
  // context-reset: a context id came round again with zombie entries still tagged with it: one flush of that tag first.
  'context_zombie_flushes',
  // --irq-off: polls between accesses that found a flush IPI pending while interrupts were disabled (it waited).
  'irq_off_ipi_delays',
  // --irq-off: INVLPGB/RAR invalidations this CPU's hardware applied while its interrupts were disabled.
  'hw_applied_irqs_off',
  // tlbsim's own: APIC ICR writes this CPU made to send flush IPIs: one per target (serial: xAPIC / x2APIC physical
  // mode), one per group (tree, the initiator's), one per 16-CPU x2APIC cluster with targets (cluster).
  'apic_icr_writes',
  // tlbsim's own, --protocol invlpgb: global ASIDs this CPU assigned (use_global_asid), and switches of this CPU's
  // loaded mm from its dynamic ASID to the mm's global ASID (mm_needs_global_asid: switch_mm_irqs_off / flush_tlb_func).
  'global_asids_assigned',
  'global_asid_reloads',
  // --ipi-fanout tree: IPIs this CPU forwarded to the rest of its group as the first target of a multicast round (also in ipis_sent).
  'ipis_forwarded',
  // luf: pages whose every mapping was read-only unmapped without a flush (the frame carries a pending-flush generation).
  'luf_deferred',
  // luf: flushes done when a frame with a deferred flush was allocated again (one round each).
  'luf_flushes_at_alloc',
  // luf: frames allocated again whose deferred flush an earlier flush had already done (no flush needed).
  'luf_flushes_avoided',
  // --arch arm64: TLBI ... IS broadcasts this CPU issued (one per page of a deferred reclaim flush, per page or ASID of a flush_tlb_mm_range).
  'tlbi_broadcast',
  // --arch arm64: TLBIs this CPU's MMU applied to its own TLB (every CPU applies every broadcast, the issuer's included).
  'tlbi_applied',
  // --arch arm64: DSB ISHs this CPU executed: each waited until every CPU had applied every TLBI this CPU issued before it.
  'dsb_waits',
  // tlbsim's own: tlb_finish_mmu calls of a zap that found another mmu_gather of the mm in flight
  // (mm_tlb_flush_nested) and so flushed the whole mm (99baac21e458; the kernel has no counter for it).
  'tlb_nested_flushes',
  // Host health, not a kernel event: sleeps on a condition somebody rings
  // that ended by their safety-net timeout, with the condition already true
  // and no ring arrived: a lost ring, or one later than the timeout (the
  // end-of-run broadcast to hundreds of CPUs can be). Zero on small machines.
  'safety_net_wakeups',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export const K: { readonly [N in CounterName]: number } = Object.fromEntries(
  COUNTER_NAMES.map((n, i) => [n, i]),
) as { [N in CounterName]: number };
export const COUNTER_WORDS = 56;

export function cpumaskWords(cpus: number): number {
  return Math.ceil(cpus / 32);
}

// ---------------------------------------------------------------------------
// Physical memory: the frame metadata and the free-frame stack belong to src/engine/memory.ts
// ---------------------------------------------------------------------------
/** Frames per page: a page can be faulted back in while its old frame still waits for its flush. */
export function frameCount(pages: number): number {
  return pages * 2 + 8;
}

// ---------------------------------------------------------------------------
// Oracle: the race log belongs to src/engine/oracle.ts; `lastStore` Int32Array cpus * pageSlots (CPU c, slot i at c * pageSlots + i)
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Page-table locks: Int32Array `ptl`, mm m's page table t at m * ptlCount(pages) + t
// ---------------------------------------------------------------------------
/** PTEs per page-table page (x86-64 PTRS_PER_PTE): one split PTE lock covers this many pages. */
export const PTRS_PER_PTE = 512;
/** Page-table pages (and so PTE locks) of an mm with `pages` pages. */
export function ptlCount(pages: number): number {
  return Math.ceil(pages / PTRS_PER_PTE);
}

// ---------------------------------------------------------------------------
// Schedule buffer `sched` (src/engine/forcedSchedule.ts owns its layout): the CPU limit config.ts checks
// ---------------------------------------------------------------------------
/** Most CPUs a schedule-driven run may have: the enabled set is a 31-bit mask, and exhaustive exploration is for 2-4 CPUs anyway. */
export const SCHED_MAX_CPUS = 8;
// The buffer's words and records belong to src/engine/forcedSchedule.ts.

/**
 * Page slots of the machine: every mm has `pages` pages, and page p of mm m
 * is slot m * pages + p in the PTE, page-state and backing arrays.
 */
export function pageSlots(c: Pick<SimConfig, 'pages' | 'mms'>): number {
  return c.mms * c.pages;
}

/** Words per page: one slot per CPU (see `frameData`). */
export function wordsPerPage(c: Pick<SimConfig, 'cpus'>): number {
  return c.cpus;
}
