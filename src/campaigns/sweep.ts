/**
 * `tlbsim sweep`: a grid over run options. Every point is one whole simulated
 * machine (booted, run once, shut down) on a piscina thread; points run in
 * parallel on the host's cores; the folder it writes holds results.csv,
 * results.json and SVG plots.
 *
 * Invariants:
 * - Points are numbered in one fixed order: the cartesian product of the
 *   swept options, taken in FLAG_NAMES order, the last option varying
 *   fastest. A point's number, its configuration and its row never depend on
 *   the host, the shard or the order points finish in.
 * - A point whose combination of options is invalid, or whose simulation
 *   fails or throws, becomes a failed row with its error; the other points
 *   still run. Only a grid with no valid point at all is bad input.
 * - Each point gets one run token unless `--run-tokens` is swept or given
 *   (points already share the cores), so rows do not depend on the host.
 * - results.csv has a header and exactly one row per point, sorted by point;
 *   its columns are `CSV_COLUMNS`: every option, every counter, the races and
 *   every modeled figure (host timings are in results.json only, so two
 *   seeded sweeps write the same CSV).
 */
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../output/atomicWrite.js';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { ConfigError, DEFAULTS, FLAG_NAMES, type SimConfig } from '../config/config.js';
import { PARAM_KEYS, PARAMS } from '../config/params.js';
import { presetLayer, resolvePreset, type PresetChoice } from '../scenarios/preset.js';
import { COST_MODEL_DEFAULTS, MODELED_EVENT_NAMES, type CostModel, type Modeled } from '../output/costModel.js';
import { COUNTER_NAMES } from '../engine/layout.js';
import type { RaceCounts } from '../engine/oracle.js';
import { sweepWorkerUrl } from '../engine/paths.js';
import { lineSpec, renderSvg, type LinePlot, type PlotPoint } from '../output/plots.js';
import type { Counters, HostStats, RunResult } from '../output/result.js';
import { formatShard, shardPointIndices, type Shard } from './shard.js';

/** One value of a swept option. */
export type GridValue = string | number | boolean;
/** The swept options and their values. */
export type Grid = { [K in keyof SimConfig]?: GridValue[] };

/** Largest grid a sweep accepts (a campaign beyond it should be split by hand). */
const MAX_SWEEP_POINTS = 1_000_000;

/** Options whose single value already holds commas (`--range 1,8,64`, `--reclaim-pages 0,8-15`): their grid values are separated by ';'. */
const SEMICOLON_LIST_KEYS: readonly (keyof SimConfig)[] = ['range', 'reclaimPages'];

/**
 * Every option a sweep may vary (the table's `sweep`), in the order points
 * are numbered and CSV columns appear. A schedule belongs to one scenario's
 * run, and --ipi-step, --page-walk-cache, --no-lazy-flush-on-table-free and
 * --no-flush-range-freed-tables to the race catalogue's scenarios: none is a
 * grid axis (nor a CSV column).
 */
export const SWEEP_KEYS = PARAM_KEYS.filter((k) => PARAMS[k].sweep);

/** Parse one option's comma (or ';') list into typed values. @throws ConfigError naming the flag and the bad value. */
export function parseGridList(key: keyof SimConfig, raw: string): GridValue[] {
  const flag = FLAG_NAMES[key].replace(/^--no-/, '--');
  const sep = SEMICOLON_LIST_KEYS.includes(key) ? ';' : ',';
  const items = raw.split(sep).map((s) => s.trim());
  if (items.some((s) => s === '')) throw new ConfigError(`${flag} takes a '${sep}'-separated list of values, got '${raw}'`);
  const kind = typeof DEFAULTS[key];
  return items.map((item) => {
    if (kind === 'number') {
      const n = Number(item);
      if (!Number.isFinite(n)) throw new ConfigError(`${flag} takes numbers, got '${item}' in '${raw}'`);
      return n;
    }
    if (kind === 'boolean') {
      if (['on', 'true', 'yes', '1'].includes(item)) return true;
      if (['off', 'false', 'no', '0'].includes(item)) return false;
      throw new ConfigError(`${flag} takes on/off (or true/false), got '${item}' in '${raw}'`);
    }
    return item;
  });
}

