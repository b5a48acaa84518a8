/**
 * `tlbsim report`: one self-contained HTML file from a run result, a stress
 * result or a sweep folder. A run or stress report leads with the answer:
 * the headline (status, IPIs and rounds, modeled cycles per unmapped page,
 * races with their reproduce command), then a picture of the run (the
 * per-CPU heat map, and a Vega-Lite timeline of the IPI rounds read from the
 * trace file when the run recorded one), then the counters that are not
 * zero; the zero counters and the configuration fold into `<details>`. A
 * sweep report shows its plots (inline SVG) and every point.
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
import { dirname, isAbsolute, join } from 'node:path';
import { writeFileAtomic } from './atomicWrite.js';
import { ConfigError } from '../config/params.js';
import { renderSvg, timelineSpec, type TimelineSlice } from './plots.js';
import type { RunResult } from './result.js';
import type { StressResult } from '../campaigns/stress.js';
import type { ChromeTrace } from './trace.js';

/** A run's IPI timeline as read from its trace file, or why there is none. */
type RunTimeline = { slices: TimelineSlice[]; clockTitle: string; truncated: number } | { missing: string };

/** What a report is made from. */
export type ReportInput =
  | { kind: 'run'; source: string; result: RunResult; timeline: RunTimeline }
  | { kind: 'stress'; source: string; result: StressResult }
  | { kind: 'sweep'; source: string; points: Record<string, unknown>[]; plots: { name: string; svg: string }[] };

