/**
 * Simulated IPIs per host second, all-to-all: every CPU sends IPI rounds to
 * every other CPU, the engine against a raw baseline measured in the same run.
 *
 * - Engine: a machine of `cpus` CPUs runs the tlb-flush workload (will-it-
 *   scale tlb_flush2: each op is one IPI round to the N-1 others, so a run
 *   sends ops x N x (N-1) IPIs) in free mode, after an unmeasured warm-up
 *   run; each measured run gives one sample, ipis_sent / wall time. The
 *   figure includes everything the engine does per op (page faults, the
 *   zap, run tokens), which is the point: it is the rate a user gets.
 * - Raw: `cpus` plain workers (workers/rawIpiWorker.ts, `all-to-all`) on the
 *   engine's wire (rawIpiLayout.ts: MessagePort message, pending count,
 *   doorbell, ack counter), each sending rounds to every other and handling
 *   theirs while it waits; each run gives one sample, IPIs / (last finish -
 *   start).
 *
 * Invariants:
 * - Raw first, then the engine: the two never share the host.
 * - `ratio` is engine / raw of the medians.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { DEFAULTS, resolveConfig, TLB_FLUSH_MAX_CPUS } from '../../config/config.js';
import { Machine, WORKER_RESOURCE_LIMITS } from '../../engine/coordinator.js';
import { IPI_ACK_SPIN } from '../../engine/ipi.js';
import { rawIpiWorkerUrl } from '../../engine/paths.js';
import { figureOf, type Figure } from './figure.js';
import { RAW_G_START, rawCtlWords, rawRing, setRawGlobal, type RawWorkerData } from './rawIpiLayout.js';

/** How much the IPI-rate figures measure. */
export interface IpiRateBudget {
  /** tlb-flush ops per CPU of one engine run (ops x N x (N-1) IPIs). */
  engineOps: number;
  /** Measured engine runs (after one unmeasured warm-up run). */
  engineRuns: number;
  /** Rounds each raw CPU sends per run. */
  rawRounds: number;
  /** Measured raw runs (each after an unmeasured run of a tenth of the rounds). */
  rawRuns: number;
}

/** CPUs of the all-to-all machine per host core: 4 gives the 8-CPU tlb-flush on a 2-core host, oversubscribed as users run it. */
const IPI_RATE_CPUS_PER_CORE = 4;

/** The all-to-all machine size for a host with `cores` cores, within `maxCpus` and tlb-flush's limit. */
export function ipiRateCpus(cores: number, maxCpus: number): number {
  return Math.max(2, Math.min(IPI_RATE_CPUS_PER_CORE * cores, maxCpus, TLB_FLUSH_MAX_CPUS));
}

/** The all-to-all figures. */
export interface IpiRate {
  /** CPUs of both machines (each round goes to cpus - 1 others). */
  cpus: number;
  /** Engine: tlb-flush IPIs per host second. */
  engine: Figure;
  /** Raw workers: IPIs per host second. */
  raw: Figure;
  /** engine / raw of the medians. */
  ratio: number;
}