/** The grid's points as option overrides, numbered in the fixed order (see the header). */
export function expandGrid(grid: Grid): Partial<SimConfig>[] {
  const keys = SWEEP_KEYS.filter((k) => grid[k] !== undefined);
  let total = 1;
  for (const k of keys) total *= grid[k]!.length;
  if (total > MAX_SWEEP_POINTS) throw new ConfigError(`the grid has ${total} points; at most ${MAX_SWEEP_POINTS} (split the campaign by hand)`);
  let points: Partial<SimConfig>[] = [{}];
  for (const k of keys) {
    const next: Partial<SimConfig>[] = [];
    for (const p of points) for (const v of grid[k]!) next.push({ ...p, [k]: v });
    points = next;
  }
  return points;
}

/** What identifies a sweep campaign: every shard of one campaign has the same. */
interface SweepCampaign {
  kind: 'sweep';
  grid: Grid;
  /** Options every point shares (given once, not swept). */
  base: Partial<SimConfig>;
  /** The preset under every point, when the sweep named one. */
  preset?: PresetChoice;
  cost_model: CostModel;
  total_points: number;
}

/** One point of a sweep: its options and everything it measured and modeled. */
export interface SweepRow {
  index: number;
  status: 'ok' | 'failed';
  /** Why the point failed (invalid options, a failed or crashed simulation), else null. */
  error: string | null;
  /** The point's options (as given, merged over the defaults, when they were invalid). */
  config: SimConfig;
  /** Counters (measured up to the failure for a failed run; null if it never ran). */
  counters: Counters | null;
  races: RaceCounts | null;
  modeled: Modeled | null;
  /** Host timings of the point (not in the CSV: they differ from run to run). */
  host: HostStats | null;
}

/** What a sweep (or one shard of it) produced. */
export interface SweepResult {
  campaign: SweepCampaign;
  /** The slice this run covered (null: all of it; a merged folder is null too). */
  shard: Shard | null;
  /** Rows of the points run, sorted by index. */
  points: SweepRow[];
  host: { wall_ms: number; parallel: number };
}

/** A piscina task: run one point. */
export interface SweepPointTask {
  index: number;
  config: SimConfig;
  costModel: CostModel;
}

/** The row of a finished run. */
export function rowFromResult(index: number, r: RunResult): SweepRow {
  return {
    index,
    status: r.status === 'ok' ? 'ok' : 'failed',
    error: r.status === 'ok' ? null : (r.failure?.message ?? r.partial?.reason ?? 'run failed'),
    config: r.config,
    counters: r.counters,
    races: r.races,
    modeled: r.modeled,
    host: r.host,
  };
}

/** The row of a point that never produced a result. */
export function failedRow(index: number, config: SimConfig, error: string): SweepRow {
  return { index, status: 'failed', error: error.split('\n')[0], config, counters: null, races: null, modeled: null, host: null };
}

/** What `runSweep` runs: the grid, shared options, cost model, shard and parallelism. */
export interface SweepOptions {
  grid: Grid;
  /** Options shared by every point. */
  base?: Partial<SimConfig>;
  /** `--scenario NAME [--kernel SIDE]`: the preset laid under every point (src/scenarios/preset.ts), as run and stress lay it. */
  preset?: PresetChoice;
  costModel?: CostModel;
  shard?: Shard | null;
  /** Points run at once (default: host cores). */
  parallel?: number;
  /** Called after each point. */
  onProgress?: (done: number, total: number, failed: number) => void;
}

