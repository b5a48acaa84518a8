/**
 * IPI round latency: the engine's host latency of one synchronous IPI round
 * (post to every target, every ack back) to 1, 7, 63 and 255 targets while
 * the other simulated CPUs run the reclaim workload, next to a raw baseline
 * measured in the same process: plain idle workers sleeping in Atomics.wait,
 * the same MessagePort message + Atomics doorbell + receiveMessageOnPort
 * drain + Atomics ack counter, with the sender on the main thread (timed by
 * tinybench, one round per sample). The engine machine does unmeasured
 * warm-up runs first (as tinybench warms the raw rounds up), then
 * ENGINE_MEASURED_RUNS measured runs: the median is the median of their
 * medians, the p99 is over every measured round (CPU 0's round list, read
 * over the control plane).
 *
 * Target: engine median within 2x of the raw baseline at every target count
 * (the p99 ratio is printed beside it).
 *
 * The extra "raw, 1 busy" column (diagnostic, not part of the target) repeats
 * the baseline with one target running a busy access loop that polls its
 * doorbell, i.e. the host situation the engine is in: one simulated CPU holds
 * the second run token and keeps the second host core busy.
 *
 * Flags (standalone only): --targets=1,7 picks target counts; --diag instead
 * runs the engine with other runTokens / quantum / doorbellPollInterval /
 * writeRatio values next to the raw baselines, with context-switch counts.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { quantileSorted } from 'simple-statistics';
import { Bench } from 'tinybench';
import { DEFAULTS, resolveConfig, type SimConfig } from '../src/config.js';
import { Machine, WORKER_RESOURCE_LIMITS } from '../src/coordinator.js';
import { IPI_ACK_SPIN } from '../src/ipi.js';
import { HostLoadMonitor, describeLoad, fmt, isMain, latencyOf, printTable, ratio, verdict, waitForQuietHost, type HostLoad } from './common.js';
import {
  RAW_ACK,
  RAW_BUSY_TARGET,
  RAW_SENDER_BELL,
  RAW_STOP,
  rawBellIndex,
  rawCtlWords,
  type RawIpiMessage,
  type RawWorkerData,
} from './rawIpiLayout.js';

/** Target counts measured (a 2, 8, 64, 256, 512 and 1024-CPU machine). */
export const TARGET_COUNTS: readonly number[] = [1, 7, 63, 255, 511, 1023];
/** Reclaimed pages = IPI rounds per engine run up to 63 targets: enough rounds for a stable median and a p99 of two rounds. */
export const ENGINE_ROUNDS_SMALL = 200;
/** Rounds at 255 targets: each round costs ms here and the run is long; 40 still gives a usable median. */
export const ENGINE_ROUNDS_LARGE = 40;
/** Above this many targets use ENGINE_ROUNDS_LARGE. */
export const LARGE_TARGETS = 128;
/** Thread CPUs keep accessing until reclaim is done anyway; a small floor keeps the tail after the last round short. */
export const ENGINE_OPS = 1_000;
/** TLB ways of the engine's CPUs (the default); sets are sized so every page fits. */
export const ENGINE_TLB_WAYS = 4;
/** Sender spins this many checks of the ack counter before sleeping: the engine's own figure. */
export const RAW_ACK_SPIN = IPI_ACK_SPIN;
/** tinybench time budget per raw task: ~1 s gives hundreds of rounds even at 255 targets. */
export const RAW_TIME_MS = 1_000;
/** ...but never fewer rounds than this, so the p99 is not one sample. */
export const RAW_MIN_ROUNDS = 200;
/** Warm-up rounds (JIT of both sides, first wake of every thread). */
export const RAW_WARMUP_ROUNDS = 20;
/** A raw round that takes longer than this is a bug in the rig, not a slow host. */
export const RAW_TIMEOUT_MS = 10_000;
/** Busy raw target polls its doorbell this often: the engine's default doorbellPollInterval. */
export const RAW_BUSY_POLL = DEFAULTS.doorbellPollInterval;
/**
 * Unmeasured engine runs before the measured one, on the same machine: the
 * raw baseline gets RAW_WARMUP_ROUNDS of JIT warm-up from tinybench, so the
 * engine's first (cold, interpreted) IPI rounds should not count either.
 * Five: every CPU is its own V8 isolate, and with 64 of them the optimizing
 * compiler was still recompiling the access loop in the second run (549
 * optimized compiles, ~30% of both cores, measured with --trace-opt), which is
 * host noise, not IPI latency. At 255 targets the median went from 3.9x raw
 * after 2 warm-up runs to 1.6x after 5.
 */
