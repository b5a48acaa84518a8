/**
 * Fit cost-model keys (src/output/costModel.ts) to the host measurements, and write
 * them as a `--cost-model` file that carries, for each fitted key, its
 * spread and the measurement it came from (the `calibration` section, which
 * `resolveCostModel` accepts and does not price).
 *
 * What is fitted, from which points (ns are converted to cycles with the
 * host's clock from /proc/cpuinfo):
 * - `invlpg`, `full_flush`, `page_fault`, `flush_call_base`: munmap of fresh
 *   ranges of L pages, 1 thread. The kernel's flush_tlb_mm_range
 *   (arch/x86/mm/tlb.c) invalidates page by page up to
 *   tlb_single_page_flush_ceiling (33) and flushes everything above; the
 *   engine prices one such munmap (src/scenarios/workloads/munmap.ts) as
 *   flush_call_base + L x (page_fault + 2 page_walk) + (L <= 33 ? L x invlpg
 *   : full_flush): each page written after the mmap misses, walks to a
 *   non-present PTE, faults, and walks again (2 TLB misses per page). So
 *   with a straight line fitted (Theil-Sen) on each side of the ceiling: invlpg =
 *   slope(<=33) - slope(>33); page_fault = slope(>33) - 2 page_walk;
 *   flush_call_base = intercept(<=33) (the call's fixed part: the model's only
 *   fixed per-call cost, so mmap, syscall entry and VMA work land in it);
 *   full_flush = intercept(>33) - intercept(<=33) (with its refills); and
 *   full_flush / invlpg is where a full flush starts to win on this host.
 *   The madvise loop (tlb_flush2) is not fitted: it is the check.
 * - `ipi_send_base` (and `ipi_send_per_target` with 3 or more cores): the
 *   remote-flush cost, latency of madvise of 1 page with T-1 other threads
 *   spinning in the mm minus the same alone. The engine prices a round as
 *   ipi_send_base + ipi_send_per_target x targets + irq_entry +
 *   flush_handler + invlpg (roundCycles); irq_entry and flush_handler keep
 *   their defaults (userspace cannot split the target's share out).
 * Every other key keeps its default and is listed as such.
 *
 * Invariants: the value is the fit on each point's median latency; the fit
 * is repeated on every repetition's samples for the spread. A median below 0 (the
 * difference drowned in noise) is written as 0 and marked `clamped`.
 */
import { median, quantileSorted } from 'simple-statistics';
import { COST_MODEL_CALIBRATION_KEY, COST_MODEL_DEFAULTS, COST_MODEL_KEYS, DEFAULT_GHZ, type CostModel } from '../../output/costModel.js';
import { findPoint, KERNEL_FLUSH_CEILING, type MeasuredPoint } from './measure.js';

/** TLB misses per page the loop writes after the zap, as the engine counts them: the walk that faults and the walk after the fault. */
const WALKS_PER_REFAULTED_STORE = 2;

/** How a value spread over the repetitions. */
interface FitSpread {
  p25: number;
  p75: number;
  min: number;
  max: number;
}

/** One fitted cost-model key. */
interface FittedValue {
  /** Cycles (what `--cost-model` takes); 0 when the median was negative. */
  value: number;
  /** The same in ns at the fitted clock. */
  ns: number;
  /** Spread of the fits repeated on each repetition's samples, cycles. */
  spread: FitSpread;
  /** Repetitions fitted for the spread. */
  samples: number;
  /** The measurement and the arithmetic it came from. */
  from: string;
  /** The median was below 0 (noise larger than the effect) and 0 was written. */
  clamped: boolean;
}

/** The fit of one calibration. */
export interface CostModelFit {
  ghz: { value: number; from: string };
  fitted: Partial<Record<keyof CostModel, FittedValue>>;
  /** Keys left at their defaults. */
  kept_defaults: (keyof CostModel)[];
  /** Pages at which a full flush costs what page-by-page invalidation does (full_flush / invlpg), per the munmap fit; null if not resolved. */
  full_flush_break_even_pages: { value: number; spread: FitSpread | null } | null;
  /** What could not be fitted, and why. */
  notes: string[];
}

/**
 * A robust straight line (Theil-Sen): the slope is the median of the slopes
 * between every pair of points, the intercept the median of y - slope x. On a
 * shared host one disturbed point (another job took the core for a while)
 * moves a least-squares line arbitrarily; this one ignores up to ~29% of
 * such points. simple-statistics has least squares only.
 */
