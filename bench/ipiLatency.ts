/**
 * Developer benchmark: the IPI round against 1, 7, 63, 255, 511 and 1023
 * targets, engine against raw (the measuring code is src/campaigns/bench/ipiRound.ts,
 * the same `tlbsim bench` runs), with the engine run details (context
 * switches per round) and a diagnostic column: the raw baseline with one
 * target running a busy polling loop, the host situation the engine is in.
 *
 * Target: engine median within 2x of the raw median at every target count.
 *
 * Flags: --targets=1,7 picks target counts; --diag instead runs the engine
 * with other runTokens / quantum / doorbellPollInterval / writeRatio values
 * next to the raw baselines.
 */
import type { SimConfig } from '../src/config/config.js';
import { measureEngine, measureRaw, type EngineIpi, type IpiBudget, type IpiRoundEntry } from '../src/campaigns/bench/ipiRound.js';
import { TIERS } from '../src/campaigns/bench/run.js';
import { HostLoadMonitor, describeLoad, fmt, isMain, printTable, ratio, waitForQuietHost } from './common.js';
import { ipiVerdicts } from './verdicts.js';

/** Target counts measured (a 2, 8, 64, 256, 512 and 1024-CPU machine). */
export const TARGET_COUNTS: readonly number[] = [1, 7, 63, 255, 511, 1023];
/** The `full` tier's budget: what `npm run bench` uses. */
export const BUDGET: IpiBudget = TIERS.full.ipi;

function perRound(x: number | null): string {
  return x === null ? '?' : fmt(x, 0);
}

/** Print the engine's run details (one row per target count). */
export function printEngineDetails(targets: readonly number[], engine: readonly EngineIpi[]): void {
  printTable(
    'Engine run details (thread sleeps/preemptions = context switches of every thread of the process per IPI round)',
    ['targets', 'startup ms', 'run ms', 'rounds', 'IPIs sent', 'page faults', 'sleeps/round', 'preemptions/round'],
    engine.map((e, i) => [
      String(targets[i]),
      fmt(e.startupMs, 0),
      fmt(e.wallMs, 0),
      String(e.rounds),
      String(e.ipisSent),
      String(e.pageFaults),
      perRound(e.sleepsPerRound),
      perRound(e.preemptionsPerRound),
    ]),
  );
}

/** Measure every target count with the raw 1-busy diagnostic, print the tables and the verdicts. */
export async function main(targets: readonly number[] = TARGET_COUNTS): Promise<boolean> {
  console.log('== IPI round latency: engine (reclaim, per-page, sched free) vs raw workers ==');
  await waitForQuietHost('ipiLatency');
  const entries: IpiRoundEntry[] = [];
  const engines: EngineIpi[] = [];
  const rows: string[][] = [];
  for (const n of targets) {
    const mon = new HostLoadMonitor();
    const raw = await measureRaw(n, BUDGET, true);
    const engine = await measureEngine(n, BUDGET);
    const load = mon.stop();
    const entry: IpiRoundEntry = {
      targets: n,
      engine: { median: engine.median, p99: engine.p99, rounds: engine.rounds },
      raw: raw.idle,
      ratio: { median: engine.median.median / raw.idle.median.median, p99: engine.p99.median / raw.idle.p99.median },
    };
    entries.push(entry);
    engines.push(engine);
    const busy = raw.busy;
    rows.push([
      String(n),
      fmt(engine.median.median),
      fmt(engine.p99.median),
      fmt(raw.idle.median.median),
      fmt(raw.idle.p99.median),
      ratio(entry.ratio.median),
      ratio(entry.ratio.p99),
      busy ? fmt(busy.median.median) : '-',
      busy ? ratio(engine.median.median / busy.median.median) : '-',
      load ? `${fmt(load.foreignPct, 0)}%` : '?',
    ]);
    console.log(`  ${n} targets: engine median ${fmt(engine.median.median)} us, raw ${fmt(raw.idle.median.median)} us; ${describeLoad('host', load)}`);
  }
  printTable(
    'IPI round latency, microseconds (medians over runs of the per-run median / p99); ratio = engine / raw idle',
    ['targets', 'engine med', 'engine p99', 'raw med', 'raw p99', 'ratio med', 'ratio p99', 'raw 1-busy med', 'engine/1-busy', 'other procs'],
    rows,
  );
  printEngineDetails(targets, engines);
  return ipiVerdicts(entries);
}

/** Engine settings tried by the diagnostic (`--diag`). */
export const DIAG_VARIANTS: readonly { label: string; extra: Partial<SimConfig> }[] = [
  { label: 'defaults', extra: {} },
  { label: 'runTokens 1', extra: { runTokens: 1 } },
  { label: 'quantum 512', extra: { quantum: 512 } },
  { label: 'quantum 65536', extra: { quantum: 65_536 } },
  { label: 'doorbellPoll 16', extra: { doorbellPollInterval: 16 } },
  { label: 'doorbellPoll 1024', extra: { doorbellPollInterval: 1024 } },
  { label: 'writeRatio 0', extra: { writeRatio: 0 } },
];

/** Diagnostic: the engine at each target count with other scheduling settings, next to the raw baselines. */
export async function diagnose(targets: readonly number[]): Promise<void> {
  await waitForQuietHost('ipiLatency --diag');
  const rows: string[][] = [];
  for (const n of targets) {
    const raw = await measureRaw(n, BUDGET, true);
    rows.push([String(n), 'raw idle', fmt(raw.idle.median.median), fmt(raw.idle.p99.median), String(raw.idle.rounds), '-', '-', '-', '-']);
    if (raw.busy) rows.push([String(n), 'raw 1 busy', fmt(raw.busy.median.median), fmt(raw.busy.p99.median), String(raw.busy.rounds), '-', '-', '-', '-']);
    for (const v of DIAG_VARIANTS) {
      const e = await measureEngine(n, BUDGET, v.extra);
      rows.push([String(n), `engine ${v.label}`, fmt(e.median.median), fmt(e.p99.median), String(e.rounds), fmt(e.wallMs, 0), String(e.pageFaults), perRound(e.sleepsPerRound), perRound(e.preemptionsPerRound)]);
      console.log(`  ${n} targets, ${v.label}: median ${fmt(e.median.median)} us`);
    }
  }
  printTable('Diagnostic: IPI round latency by engine setting, microseconds', ['targets', 'setting', 'median', 'p99', 'rounds', 'run ms', 'faults', 'sleeps/round', 'preempt/round'], rows);
}

function parseTargets(): readonly number[] | undefined {
  const a = process.argv.find((s) => s.startsWith('--targets='));
  return a ? a.slice('--targets='.length).split(',').map(Number) : undefined;
}

if (isMain(import.meta.url)) {
  const targets = parseTargets();
  if (process.argv.includes('--diag')) await diagnose(targets ?? [7, 63]);
  else await main(targets);
}
