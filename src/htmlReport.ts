/**
 * `tlbsim report`: one self-contained HTML file from a run result, a stress
 * result or a sweep folder: the configuration, the counters as a table,
 * per-CPU figures as a heat map, the sweep's plots (inline SVG), the races
 * found with their reproduce commands, and the trace summary when the run
 * was traced.
 *
 * Invariants:
 * - The page loads nothing: no script, no stylesheet, no font, no link; every
 *   plot is inline SVG. It opens the same offline, from a mail attachment or
 *   a CI artefact.
 * - Every number shown is read from the input JSON unchanged (the tests
 *   compare the page's tables with the JSON).
 * - Every string from the input is HTML-escaped.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomicWrite.js';
import { ConfigError } from './config.js';
import type { RunResult } from './result.js';
import type { StressResult } from './stress.js';

/** What a report is made from. */
export type ReportInput =
  | { kind: 'run'; source: string; result: RunResult }
  | { kind: 'stress'; source: string; result: StressResult }
  | { kind: 'sweep'; source: string; points: Record<string, unknown>[]; plots: { name: string; svg: string }[] };

/** Counters shown per CPU in the heat map: the ones that differ between CPUs in a shootdown. */
export const HEATMAP_COUNTERS = [
  'nr_tlb_remote_flush_received',
  'ipis_sent',
  'tlb_misses',
  'page_faults',
  'tlb_entries_flushed',
  'tlb_flushes_elided',
  'context_switches',
  'asid_flushes',
] as const;

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function cell(v: unknown): string {
  if (typeof v === 'number') return `<td class="num">${escapeHtml(String(v))}</td>`;
  if (v !== null && typeof v === 'object') return `<td><code>${escapeHtml(JSON.stringify(v))}</code></td>`;
  return `<td>${escapeHtml(String(v))}</td>`;
}