/** Resolve every point's configuration; invalid ones carry their error. @throws ConfigError if no point is valid. */
export function resolvePoints(grid: Grid, base: Partial<SimConfig>, preset: PresetChoice = {}): { config: SimConfig; error: string | null }[] {
  const overrides = expandGrid(grid);
  const tokens = grid.runTokens !== undefined || base.runTokens !== undefined ? {} : { runTokens: 1 };
  let firstError: ConfigError | null = null;
  const out = overrides.map((ov) => {
    const partial = { ...tokens, ...base, ...ov };
    try {
      return { config: resolvePreset(preset, partial).config, error: null };
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      firstError ??= e;
      return { config: { ...DEFAULTS, ...presetLayer(preset, partial).layer, ...partial } as SimConfig, error: e.message };
    }
  });
  if (out.every((p) => p.error !== null) && firstError !== null) throw firstError;
  return out;
}

/** Run a sweep (or one shard of it). */
export async function runSweep(opts: SweepOptions): Promise<SweepResult> {
  const base = opts.base ?? {};
  const costModel = opts.costModel ?? COST_MODEL_DEFAULTS;
  const shard = opts.shard ?? null;
  const parallel = opts.parallel ?? availableParallelism();
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 256) {
    throw new ConfigError(`--parallel must be an integer from 1 to 256, got ${String(parallel)}`);
  }
  const preset = opts.preset ?? {};
  presetLayer(preset, {}); // an unknown preset or a --kernel it does not take is bad input for the whole sweep, not one point
  const all = resolvePoints(opts.grid, base, preset);
  const campaign: SweepCampaign = { kind: 'sweep', grid: opts.grid, base, ...(preset.scenario === undefined ? {} : { preset }), cost_model: costModel, total_points: all.length };
  const mine = shardPointIndices(all.length, shard);
  const t0 = performance.now();
  const rows: SweepRow[] = [];
  let done = 0;
  let failed = 0;
  const finish = (row: SweepRow): void => {
    rows.push(row);
    done++;
    if (row.status === 'failed') failed++;
    opts.onProgress?.(done, mine.length, failed);
  };
  opts.onProgress?.(0, mine.length, 0);
  for (const i of mine) if (all[i].error !== null) finish(failedRow(i, all[i].config, all[i].error!));
  const tasks = mine.filter((i) => all[i].error === null).map((i) => ({ index: i, config: all[i].config, costModel }));
  await runPointTasks(tasks, parallel, finish);
  rows.sort((a, b) => a.index - b.index);
  return { campaign, shard, points: rows, host: { wall_ms: Math.round(performance.now() - t0), parallel } };
}

/**
 * Run points on a piscina pool of `parallel` threads (one machine per task);
 * `onRow` gets each row as it finishes. A task that throws becomes a failed row.
 */
