/**
 * Child process of the start-up figures (src/campaigns/bench/startup.ts): boots one
 * machine (or starts bare workers), samples RSS while it boots, optionally
 * does one short run, and prints one `STARTUP-RESULT {json}` line.
 *
 * Invariant: it runs in its own process, so its RSS is only this machine's;
 * the resourceLimits override (diagnostic) changes only this process.
 */
import { Worker } from 'node:worker_threads';
import { resolveConfig } from '../src/config/config.js';
import { Machine, WORKER_RESOURCE_LIMITS } from '../src/engine/coordinator.js';
import { STARTUP_RESULT_MARK, type StartupJob, type StartupSample } from '../src/campaigns/bench/startup.js';

/** RSS sampling period during boot (the event loop is idle while workers start, so the timer fires). */
const RSS_SAMPLE_MS = 25;
/** Accesses per thread CPU of the short run: it only has to show the machine works. */
const SHORT_RUN_OPS = 2_000;
const MB = 1024 * 1024;

async function measure(job: StartupJob): Promise<StartupSample> {
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
  const t0 = performance.now();
  let startupMs: number;
  let afterBoot: () => Promise<StartupSample['run']>;
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
  const run = await afterBoot();
  clearInterval(sampler);
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  return {
    cpus: job.cpus,
    startupMs,
    wallMs,
    rssBeforeMb: rssBefore / MB,
    rssAfterBootMb: rssAfterBoot / MB,
    peakRssMb: peak / MB,
    mbPerCpu: (rssAfterBoot - rssBefore) / MB / job.cpus,
    run,
  };
}

const job = JSON.parse(process.argv[2] ?? '{}') as StartupJob;
const sample = await measure(job);
console.log(`${STARTUP_RESULT_MARK}${JSON.stringify(sample)}`);
