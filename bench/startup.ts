/**
 * Start-up time and memory of a simulated machine: Machine.boot for 64, 256,
 * 512 and 1024 CPUs (its own `startupMs` and the wall time around it), RSS before and
 * after boot and its peak (sampled every RSS_SAMPLE_MS, and the process's
 * maxRSS), per-CPU MB = (RSS after boot - RSS before) / cpus. The 64-CPU
 * machine also runs one short reclaim run to show it works. Every machine is
 * measured in a fresh child process, so earlier benchmarks' heaps and
 * threads do not pollute the RSS figures.
 *
 * Target: 256 CPUs ready in under 10 s, using under 10 MB per CPU. The 512
 * and 1024-CPU figures are reported (the kernel-machinery issue's targets:
 * 512 ready in under 10 s, 1024 in under 20 s) with their verdicts.
 *
 * Diagnostic (not part of the target): the same boot + short run at 64 CPUs
 * with other Worker resourceLimits (set by overwriting the coordinator's
 * exported WORKER_RESOURCE_LIMITS object inside the child process only), and
 * a floor of bare workers that load nothing, to show what the limits change.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { resolveConfig } from '../src/config.js';
import { Machine, WORKER_RESOURCE_LIMITS } from '../src/coordinator.js';
import { HostLoadMonitor, describeLoad, fmt, isMain, printTable, verdict, waitForQuietHost, type HostLoad } from './common.js';

/** Machine sizes measured. */
export const CPU_COUNTS: readonly number[] = [64, 256, 512, 1024];
/** Start-up targets of the larger machines (reported, not part of this bench's verdict). */
export const LARGE_READY_TARGETS: readonly (readonly [number, number])[] = [
  [512, 10_000],
  [1024, 20_000],
];
/** Machine sizes that also do one short run. */
export const RUN_AT: readonly number[] = [64];
/** Accesses per thread CPU in the short run: it only has to show the machine works. */
export const SHORT_RUN_OPS = 2_000;
/** RSS sampling period during boot (the event loop is idle while workers start, so the timer fires). */
export const RSS_SAMPLE_MS = 25;
/** Targets. */
export const TARGET_READY_MS = 10_000;
export const TARGET_MB_PER_CPU = 10;
/** The machine size the targets apply to. */
export const TARGET_CPUS = 256;
/** CPUs of the resourceLimits diagnostic: big enough for a per-CPU figure, quick to boot. */
export const LIMITS_DIAG_CPUS = 64;
/** A child process that takes longer than this is stuck. */
export const CHILD_TIMEOUT_MS = 300_000;

const MB = 1024 * 1024;
const RESULT_MARK = 'STARTUP-RESULT ';

/** Worker resource-limit variants of the diagnostic. `null`: V8's defaults (no resourceLimits). */
export const LIMIT_VARIANTS: readonly { label: string; limits: ResourceLimits | null; bare: boolean }[] = [
  { label: 'engine 32/4/1', limits: { ...WORKER_RESOURCE_LIMITS }, bare: true },
  { label: 'V8 defaults', limits: null, bare: true },
  { label: 'young 2: 32/2/1', limits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 2, stackSizeMb: 1 }, bare: false },
  { label: 'tight 16/1/1', limits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 1, stackSizeMb: 1 }, bare: false },
];

interface ChildJob {
  kind: 'machine' | 'bare';
  cpus: number;
  run: boolean;
  /** Override of the engine's worker resourceLimits (diagnostic only); undefined: the engine's own. */
  limits?: ResourceLimits | null;
}

export interface StartupFigures {
  cpus: number;
  label: string;
  startupMs: number;
  wallMs: number;
  rssBeforeMb: number;
  rssAfterBootMb: number;
  peakRssMb: number;
  mbPerCpu: number;
  run: { status: string; wallMs: number; ipisSent: number; rssAfterRunMb: number } | null;
  load: HostLoad | null;
}

/** Runs in the child: boot (and maybe run) one machine, or start bare workers, and report. */
async function childMeasure(job: ChildJob): Promise<StartupFigures> {
  if (job.limits !== undefined) {
    // Diagnostic only: the coordinator reads this object when it creates each worker.
    const target = WORKER_RESOURCE_LIMITS as Record<string, number>;
    for (const k of Object.keys(target)) Reflect.deleteProperty(target, k);
    if (job.limits) Object.assign(target, job.limits);
  }
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, RSS_SAMPLE_MS);
  const mon = new HostLoadMonitor();
  const t0 = performance.now();
  let startupMs: number;
  let afterBoot: () => Promise<StartupFigures['run']>;
  if (job.kind === 'machine') {
    const m = await Machine.boot(resolveConfig({ cpus: job.cpus, ops: SHORT_RUN_OPS }));
    startupMs = m.startupMs;
    afterBoot = async () => {
      try {
        if (!job.run) return null;
        const r = await m.run();
        return { status: r.status, wallMs: r.host.wall_ms, ipisSent: r.counters.ipis_sent, rssAfterRunMb: process.memoryUsage().rss / MB };
      } finally {
        await m.shutdown();
      }
    };
  } else {
    const workers: Worker[] = [];
    const online: Promise<void>[] = [];
    for (let i = 0; i < job.cpus; i++) {
      const w = new Worker('setInterval(() => {}, 1 << 30);', { eval: true, ...(job.limits ? { resourceLimits: job.limits } : {}) });
      online.push(new Promise((r) => w.once('online', () => r())));
      workers.push(w);
    }
    await Promise.all(online);
    startupMs = performance.now() - t0;
    afterBoot = async () => {
      await Promise.all(workers.map((w) => w.terminate()));
      return null;
    };
  }
  const wallMs = performance.now() - t0;
  const rssAfterBoot = process.memoryUsage().rss;
  peak = Math.max(peak, rssAfterBoot);
  const load = mon.stop();
  const run = await afterBoot();
  clearInterval(sampler);
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  return {
    cpus: job.cpus,
    label: '',
    startupMs,
    wallMs,
    rssBeforeMb: rssBefore / MB,
    rssAfterBootMb: rssAfterBoot / MB,
    peakRssMb: peak / MB,
    mbPerCpu: (rssAfterBoot - rssBefore) / MB / job.cpus,
    run,
    load,
  };
}

