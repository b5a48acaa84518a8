/**
 * The flush transport: how a TLB flush that the kernel decided on reaches the
 * other CPUs. Linux picks it once, at boot: pv_ops.mmu.flush_tlb_multi
 * (arch/x86/kernel/paravirt.c: native_flush_tlb_multi, or a hypervisor's),
 * and the static branches cpu_feature_enabled(X86_FEATURE_INVLPGB) in
 * flush_tlb_mm_range / arch_tlbbatch_flush (arch/x86/mm/tlb.c); arm64 always
 * broadcasts TLBIs (arch/arm64/include/asm/tlbflush.h). tlbsim does the same:
 * `chooseFlushTransport` (index.ts) runs once per CPU when the CPU is built,
 * and the flush paths (tlbFlush.ts, protocols/batched.ts) call the chosen
 * object instead of branching on option names.
 *
 * Invariants every transport keeps (the callers rely on them):
 * - `flushTlbMmRange` and `archTlbbatchFlush` return only when every CPU
 *   they had to reach has applied the flush (IPI acknowledged, TLBSYNC or
 *   RAR completion, DSB), unless a bug is injected on purpose
 *   (`--inject no-tlbsync`); reclaim frees frames right after.
 * - Only the owning CPU writes its TLB: a transport flushes the initiator's
 *   TLB itself and asks the others (message, queue request, TLBI ring).
 * - Counting follows tlbFlush.ts's header: the caller counts tlb_flush_calls
 *   and bumps the mm's tlb_gen; the transport counts what it sends.
 */
import type { TransportName } from '../../config/config.js';
import type { Cpu } from '../../engine/cpu.js';
import type { FlushRequest, IpiWaitHost } from '../../engine/ipi.js';

/** A transport's name in results and traces: the x86 ones and arm64's broadcast TLBI. */
/**
 * What the flush paths (src/kernel/tlbFlush.ts and every transport) may use
 * of a CPU: its TLB, its cpu_tlbstate, its IPI and queue endpoints, its
 * counters and trace, the shared views. Not its memory, locks or workload
 * state: a flush never touches a frame or takes a sleeping lock. It waits
 * for acknowledgements as the IPI layer's IpiWaitHost.
 */
export type FlushHost = Pick<Cpu, 'abortRun' | 'blockUntil' | 'config' | 'count' | 'flushTransport' | 'handleIpi' | 'hw' | 'hwRoundUs' | 'id' | 'ipi' | 'ipiRoundGroups' | 'ipiRoundMaxGroup' | 'ipiRoundPages' | 'ipiRoundTargets' | 'ipiRoundUs' | 'isLazy' | 'loadedMm' | 'pwc' | 'timeoutMessage' | 'tlb' | 'tlbState' | 'trace' | 'traceEvent' | 'traceNow' | 'v'> & IpiWaitHost;

export type FlushTransportName = TransportName | 'arm64-tlbi';

/**
 * What global ASIDs mean under a transport (Linux 6.15 X86_FEATURE_INVLPGB,
 * and the RAR series, which enables them for X86_FEATURE_RAR too):
 * - `none`: every mm uses per-CPU dynamic ASIDs (choose_new_asid).
 * - `broadcast`: INVLPGB keeps a global ASID up to date on every CPU, so
 *   flush_tlb_func skips it and switch_mm loads it without a flush.
 * - `targeted`: a RAR reaches only mm_cpumask, so a CPU new to the mask
 *   flushes the global ASID at switch_mm, an IPI is processed for a global
 *   ASID too, and a lazy CPU that an IPI reaches leaves mm_cpumask.
 */
export type GlobalAsidMode = 'none' | 'broadcast' | 'targeted';

/** One flush transport, chosen once per CPU at boot (see the file header). */
export interface FlushTransport {
  /** Which transport this is (reports, traces, tests). */
  readonly name: FlushTransportName;
  /** One line for reports: the mechanism and the kernel code it models. */
  readonly summary: string;
  /** Whether and how mms get global ASIDs under this transport (see GlobalAsidMode). */
  readonly globalAsids: GlobalAsidMode;
  /**
   * The remote part of flush_tlb_mm_range() (and the initiator's own part,
   * which some transports do differently): the caller has counted
   * tlb_flush_calls and bumped mm->tlb_gen to `tlbGen`. `pages` is the range
   * (TLB_FLUSH_ALL: null for the whole mm); `freedTables` is what the kernel
   * caller passed (see tlbFlush.ts).
   */
  flushTlbMmRange(cpu: FlushHost, mm: number, pages: readonly number[] | null, freedTables: boolean, tlbGen: number): void;
  /**
   * arch_tlbbatch_flush(): the batched-unmap flush of the batch's cpumask
   * `cpus` (`mm` and `pages`: the batch's single mm and its pages, or -1 and
   * [] when it spans several). The caller counted nothing.
   */
  archTlbbatchFlush(cpu: FlushHost, cpus: readonly number[], mm: number, pages: readonly number[]): void;
  /**
   * arch_tlbbatch_add_pending(): what the transport does as reclaim adds a
   * page to the batch (arm64 sends its TLBI now; x86 only records the mask,
   * which the caller did).
   */
  archTlbbatchAddPending(cpu: FlushHost, mm: number, page: number): void;
  /**
   * arch_flush_tlb_batched_pending(): flush what reclaim deferred for `mm`
   * before mprotect/munmap/madvise change its PTEs (x86: flush_tlb_mm).
   */
  archFlushTlbBatchedPending(cpu: FlushHost, mm: number): void;
  /**
   * flush_tlb_multi() as an IPI round: send `req` to `targets` (never the
   * sender) and wait for every acknowledgement, with the `--ipi-fanout` the
   * transport was built with. Transports that have a hardware path still
   * send IPIs for what it does not cover (ASID transitions, mms without a
   * global ASID).
   */
  flushTlbMulti(cpu: FlushHost, targets: readonly number[], req: FlushRequest): void;
  /**
   * reset_global_asid_space(): the flush before the first global ASID is
   * handed out (only transports whose `globalAsids` is not `none`).
   */
  resetGlobalAsidSpace?(cpu: FlushHost): void;
}
