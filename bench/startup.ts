/**
 * Developer benchmark: start-up time and memory at 64, 256, 512 and 1024
 * CPUs (measured by src/campaigns/bench/startup.ts, the code `tlbsim bench` runs: each
 * boot in a fresh child process), with the start-up verdicts.
 *
 * Targets: 256 CPUs ready in under 10 s using under 10 MB per CPU; 512 in
 * under 10 s and 1024 in under 20 s.
 *
 * Raw baseline, measured in the same run at every size: bare workers with
 * the engine's resource limits that load nothing (the floor Node puts under
 * any one-thread-per-CPU design), so the engine's start-up and peak RSS are
 * read against what the platform itself costs. The 1024-CPU peak-RSS target
 * (under 6 GB) is judged with that floor printed beside it.
 *
 * Diagnostic (`--limits-diag`, not part of the targets): one boot + short
 * run at 64 CPUs with other Worker resourceLimits, and a floor of bare
 * workers that load nothing.
 */
import type { ResourceLimits } from 'node:worker_threads';
import { WORKER_RESOURCE_LIMITS } from '../src/engine/coordinator.js';
import { fmtFigure } from '../src/campaigns/bench/figure.js';
import { TIERS } from '../src/campaigns/bench/run.js';
import { measureStartup, runStartupChild, type StartupEntry, type StartupSample } from '../src/campaigns/bench/startup.js';
import { fmt, isMain, printTable, verdict, waitForQuietHost } from './common.js';
import { startupVerdicts } from './verdicts.js';

/** Machine sizes measured. */
export const CPU_COUNTS: readonly number[] = TIERS.full.startupSizes;
/** Issue 7's peak-RSS target for a 1024-CPU machine, MB. */
export const PEAK_RSS_TARGET_MB_1024 = 6_000;
/** CPUs of the resourceLimits diagnostic: big enough for a per-CPU figure, quick to boot. */
export const LIMITS_DIAG_CPUS = 64;

/** Worker resource-limit variants of the diagnostic. `null`: V8's defaults (no resourceLimits). */
export const LIMIT_VARIANTS: readonly { label: string; limits: ResourceLimits | null; bare: boolean }[] = [
  { label: 'engine 32/2/1', limits: { ...WORKER_RESOURCE_LIMITS }, bare: true },
  { label: 'V8 defaults', limits: null, bare: true },
  { label: 'young 4: 32/4/1', limits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4, stackSizeMb: 1 }, bare: false },
  { label: 'tight 16/1/1', limits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 1, stackSizeMb: 1 }, bare: false },
];

/** Print the start-up table of a profile's entries. */
export function printStartup(entries: readonly StartupEntry[]): void {
  printTable(
    'Machine start-up (each boot in a fresh child process; median [p25-p75])',
    ['cpus', 'start-up', 'MB per CPU', 'peak RSS', 'samples'],
    entries.map((e) => [String(e.cpus), fmtFigure(e.startup_ms), fmtFigure(e.mb_per_cpu), fmtFigure(e.peak_rss_mb), String(e.startup_ms.samples)]),
  );
}

function diagRow(label: string, s: StartupSample): string[] {
  return [label, String(s.cpus), fmt(s.startupMs, 0), fmt(s.mbPerCpu, 2), s.run ? fmt((s.run.rssAfterRunMb - s.rssBeforeMb) / s.cpus, 2) : '-', fmt(s.peakRssMb, 0)];
}

/** Measure every size, print the table and the verdicts (and the diagnostic if asked); true if every target was met. */
export async function main(opts: { limitsDiag?: boolean } = {}): Promise<boolean> {
  console.log('== Start-up time and memory ==');
  await waitForQuietHost('startup');
  const entries: StartupEntry[] = [];
  for (const cpus of CPU_COUNTS) {
    entries.push(await measureStartup(cpus, TIERS.full.startupSamples));
    console.log(`  ${cpus} CPUs: ready in ${fmt(entries[entries.length - 1].startup_ms.median, 0)} ms`);
  }
  printStartup(entries);
  let ok = startupVerdicts(entries) !== false;
  // The raw floor: bare workers, same resource limits, same sizes, this run.
  const floor: StartupSample[] = [];
  for (const cpus of CPU_COUNTS) floor.push(await runStartupChild({ kind: 'bare', cpus, run: false }));
  printTable(
    'Engine against the raw floor (bare workers with the engine\'s resource limits, one boot each, this run)',
    ['cpus', 'engine start-up ms', 'bare start-up ms', 'ratio', 'engine peak RSS MB', 'bare peak RSS MB', 'ratio'],
    entries.map((e, i) => {
      const b = floor[i];
      return [String(e.cpus), fmt(e.startup_ms.median, 0), fmt(b.startupMs, 0), `${fmt(e.startup_ms.median / b.startupMs, 2)}x`, fmt(e.peak_rss_mb.median, 0), fmt(b.peakRssMb, 0), `${fmt(e.peak_rss_mb.median / b.peakRssMb, 2)}x`];
    }),
  );
  const i1024 = entries.findIndex((e) => e.cpus === 1024);
  if (i1024 >= 0) {
    const e = entries[i1024];
    const b = floor[i1024];
    ok =
      verdict(
        e.peak_rss_mb.median < PEAK_RSS_TARGET_MB_1024,
        `1024 CPUs peak RSS ${fmt(e.peak_rss_mb.median, 0)} MB (target < ${PEAK_RSS_TARGET_MB_1024} MB); 1024 bare Node workers alone peak at ${fmt(b.peakRssMb, 0)} MB`,
      ) && ok;
  }
  if (opts.limitsDiag) {
    const rows: string[][] = [];
    for (const v of LIMIT_VARIANTS) rows.push(diagRow(`engine, ${v.label}`, await runStartupChild({ kind: 'machine', cpus: LIMITS_DIAG_CPUS, run: true, limits: v.limits })));
    for (const v of LIMIT_VARIANTS) if (v.bare) rows.push(diagRow(`bare worker, ${v.label}`, await runStartupChild({ kind: 'bare', cpus: LIMITS_DIAG_CPUS, run: false, limits: v.limits })));
    printTable(`Diagnostic: Worker resourceLimits (maxOld/maxYoung/stack MB) at ${LIMITS_DIAG_CPUS} CPUs`, ['machine', 'cpus', 'startup ms', 'MB/CPU', 'MB/CPU after run', 'peak RSS MB'], rows);
  }
  return ok;
}

if (isMain(import.meta.url)) await main({ limitsDiag: process.argv.includes('--limits-diag') });