export function theilSen(xy: readonly (readonly [number, number])[]): { m: number; b: number } {
  const slopes: number[] = [];
  for (let i = 0; i < xy.length; i++) {
    for (let j = i + 1; j < xy.length; j++) if (xy[j][0] !== xy[i][0]) slopes.push((xy[j][1] - xy[i][1]) / (xy[j][0] - xy[i][0]));
  }
  if (slopes.length === 0) throw new Error('a line needs two distinct x values');
  const m = median(slopes);
  return { m, b: median(xy.map(([x, y]) => y - m * x)) };
}

function spreadOf(xs: readonly number[]): FitSpread {
  const s = [...xs].sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { p25: r(quantileSorted(s, 0.25)), p75: r(quantileSorted(s, 0.75)), min: r(s[0]), max: r(s[s.length - 1]) };
}

/** Fit the cost model. `ghz`: the host's clock (null: the default, and say so). */
export function fitCostModel(points: readonly MeasuredPoint[], hostGhz: number | null): CostModelFit {
  const ghz = hostGhz ?? DEFAULT_GHZ;
  const d = COST_MODEL_DEFAULTS;
  const notes: string[] = [];
  const reps = Math.min(...points.map((p) => p.samples_us.length));
  const perRep: Partial<Record<keyof CostModel, number[]>> = {};
  const push = (k: keyof CostModel, v: number): void => {
    const values = perRep[k] ?? [];
    values.push(v);
    perRep[k] = values;
  };
  const from: Partial<Record<keyof CostModel, string>> = {};
  const breakEven: number[] = [];

  const munmap1 = points.filter((p) => p.op === 'munmap' && p.threads === 1);
  const lo = munmap1.filter((p) => p.pages <= KERNEL_FLUSH_CEILING);
  const hi = munmap1.filter((p) => p.pages > KERNEL_FLUSH_CEILING);
  const canCeiling = lo.length >= 2 && hi.length >= 2;
  if (!canCeiling) notes.push(`invlpg, full_flush, page_fault, flush_call_base: need 2 munmap lengths on each side of ${KERNEL_FLUSH_CEILING} pages, got ${lo.length} and ${hi.length}`);
  const threads = Math.max(...points.map((p) => p.threads));
  const alone = findPoint(points, 'madvise', 'all', 1, 1);
  const remote = Array.from({ length: Math.max(0, threads - 1) }, (_, i) => findPoint(points, 'madvise', 'spin', 1, i + 2)).filter((p): p is MeasuredPoint => p !== undefined);
  if (remote.length === 0) notes.push('ipi_send_base, ipi_send_per_target: one core, no remote flush to measure');
  else if (remote.length === 1) notes.push('ipi_send_per_target: needs 3 or more cores (two target counts); kept its default');

  /** One fit of every key, reading each point's latency (µs) with `y`. */
  const fitOnce = (y: (p: MeasuredPoint) => number): Partial<Record<keyof CostModel, number>> & { breakEven?: number } => {
    const out: Partial<Record<keyof CostModel, number>> & { breakEven?: number } = {};
    let invlpg = d.invlpg;
    if (canCeiling) {
      const fl = theilSen(lo.map((p) => [p.pages, y(p) * 1000] as const));
      const fh = theilSen(hi.map((p) => [p.pages, y(p) * 1000] as const));
      const cNs = fl.m - fh.m;
      const fNs = fh.b - fl.b;
      invlpg = cNs * ghz;
      out.invlpg = invlpg;
      out.full_flush = fNs * ghz;
      out.page_fault = fh.m * ghz - WALKS_PER_REFAULTED_STORE * d.page_walk;
      out.flush_call_base = fl.b * ghz;
      // A full flush that costs no more than the line below predicts (fNs <= 0) wins at any size: break-even 0.
      if (cNs > 0) out.breakEven = Math.max(0, fNs) / cNs;
    }
    if (alone && remote.length > 0) {
      const rounds = remote.map((p) => [p.threads - 1, (y(p) - y(alone)) * 1000 * ghz] as const);
      const fixedTarget = d.irq_entry + d.flush_handler + Math.max(0, invlpg);
      if (rounds.length >= 2) {
        const f = theilSen(rounds);
        out.ipi_send_per_target = f.m;
        out.ipi_send_base = f.b - fixedTarget;
      } else {
        out.ipi_send_base = rounds[0][1] - d.ipi_send_per_target - fixedTarget;
      }
    }
    return out;
  };
  // The value: the fit on each point's median; the spread: the fit repeated on each repetition's samples.
  const central = fitOnce((p) => p.latency.median);
  for (let r = 0; r < reps; r++) {
    const one = fitOnce((p) => p.samples_us[r]);
    for (const k of COST_MODEL_KEYS) if (one[k] !== undefined) push(k, one[k]);
    if (one.breakEven !== undefined) breakEven.push(one.breakEven);
  }
  from.invlpg = `munmap, 1 thread: slope of latency per page up to ${KERNEL_FLUSH_CEILING} pages minus the slope above (flushed page by page below the ceiling, whole above)`;
  from.full_flush = `munmap, 1 thread: intercept of the line above ${KERNEL_FLUSH_CEILING} pages minus the intercept below`;
  from.page_fault = `munmap, 1 thread: slope of latency per page above ${KERNEL_FLUSH_CEILING} pages minus ${WALKS_PER_REFAULTED_STORE} page_walk`;
  from.flush_call_base = `munmap, 1 thread: intercept of the line up to ${KERNEL_FLUSH_CEILING} pages (the call's fixed cost: mmap, syscall entry, VMA work)`;
  from.ipi_send_base =
    remote.length >= 2
      ? 'madvise of 1 page, other threads spinning minus alone, fitted against the number of targets: intercept minus irq_entry, flush_handler and one invlpg'
      : 'madvise of 1 page, one other thread spinning minus alone: minus ipi_send_per_target, irq_entry, flush_handler and one invlpg';
  from.ipi_send_per_target = 'madvise of 1 page, other threads spinning minus alone: slope against the number of targets';

  const fitted: Partial<Record<keyof CostModel, FittedValue>> = {};
  for (const k of COST_MODEL_KEYS) {
    const vs = perRep[k];
    const m = central[k];
    if (vs === undefined || vs.length === 0 || m === undefined) continue;
    const value = Math.max(0, Math.round(m));
    fitted[k] = { value, ns: Math.round((value / ghz) * 10) / 10, spread: spreadOf(vs), samples: vs.length, from: from[k] ?? '', clamped: m < 0 };
    if (m < 0) notes.push(`${k}: the fitted median was ${Math.round(m)} cycles (the effect is under this host's noise); written as 0`);
  }
  return {
    ghz: { value: Math.round(ghz * 1000) / 1000, from: hostGhz === null ? `no clock in /proc/cpuinfo: the default ${DEFAULT_GHZ} GHz` : '/proc/cpuinfo "cpu MHz" of the first processor' },
    fitted,
    kept_defaults: COST_MODEL_KEYS.filter((k) => k !== 'ghz' && fitted[k] === undefined),
    full_flush_break_even_pages: central.breakEven !== undefined ? { value: Math.round(central.breakEven * 10) / 10, spread: breakEven.length > 0 ? spreadOf(breakEven) : null } : null,
    notes,
  };
}

