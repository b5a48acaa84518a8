/**
 * The readable form of a calibration (what `tlbsim calibrate` prints
 * without `--json`): plain-text tables built with the bench's `table`.
 *
 * Invariant: it prints only what is in the profile; nothing is recomputed
 * except per-page divisions of stored medians.
 */
import { table } from '../bench/format.js';
import { fmtFigure, fmtNum, fmtRatio } from '../bench/figure.js';
import { COST_MODEL_DEFAULTS, type CostModel } from '../../output/costModel.js';
import type { CalibrationProfile } from './run.js';
import type { MeasuredPoint } from './measure.js';

function irqs(p: MeasuredPoint): string {
  return p.shootdown_irqs_per_op === null ? 'no counter' : fmtNum(p.shootdown_irqs_per_op);
}

function vmstat(p: MeasuredPoint): string {
  const e = Object.entries(p.vmstat_tlb_per_op);
  return e.length === 0 ? '-' : e.map(([k, v]) => `${k.replace(/^nr_tlb_/, '')} ${fmtNum(v)}`).join(', ');
}

/** The whole calibration as text tables. */
export function formatCalibration(p: CalibrationProfile): string {
  const h = p.host;
  const out: string[] = [
    `tlbsim ${p.tlbsim_version} calibrate${p.quick ? ' --quick' : ''} (${p.duration_s.toFixed(1)} s, ${p.created_at})`,
    `host: ${h.summary}`,
    `      ${h.cpu_model ?? 'unknown CPU'}${h.mhz === null ? '' : ` at ${fmtNum(h.mhz)} MHz`}; kernel ${h.kernel}; threads pinned to CPUs ${h.cpus.join(',')}; ${p.compiler}`,
    `figures: median [p25-p75] over ${p.budget.reps} repetitions of ${p.budget.budgetMs} ms per point; "IRQs/op": TLB shootdown interrupts (/proc/interrupts) per operation, all CPUs${h.vmstat_tlb ? '' : '; no nr_tlb_* in /proc/vmstat (CONFIG_DEBUG_TLBFLUSH off)'}`,
    '',
  ];
  const madv = p.points.filter((x) => x.op === 'madvise' && x.role === 'all');
  out.push(
    table('tlb_flush2: every thread writes its pages and madvise(MADV_DONTNEED)s them', ['pages', 'threads', 'latency per op', 'IRQs/op', ...(h.vmstat_tlb ? ['nr_tlb_* per op'] : [])],
      madv.map((x) => [String(x.pages), String(x.threads), fmtFigure(x.latency), irqs(x), ...(h.vmstat_tlb ? [vmstat(x)] : [])])),
    '',
  );
  if (p.remote_flush_cost.length > 0) {
    out.push(
      table('Remote-flush cost: thread 0 madvises, the other threads spin in the mm, minus thread 0 alone', ['pages', 'threads', 'alone', 'others running', 'difference', 'IRQs/op'],
        p.remote_flush_cost.map((r) => {
          const w = p.points.find((x) => x.op === 'madvise' && x.role === 'spin' && x.pages === r.pages && x.threads === r.threads);
          return [String(r.pages), String(r.threads), `${fmtNum(r.alone_us)} us`, `${fmtNum(r.with_others_us)} us`, `${fmtNum(r.difference_us)} us`, w ? irqs(w) : '-'];
        })),
      '',
    );
  }
  const mun = p.points.filter((x) => x.op === 'munmap');
  out.push(
    table('munmap of fresh ranges (mmap, write each page, munmap); the other threads spin', ['pages', 'threads', 'latency per op', 'per page', 'IRQs/op'],
      mun.map((x) => [String(x.pages), String(x.threads), fmtFigure(x.latency), `${fmtNum(x.latency.median / x.pages)} us`, irqs(x)])),
    '',
  );
  const f = p.fit;
  out.push(
    table(`Fitted cost model (cycles at ${fmtNum(f.ghz.value)} GHz: ${f.ghz.from})`, ['key', 'fitted', 'ns', 'per-repetition fits [p25-p75]', 'default', 'from'],
      Object.entries(f.fitted).map(([k, v]) => [
        k,
        `${fmtNum(v.value)}${v.clamped ? ' (clamped)' : ''}`,
        fmtNum(v.ns),
        `[${fmtNum(v.spread.p25)}-${fmtNum(v.spread.p75)}]`,
        fmtNum(COST_MODEL_DEFAULTS[k as keyof CostModel]),
        v.from,
      ])),
    `kept at their defaults: ${f.kept_defaults.join(', ')}`,
  );
  if (f.full_flush_break_even_pages) {
    const be = f.full_flush_break_even_pages;
    const spread = be.spread ? ` (per-repetition fits: ${fmtNum(be.spread.p25)}-${fmtNum(be.spread.p75)} pages)` : '';
    out.push(
      be.value === 0
        ? `a full flush costs no more than page-by-page invalidation of even one page on this host${spread}: it wins at any size (the kernel's tlb_single_page_flush_ceiling: 33)`
        : `a full flush costs what page-by-page invalidation does at ${fmtNum(be.value)} pages${spread} on this host (the kernel's tlb_single_page_flush_ceiling: 33)`,
    );
  }
  for (const n of f.notes) out.push(`note: ${n}`);
  out.push('');
  if (p.compare === null) out.push('simulator comparison skipped (--no-simulate)');
  else if (p.compare.length === 0) out.push('simulator comparison: needs 2 or more threads (the simulated workloads have at least 2 CPUs)');
  else {
    out.push(
      table('Host against the simulator with the fitted cost model (same workload, same core count)', ['workload', 'pages', 'CPUs', 'host latency', 'modeled', 'modeled/host', 'host IRQs/op', 'sim IPIs/op', 'sim/host'],
        p.compare.map((r) => [
          r.workload,
          String(r.pages),
          String(r.threads),
          `${fmtNum(r.host_us_per_op)} us`,
          `${fmtNum(r.sim_us_per_op)} us`,
          fmtRatio(r.latency_ratio),
          r.host_irqs_per_op === null ? 'no counter' : fmtNum(r.host_irqs_per_op),
          fmtNum(r.sim_ipis_per_op),
          r.ipi_ratio === null ? (r.ipi_note ?? '-') : fmtRatio(r.ipi_ratio),
        ])),
    );
  }
  return out.join('\n');
}
