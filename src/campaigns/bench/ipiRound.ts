/**
 * The IPI round against N targets: the engine's host latency of one
 * synchronous round (post to every target, every ack back) next to a raw
 * baseline measured in the same run.
 *
 * - Engine: a machine of N + 1 CPUs runs the reclaim workload with the
 *   per-page protocol (one round per page, from CPU 0 to the N threads)
 *   while the threads run accesses. Unmeasured warm-up runs first (every
 *   simulated CPU is its own V8 isolate whose optimizing compiler must be
 *   done), then measured runs; each measured run gives one median and one
 *   p99 sample (CPU 0's round list, read over the control plane).
 * - Raw: N plain workers (workers/rawIpiWorker.ts) asleep on their
 *   doorbells, on the engine's wire (rawIpiLayout.ts: MessagePort message,
 *   pending count, doorbell notified only while its CPU sleeps, Atomics ack
 *   counter, spin only when no target was woken), the sender on the main
 *   thread; each tinybench run gives one median and one p99 sample.
 *
 * Invariants:
 * - Raw first, then the engine: the raw workers are gone before the engine's
 *   CPUs start, so the two never share the host.
 * - `ratio` is engine / raw of the medians of those samples.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { quantile } from 'simple-statistics';
import { Bench } from 'tinybench';
import { DEFAULTS, MAX_CPUS, resolveConfig, type SimConfig } from '../../config/config.js';
import { Machine, WORKER_RESOURCE_LIMITS } from '../../engine/coordinator.js';
import { IPI_ACK_SPIN } from '../../engine/ipi.js';
import { rawIpiWorkerUrl } from '../../engine/paths.js';
import { figureOf, type Figure } from './figure.js';
import { RAW_G_BUSY_TARGET, RAW_G_STOP, rawCtlWords, rawPost, rawRing, rawWaitAcks, setRawGlobal, type RawIpiMessage, type RawWorkerData } from './rawIpiLayout.js';
import { namedSamplesMs } from './timing.js';

/** How much to measure per target count. */
export interface IpiBudget {
  /** Unmeasured engine runs on the booted machine before the measured ones. */
  engineWarmupRuns: number;
  /** Measured engine runs: samples of the engine figures. */
  engineMeasuredRuns: number;
  /** IPI rounds (= reclaimed pages) per engine run up to LARGE_TARGETS targets. */
  roundsSmall: number;
  /** IPI rounds per engine run above LARGE_TARGETS targets (each round costs ms there). */
  roundsLarge: number;
  /** tinybench runs of the raw rig: samples of the raw figures. */
  rawRuns: number;
  /** tinybench time budget of one raw run, ms. */
  rawTimeMs: number;
  /** ...but at least this many rounds per raw run, so its p99 is not one round. */
  rawMinRounds: number;
}

/** Above this many targets use `roundsLarge`. */
const LARGE_TARGETS = 128;
/** Thread CPUs keep accessing until reclaim is done anyway; a small floor keeps the tail after the last round short. */
const ENGINE_OPS = 1_000;
/** TLB ways of the engine's CPUs (the default); sets are sized so every page fits. */
const ENGINE_TLB_WAYS = 4;
/** Sender spins this many checks of the ack counter before sleeping: the engine's own figure. */
const RAW_ACK_SPIN = IPI_ACK_SPIN;
/** Warm-up rounds of each raw run (JIT of both sides, first wake of every thread). */
const RAW_WARMUP_ROUNDS = 20;
/** A busy raw target polls its doorbell this often: the engine's default doorbellPollInterval. */
const RAW_BUSY_POLL = DEFAULTS.doorbellPollInterval;

/**
 * Target counts for a host with `cores` cores: 1, cores-1, 2 x cores and
 * 8 x cores (`full` adds 32 x and 128 x cores), deduplicated and sorted,
 * dropping any machine (targets + 1 CPUs) above `maxCpus`; if one was
 * dropped, `maxCpus - 1` itself is measured as the largest count.
 */
export function ipiTargetCounts(cores: number, tier: 'quick' | 'default' | 'full', maxCpus: number): number[] {
  const base = tier === 'quick' ? [1, cores - 1, 2 * cores] : [1, cores - 1, 2 * cores, 8 * cores];
  if (tier === 'full') base.push(32 * cores, 128 * cores);
  const wanted = base.filter((t) => t >= 1);
  const kept = wanted.filter((t) => t + 1 <= maxCpus);
  if (kept.length < wanted.length && maxCpus - 1 >= 1) kept.push(maxCpus - 1);
  return [...new Set(kept)].sort((a, b) => a - b);
}

/** Idle raw targets (raw CPUs 1..targets) plus a sender on this thread (raw CPU 0). */
class RawIpiRig {
  private readonly ctl: Int32Array;
  private readonly targets: number[];
  private round = 0;

