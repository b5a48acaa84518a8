/**
 * `tlbsim stress`: run a race scenario many times, in parallel on the host's
 * cores (piscina), and report the races found per 1000 iterations, the first
 * race in detail, and a command that shows it again.
 *
 * Iteration i runs with seed `seed + i` (mod 2^32), so `--seed <seed+i>
 * --iterations 1` replays iteration i alone; in seeded mode that replay is
 * exact (same counters, same races).
 *
 * Invariants:
 * - Iterations are split into chunks; each piscina thread keeps one booted
 *   machine per configuration and reuses it for every chunk, so worker start-up
 *   is paid once per thread, not per iteration.
 * - "First race" is the racy iteration with the lowest index among those that
 *   ran, whatever order the chunks finished in.
 * - Early stop (--stop-on-race, a failed iteration, an interrupt) never kills
 *   a running task: chunks read a shared stop index between iterations (see
 *   `stopAfter`), and one feeder per pool thread sends the next chunk only
 *   when its thread is free and the chunk is not past that index, so nothing
 *   piles up in piscina's queue.
 * - Nothing measured is dropped: a chunk that fails (a CPU crashed or hung)
 *   still reports the iterations it completed and the failure.
 * - `--shard K/N` runs only the K-th of N contiguous iteration ranges
 *   (src/campaigns/shard.ts); iteration i keeps seed `seed + i`, so `tlbsim merge` of
 *   the N shards gives the unsharded campaign's counters, race totals and
 *   earliest race.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { ConfigError, isPluginPath, type SimConfig } from '../config/config.js';
import { loadScenarioPlugin } from '../plugin/load.js';
import { addRaces, totalRaceCount, zeroRaces, type RaceCounts, type RaceReport } from '../engine/oracle.js';
import { stressWorkerUrl } from '../engine/paths.js';
import { addCounters, zeroCounters, type Counters, type PartialReason, type RunFailure } from '../output/result.js';
import { getPreset, presetReproduceArgs, resolvePreset } from '../scenarios/preset.js';
import { ABLATION, type KernelSide } from '../scenarios/races/types.js';
import { shardIterationRange, type Shard } from './shard.js';

/** What one piscina task runs. */
export interface StressChunk {
  config: SimConfig;
  /** Iteration indices of this chunk; iteration i uses seed (baseSeed + i) >>> 0. */
  first: number;
  count: number;
  baseSeed: number;
  stopOnRace: boolean;
  /**
   * Int32[1] shared by every chunk: iterations above this index are skipped.
   * A chunk that finds a race (with stopOnRace) or fails lowers it to its
   * iteration, so every iteration below the earliest racy one still runs and
   * `first_race` is the earliest, whatever order chunks run in.
   */
  stopAfter: SharedArrayBuffer;
}

/** Initial value of the shared stop index: run everything. */
const STOP_NEVER = 0x7fff_ffff;

/** Lower the shared stop index to `iteration` (atomic min). */
export function lowerStopAfter(stop: Int32Array, iteration: number): void {
  for (;;) {
    const cur = Atomics.load(stop, 0);
    if (cur <= iteration || Atomics.compareExchange(stop, 0, cur, iteration) === cur) return;
  }
}

/** The first racy iteration of a chunk. */
export interface FoundRace {
  iteration: number;
  seed: number;
  races: RaceCounts;
  reports: RaceReport[];
}

/** What one piscina task returns. */
export interface StressChunkResult {
  completed: number;
  racyIterations: number;
  counters: Counters;
  races: RaceCounts;
  firstRace: FoundRace | null;
  failure: (RunFailure & { iteration: number }) | null;
  schedSteps: number;
}

export interface StressOptions {
  scenario: string;
  /** Side of a catalogue race (buggy or fixed; default fixed); none for the lab's scenarios. */
  kernel?: KernelSide;
  /** Options the user gave (over the scenario's defaults); none if omitted. */
  overrides?: Partial<SimConfig>;
  iterations: number;
  seed: number;
  stopOnRace: boolean;
  /** piscina threads (default: host cores). */
  threads?: number;
  /** Run only this slice of the iterations (null or omitted: all). Not with stopOnRace. */
  shard?: Shard | null;
  /** Called after every chunk. */
  onProgress?: (completed: number, total: number, racyIterations: number) => void;
  /**
   * Stops the campaign early (Ctrl-C): no iteration starts after it fires,
   * the running ones finish, and the result says `status: 'partial'` with the
   * signal's reason, keeping every iteration done and race found.
   */
  signal?: AbortSignal;
}