/** One raw all-to-all run of `rounds` rounds per CPU: IPIs per second. */
async function rawRun(cpus: number, rounds: number): Promise<number> {
  const sab = new SharedArrayBuffer(rawCtlWords(cpus) * Int32Array.BYTES_PER_ELEMENT);
  const ctl = new Int32Array(sab);
  // A port per ordered pair, as the engine's tlb-flush machine has (every CPU initiates).
  const inPorts: MessagePort[][] = Array.from({ length: cpus }, () => []);
  const outPorts: (MessagePort | null)[][] = Array.from({ length: cpus }, () => Array<MessagePort | null>(cpus).fill(null));
  for (let s = 0; s < cpus; s++) {
    for (let t = 0; t < cpus; t++) {
      if (s === t) continue;
      const ch = new MessageChannel();
      outPorts[s][t] = ch.port1;
      inPorts[t].push(ch.port2);
    }
  }
  const url = rawIpiWorkerUrl();
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  const finished: Promise<number>[] = [];
  try {
    for (let id = 0; id < cpus; id++) {
      const data: RawWorkerData = { ctl: sab, cpus, id, mode: 'all-to-all', inPorts: inPorts[id], outPorts: outPorts[id], rounds, spin: IPI_ACK_SPIN, pollInterval: DEFAULTS.doorbellPollInterval };
      const transfer = [...inPorts[id], ...outPorts[id].filter((p): p is MessagePort => p !== null)];
      const w = new Worker(url, { workerData: data, transferList: transfer, resourceLimits: WORKER_RESOURCE_LIMITS });
      workers.push(w);
      const failed = new Promise<never>((_, reject) => w.once('error', reject));
      // The worker posts 'ready', then its finish time.
      let onReady = (): void => {};
      let onFinish = (_at: number): void => {};
      ready.push(Promise.race([new Promise<void>((resolve) => (onReady = resolve)), failed]));
      finished.push(Promise.race([new Promise<number>((resolve) => (onFinish = resolve)), failed]));
      w.on('message', (m: unknown) => (typeof m === 'number' ? onFinish(m) : onReady()));
    }
    await Promise.all(ready);
    const t0 = performance.timeOrigin + performance.now();
    setRawGlobal(ctl, RAW_G_START, 1);
    for (let c = 0; c < cpus; c++) rawRing(ctl, c);
    const ends = await Promise.all(finished);
    const seconds = (Math.max(...ends) - t0) / 1000;
    return (rounds * cpus * (cpus - 1)) / seconds;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Raw all-to-all IPIs per second over `budget.rawRuns` runs. */
async function measureRawRate(cpus: number, budget: IpiRateBudget): Promise<Figure> {
  const samples: number[] = [];
  for (let i = 0; i < budget.rawRuns; i++) {
    await rawRun(cpus, Math.max(1, Math.round(budget.rawRounds / 10))); // warm-up: JIT and first wakes of fresh workers
    samples.push(await rawRun(cpus, budget.rawRounds));
  }
  return figureOf(samples, 'IPIs/s', 'higher');
}

/** The engine's tlb-flush IPIs per host second at `cpus` CPUs. */
async function measureEngineRate(cpus: number, budget: IpiRateBudget): Promise<Figure> {
  const config = resolveConfig({ workload: 'tlb-flush', cpus, pages: Math.max(DEFAULTS.pages, cpus), ops: budget.engineOps, sched: 'free' });
  const m = await Machine.boot(config);
  try {
    const samples: number[] = [];
    for (let i = 0; i <= budget.engineRuns; i++) {
      const r = await m.run(config.seed + 1 + i);
      if (r.status !== 'ok') throw new Error(`engine tlb-flush run at ${cpus} CPUs failed: ${r.failure?.message ?? 'unknown'}`);
      // tlb-flush: every op is one round to the other cpus - 1 CPUs.
      const expected = budget.engineOps * cpus * (cpus - 1);
      if (r.counters.ipis_sent !== expected) throw new Error(`expected ${expected} IPIs from tlb-flush at ${cpus} CPUs, counted ${r.counters.ipis_sent}`);
      if (i > 0) samples.push(r.counters.ipis_sent / (r.host.wall_ms / 1000));
    }
    return figureOf(samples, 'IPIs/s', 'higher');
  } finally {
    await m.shutdown();
  }
}

/** Raw, then engine, at the all-to-all size for this host. */
export async function measureIpiRate(cpus: number, budget: IpiRateBudget): Promise<IpiRate> {
  const raw = await measureRawRate(cpus, budget);
  const engine = await measureEngineRate(cpus, budget);
  return { cpus, engine, raw, ratio: Math.round((engine.median / raw.median) * 1000) / 1000 };
}
