/**
 * `tlbsim bench --compare A.json B.json`: two host profiles side by side,
 * figure by figure, with the ratio B / A of the medians and a verdict that
 * says which host is better, or that the difference is within the spread.
 *
 * Invariants:
 * - Figures are matched by name (`namedFigures`); a figure only one profile
 *   has (another core count, another tier) is listed as such, never paired
 *   with a different one.
 * - A difference is called meaningful only when the two interquartile
 *   ranges do not overlap; otherwise the row says the spread makes it
 *   meaningless, whatever the ratio.
 */
import { fmtFigure, fmtRatio, spreadsOverlap, type Figure } from './figure.js';
import { table } from './format.js';
import { namedFigures, type HostProfile } from './profile.js';

/** Below this factor a difference is printed as a percentage. */
const SMALL_FACTOR = 1.1;

/** What one row of a comparison says. */
type CompareVerdict = 'a-better' | 'b-better' | 'within-spread' | 'only-in-a' | 'only-in-b';

/** One row of a comparison. */
export interface CompareRow {
  figure: string;
  a: Figure | null;
  b: Figure | null;
  /** b.median / a.median; null when a side is missing. */
  ratio: number | null;
  verdict: CompareVerdict;
  /** Human note: who is faster by how much, or why the difference means nothing. */
  note: string;
}

/** The comparison `--compare --json` prints. */
export interface ProfileComparison {
  a: { file: string; host: string; cores: number; tier: string; created_at: string };
  b: { file: string; host: string; cores: number; tier: string; created_at: string };
  rows: CompareRow[];
}

function side(p: HostProfile, file: string): ProfileComparison['a'] {
  return { file, host: p.host.cpu_model, cores: p.host.cores, tier: p.tier, created_at: p.created_at };
}

function cores(n: number): string {
  return `${n} core${n === 1 ? '' : 's'}`;
}

/** Compare two profiles figure by figure. */
export function compareProfiles(a: HostProfile, b: HostProfile, fileA = 'A', fileB = 'B'): ProfileComparison {
  const fa = new Map(namedFigures(a));
  const fb = new Map(namedFigures(b));
  const names = [...fa.keys(), ...[...fb.keys()].filter((k) => !fa.has(k))];
  const rows: CompareRow[] = names.map((name) => {
    const x = fa.get(name) ?? null;
    const y = fb.get(name) ?? null;
    if (!x) return { figure: name, a: null, b: y, ratio: null, verdict: 'only-in-b', note: 'only B measured it' };
    if (!y) return { figure: name, a: x, b: null, ratio: null, verdict: 'only-in-a', note: 'only A measured it' };
    const ratio = Math.round((y.median / x.median) * 1000) / 1000;
    if (spreadsOverlap(x, y)) return { figure: name, a: x, b: y, ratio, verdict: 'within-spread', note: 'spreads overlap: difference not meaningful' };
    const bBetter = x.better === 'lower' ? y.median < x.median : y.median > x.median;
    const factor = ratio >= 1 ? ratio : 1 / ratio;
    // Small differences read better as a percentage ("by 4%") than as "1.04x".
    const by = factor < SMALL_FACTOR ? `${Math.round((factor - 1) * 1000) / 10}%` : fmtRatio(factor);
    return { figure: name, a: x, b: y, ratio, verdict: bBetter ? 'b-better' : 'a-better', note: `${bBetter ? 'B' : 'A'} better by ${by}` };
  });
  return { a: side(a, fileA), b: side(b, fileB), rows };
}

/** The comparison as a text table. */
export function formatComparison(c: ProfileComparison): string {
  const head = [
    `A: ${c.a.file} (${c.a.host}, ${cores(c.a.cores)}, ${c.a.tier}, ${c.a.created_at})`,
    `B: ${c.b.file} (${c.b.host}, ${cores(c.b.cores)}, ${c.b.tier}, ${c.b.created_at})`,
    'figures: median [p25-p75]; ratio = B / A; a difference counts only when the p25-p75 ranges do not overlap',
    '',
  ];
  const rows = c.rows.map((r) => [r.figure, r.a ? fmtFigure(r.a) : '-', r.b ? fmtFigure(r.b) : '-', r.ratio === null ? '-' : fmtRatio(r.ratio), r.note]);
  const meaningful = c.rows.filter((r) => r.verdict === 'a-better' || r.verdict === 'b-better').length;
  const both = c.rows.filter((r) => r.a && r.b).length;
  return [...head, table('Host profiles compared', ['figure', 'A', 'B', 'B/A', 'note'], rows), '', `${meaningful} of ${both} shared figures differ by more than their spread.`].join('\n');
}