/** Counters shown per CPU in the heat map: the ones that differ between CPUs in a shootdown. */
const HEATMAP_COUNTERS = [
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
.source { color: #57606a; }
.tiles { display: flex; flex-wrap: wrap; gap: .8em; margin: 1em 0; }
.tile { flex: 1 1 200px; border: 1px solid #d0d7de; border-radius: 8px; padding: .7em 1em; background: #f6f8fa; }
.tile .label { font-size: .85em; color: #57606a; text-transform: uppercase; letter-spacing: .03em; }
.tile .value { font-size: 2em; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .note { font-size: .9em; color: #57606a; }
.tile.good .value, .tile.status-ok .value { color: #1a7f37; } .tile.bad .value, .tile.status-failed .value { color: #cf222e; } .tile.status-partial .value { color: #9a6700; }
details { margin: 1em 0; } summary { cursor: pointer; font-weight: 600; }
.hint { color: #57606a; font-size: .9em; }
#reproduce { display: block; padding: .4em .6em; }
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

/** One headline figure: a big number with its label; `id` lets the tests find it. */
function tile(id: string, label: string, value: string, note = '', cls = ''): string {
  return `<div class="tile ${cls}" id="${id}"><div class="label">${escapeHtml(label)}</div><div class="value">${escapeHtml(value)}</div>${note ? `<div class="note">${escapeHtml(note)}</div>` : ''}</div>`;
}

/** The races line: none, or the kinds found with their counts. */
function raceSummary(races: Record<string, number>): { total: number; text: string } {
  const found = Object.entries(races).filter(([, v]) => v > 0);
  const total = found.reduce((a, [, v]) => a + v, 0);
  return { total, text: total === 0 ? 'none found' : found.map(([k, v]) => `${k.replace(/_/g, ' ')} ${v}`).join(', ') };
}

/** The counters split: the ones that moved (a table), and the ones that stayed 0 (folded). */
function countersSections(counters: Record<string, number>, what: string): string[] {
  const nonZero = Object.fromEntries(Object.entries(counters).filter(([, v]) => v !== 0));
  const zero = Object.fromEntries(Object.entries(counters).filter(([, v]) => v === 0));
  return [
    `<h2>Counters (${what}) that are not zero</h2>`,
    Object.keys(nonZero).length > 0 ? kvTable('counters', nonZero) : '<p id="counters">Every counter is 0.</p>',
    `<details id="zero-counters-details"><summary>${Object.keys(zero).length} counters that stayed 0</summary>${kvTable('zero-counters', zero)}</details>`,
  ];
}

function configDetails(config: Record<string, unknown>): string {
  return `<details id="config-details"><summary>Configuration (${Object.keys(config).length} options)</summary>${kvTable('config', config)}</details>`;
}

/** The picture of a run: the heat map, then the IPI timeline (or how to get one). */
function runPicture(r: RunResult, timelineSvg: string | null, timeline: RunTimeline): string[] {
  const parts = ['<h2>The run, per CPU</h2>', '<p class="hint">Each column is coloured over its own range: white at its minimum, dark at its maximum.</p>', heatMap(r)];
  parts.push('<h2>IPI rounds over time</h2>');
  if (timelineSvg !== null && !('missing' in timeline)) {
    const cut = timeline.truncated > 0 ? ` The first ${timeline.slices.length} IPI slices are drawn; ${timeline.truncated} later ones are left out.` : '';
    parts.push(`<figure class="plot" id="timeline">${timelineSvg}<figcaption>Each round on its initiator's row, each flush IPI on its target's row, from ${escapeHtml(r.trace?.file ?? '')}.${escapeHtml(cut)}</figcaption></figure>`);
  } else {
    parts.push(`<p id="no-timeline" class="hint">${escapeHtml('missing' in timeline ? timeline.missing : 'The trace holds no IPI.')}</p>`);
  }
  return parts;
}

function runBody(r: RunResult, source: string, timelineSvg: string | null, timeline: RunTimeline): string {
  const k = r.counters;
  const races = raceSummary(r.races as unknown as Record<string, number>);
  const perPage = r.modeled.tlb_maintenance_cycles_per_unmapped_page;
  const statusNote = r.failure ? `${r.failure.kind}, CPU ${r.failure.cpu}: ${r.failure.message}` : r.partial ? r.partial.reason : '';
  const headline = [
    tile('headline-status', 'status', r.status, statusNote, `status-${r.status}`),
    tile('headline-ipis', 'IPIs sent', String(k.ipis_sent), `in ${k.remote_flush_rounds} rounds`),
    tile('headline-cycles', 'modeled cycles per unmapped page', perPage === null ? 'n/a' : String(perPage), perPage === null ? 'no page was unmapped' : `${r.modeled.tlb_maintenance_cycles} in TLB maintenance`),
    tile('headline-races', 'races', String(races.total), races.text, races.total > 0 ? 'bad' : 'good'),
  ];
  const sections = [
    `<h1>tlbsim run: ${escapeHtml(r.config.workload)}, ${r.config.cpus} CPUs, ${escapeHtml(r.config.protocol)}</h1>`,
    `<p class="source">From <code>${escapeHtml(source)}</code>. Status: <strong id="status" class="status-${r.status}">${escapeHtml(r.status)}</strong>${statusNote ? ` (${escapeHtml(statusNote)})` : ''}</p>`,
    `<section id="headline" class="tiles">${headline.join('')}</section>`,
    racesSection(r.race_reports, r.reproduce),
    ...runPicture(r, timelineSvg, timeline),
    ...countersSections(k, 'summed over CPUs'),
    '<h2>Races by kind</h2>',
    kvTable('races', r.races as unknown as Record<string, unknown>),
    '<h2>Host</h2>',
    kvTable('host', r.host as unknown as Record<string, unknown>),
  ];
  if (r.trace) {
    const { by_kind: byKind, ...rest } = r.trace;
    sections.push('<h2>Trace summary</h2>', kvTable('trace-summary', { ...rest, ...Object.fromEntries(Object.entries(byKind).map(([key, v]) => [`events: ${key}`, v])) }));
  }
  sections.push(configDetails(r.config as unknown as Record<string, unknown>));
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
  const races = raceSummary(s.races as unknown as Record<string, number>);
  const headline = [
    tile('headline-status', 'status', s.status, s.partial ? s.partial.reason : '', `status-${s.status}`),
    tile('headline-racy', 'racy iterations', String(s.racy_iterations), `of ${s.iterations} (${s.racy_iterations_per_1000} per 1000)`, s.racy_iterations > 0 ? 'bad' : 'good'),
    tile('headline-races', 'races', String(s.races_total), races.text, s.races_total > 0 ? 'bad' : 'good'),
    tile('headline-ipis', 'IPIs sent', String(s.counters.ipis_sent), `in ${s.counters.remote_flush_rounds} rounds`),
  ];
  return [
    `<h1>tlbsim stress: ${escapeHtml(s.scenario)}${s.kernel ? ` (${escapeHtml(s.kernel)} kernel)` : ''}</h1>`,
    `<p class="source">From <code>${escapeHtml(source)}</code>. Status: <strong id="status" class="status-${s.status}">${escapeHtml(s.status)}</strong>${s.partial ? ` (${escapeHtml(s.partial.reason)})` : ''}</p>`,
    `<section id="headline" class="tiles">${headline.join('')}</section>`,
    s.first_race ? `<p>The first race: iteration ${s.first_race.iteration} (seed ${s.first_race.seed}).</p>` : '',
    racesSection(s.first_race?.reports ?? [], s.reproduce),
    '<h2>Campaign</h2>',
    kvTable('summary', summary),
    ...countersSections(s.counters, 'summed over iterations'),
    '<h2>Races by kind</h2>',
    kvTable('races', s.races as unknown as Record<string, unknown>),
    '<h2>Host</h2>',
    kvTable('host', s.host as unknown as Record<string, unknown>),
    configDetails(s.config as unknown as Record<string, unknown>),
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

/** Render a report as one HTML document (the timeline is rendered by Vega to inline SVG: no script in the page). */
export async function renderReport(input: ReportInput): Promise<string> {
  switch (input.kind) {
    case 'run': {
      const t = input.timeline;
      const svg = !('missing' in t) && t.slices.length > 0 ? inlineSvg(await renderSvg(timelineSpec(t.slices, input.result.config.cpus, t.clockTitle))) : null;
      return page(`tlbsim run report`, runBody(input.result, input.source, svg, t));
    }
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
  if (data.config && data.counters && Array.isArray(data.per_cpu)) {
    const result = data as unknown as RunResult;
    return { kind: 'run', source: path, result, timeline: readTimeline(result, path) };
  }
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

/** IPI slices drawn at most: a 256-CPU trace holds ~380,000 events, far more than an SVG can show. */
const TIMELINE_MAX_SLICES = 4000;

/**
 * The IPI timeline of a traced run, from its trace file (`trace.file` as the
 * run wrote it: absolute, relative to the working folder, or beside the
 * result): every `smp_call_function_many` slice on its initiator and every
 * flush IPI handled on its target, earliest first.
 */
function readTimeline(r: RunResult, resultPath: string): RunTimeline {
  if (!r.trace) return { missing: 'No trace was recorded: run with --trace FILE to see every IPI round on a timeline here.' };
  const file = r.trace.file;
  const candidates = isAbsolute(file) ? [file] : [file, join(dirname(resultPath), file)];
  const found = candidates.find((f) => existsSync(f));
  if (found === undefined) return { missing: `The run was traced to ${file}, which is not there any more (looked in ${candidates.join(' and ')}).` };
  let trace: ChromeTrace;
  try {
    trace = JSON.parse(readFileSync(found, 'utf8')) as ChromeTrace;
  } catch (e) {
    return { missing: `The trace ${found} is not valid JSON (${(e as Error).message.split('\n')[0]}).` };
  }
  const slices: TimelineSlice[] = [];
  for (const e of trace.traceEvents ?? []) {
    if (e.ph !== 'X' || e.cat !== 'ipi') continue;
    const kind = e.name === 'smp_call_function_many' ? 'IPI round sent (smp_call_function_many)' : 'flush IPI handled';
    slices.push({ cpu: e.tid, start: e.ts, end: e.ts + e.dur, kind });
  }
  slices.sort((a, b) => a.start - b.start || a.cpu - b.cpu);
  const clockTitle = r.trace.clock === 'seeded_steps' ? 'time (seeded scheduler steps)' : 'time since the run began (µs, host clock)';
  return { slices: slices.slice(0, TIMELINE_MAX_SLICES), clockTitle, truncated: Math.max(0, slices.length - TIMELINE_MAX_SLICES) };
}

/** `tlbsim report INPUT --out FILE`: read, render, write atomically. Returns the input's kind. */
export async function writeReport(inputPath: string, outPath: string): Promise<ReportInput['kind']> {
  const input = readReportInput(inputPath);
  writeFileAtomic(outPath, await renderReport(input));
  return input.kind;
}