export const ENGINE_WARMUP_RUNS = 5;
/**
 * Measured engine runs. The median reported is the median of the runs'
 * medians, the p99 the p99 of every measured round. One run at 255 targets is
 * 40 rounds, and on one booted machine its median moved between 6 and 16 ms
 * from run to run (a whole run is slow or fast: GC in a few of 256 isolates,
 * a burst of refaults); one run decided the verdict by luck, the middle of
 * five does not.
 */
export const ENGINE_MEASURED_RUNS = 5;
/**
 * Engine/raw ratio of the median round latency that meets the target. The
 * target is on the median: a p99 over 40-200 rounds is one or two rounds that
 * met a GC pause or a scheduler slice on a 2-core host (the raw baseline with
 * one busy target already shows p99s of 1-6 ms). The p99 ratio is printed
 * next to it, and flagged when it is above the ratio too.
 */
export const TARGET_RATIO = 2;

/** Idle raw targets plus a sender on this thread. */
export class RawIpiRig {
  private readonly ctl: Int32Array;
  private round = 0;

  private constructor(
    private readonly workers: Worker[],
    private readonly ports: MessagePort[],
    ctl: SharedArrayBuffer,
  ) {
    this.ctl = new Int32Array(ctl);
  }

  /** Start `targets` raw workers and wait until each is in its loop. */
  static async start(targets: number): Promise<RawIpiRig> {
    const sab = new SharedArrayBuffer(rawCtlWords(targets) * Int32Array.BYTES_PER_ELEMENT);
    const ctl = new Int32Array(sab);
    Atomics.store(ctl, RAW_BUSY_TARGET, -1);
    const url = new URL('./rawIpiWorker.js', import.meta.url);
    const workers: Worker[] = [];
    const ports: MessagePort[] = [];
    const ready: Promise<void>[] = [];
    for (let t = 0; t < targets; t++) {
      const ch = new MessageChannel();
      const data: RawWorkerData = { ctl: sab, id: t, port: ch.port2, pollInterval: RAW_BUSY_POLL };
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

  /** Make target `t` run a busy polling loop (-1: every target idle). */
  setBusyTarget(t: number): void {
    Atomics.store(this.ctl, RAW_BUSY_TARGET, t);
    for (let i = 0; i < this.ports.length; i++) this.ring(i);
  }

  private ring(t: number): void {
    const b = rawBellIndex(t);
    Atomics.add(this.ctl, b, 1);
    Atomics.notify(this.ctl, b);
  }

  /** One synchronous round: message + doorbell to every target, wait for every ack. */
  roundTrip(): void {
    const ctl = this.ctl;
    const n = this.ports.length;
    const round = ++this.round;
    const msg: RawIpiMessage = { kind: 'flush-pages', sender: 0, round, mm: 0, tlbGen: round, pages: [round & 255] };
    Atomics.store(ctl, RAW_ACK, n);
    for (let t = 0; t < n; t++) {
      this.ports[t].postMessage(msg);
      const b = rawBellIndex(t);
      Atomics.add(ctl, b, 1);
      Atomics.notify(ctl, b);
    }
    for (let i = 0; i < RAW_ACK_SPIN; i++) if (Atomics.load(ctl, RAW_ACK) === 0) return;
    const deadline = performance.now() + RAW_TIMEOUT_MS;
    for (;;) {
      const seen = Atomics.load(ctl, RAW_SENDER_BELL);
      if (Atomics.load(ctl, RAW_ACK) === 0) return;
      if (performance.now() > deadline) throw new Error(`raw IPI round ${round}: ${Atomics.load(ctl, RAW_ACK)} of ${n} targets never acknowledged`);
      Atomics.wait(ctl, RAW_SENDER_BELL, seen, 50);
    }
  }

  async stop(): Promise<void> {
    Atomics.store(this.ctl, RAW_STOP, 1);
    for (let i = 0; i < this.ports.length; i++) this.ring(i);
    await Promise.all(this.workers.map((w) => w.terminate()));
    for (const p of this.ports) p.close();
  }
}

export interface LatencyUs {
  median: number;
  p99: number;
  rounds: number;
}

/** Raw baseline to `targets` idle targets (and, if `withBusy`, with target 0 busy), timed by tinybench. */
export async function measureRaw(targets: number, withBusy: boolean): Promise<{ idle: LatencyUs; busy: LatencyUs | null }> {
  const rig = await RawIpiRig.start(targets);
  try {
    const bench = new Bench({
      name: `raw IPI rounds to ${targets} targets`,
      time: RAW_TIME_MS,
      iterations: RAW_MIN_ROUNDS,
      warmupIterations: RAW_WARMUP_ROUNDS,
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
    const toUs = (name: string): LatencyUs => {
      const task = bench.getTask(name);
      if (!task) throw new Error(`no tinybench task '${name}'`);
      const l = latencyOf(task);
      return { median: l.p50 * 1000, p99: l.p99 * 1000, rounds: l.samples };
    };
    return { idle: toUs('raw idle'), busy: withBusy ? toUs('raw 1 busy') : null };
  } finally {
    await rig.stop();
  }
}

/** Engine configuration for an IPI-latency run to `targets` targets. */
export function engineConfig(targets: number, extra: Partial<SimConfig> = {}): SimConfig {
  const pages = targets > LARGE_TARGETS ? ENGINE_ROUNDS_LARGE : ENGINE_ROUNDS_SMALL;
  let sets = 1;
  while (sets * ENGINE_TLB_WAYS < pages) sets *= 2;
  return resolveConfig({
    cpus: targets + 1,
    workload: 'reclaim',
    protocol: 'per-page',
    pages,
    tlbSets: sets,
    tlbWays: ENGINE_TLB_WAYS,
    ops: ENGINE_OPS,
    sched: 'free',
    ...extra,
  });
}

export interface EngineIpi extends LatencyUs {
  wallMs: number;
  startupMs: number;
  ipisSent: number;
  pageFaults: number;
  /** Voluntary context switches (thread went to sleep) of every thread of this process per IPI round; null off Linux. */
  sleepsPerRound: number | null;
  /** Involuntary context switches (thread preempted) per IPI round. */
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

/** Boot an engine machine, run reclaim ENGINE_WARMUP_RUNS times unmeasured, then ENGINE_MEASURED_RUNS times measured; return the median of the runs' median round latencies and the p99 of every measured round. */
export async function measureEngine(targets: number, extra: Partial<SimConfig> = {}): Promise<EngineIpi> {
  const config = engineConfig(targets, extra);
  const m = await Machine.boot(config);
  try {
    for (let i = 0; i < ENGINE_WARMUP_RUNS; i++) {
      const w = await m.run(config.seed + 1 + i);
      if (w.status !== 'ok') throw new Error(`engine warm-up run to ${targets} targets failed: ${w.failure?.message ?? 'unknown'}`);
    }
    const rounds: number[] = [];
    const runMedians: number[] = [];
    let wallMs = 0;
    let ipisSent = 0;
    let pageFaults = 0;
    const before = contextSwitches();
    for (let i = 0; i < ENGINE_MEASURED_RUNS; i++) {
      const r = await m.run(config.seed + ENGINE_WARMUP_RUNS + 1 + i);
      if (r.status !== 'ok') throw new Error(`engine run to ${targets} targets failed: ${r.failure?.message ?? 'unknown'}`);
      if (r.host.ipi_round_latency_us.rounds !== config.pages) throw new Error(`expected ${config.pages} IPI rounds, measured ${r.host.ipi_round_latency_us.rounds}`);
      // CPU 0 (kswapd) sends every round; its list is this run's rounds.
      rounds.push(...(await m.readStats())[0].ipiRoundUs);
      runMedians.push(r.host.ipi_round_latency_us.median);
      wallMs += r.host.wall_ms;
      ipisSent += r.counters.ipis_sent;
      pageFaults += r.counters.page_faults;
    }
    const after = contextSwitches();
    rounds.sort((a, b) => a - b);
    runMedians.sort((a, b) => a - b);
    return {
      median: quantileSorted(runMedians, 0.5),
      p99: quantileSorted(rounds, 0.99),
      rounds: rounds.length,
      wallMs,
      startupMs: m.startupMs,
      ipisSent,
      pageFaults,
      sleepsPerRound: before && after ? (after.voluntary - before.voluntary) / rounds.length : null,
      preemptionsPerRound: before && after ? (after.involuntary - before.involuntary) / rounds.length : null,
    };
  } finally {
    await m.shutdown();
  }
}

export interface IpiRow {
  targets: number;
  engine: EngineIpi;
  raw: LatencyUs;
  rawBusy: LatencyUs | null;
  /** CPU other processes took while this row was measured. */
  load: HostLoad | null;
}

export interface IpiOptions {
  targets?: readonly number[];
  /** Also measure the raw baseline with one busy target (diagnostic column). */
  withBusy?: boolean;
}

function perRound(x: number | null): string {
  return x === null ? '?' : fmt(x, 0);
}

/** Measure every target count, print the table and the verdict. Returns true if the target was met. */
export async function main(opts: IpiOptions = {}): Promise<boolean> {
  const counts = opts.targets ?? TARGET_COUNTS;
  const withBusy = opts.withBusy ?? true;
  console.log('== IPI round latency: engine (reclaim, per-page, sched free, other options default) vs raw workers ==');
  await waitForQuietHost('ipiLatency');
  const rows: IpiRow[] = [];
  for (const n of counts) {
    const mon = new HostLoadMonitor();
    // Raw first: its workers are gone before the engine's CPUs start, so the two never share the host.
    const raw = await measureRaw(n, withBusy);
    const engine = await measureEngine(n);
    const load = mon.stop();
    rows.push({ targets: n, engine, raw: raw.idle, rawBusy: raw.busy, load });
    console.log(
      `  ${n} targets: engine median ${fmt(engine.median)} us (${engine.rounds} rounds, run ${fmt(engine.wallMs, 0)} ms), raw median ${fmt(raw.idle.median)} us (${raw.idle.rounds} rounds); ${describeLoad('host', load)}`,
    );
  }
  printTable(
    'IPI round latency, microseconds (median / p99); ratio = engine / raw idle',
    ['targets', 'engine med', 'engine p99', 'rounds', 'raw med', 'raw p99', 'rounds', 'ratio med', 'ratio p99', 'raw 1-busy med', 'raw 1-busy p99', 'engine/1-busy med', 'other procs'],
    rows.map((r) => [
      String(r.targets),
      fmt(r.engine.median),
      fmt(r.engine.p99),
      String(r.engine.rounds),
      fmt(r.raw.median),
      fmt(r.raw.p99),
      String(r.raw.rounds),
      ratio(r.engine.median / r.raw.median),
      ratio(r.engine.p99 / r.raw.p99),
      r.rawBusy ? fmt(r.rawBusy.median) : '-',
      r.rawBusy ? fmt(r.rawBusy.p99) : '-',
      r.rawBusy ? ratio(r.engine.median / r.rawBusy.median) : '-',
      r.load ? `${fmt(r.load.foreignPct, 0)}%` : '?',
    ]),
  );
  printTable(
    'Engine run details (thread sleeps/preemptions = context switches of every thread of the process per IPI round)',
    ['targets', 'startup ms', 'run ms', 'IPIs sent', 'page faults', 'sleeps/round', 'preemptions/round'],
    rows.map((r) => [
      String(r.targets),
      fmt(r.engine.startupMs, 0),
      fmt(r.engine.wallMs, 0),
      String(r.engine.ipisSent),
      String(r.engine.pageFaults),
      perRound(r.engine.sleepsPerRound),
      perRound(r.engine.preemptionsPerRound),
    ]),
  );
  let allMet = true;
  for (const r of rows) {
    const med = r.engine.median / r.raw.median;
    const p99 = r.engine.p99 / r.raw.p99;
    const met = med <= TARGET_RATIO;
    const p99Note = p99 <= TARGET_RATIO ? 'p99 also within' : `p99 above ${TARGET_RATIO}x`;
    allMet =
      verdict(met, `IPI latency to ${r.targets} targets: engine/raw ${ratio(med)} median (target <= ${TARGET_RATIO}x); ${ratio(p99)} p99 (${p99Note})`) && allMet;
  }
  verdict(allMet, `engine median IPI latency within ${TARGET_RATIO}x of raw at every target count`);
  return allMet;
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
    const mon = new HostLoadMonitor();
    const raw = await measureRaw(n, true);
    rows.push([String(n), 'raw idle (tinybench)', fmt(raw.idle.median), fmt(raw.idle.p99), String(raw.idle.rounds), '-', '-', '-', '-', `${fmt(mon.stop()?.foreignPct ?? NaN, 0)}%`]);
    if (raw.busy) rows.push([String(n), 'raw 1 busy (tinybench)', fmt(raw.busy.median), fmt(raw.busy.p99), String(raw.busy.rounds), '-', '-', '-', '-', '']);
    for (const v of DIAG_VARIANTS) {
      const m = new HostLoadMonitor();
      const e = await measureEngine(n, v.extra);
      const load = m.stop();
      rows.push([
        String(n),
        `engine ${v.label}`,
        fmt(e.median),
        fmt(e.p99),
        String(e.rounds),
        fmt(e.wallMs, 0),
        String(e.pageFaults),
        perRound(e.sleepsPerRound),
        perRound(e.preemptionsPerRound),
        load ? `${fmt(load.foreignPct, 0)}%` : '?',
      ]);
      console.log(`  ${n} targets, ${v.label}: median ${fmt(e.median)} us`);
    }
  }
  printTable(
    'Diagnostic: IPI round latency by engine setting, microseconds',
    ['targets', 'setting', 'median', 'p99', 'rounds', 'run ms', 'faults', 'sleeps/round', 'preempt/round', 'other procs'],
    rows,
  );
}

function parseTargets(): readonly number[] | undefined {
  const a = process.argv.find((s) => s.startsWith('--targets='));
  return a ? a.slice('--targets='.length).split(',').map(Number) : undefined;
}

if (isMain(import.meta.url)) {
  const targets = parseTargets();
  if (process.argv.includes('--diag')) await diagnose(targets ?? [7, 63]);
  else await main({ targets });
}
