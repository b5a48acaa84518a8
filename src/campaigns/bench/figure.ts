/**
 * One measured figure of a host profile: the median of repeated samples with
 * their spread, its unit, and which direction is better.
 *
 * Invariants:
 * - Every figure in a profile is built here from at least one sample, so it
 *   always has the same shape (`median`, `spread` {p25, p75, min, max},
 *   `samples`, `unit`, `better`) and `--compare` can judge any two.
 * - Quantiles are simple-statistics' (linear interpolation on sorted samples).
 * - A figure is never invented: `figureOf` refuses an empty or non-finite sample list.
 */
import { quantileSorted } from 'simple-statistics';

/** Units used by profile figures. */
export type FigureUnit = 'us' | 'ms' | 'MB' | 'lookups/s' | 'accesses/s' | 'iterations/s' | 'IPIs/s' | 'steps/s';

/** Which way a figure improves: latencies and memory go down, rates go up. */
type Better = 'lower' | 'higher';

/** How much the samples of a figure spread: interquartile range and extremes. */
export interface Spread {
  /** 25th percentile of the samples. */
  p25: number;
  /** 75th percentile of the samples. */
  p75: number;
  /** Smallest sample. */
  min: number;
  /** Largest sample. */
  max: number;
}

/** A measured figure: the median of `samples` repeated measurements, with their spread. */
export interface Figure {
  /** Median of the samples. */
  median: number;
  /** Spread of the samples. */
  spread: Spread;
  /** Number of samples the median is taken over. */
  samples: number;
  /** Unit of `median` and `spread`. */
  unit: FigureUnit;
  /** Which direction is an improvement (used by `--compare`). */
  better: Better;
}

/** Significant digits kept in a profile: more would only be noise. */
const FIGURE_SIGNIFICANT_DIGITS = 4;

function round(x: number): number {
  return Number(x.toPrecision(FIGURE_SIGNIFICANT_DIGITS));
}

/** Build a figure from raw samples (any order). Throws if there is no sample or one is not a finite number. */
export function figureOf(samples: readonly number[], unit: FigureUnit, better: Better): Figure {
  if (samples.length === 0) throw new Error(`no samples for a figure in ${unit}`);
  for (const s of samples) if (!Number.isFinite(s)) throw new Error(`sample ${String(s)} (${unit}) is not a finite number`);
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: round(quantileSorted(sorted, 0.5)),
    spread: {
      p25: round(quantileSorted(sorted, 0.25)),
      p75: round(quantileSorted(sorted, 0.75)),
      min: round(sorted[0]),
      max: round(sorted[sorted.length - 1]),
    },
    samples: sorted.length,
    unit,
    better,
  };
}

/** True if the interquartile ranges of two figures overlap (a difference between them is within the noise). */
export function spreadsOverlap(a: Figure, b: Figure): boolean {
  return a.spread.p25 <= b.spread.p75 && b.spread.p25 <= a.spread.p75;
}

/** Format a number for a table: 4 significant digits, thousands separators. */
export function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  const decimals = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 2 : 3;
  return x.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Format a value of `unit` with an SI prefix for rates: "83.20 M lookups/s", "12.40 us". */
function fmtValue(x: number, unit: FigureUnit): string {
  if (!unit.endsWith('/s')) return `${fmtNum(x)} ${unit}`;
  if (x >= 1e9) return `${fmtNum(x / 1e9)} G ${unit}`;
  if (x >= 1e6) return `${fmtNum(x / 1e6)} M ${unit}`;
  if (x >= 1e3) return `${fmtNum(x / 1e3)} k ${unit}`;
  return `${fmtNum(x)} ${unit}`;
}

/** "median unit [p25-p75]" for a table cell. */
export function fmtFigure(f: Figure): string {
  return `${fmtValue(f.median, f.unit)} [${fmtNum(scaleLike(f.spread.p25, f))}-${fmtNum(scaleLike(f.spread.p75, f))}]`;
}

/** Scale a spread bound by the SI prefix `fmtValue` picked for the figure's median. */
function scaleLike(x: number, f: Figure): number {
  if (!f.unit.endsWith('/s')) return x;
  if (f.median >= 1e9) return x / 1e9;
  if (f.median >= 1e6) return x / 1e6;
  if (f.median >= 1e3) return x / 1e3;
  return x;
}

/** Format a ratio as "1.23x". */
export function fmtRatio(x: number): string {
  return `${x.toFixed(2)}x`;
}
