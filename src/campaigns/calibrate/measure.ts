/**
 * The host measurements of `tlbsim calibrate`: which points to run, running
 * them with native/shootdown.c, and reducing each to per-operation figures.
 *
 * Points (H = CPUs of the affinity mask, or --threads):
 * - madvise `all`: will-it-scale tlb_flush2, every thread writes its pages and
 *   madvise(MADV_DONTNEED)s them: MADVISE_PAGES x threads 1..H;
 * - madvise `spin`: only thread 0 does so, threads 1..T-1 spin in the mm:
 *   MADVISE_PAGES x threads 2..H (T = 1 is the `all` point: the same loop);
 *   the difference from T = 1 is the remote-flush cost;
 * - munmap: thread 0 maps, touches and munmaps fresh ranges while the others
 *   spin: munmapPages(quick) x threads 1..H, dense around the kernel's
 *   tlb_single_page_flush_ceiling (33: flush_tlb_mm_range, arch/x86/mm/tlb.c,
 *   flushes page by page up to it and the whole TLB above).
 *
 * Invariants: every figure is computed from what the program printed and
 * the kernel's counters it copied around the timed repetitions; a counter
 * the kernel does not have is null, never 0.
 */
import { figureOf, type Figure } from '../bench/figure.js';
import { parseTlbInterrupts, parseVmstatTlb, vmstatDelta } from './proc.js';
import { runShootdown, type ShootdownBinary, type ShootdownPoint, type ShootdownRun } from './native.js';

/** Pages per madvise: the issue's 1, 8, 64, plus 32 (just under the ceiling) and 512 (a whole page table's worth). */
export const MADVISE_PAGES = [1, 8, 32, 64, 512] as const;
/** The kernel's default tlb_single_page_flush_ceiling (arch/x86/mm/tlb.c): a flush of more pages is a full flush. */
export const KERNEL_FLUSH_CEILING = 33;
/** munmap range lengths: both sides of the ceiling, enough on each for a straight-line fit. */
export function munmapPages(quick: boolean): number[] {
  return quick ? [1, 8, 16, 32, 33, 34, 48, 64, 128, 512] : [1, 2, 4, 8, 16, 24, 32, 33, 34, 40, 48, 64, 96, 128, 256, 512];
}

/** How long each point runs: quick keeps `calibrate --quick` under a minute on 2 cores; the default halves the noise of a shared host. */
export const BUDGETS = {
  quick: { budgetMs: 40, reps: 3 },
  default: { budgetMs: 150, reps: 5 },
} as const;

/** One measured point, reduced. */
export interface MeasuredPoint extends ShootdownPoint {
  /** Latency of one operation on a thread that runs the loop, per repetition (µs): the mean over those threads of time / operations. */
  samples_us: number[];
  /** The same as a figure (median over repetitions and spread). */
  latency: Figure;
  /** Timed operations, all threads that ran the loop, all repetitions. */
  ops: number;
  /** Shootdown interrupts (TLB line of /proc/interrupts, summed over CPUs) per operation; null when the kernel has no such line. */
  shootdown_irqs_per_op: number | null;
  /** nr_tlb_* of /proc/vmstat per operation (empty: the kernel counts none, CONFIG_DEBUG_TLBFLUSH is off). */
  vmstat_tlb_per_op: Record<string, number>;
}

/** Every point of a calibration, in run order. */
export function planPoints(threads: number, quick: boolean): ShootdownPoint[] {
  const ts = Array.from({ length: threads }, (_, i) => i + 1);
  const out: ShootdownPoint[] = [];
  // Grouped by page count, alone first: the remote-flush difference compares points measured seconds apart, not minutes.
  for (const pages of MADVISE_PAGES) {
    out.push({ op: 'madvise', pages, threads: 1, role: 'all' });
    for (const t of ts) if (t >= 2) out.push({ op: 'madvise', pages, threads: t, role: 'spin' });
    for (const t of ts) if (t >= 2) out.push({ op: 'madvise', pages, threads: t, role: 'all' });
  }
  for (const pages of munmapPages(quick)) for (const t of ts) out.push({ op: 'munmap', pages, threads: t, role: 'spin' });
  return out;
}

/** Reduce one run of the program to a point. */
export function reducePoint(r: ShootdownRun): MeasuredPoint {
  const looping = (i: number): boolean => i === 0 || r.role === 'all';
  let ops = 0;
  const samples = r.reps.map((rep) => {
    let sum = 0;
    let n = 0;
    rep.ops.forEach((k, i) => {
      if (!looping(i)) return;
      if (k === 0) throw new Error(`the microbenchmark's thread ${i} did no ${r.op} in a repetition (${r.pages} pages, ${r.threads} threads)`);
      ops += k;
      sum += rep.ns[i] / k / 1000;
      n++;
    });
    return sum / n;
  });
  let irqs: number | null = null;
  if (r.interrupts) {
    const b = parseTlbInterrupts(r.interrupts.before);
    const a = parseTlbInterrupts(r.interrupts.after);
    if (a && b) irqs = (a.total - b.total) / ops;
  }
  const vm = r.vmstat ? vmstatDelta(parseVmstatTlb(r.vmstat.before), parseVmstatTlb(r.vmstat.after)) : {};
  return {
    op: r.op,
    pages: r.pages,
    threads: r.threads,
    role: r.role,
    samples_us: samples,
    latency: figureOf(samples, 'us', 'lower'),
    ops,
    shootdown_irqs_per_op: irqs,
    vmstat_tlb_per_op: Object.fromEntries(Object.entries(vm).map(([k, v]) => [k, v / ops])),
  };
}

/** Run every point. */
export async function measureHost(
  b: ShootdownBinary,
  points: readonly ShootdownPoint[],
  budget: { budgetMs: number; reps: number },
  onPoint?: (done: number, total: number, label: string) => void,
): Promise<MeasuredPoint[]> {
  const out: MeasuredPoint[] = [];
  for (const [i, p] of points.entries()) {
    onPoint?.(i, points.length, pointLabel(p));
    out.push(reducePoint(await runShootdown(b, p, budget.budgetMs, budget.reps)));
  }
  onPoint?.(points.length, points.length, 'done');
  return out;
}

/** "madvise 8 pages, 2 threads (spin)". */
function pointLabel(p: ShootdownPoint): string {
  return `${p.op} ${p.pages} page${p.pages === 1 ? '' : 's'}, ${p.threads} thread${p.threads === 1 ? '' : 's'}${p.op === 'madvise' ? ` (${p.role === 'all' ? 'all loop' : 'others spin'})` : ''}`;
}

/** The point of `op`/`role`/`pages`/`threads`, if measured. */
export function findPoint(ps: readonly MeasuredPoint[], op: 'madvise' | 'munmap', role: 'all' | 'spin', pages: number, threads: number): MeasuredPoint | undefined {
  // T = 1 has no spinning others: madvise spin at 1 thread is the `all` point.
  const r = op === 'madvise' && threads === 1 ? 'all' : role;
  return ps.find((p) => p.op === op && p.role === r && p.pages === pages && p.threads === threads);
}
