/**
 * The IPI transport, x86's native one: native_flush_tlb_multi()
 * (arch/x86/mm/tlb.c, the default pv_ops.mmu.flush_tlb_multi of
 * arch/x86/kernel/paravirt.c) sending smp_call_function_many(wait=1) rounds
 * (kernel/smp.c), and arch_tlbbatch_flush() through it. The fan-out of a
 * round is fixed at boot by `--ipi-fanout`:
 * - `serial`: one message per target (Linux);
 * - `tree`: one message per group of `--ipi-group` consecutive CPUs, which
 *   its first target forwards (Barrelfish's multicast);
 * - `cluster`: one interrupt per target, one ICR write per x2APIC cluster
 *   (__x2apic_send_IPI_mask, arch/x86/kernel/apic/x2apic_cluster.c).
 *
 * Invariants: a round returns only when every target acknowledged (the
 * callers free frames next); the initiator flushes its own TLB itself
 * (flush_tlb_func, local) and never sends to itself; counting as in
 * tlbFlush.ts's header (nr_tlb_remote_flush once per flush_tlb_multi call,
 * even when should_flush_tlb filters out every target).
 */
import type { IpiFanout, SimConfig } from '../../config/config.js';
import type { FlushHost } from './types.js';
import { IpiTimeoutError, type FlushRequest, type IpiMessage } from '../../engine/ipi.js';
import { flushTlbFunc, flushTlbMm, ROUND_CONTEXT_RESET, ROUND_FULL_FLUSH, shouldTrimCpumask, TLB_GENERATION_INVALID, x86RangeRequest } from '../tlbFlush.js';
import { mmCpumask } from '../mm.js';
import { isLazyCpu, loadedMmOf } from '../../engine/state/cpuControl.js';
import type { FlushTransport } from './types.js';
import { ABORT_IPI_TIMEOUT } from '../../engine/state/globalBlock.js';

/** One IPI round to `targets` with the boot-time fan-out (FlushTransport.flushTlbMulti). */
type IpiRound = (cpu: FlushHost, targets: readonly number[], req: FlushRequest) => void;

/**
 * CPUs per x2APIC cluster: in x2APIC cluster mode a CPU's logical APIC ID is
 * (APIC ID >> 4) << 16 | 1 << (APIC ID & 0xf) (arch/x86/kernel/apic/
 * x2apic_cluster.c: x2apic_prepare_cpu / init_x2apic_ldr), so 16 CPUs share a
 * cluster and one ICR write can name any subset of them. The engine takes
 * APIC ID = CPU id.
 */
const X2APIC_CLUSTER_SIZE = 16;

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
 * smp_call_function_many(wait=1) with the fan-out chosen at boot: send one
 * IPI round to `targets` (never including the sender) and wait for every
 * acknowledgement. The caller counted nr_tlb_remote_flush
 * (native_flush_tlb_multi). Turns a timeout into an aborted run naming the CPU.
 */
export function ipiRound(fanout: IpiFanout, ipiGroup: number): IpiRound {
  return (cpu, targets, req) => {
    if (targets.length === 0) return;
    cpu.count('remote_flush_rounds');
    const groups = fanout === 'tree' ? multicastGroups(targets, ipiGroup) : null;
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
  };
}

/**
 * flush_tlb_mm_range()'s IPI path (Linux 6.x): flush_tlb_func here if this
 * CPU runs the mm; if mm_cpumask names another CPU, native_flush_tlb_multi:
 * nr_tlb_remote_flush, then IPIs to every other CPU of the mask if
 * `freedTables` (lazy ones included), else to those should_flush_tlb picks:
 * running the mm and not lazy, plus, when should_trim_cpumask says so (asked
 * on every such flush, as the kernel does), the ones that no longer run it
 * (they leave the mask in flushTlbFunc). Returns whether flush_tlb_multi
 * ran (mm_cpumask named another CPU).
 */
export function nativeFlushTlbMmRange(t: FlushTransport, cpu: FlushHost, mm: number, req: FlushRequest, freedTables: boolean): boolean {
  const c = cpu.config;
  if (cpu.loadedMm === mm) flushTlbFunc(cpu, req, true);
  const others = mmCpumask(cpu.v.mm, c.cpus, mm).filter((x) => x !== cpu.id);
  if (others.length === 0) return false;
  const trim = shouldTrimCpumask(cpu, mm);
  const ctl = cpu.v.cpuCtl;
  // freed_tables: on_each_cpu_mask, lazy CPUs too (native_flush_tlb_multi), unless `--no-lazy-flush-on-table-free` (an ablation: no release did that).
  // `--no-lazy-tlb-skip` (up to 4.19, before 145f573b89a6): lazy CPUs get every flush (they switch to init_mm in flushTlbFunc).
  const lazyToo = (freedTables && c.lazyFlushOnTableFree) || !c.lazyTlbSkip;
  const targets = freedTables && c.lazyFlushOnTableFree ? others : others.filter((x) => (lazyToo || !isLazyCpu(ctl, x)) && (trim || loadedMmOf(ctl, x) === mm));
  cpu.count('nr_tlb_remote_flush');
  t.flushTlbMulti(cpu, targets, req);
  return true;
}

/**
 * arch_tlbbatch_flush() without INVLPGB: flush_tlb_func here if this CPU is in
 * the batch's mask, then flush_tlb_multi(&batch->cpumask, info) with info->mm
 * NULL: should_flush_tlb sends to every CPU of the mask that is not lazy.
 */
export function nativeArchTlbbatchFlush(t: FlushTransport, cpu: FlushHost, cpus: readonly number[]): void {
  cpu.count('tlb_flush_calls');
  const req: FlushRequest = { kind: 'flush-all', mm: -1, tlbGen: TLB_GENERATION_INVALID };
  if (cpus.includes(cpu.id)) flushTlbFunc(cpu, req, true);
  const ctl = cpu.v.cpuCtl;
  // `--no-lazy-tlb-skip` (up to 4.19, before 145f573b89a6): native_flush_tlb_others sent to lazy CPUs too.
  const targets = cpus.filter((c) => c !== cpu.id && (!cpu.config.lazyTlbSkip || !isLazyCpu(ctl, c)));
  // cpumask_any_but(&batch->cpumask, cpu) < nr_cpu_ids: flush_tlb_multi, which counts NR_TLB_REMOTE_FLUSH even if every target is lazy.
  if (cpus.some((c) => c !== cpu.id)) cpu.count('nr_tlb_remote_flush');
  t.flushTlbMulti(cpu, targets, req);
}

/** `--transport ipi` (the default on x86): every remote flush is an IPI round. */
export function ipiTransport(c: SimConfig): FlushTransport {
  const t: FlushTransport = {
    name: 'ipi',
    summary: `IPIs (native_flush_tlb_multi, --ipi-fanout ${c.ipiFanout})`,
    globalAsids: 'none',
    flushTlbMmRange(cpu, mm, pages, freedTables, tlbGen) {
      nativeFlushTlbMmRange(t, cpu, mm, x86RangeRequest(cpu, mm, pages, tlbGen), freedTables);
    },
    archTlbbatchFlush: (cpu, cpus) => nativeArchTlbbatchFlush(t, cpu, cpus),
    archTlbbatchAddPending: () => {},
    archFlushTlbBatchedPending: (cpu, mm) => flushTlbMm(cpu, mm),
    flushTlbMulti: ipiRound(c.ipiFanout, c.ipiGroup),
  };
  return t;
}