export interface StressResult {
  scenario: string;
  /** The side of a catalogue race that ran (absent for the lab's scenarios). */
  kernel?: KernelSide;
  /** Present (true) when `kernel` is the buggy side of a planted ablation: no released kernel had it. */
  ablation?: true;
  /** 'ok', or 'partial' when the campaign was interrupted (then `partial.reason` says why). */
  status: 'ok' | 'partial';
  partial?: PartialReason;
  config: SimConfig;
  iterations: number;
  requested_iterations: number;
  counters: Counters;
  races: RaceCounts;
  racy_iterations: number;
  /** Racy iterations per 1000 iterations run. */
  racy_iterations_per_1000: number;
  /** Deprecated alias of `racy_iterations_per_1000` (the old, misleading name), kept because field names are stable. */
  races_per_1000: number;
  /** Races of every kind found, summed over iterations (one racy iteration may hold several). */
  races_total: number;
  first_race: FoundRace | null;
  /** Command line, starting `tlbsim stress`, that shows the first race again (null if none). */
  reproduce: string | null;
  failures: (RunFailure & { iteration: number })[];
  /** The slice of the campaign this result covers (null: all of it, or a merge of every shard). */
  shard: Shard | null;
  /** Iterations [first, end) of the campaign this result covers. */
  iteration_range: { first: number; end: number };
  host: { wall_ms: number; iterations_per_s: number; threads: number; sched_steps: number };
}

/** piscina threads of a stress campaign when none are asked for: one per core this process may use (affinity respected). */
export function defaultStressThreads(): number {
  return Math.max(1, availableParallelism());
}

/** Iterations per piscina task: small enough for a live progress bar and early stop. */
const STRESS_CHUNK_MAX = 25;

/**
 * Resolve a scenario's config with the user's overrides on top (src/scenarios/preset.ts:
 * the one resolution `run`, `explore` and `sweep` share). `kernel` picks the side of a
 * catalogue race (default: fixed); the lab's scenarios take none.
 */
export function scenarioConfig(scenario: string, overrides: Partial<SimConfig>, kernel?: KernelSide): SimConfig {
  return resolvePreset({ scenario, kernel }, overrides).config;
}

/** True if `kernel` is the buggy side of a catalogue entry whose buggy side never shipped. */
export function ablationSide(scenario: string, kernel: KernelSide | undefined): boolean {
  return kernel === 'buggy' && getPreset(scenario).provenance?.introduced.startsWith(ABLATION) === true;
}

/** The reproduce command for iteration seed `seed` (and `config.schedule`, if the run followed one): the preset, then the flags that differ from it. */
export function stressReproduceCommand(scenario: string, config: SimConfig, seed: number, kernel?: KernelSide): string {
  return ['tlbsim', 'stress', ...presetReproduceArgs({ scenario, kernel }, { ...config, seed }), '--iterations', '1'].join(' ');
}