  private constructor(
    private readonly workers: Worker[],
    /** ports[t]: port to raw CPU t (null for the sender itself). */
    private readonly ports: (MessagePort | null)[],
    ctl: SharedArrayBuffer,
  ) {
    this.ctl = new Int32Array(ctl);
    this.targets = workers.map((_, i) => i + 1);
  }

  /** Start `targets` raw workers and wait until each is in its loop. */
  static async start(targets: number): Promise<RawIpiRig> {
    const cpus = targets + 1;
    const sab = new SharedArrayBuffer(rawCtlWords(cpus) * Int32Array.BYTES_PER_ELEMENT);
    setRawGlobal(new Int32Array(sab), RAW_G_BUSY_TARGET, -1);
    const url = rawIpiWorkerUrl();
    const workers: Worker[] = [];
    const ports: (MessagePort | null)[] = [null];
    const ready: Promise<void>[] = [];
    for (let t = 1; t <= targets; t++) {
      const ch = new MessageChannel();
      const data: RawWorkerData = { ctl: sab, cpus, id: t, mode: 'one-sender', inPorts: [ch.port2], outPorts: [], rounds: 0, spin: RAW_ACK_SPIN, pollInterval: RAW_BUSY_POLL };
      const w = new Worker(url, { workerData: data, transferList: [ch.port2], resourceLimits: WORKER_RESOURCE_LIMITS });
      ready.push(
        new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
        }),
      );
      workers.push(w);
      ports.push(ch.port1);
    }
    await Promise.all(ready);
    return new RawIpiRig(workers, ports, sab);
  }

  /** Make raw CPU `t` (1..targets) run a busy polling loop (-1: every target idle). */
  setBusyTarget(t: number): void {
    setRawGlobal(this.ctl, RAW_G_BUSY_TARGET, t);
    for (const c of this.targets) rawRing(this.ctl, c);
  }

  /** One synchronous round: message + doorbell to every target, wait for every ack. */
  roundTrip(): void {
    const round = ++this.round;
    const msg: RawIpiMessage = { kind: 'flush-pages', sender: 0, round, mm: 0, tlbGen: round, pages: [round & 255] };
    const woke = rawPost(this.ctl, 0, this.targets, this.ports, msg);
    rawWaitAcks(this.ctl, 0, woke, RAW_ACK_SPIN, null);
  }

  /** Stop and terminate every target. */
  async stop(): Promise<void> {
    setRawGlobal(this.ctl, RAW_G_STOP, 1);
    for (const c of this.targets) rawRing(this.ctl, c);
    await Promise.all(this.workers.map((w) => w.terminate()));
    for (const p of this.ports) p?.close();
  }
}

/** Median and p99 figures of one side, microseconds. */
interface LatencyFigures {
  /** Per-run medians: their median and spread. */
  median: Figure;
  /** Per-run p99s: their median and spread. */
  p99: Figure;
  /** Rounds measured in all runs together. */
  rounds: number;
}

function latencyFigures(runs: readonly number[][]): LatencyFigures {
  const medians = runs.map((r) => quantile(r, 0.5));
  const p99s = runs.map((r) => quantile(r, 0.99));
  return { median: figureOf(medians, 'us', 'lower'), p99: figureOf(p99s, 'us', 'lower'), rounds: runs.reduce((s, r) => s + r.length, 0) };
}

/** Raw baseline to `targets` idle targets (and, if `withBusy`, with target 0 running a busy polling loop). */
export async function measureRaw(targets: number, budget: IpiBudget, withBusy = false): Promise<{ idle: LatencyFigures; busy: LatencyFigures | null }> {
  const rig = await RawIpiRig.start(targets);
  try {
    const idle: number[][] = [];
    const busy: number[][] = [];
    for (let run = 0; run < budget.rawRuns; run++) {
      const bench = new Bench({
        name: `raw IPI rounds to ${targets} targets`,
        time: budget.rawTimeMs,
        iterations: budget.rawMinRounds,
        warmupIterations: RAW_WARMUP_ROUNDS,
        retainSamples: true,
        throws: true,
      });
      bench.add('raw idle', () => rig.roundTrip());
      if (withBusy) {
        bench.add('raw 1 busy', () => rig.roundTrip(), {
          beforeAll: () => rig.setBusyTarget(0),
          afterAll: () => rig.setBusyTarget(-1),
        });
      }
      await bench.run();
      idle.push(namedSamplesMs(bench, 'raw idle').map((ms) => ms * 1000));
      if (withBusy) busy.push(namedSamplesMs(bench, 'raw 1 busy').map((ms) => ms * 1000));
    }
    return { idle: latencyFigures(idle), busy: withBusy ? latencyFigures(busy) : null };
  } finally {
    await rig.stop();
  }
}