/** The cost model the fit gives: the defaults with the fitted keys over them. */
export function fittedCostModel(fit: CostModelFit): CostModel {
  const m: CostModel = { ...COST_MODEL_DEFAULTS, ghz: fit.ghz.value };
  for (const [k, v] of Object.entries(fit.fitted)) m[k as keyof CostModel] = v.value;
  return m;
}

/** What the cost-model file records about where it came from. */
interface CalibrationRecord {
  tool: string;
  created_at: string;
  host: Record<string, unknown>;
  ghz: { value: number; from: string };
  fitted: Partial<Record<keyof CostModel, FittedValue>>;
  kept_defaults: (keyof CostModel)[];
  notes: string[];
}

/** The `--cost-model` file: the fitted keys (and ghz) at the top level, and the `calibration` record. */
export function costModelFile(fit: CostModelFit, tool: string, createdAt: string, host: Record<string, unknown>): Record<string, unknown> {
  const keys: Record<string, number> = { ghz: fit.ghz.value };
  for (const [k, v] of Object.entries(fit.fitted)) keys[k] = v.value;
  const calibration: CalibrationRecord = { tool, created_at: createdAt, host, ghz: fit.ghz, fitted: fit.fitted, kept_defaults: fit.kept_defaults, notes: fit.notes };
  return { ...keys, [COST_MODEL_CALIBRATION_KEY]: calibration };
}