/** Run one job in a fresh node process and parse its result. */
function inChild(job: ChildJob, label: string): Promise<StartupFigures> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, '--child', JSON.stringify(job)],
      { timeout: CHILD_TIMEOUT_MS, maxBuffer: 16 * MB },
      (err, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
        if (err || !line) {
          reject(new Error(`startup child (${label}) failed: ${err?.message ?? 'no result'}\n${stderr}`));
          return;
        }
        resolve({ ...(JSON.parse(line.slice(RESULT_MARK.length)) as StartupFigures), label });
      },
    );
  });
}

function figureRow(f: StartupFigures): string[] {
  return [
    f.label,
    String(f.cpus),
    fmt(f.startupMs, 0),
    fmt(f.wallMs, 0),
    fmt(f.rssBeforeMb, 0),
    fmt(f.rssAfterBootMb, 0),
    fmt(f.peakRssMb, 0),
    fmt(f.mbPerCpu, 2),
    f.run ? fmt((f.run.rssAfterRunMb - f.rssBeforeMb) / f.cpus, 2) : '-',
    f.run ? `${f.run.status}, ${fmt(f.run.wallMs, 0)} ms, ${f.run.ipisSent} IPIs` : '-',
    f.load ? `${fmt(f.load.foreignPct, 0)}%` : '?',
  ];
}

const HEADER = ['machine', 'cpus', 'startupMs', 'boot wall ms', 'RSS before MB', 'RSS booted MB', 'peak RSS MB', 'MB/CPU', 'MB/CPU after run', 'short run', 'other procs'];

export interface StartupOptions {
  /** Also run the resourceLimits diagnostic. */
  limitsDiag?: boolean;
}

export async function main(opts: StartupOptions = {}): Promise<boolean> {
  console.log('== Start-up time and memory (each machine in a fresh child process) ==');
  await waitForQuietHost('startup');
  const figures: StartupFigures[] = [];
  for (const cpus of CPU_COUNTS) {
    const f = await inChild({ kind: 'machine', cpus, run: RUN_AT.includes(cpus) }, `engine`);
    figures.push(f);
    console.log(`  ${cpus} CPUs: ready in ${fmt(f.startupMs, 0)} ms, ${fmt(f.mbPerCpu, 2)} MB/CPU`);
  }
  printTable('Machine start-up (RSS in MB; MB/CPU = (RSS booted - RSS before) / cpus; after run: same with RSS after the short run)', HEADER, figures.map(figureRow));

  const big = figures.find((f) => f.cpus === TARGET_CPUS);
  if (!big) throw new Error(`no ${TARGET_CPUS}-CPU figure`);
  const small = figures.find((f) => f.run !== null);
  if (small?.run && small.run.status !== 'ok') console.log(`short run at ${small.cpus} CPUs FAILED (${small.run.status})`);
  const readyOk = verdict(big.startupMs < TARGET_READY_MS, `${TARGET_CPUS} CPUs ready in ${fmt(big.startupMs / 1000, 2)} s (target < ${TARGET_READY_MS / 1000} s)`);
  const memOk = verdict(big.mbPerCpu < TARGET_MB_PER_CPU, `${TARGET_CPUS} CPUs use ${fmt(big.mbPerCpu, 2)} MB per CPU (target < ${TARGET_MB_PER_CPU} MB)`);
  for (const [cpus, ms] of LARGE_READY_TARGETS) {
    const f = figures.find((x) => x.cpus === cpus);
    if (f) verdict(f.startupMs < ms, `${cpus} CPUs ready in ${fmt(f.startupMs / 1000, 2)} s (reported; target < ${ms / 1000} s), peak RSS ${fmt(f.peakRssMb, 0)} MB`);
  }

  if (opts.limitsDiag ?? true) {
    const diag: StartupFigures[] = [];
    for (const v of LIMIT_VARIANTS) {
      diag.push(await inChild({ kind: 'machine', cpus: LIMITS_DIAG_CPUS, run: true, limits: v.limits }, `engine, ${v.label}`));
    }
    for (const v of LIMIT_VARIANTS) {
      if (v.bare) diag.push(await inChild({ kind: 'bare', cpus: LIMITS_DIAG_CPUS, run: false, limits: v.limits }, `bare worker, ${v.label}`));
    }
    printTable(`Diagnostic: Worker resourceLimits (maxOld/maxYoung/stack MB) at ${LIMITS_DIAG_CPUS} CPUs`, HEADER, diag.map(figureRow));
  }
  return readyOk && memOk;
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf('--child');
  if (i >= 0) {
    const job = JSON.parse(process.argv[i + 1]) as ChildJob;
    const f = await childMeasure(job);
    console.log(`${RESULT_MARK}${JSON.stringify(f)}`);
    if (f.load) console.error(describeLoad('child', f.load));
  } else {
    await main({ limitsDiag: !process.argv.includes('--no-limits-diag') });
  }
}