/** Engine configuration for an IPI-round run to `targets` targets with `rounds` rounds. */
function engineConfig(targets: number, rounds: number, extra: Partial<SimConfig> = {}): SimConfig {
  let sets = 1;
  while (sets * ENGINE_TLB_WAYS < rounds) sets *= 2;
  return resolveConfig({
    cpus: targets + 1,
    workload: 'reclaim',
    protocol: 'per-page',
    pages: rounds,
    tlbSets: sets,
    tlbWays: ENGINE_TLB_WAYS,
    ops: ENGINE_OPS,
    sched: 'free',
    ...extra,
  });
}

/** The engine side of one target count, with run details the developer benchmark prints. */
export interface EngineIpi extends LatencyFigures {
  /** Milliseconds to boot the machine. */
  startupMs: number;
  /** Wall time of the measured runs together, ms. */
  wallMs: number;
  ipisSent: number;
  pageFaults: number;
  /** Voluntary context switches (a thread went to sleep) of every thread of this process per round; null off Linux. */
  sleepsPerRound: number | null;
  /** Involuntary context switches (a thread was preempted) per round; null off Linux. */
  preemptionsPerRound: number | null;
}

/** Sum of voluntary / involuntary context switches over every thread of this process (Linux), or null. */
function contextSwitches(): { voluntary: number; involuntary: number } | null {
  let voluntary = 0;
  let involuntary = 0;
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  for (const t of tasks) {
    try {
      const s = readFileSync(`/proc/self/task/${t}/status`, 'utf8');
      voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
      involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    } catch {
      // thread exited meanwhile
    }
  }
  return { voluntary, involuntary };
}

/** Boot an engine machine, run it `engineWarmupRuns` times unmeasured, then `engineMeasuredRuns` times measured. */
export async function measureEngine(targets: number, budget: IpiBudget, extra: Partial<SimConfig> = {}): Promise<EngineIpi> {
  const rounds = targets > LARGE_TARGETS ? budget.roundsLarge : budget.roundsSmall;
  const config = engineConfig(targets, rounds, extra);
  const m = await Machine.boot(config);
  try {
    for (let i = 0; i < budget.engineWarmupRuns; i++) {
      const w = await m.run(config.seed + 1 + i);
      if (w.status !== 'ok') throw new Error(`engine warm-up run to ${targets} targets failed: ${w.failure?.message ?? 'unknown'}`);
    }
    const runs: number[][] = [];
    let wallMs = 0;
    let ipisSent = 0;
    let pageFaults = 0;
    const before = contextSwitches();
    for (let i = 0; i < budget.engineMeasuredRuns; i++) {
      const r = await m.run(config.seed + budget.engineWarmupRuns + 1 + i);
      if (r.status !== 'ok') throw new Error(`engine run to ${targets} targets failed: ${r.failure?.message ?? 'unknown'}`);
      if (r.host.ipi_round_latency_us.rounds !== config.pages) throw new Error(`expected ${config.pages} IPI rounds, measured ${r.host.ipi_round_latency_us.rounds}`);
      // CPU 0 (kswapd) sends every round; its list is this run's rounds.
      runs.push((await m.readStats())[0].ipiRoundUs);
      wallMs += r.host.wall_ms;
      ipisSent += r.counters.ipis_sent;
      pageFaults += r.counters.page_faults;
    }
    const after = contextSwitches();
    const figs = latencyFigures(runs);
    return {
      ...figs,
      startupMs: m.startupMs,
      wallMs,
      ipisSent,
      pageFaults,
      sleepsPerRound: before && after ? (after.voluntary - before.voluntary) / figs.rounds : null,
      preemptionsPerRound: before && after ? (after.involuntary - before.involuntary) / figs.rounds : null,
    };
  } finally {
    await m.shutdown();
  }
}

/** One target count of the profile. */
export interface IpiRoundEntry {
  /** IPI targets per round (the machine has targets + 1 CPUs). */
  targets: number;
  /** The engine's round latency, microseconds. */
  engine: LatencyFigures;
  /** The raw baseline's round latency, microseconds. */
  raw: LatencyFigures;
  /** engine / raw of the medians (`median`) and of the p99s (`p99`). */
  ratio: { median: number; p99: number };
}

/** Raw then engine at one target count. */
export async function measureIpiRound(targets: number, budget: IpiBudget): Promise<{ entry: IpiRoundEntry; engine: EngineIpi }> {
  if (!Number.isInteger(targets) || targets < 1 || targets + 1 > MAX_CPUS) throw new Error(`IPI targets must be 1..${MAX_CPUS - 1}, got ${targets}`);
  const raw = await measureRaw(targets, budget);
  const engine = await measureEngine(targets, budget);
  const entry: IpiRoundEntry = {
    targets,
    engine: { median: engine.median, p99: engine.p99, rounds: engine.rounds },
    raw: raw.idle,
    ratio: { median: engine.median.median / raw.idle.median.median, p99: engine.p99.median / raw.idle.p99.median },
  };
  return { entry, engine };
}