export async function runPointTasks(tasks: readonly SweepPointTask[], parallel: number, onRow: (row: SweepRow) => void): Promise<void> {
  if (tasks.length === 0) return;
  const threads = Math.min(parallel, tasks.length);
  const pool = new Piscina<SweepPointTask, SweepRow>({ filename: sweepWorkerUrl().href, minThreads: threads, maxThreads: threads, idleTimeout: 1_000 });
  try {
    await Promise.all(
      tasks.map(async (t) => {
        try {
          onRow(await pool.run(t));
        } catch (e) {
          onRow(failedRow(t.index, t.config, e instanceof Error ? e.message : String(e)));
        }
      }),
    );
  } finally {
    await pool.destroy();
  }
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

/** Modeled figures in the CSV (each prefixed `modeled_`), besides every event's count and cycles. */
/** The `modeled` section's scalar figures as CSV columns (`modeled_<name>`), each with where it is read. */
const MODELED_COLUMNS: readonly (readonly [string, (m: Modeled) => number | null])[] = [
  ['tlb_maintenance_cycles', (m) => m.tlb_maintenance_cycles],
  ['tlb_maintenance_cycles_per_unmapped_page', (m) => m.tlb_maintenance_cycles_per_unmapped_page],
  ['all_events_cycles', (m) => m.all_events_cycles],
  ['shootdown_latency_cycles_median', (m) => m.shootdown_latency_cycles.median],
  ['shootdown_latency_cycles_p99', (m) => m.shootdown_latency_cycles.p99],
  ['shootdown_latency_cycles_max', (m) => m.shootdown_latency_cycles.max],
  ['shootdown_rounds', (m) => m.shootdown_latency_cycles.rounds],
  ['shootdown_latency_ns_median', (m) => m.shootdown_latency_ns.median],
  ['shootdown_latency_ns_p99', (m) => m.shootdown_latency_ns.p99],
  ['shootdown_latency_ns_max', (m) => m.shootdown_latency_ns.max],
  ['targets_per_round', (m) => m.targets_per_round],
];

const RACE_COLUMNS = ['lost_writes', 'stale_accesses', 'writes_after_protect', 'accesses_after_unmap', 'reads_after_protect'] as const;

/** Every CSV column, in order. */
export const CSV_COLUMNS: readonly string[] = [
  'point',
  'status',
  'error',
  ...SWEEP_KEYS,
  ...COUNTER_NAMES,
  'ipis_per_unmapped_page',
  ...RACE_COLUMNS,
  ...MODELED_COLUMNS.map(([c]) => `modeled_${c}`),
  ...MODELED_EVENT_NAMES.flatMap((e) => [`modeled_${e}_count`, `modeled_${e}_cycles`]),
];

/** IPIs sent per unmapped page, or null when no page was unmapped. */
function ipisPerUnmappedPage(k: Counters | null): number | null {
  if (!k || k.pages_unmapped === 0) return null;
  return Math.round((k.ipis_sent / k.pages_unmapped) * 1e6) / 1e6;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV line per row, with the header first. */
export function toCsv(rows: readonly SweepRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) {
    const cells: unknown[] = [r.index, r.status, r.error];
    for (const k of SWEEP_KEYS) cells.push(r.config[k]);
    for (const n of COUNTER_NAMES) cells.push(r.counters ? r.counters[n] : null);
    cells.push(ipisPerUnmappedPage(r.counters));
    for (const n of RACE_COLUMNS) cells.push(r.races ? r.races[n] : null);
    for (const [, read] of MODELED_COLUMNS) cells.push(r.modeled ? read(r.modeled) : null);
    for (const e of MODELED_EVENT_NAMES) cells.push(r.modeled ? r.modeled.events[e].count : null, r.modeled ? r.modeled.events[e].cycles : null);
    lines.push(cells.map(csvCell).join(','));
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// Plots
// ---------------------------------------------------------------------------

/** Swept options that tell the lines of a plot apart (every swept option with more than one value except the x axis). */
function seriesKeys(grid: Grid, x: keyof SimConfig | null): (keyof SimConfig)[] {
  return SWEEP_KEYS.filter((k) => k !== x && (grid[k]?.length ?? 0) > 1);
}

function seriesLabel(c: SimConfig, keys: readonly (keyof SimConfig)[]): string {
  if (keys.length === 0) return 'all points';
  return keys.map((k) => (k === 'protocol' || k === 'workload' || k === 'arch' ? String(c[k]) : `${FLAG_NAMES[k].replace(/^--(no-)?/, '')} ${String(c[k])}`)).join(', ');
}

function legendTitle(keys: readonly (keyof SimConfig)[]): string {
  return keys.length === 0 ? 'series' : keys.map((k) => FLAG_NAMES[k].replace(/^--(no-)?/, '')).join(', ');
}

/** The four sweep plots, from the rows that ran to completion. */
export function sweepPlots(campaign: SweepCampaign, rows: readonly SweepRow[]): LinePlot[] {
  const ok = rows.filter((r) => r.status === 'ok' && r.counters && r.modeled);
  const keysByCpus = seriesKeys(campaign.grid, 'cpus');
  const pts = (y: (r: SweepRow) => number | null, x: (r: SweepRow) => number = (r) => r.config.cpus, keys = keysByCpus): PlotPoint[] =>
    ok.flatMap((r) => {
      const v = y(r);
      return v === null ? [] : [{ x: x(r), y: v, series: seriesLabel(r.config, keys) }];
    });
  const legend = legendTitle(keysByCpus);
  const ghz = campaign.cost_model.ghz;
  return [
    {
      file: 'ipis-per-page.svg',
      title: 'IPIs per unmapped page',
      xTitle: 'simulated CPUs (count, log)',
      yTitle: 'IPIs per unmapped page (IPIs/page, log)',
      legendTitle: legend,
      xLog2: true,
      yLog: true,
      points: pts((r) => ipisPerUnmappedPage(r.counters)),
    },
    {
      file: 'tlb-cycles-per-page.svg',
      title: 'Modeled TLB-maintenance cycles per unmapped page, all CPUs',
      xTitle: 'simulated CPUs (count, log)',
      yTitle: 'TLB maintenance (cycles/page, log)',
      legendTitle: legend,
      xLog2: true,
      yLog: true,
      points: pts((r) => r.modeled!.tlb_maintenance_cycles_per_unmapped_page),
    },
    {
      file: 'shootdown-latency.svg',
      title: `Modeled shootdown latency against targets (median per point, ${ghz} GHz)`,
      xTitle: 'targets per IPI round (CPUs)',
      yTitle: 'modeled latency per round (cycles)',
      legendTitle: legend,
      xLog2: false,
      yLog: false,
      points: pts(
        (r) => (r.modeled!.shootdown_latency_cycles.rounds > 0 ? r.modeled!.shootdown_latency_cycles.median : null),
        (r) => r.modeled!.targets_per_round,
      ),
    },
    {
      file: 'flush-refills.svg',
      title: 'TLB misses caused by flushes (refills of entries a flush dropped)',
      xTitle: 'simulated CPUs (count, log)',
      yTitle: 'refill misses (count per run)',
      legendTitle: legend,
      xLog2: true,
      yLog: false,
      points: pts((r) => r.counters!.tlb_flush_refills),
    },
  ];
}

/** Names of the files a sweep folder holds. */
export const SWEEP_FILES = { csv: 'results.csv', json: 'results.json' } as const;

/** Write results.csv, results.json and the SVG plots into `dir` (created if missing). Returns the files written. */
export async function writeSweepDir(dir: string, result: SweepResult): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const put = (name: string, text: string): void => {
    writeFileAtomic(join(dir, name), text);
    files.push(join(dir, name));
  };
  put(SWEEP_FILES.json, `${JSON.stringify(result, null, 2)}\n`);
  put(SWEEP_FILES.csv, toCsv(result.points));
  for (const p of sweepPlots(result.campaign, result.points)) put(p.file, await renderSvg(lineSpec(p)));
  return files;
}

/** One-paragraph human summary of a sweep. */
export function formatSweep(r: SweepResult, dir: string): string {
  const failed = r.points.filter((p) => p.status === 'failed');
  const lines = [
    `tlbsim sweep: ${r.points.length} point${r.points.length === 1 ? '' : 's'}${r.shard ? ` (shard ${formatShard(r.shard)} of ${r.campaign.total_points})` : ''} in ${(r.host.wall_ms / 1000).toFixed(1)} s on ${r.host.parallel} parallel machine${r.host.parallel === 1 ? '' : 's'}; ${failed.length} failed`,
  ];
  for (const f of failed.slice(0, 10)) lines.push(`  FAILED point ${f.index}: ${f.error ?? 'failed'}`);
  if (failed.length > 10) lines.push(`  ... and ${failed.length - 10} more failed points (see results.csv)`);
  lines.push(`  wrote ${join(dir, SWEEP_FILES.csv)}, ${SWEEP_FILES.json} and ${sweepPlots(r.campaign, []).map((p) => p.file).join(', ')}`);
  return lines.join('\n');
}