/** A two-column table of `obj`'s entries, with a data-table id the tests look up. */
function kvTable(id: string, obj: Record<string, unknown>): string {
  const rows = Object.entries(obj)
    .map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th>${cell(v)}</tr>`)
    .join('\n');
  return `<table id="${id}" class="kv"><tbody>\n${rows}\n</tbody></table>`;
}

/** A table with a header row. */
function gridTable(id: string, header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const head = `<tr>${header.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('\n');
  return `<table id="${id}" class="grid"><thead>${head}</thead><tbody>\n${body}\n</tbody></table>`;
}

/** Background colour of a heat-map cell: white at the column's minimum, dark blue at its maximum. */
function heat(v: number, min: number, max: number): string {
  const t = max > min ? (v - min) / (max - min) : 0;
  const light = Math.round(97 - t * 62);
  return `hsl(215, 70%, ${light}%)`;
}

/** Per-CPU heat map: one row per CPU, one column per counter, each column coloured over its own range. */
function heatMap(result: RunResult): string {
  const cols = HEATMAP_COUNTERS.filter((k) => result.per_cpu.some((row) => row[k] !== 0));
  if (result.per_cpu.length === 0 || cols.length === 0) return '<p>No per-CPU figures (the run was interrupted before it booted).</p>';
  const ranges = cols.map((k) => {
    const vals = result.per_cpu.map((row) => row[k]);
    return { min: Math.min(...vals), max: Math.max(...vals) };
  });
  const head = `<tr><th scope="col">CPU</th>${cols.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = result.per_cpu
    .map((row, cpu) => {
      const cells = cols.map((k, i) => {
        const v = row[k];
        const { min, max } = ranges[i];
        const dark = max > min && (v - min) / (max - min) > 0.55;
        return `<td class="num heat" style="background:${heat(v, min, max)};${dark ? 'color:#fff' : ''}">${v}</td>`;
      });
      return `<tr><th scope="row">${cpu}</th>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<table id="per-cpu" class="grid heatmap"><thead>${head}</thead><tbody>\n${body}\n</tbody></table>`;
}

function racesSection(reports: readonly { kind: string; cpu: number; page: number; step: string; op?: string }[], reproduce: string | null): string {
  const parts: string[] = [];
  if (reproduce) parts.push(`<p>Reproduce: <code id="reproduce">${escapeHtml(reproduce)}</code></p>`);
  if (reports.length === 0) parts.push('<p id="no-races">No race was found.</p>');
  else {
    parts.push(
      gridTable(
        'race-reports',
        ['kind', 'CPU', 'page', 'protocol step', 'op'],
        reports.map((r) => [r.kind, r.cpu, r.page, r.step, r.op ?? '']),
      ),
    );
  }
  return parts.join('\n');
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1b1f24; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .5em 0; } th, td { border: 1px solid #d0d7de; padding: .2em .5em; }
th { background: #f6f8fa; text-align: left; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: .92em; background: #f6f8fa; padding: .1em .3em; word-break: break-all; }
.status-ok { color: #1a7f37; } .status-failed { color: #cf222e; } .status-partial { color: #9a6700; }
.plot { margin: 1em 0; } .plot svg { max-width: 100%; height: auto; }
.scroll { max-width: 100%; overflow-x: auto; } .scroll td, .scroll th { white-space: nowrap; }
`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function runBody(r: RunResult, source: string): string {
  const status = `<p>Status: <strong id="status" class="status-${r.status}">${escapeHtml(r.status)}</strong>${
    r.failure ? ` (${escapeHtml(r.failure.kind)}, CPU ${r.failure.cpu}: ${escapeHtml(r.failure.message)})` : ''
  }${r.partial ? ` (${escapeHtml(r.partial.reason)})` : ''}</p>`;
  const sections = [
    `<h1>tlbsim run: ${escapeHtml(r.config.workload)}, ${r.config.cpus} CPUs, ${escapeHtml(r.config.protocol)}</h1>`,
    `<p>From <code>${escapeHtml(source)}</code>.</p>`,
    status,
    '<h2>Configuration</h2>',
    kvTable('config', r.config as unknown as Record<string, unknown>),
    '<h2>Counters (summed over CPUs)</h2>',
    kvTable('counters', r.counters),
    '<h2>Races</h2>',
    kvTable('races', r.races as unknown as Record<string, unknown>),
    racesSection(r.race_reports, r.reproduce),
    '<h2>Per-CPU figures</h2>',
    heatMap(r),
    '<h2>Host</h2>',
    kvTable('host', r.host as unknown as Record<string, unknown>),
  ];
  if (r.trace) {
    const { by_kind: byKind, ...rest } = r.trace;
    sections.push('<h2>Trace summary</h2>', kvTable('trace-summary', { ...rest, ...Object.fromEntries(Object.entries(byKind).map(([k, v]) => [`events: ${k}`, v])) }));
  }
  return sections.join('\n');
}

function stressBody(s: StressResult, source: string): string {
  const summary: Record<string, unknown> = {
    scenario: s.scenario,
    status: s.status,
    iterations: s.iterations,
    requested_iterations: s.requested_iterations,
    racy_iterations: s.racy_iterations,
    racy_iterations_per_1000: s.racy_iterations_per_1000,
    races_total: s.races_total,
  };
  return [
    `<h1>tlbsim stress: ${escapeHtml(s.scenario)}</h1>`,
    `<p>From <code>${escapeHtml(source)}</code>.</p>`,
    `<p>Status: <strong id="status" class="status-${s.status}">${escapeHtml(s.status)}</strong>${s.partial ? ` (${escapeHtml(s.partial.reason)})` : ''}</p>`,
    '<h2>Campaign</h2>',
    kvTable('summary', summary),
    '<h2>Configuration</h2>',
    kvTable('config', s.config as unknown as Record<string, unknown>),
    '<h2>Races</h2>',
    kvTable('races', s.races as unknown as Record<string, unknown>),
    racesSection(s.first_race?.reports ?? [], s.reproduce),
    '<h2>Counters (summed over iterations)</h2>',
    kvTable('counters', s.counters),
    '<h2>Host</h2>',
    kvTable('host', s.host as unknown as Record<string, unknown>),
  ].join('\n');
}

function sweepBody(points: Record<string, unknown>[], plots: { name: string; svg: string }[], source: string): string {
  const cols = points.length ? Object.keys(points[0]) : [];
  return [
    `<h1>tlbsim sweep: ${points.length} points</h1>`,
    `<p>From <code>${escapeHtml(source)}</code>.</p>`,
    '<h2>Plots</h2>',
    ...plots.map((p) => `<figure class="plot" id="plot-${escapeHtml(p.name)}">${p.svg}<figcaption>${escapeHtml(p.name)}</figcaption></figure>`),
    '<h2>Points</h2>',
    `<div class="scroll">${gridTable('points', cols, points.map((p) => cols.map((c) => p[c])))}</div>`,
  ].join('\n');
}

/** Render a report as one HTML document. */
export function renderReport(input: ReportInput): string {
  switch (input.kind) {
    case 'run':
      return page(`tlbsim run report`, runBody(input.result, input.source));
    case 'stress':
      return page(`tlbsim stress report`, stressBody(input.result, input.source));
    case 'sweep':
      return page(`tlbsim sweep report`, sweepBody(input.points, input.plots, input.source));
  }
}

/** Strip an SVG file's XML prologue so it can sit inline in HTML. */
function inlineSvg(text: string): string {
  return text.replace(/<\?xml[^>]*\?>\s*/, '').replace(/<!DOCTYPE[^>]*>\s*/i, '');
}

/**
 * Read a run result (`tlbsim run --json` / `--out`), a stress result, or a
 * sweep folder (its results.json and *.svg plots).
 * @throws ConfigError (one line) for anything else.
 */
export function readReportInput(path: string): ReportInput {
  if (!existsSync(path)) throw new ConfigError(`report input ${path} does not exist: give a RESULT.json (tlbsim run --out) or a sweep folder`);
  if (statSync(path).isDirectory()) {
    const stressJson = join(path, 'stress.json');
    if (existsSync(stressJson)) return readReportInput(stressJson);
    const json = join(path, 'results.json');
    if (!existsSync(json)) throw new ConfigError(`report input ${path} is a folder without results.json or stress.json: give a sweep or stress folder (tlbsim sweep|stress --out DIR)`);
    const data = parseJson(json);
    const points = Array.isArray(data) ? data : Array.isArray((data as { points?: unknown }).points) ? (data as { points: unknown[] }).points : null;
    if (!points) throw new ConfigError(`${json} holds no list of sweep points`);
    const plots = readdirSync(path)
      .filter((f) => f.endsWith('.svg'))
      .sort()
      .map((f) => ({ name: f.replace(/\.svg$/, ''), svg: inlineSvg(readFileSync(join(path, f), 'utf8')) }));
    return { kind: 'sweep', source: path, points: points.map((p: unknown) => flattenPoint(p)), plots };
  }
  const data = parseJson(path) as Record<string, unknown>;
  if (typeof data.scenario === 'string' && 'racy_iterations' in data) return { kind: 'stress', source: path, result: data as unknown as StressResult };
  if (data.config && data.counters && Array.isArray(data.per_cpu)) return { kind: 'run', source: path, result: data as unknown as RunResult };
  throw new ConfigError(`report input ${path} is neither a run result (tlbsim run --json) nor a stress result (tlbsim stress --json)`);
}

/** One sweep point as a flat row (nested objects become dotted keys). */
function flattenPoint(p: unknown, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (p === null || typeof p !== 'object') return { [prefix || 'value']: p };
  for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flattenPoint(v, key));
    else out[key] = v;
  }
  return out;
}

function parseJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    throw new ConfigError(`report input ${path} is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

/** `tlbsim report INPUT --out FILE`: read, render, write atomically. Returns the input's kind. */
export function writeReport(inputPath: string, outPath: string): ReportInput['kind'] {
  const input = readReportInput(inputPath);
  writeFileAtomic(outPath, renderReport(input));
  return input.kind;
}
