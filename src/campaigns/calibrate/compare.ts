/**
 * The simulator beside the host: the same workloads at the same core counts
 * (`--workload tlb-flush` for the madvise loop every thread runs, `--workload
 * munmap` for munmap with the other threads running), priced with the fitted
 * cost model, against what the host measured.
 *
 * Per operation:
 * - IPIs: the simulator's ipis_sent / workload_ops against the host's TLB
 *   shootdown interrupts / operations. Linux sends each operation's flush to
 *   every other CPU of mm_cpumask (flush_tlb_mm_range -> flush_tlb_multi), so
 *   both should be T - 1 on bare metal; a guest whose hypervisor takes
 *   remote flushes over (kvm_flush_tlb_multi, arch/x86/kernel/kvm.c, marks
 *   preempted vCPUs KVM_VCPU_FLUSH_TLB instead of interrupting them; other
 *   paravirtual guests flush by hypercall) counts fewer or none, and the row
 *   says so instead of a ratio.
 * - Latency: tlb-flush: all_events_cycles / workload_ops (every CPU loops,
 *   each operation's share of everything the machine did, IPIs handled
 *   included); munmap: CPU 0's own events plus the rounds it waited for, per
 *   munmap (the other CPUs' loads and stores are not the operation's).
 *
 * Invariant: the simulator needs 2 CPUs for these workloads, so only points
 * with 2 or more threads are compared; every figure is what the run returned.
 */
import { simulate } from '../../api.js';
import { modelRun, type CostModel } from '../../output/costModel.js';
import type { RunResult } from '../../output/result.js';
import type { MeasuredPoint } from './measure.js';

/** Simulated operations per CPU (tlb-flush) or munmaps (munmap) per comparison: counts are exact, so a few dozen suffice; latency is modeled, not timed. */
const SIM_OPS = { quick: 20, default: 60 } as const;
/** Host shootdown interrupts per expected IPI below which the host is taken to send none (a paravirtual flush): 1%. */
export const NO_IPI_FRACTION = 0.01;

/** One row of the side-by-side table. */
export interface CompareRow {
  workload: 'tlb-flush' | 'munmap';
  pages: number;
  threads: number;
  host_us_per_op: number;
  sim_us_per_op: number;
  /** sim / host. */
  latency_ratio: number;
  host_irqs_per_op: number | null;
  sim_ipis_per_op: number;
  /** sim / host, or null with `ipi_note` when the host counted none (or has no counter). */
  ipi_ratio: number | null;
  ipi_note: string | null;
}

/** Per-operation modeled latency and IPIs of one simulator run. */
function simPerOp(r: RunResult, m: CostModel): { us: number; ipis: number } {
  const ops = r.counters.workload_ops;
  if (ops === 0) throw new Error(`the simulator's ${r.config.workload} run completed no operation`);
  let cycles: number;
  if (r.config.workload === 'munmap') {
    const cpu0 = r.per_cpu[0];
    // CPU 0 is the only initiator (src/scenarios/workloads/munmap.ts): every round is its wait.
    cycles = (modelRun(m, { perCpu: [cpu0], rounds: [] }).all_events_cycles + r.modeled.events.ipi_round.cycles) / cpu0.workload_ops;
  } else {
    cycles = r.modeled.all_events_cycles / ops;
  }
  return { us: cycles / m.ghz / 1000, ipis: r.counters.ipis_sent / ops };
}

/** Run the simulator on every comparable point (2+ threads; madvise loops every thread runs, and munmap). */
export async function compareWithSimulator(
  points: readonly MeasuredPoint[],
  costModel: CostModel,
  quick: boolean,
  onPoint?: (done: number, total: number, label: string) => void,
): Promise<CompareRow[]> {
  const todo = points.filter((p) => p.threads >= 2 && ((p.op === 'madvise' && p.role === 'all') || p.op === 'munmap'));
  const ops = quick ? SIM_OPS.quick : SIM_OPS.default;
  const rows: CompareRow[] = [];
  for (const [i, p] of todo.entries()) {
    const workload = p.op === 'madvise' ? 'tlb-flush' : 'munmap';
    onPoint?.(i, todo.length, `simulator ${workload} ${p.pages} pages, ${p.threads} CPUs`);
    const r =
      workload === 'tlb-flush'
        ? await simulate({ workload, cpus: p.threads, pages: p.pages * p.threads, ops }, { costModel })
        : await simulate({ workload, cpus: p.threads, pages: 2 * p.pages, range: String(p.pages), ops }, { costModel });
    if (r.status !== 'ok') throw new Error(`the simulator's ${workload} run on ${p.threads} CPUs did not complete (${r.status})`);
    const sim = simPerOp(r, costModel);
    const host = p.latency.median;
    const expected = p.threads - 1;
    let ipiRatio: number | null = null;
    let note: string | null = null;
    if (p.shootdown_irqs_per_op === null) note = 'host kernel prints no TLB shootdown line';
    else if (p.shootdown_irqs_per_op < NO_IPI_FRACTION * expected) note = 'host sent no shootdown IPIs (remote flush by the hypervisor)';
    else ipiRatio = sim.ipis / p.shootdown_irqs_per_op;
    rows.push({
      workload,
      pages: p.pages,
      threads: p.threads,
      host_us_per_op: host,
      sim_us_per_op: round4(sim.us),
      latency_ratio: round4(sim.us / host),
      host_irqs_per_op: p.shootdown_irqs_per_op === null ? null : round4(p.shootdown_irqs_per_op),
      sim_ipis_per_op: round4(sim.ipis),
      ipi_ratio: ipiRatio === null ? null : round4(ipiRatio),
      ipi_note: note,
    });
  }
  onPoint?.(todo.length, todo.length, 'done');
  return rows;
}

function round4(x: number): number {
  return Number(x.toPrecision(4));
}
