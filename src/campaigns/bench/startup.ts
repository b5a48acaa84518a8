/**
 * Start-up time and memory of a simulated machine at a few sizes: each
 * sample boots one machine in a fresh child process (workers/startupChild.ts),
 * so earlier measurements' heaps and threads never pollute the RSS figures.
 * A sample gives `Machine.startupMs`, MB per CPU = (RSS after boot - RSS
 * before) / cpus, and the child's peak RSS.
 *
 * Invariant: a child that fails, times out or prints no result line makes
 * the measurement throw with its stderr; no figure is made up.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import { startupChildUrl } from '../../engine/paths.js';
import { figureOf, type Figure } from './figure.js';

/** What one child process measures. */
export interface StartupJob {
  /** `machine`: boot the engine; `bare`: start workers that load nothing (a floor, diagnostic only). */
  kind: 'machine' | 'bare';
  cpus: number;
  /** Also do one short reclaim run after boot. */
  run: boolean;
  /** Override of the engine's worker resourceLimits (diagnostic only); undefined: the engine's own, null: V8's defaults. */
  limits?: ResourceLimits | null;
}

/** What one child process reports. */
export interface StartupSample {
  cpus: number;
  /** Machine.startupMs (bare: until every worker is online). */
  startupMs: number;
  /** Wall time around the boot in the child. */
  wallMs: number;
  rssBeforeMb: number;
  rssAfterBootMb: number;
  /** Highest RSS sampled during boot, or the process's maxRSS. */
  peakRssMb: number;
  /** (RSS after boot - RSS before) / cpus. */
  mbPerCpu: number;
  /** The short run, if asked for. */
  run: { status: string; wallMs: number; ipisSent: number; rssAfterRunMb: number } | null;
}

/** The line prefix the child prints its JSON result after. */
export const STARTUP_RESULT_MARK = 'STARTUP-RESULT ';
/** A child that takes longer than this is stuck (1024 CPUs take ~20-35 s on a 2-core host). */
const CHILD_TIMEOUT_MS = 300_000;
const MB = 1024 * 1024;

/** Run one job in a fresh node process and parse its result. */
export function runStartupChild(job: StartupJob): Promise<StartupSample> {
  const script = fileURLToPath(startupChildUrl());
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, JSON.stringify(job)], { timeout: CHILD_TIMEOUT_MS, maxBuffer: 16 * MB }, (err, stdout, stderr) => {
      const line = stdout.split('\n').find((l) => l.startsWith(STARTUP_RESULT_MARK));
      if (err || !line) {
        reject(new Error(`start-up child (${job.kind}, ${job.cpus} CPUs) failed: ${err?.message.split('\n')[0] ?? 'no result'} ${stderr.split('\n')[0] ?? ''}`));
        return;
      }
      resolve(JSON.parse(line.slice(STARTUP_RESULT_MARK.length)) as StartupSample);
    });
  });
}

/** The start-up figures of one machine size. */
export interface StartupEntry {
  /** Simulated CPUs (worker threads). */
  cpus: number;
  /** Time to start and configure every CPU worker. */
  startup_ms: Figure;
  /** Resident memory per simulated CPU after boot. */
  mb_per_cpu: Figure;
  /** Peak resident memory of the whole process during boot. */
  peak_rss_mb: Figure;
}

/** Boot a machine of `cpus` CPUs `samples` times, each in its own child. */
export async function measureStartup(cpus: number, samples: number): Promise<StartupEntry> {
  const got: StartupSample[] = [];
  for (let i = 0; i < samples; i++) got.push(await runStartupChild({ kind: 'machine', cpus, run: false }));
  return {
    cpus,
    startup_ms: figureOf(got.map((s) => s.startupMs), 'ms', 'lower'),
    mb_per_cpu: figureOf(got.map((s) => s.mbPerCpu), 'MB', 'lower'),
    peak_rss_mb: figureOf(got.map((s) => s.peakRssMb), 'MB', 'lower'),
  };
}