/** Run a stress campaign. */
export async function runStress(opts: StressOptions): Promise<StressResult> {
  if (!Number.isInteger(opts.iterations) || opts.iterations < 1) {
    throw new ConfigError(`--iterations must be an integer of at least 1, got ${String(opts.iterations)}`);
  }
  const cores = Math.max(1, availableParallelism());
  const threads = opts.threads ?? defaultStressThreads();
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new ConfigError(`--threads must be an integer from 1 to 64, got ${String(threads)}`);
  }
  const overrides = opts.overrides ?? {};
  if (isPluginPath(opts.scenario)) await loadScenarioPlugin(opts.scenario);
  const resolved = resolvePreset({ scenario: opts.scenario, kernel: opts.kernel }, { ...overrides, seed: opts.seed });
  const kernel = resolved.kernel;
  let config = resolved.config;
  if (overrides.runTokens === undefined) {
    // Several machines share the host: split the cores between them.
    config = { ...config, runTokens: Math.max(1, Math.floor(cores / threads)) };
  }
  const shard = opts.shard ?? null;
  if (shard !== null && opts.stopOnRace) {
    throw new ConfigError('--stop-on-race does not combine with --shard: a shard cannot stop the others (run the shards to the end, then merge: the earliest race is kept)');
  }
  const range = shardIterationRange(opts.iterations, shard);
  const mine = range.end - range.first;
  const chunkSize = Math.max(1, Math.min(STRESS_CHUNK_MAX, Math.ceil(mine / (threads * 4))));
  const stopAfter = new SharedArrayBuffer(4);
  new Int32Array(stopAfter)[0] = STOP_NEVER;
  const chunkCount = Math.ceil(mine / chunkSize);
  const chunkAt = (k: number): StressChunk => {
    const first = range.first + k * chunkSize;
    return { config, first, count: Math.min(chunkSize, range.end - first), baseSeed: opts.seed, stopOnRace: opts.stopOnRace, stopAfter };
  };
  const stopView = new Int32Array(stopAfter);
  const poolThreads = Math.max(1, Math.min(threads, chunkCount));

  const pool = new Piscina<StressChunk, StressChunkResult>({
    filename: stressWorkerUrl().href,
    minThreads: poolThreads,
    maxThreads: poolThreads,
    idleTimeout: 1_000,
  });
  let interrupted: string | null = null;
  const onAbort = (): void => {
    const r: unknown = opts.signal?.reason;
    interrupted = typeof r === 'string' ? r : 'aborted';
    // Chunks read the stop index between iterations, and feeders before sending one: nothing new starts.
    lowerStopAfter(stopView, -1);
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  const t0 = performance.now();
  const counters = zeroCounters();
  const races = zeroRaces();
  let completed = 0;
  let racy = 0;
  let steps = 0;
  let first: FoundRace | null = null;
  const failures: (RunFailure & { iteration: number })[] = [];
  // One feeder per pool thread hands out chunks in order, one at a time, so
  // the queue never holds more than the threads can run and a chunk past the
  // stop index (a race with --stop-on-race, a failure, an interrupt) is never sent.
  let nextChunk = 0;
  const feed = async (): Promise<void> => {
    while (nextChunk < chunkCount) {
      const chunk = chunkAt(nextChunk++);
      if (chunk.first > Atomics.load(stopView, 0)) continue;
      const r = await pool.run(chunk);
      completed += r.completed;
      racy += r.racyIterations;
      steps += r.schedSteps;
      addCounters(counters, r.counters);
      addRaces(races, r.races);
      if (r.firstRace && (first === null || r.firstRace.iteration < first.iteration)) first = r.firstRace;
      if (r.failure) failures.push(r.failure);
      opts.onProgress?.(completed, mine, racy);
    }
  };
  try {
    await Promise.all(Array.from({ length: poolThreads }, feed));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await pool.destroy();
  }
  const wallMs = performance.now() - t0;
  const stoppedBy = interrupted as string | null;
  return stressResultOf({
    scenario: opts.scenario,
    kernel,
    partialReason: stoppedBy === null ? null : `${stoppedBy}: ${completed} of ${opts.iterations} iterations done`,
    config,
    iterations: completed,
    requestedIterations: opts.iterations,
    counters,
    races,
    racyIterations: racy,
    firstRace: first as FoundRace | null,
    failures,
    shard,
    iterationRange: range,
    host: { wallMs, threads: poolThreads, schedSteps: steps },
  });
}

/** What a stress result is computed from (a campaign's tallies, or the sum of its shards'). */
interface StressTally {
  scenario: string;
  kernel: KernelSide | undefined;
  /** Why the campaign stopped early, or null if it ran every iteration. */
  partialReason: string | null;
  config: SimConfig;
  iterations: number;
  requestedIterations: number;
  counters: Counters;
  races: RaceCounts;
  racyIterations: number;
  /** The earliest racy iteration. */
  firstRace: FoundRace | null;
  failures: (RunFailure & { iteration: number })[];
  shard: Shard | null;
  iterationRange: { first: number; end: number };
  host: { wallMs: number; threads: number; schedSteps: number };
}

/** The one place a StressResult is built: rates, totals and the reproduce command follow from the tallies. */
export function stressResultOf(t: StressTally): StressResult {
  const perMille = t.iterations ? Math.round((t.racyIterations / t.iterations) * 1000 * 1000) / 1000 : 0;
  return {
    scenario: t.scenario,
    ...(t.kernel === undefined ? {} : { kernel: t.kernel }),
    ...(ablationSide(t.scenario, t.kernel) ? { ablation: true as const } : {}),
    status: t.partialReason === null ? 'ok' : 'partial',
    ...(t.partialReason === null ? {} : { partial: { reason: t.partialReason } }),
    config: t.config,
    iterations: t.iterations,
    requested_iterations: t.requestedIterations,
    counters: t.counters,
    races: t.races,
    racy_iterations: t.racyIterations,
    racy_iterations_per_1000: perMille,
    races_per_1000: perMille,
    races_total: totalRaceCount(t.races),
    first_race: t.firstRace,
    reproduce: t.firstRace ? stressReproduceCommand(t.scenario, t.config, t.firstRace.seed, t.kernel) : null,
    failures: [...t.failures].sort((a, b) => a.iteration - b.iteration),
    shard: t.shard,
    iteration_range: t.iterationRange,
    host: {
      wall_ms: Math.round(t.host.wallMs),
      iterations_per_s: t.host.wallMs > 0 ? Math.round((t.iterations / (t.host.wallMs / 1000)) * 10) / 10 : 0,
      threads: t.host.threads,
      sched_steps: t.host.schedSteps,
    },
  };
}
