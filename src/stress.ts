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
 * - Early stop (--stop-on-race, or a failed iteration) never kills a running
 *   task: chunks read a shared stop index between iterations (see `stopAfter`).
 * - Nothing measured is dropped: a chunk that fails (a CPU crashed or hung)
 *   still reports the iterations it completed and the failure.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { configToFlags, ConfigError, resolveConfig, type SimConfig } from './config.js';
import { addRaces, totalRaceCount, zeroRaces, type RaceCounts, type RaceReport } from './oracle.js';
import { stressWorkerUrl } from './paths.js';
import { addCounters, zeroCounters, type Counters, type RunFailure } from './result.js';
import { SCENARIOS, type ScenarioName } from './scenarios.js';

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
export const STOP_NEVER = 0x7fff_ffff;

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
  scenario: ScenarioName;
  /** Options the user gave (over the scenario's defaults); none if omitted. */
  overrides?: Partial<SimConfig>;
  iterations: number;
  seed: number;
  stopOnRace: boolean;
  /** piscina threads (default: host cores). */
  threads?: number;
  /** Called after every chunk. */
  onProgress?: (completed: number, total: number, racyIterations: number) => void;
}

export interface StressResult {
  scenario: ScenarioName;
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
  host: { wall_ms: number; iterations_per_s: number; threads: number; sched_steps: number };
}

/** piscina threads of a stress campaign when none are asked for: one per core this process may use (affinity respected). */
export function defaultStressThreads(): number {
  return Math.max(1, availableParallelism());
}

/** Iterations per piscina task: small enough for a live progress bar and early stop. */
export const STRESS_CHUNK_MAX = 25;

/** Resolve a scenario's config with the user's overrides on top. */
export function scenarioConfig(scenario: ScenarioName, overrides: Partial<SimConfig>): SimConfig {
  const s = SCENARIOS[scenario];
  if (!s) throw new ConfigError(`--scenario must be one of ${Object.keys(SCENARIOS).join(', ')}, got '${scenario}'`);
  // Stress defaults to seeded scheduling so every race it finds can be replayed exactly.
  return resolveConfig({ sched: 'seeded', ...s.defaults, ...overrides });
}

/** The reproduce command for iteration seed `seed`. */
export function stressReproduceCommand(scenario: ScenarioName, config: SimConfig, seed: number): string {
  const base = scenarioConfig(scenario, { seed: config.seed });
  // Run tokens do not change a seeded run (one CPU steps at a time): leave the host-dependent value out.
  const flags = configToFlags({ ...config, seed, runTokens: config.sched === 'seeded' ? base.runTokens : config.runTokens }, base);
  return ['tlbsim', 'stress', '--scenario', scenario, ...flags, '--iterations', '1'].join(' ');
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
  let config = scenarioConfig(opts.scenario, { ...overrides, seed: opts.seed });
  if (overrides.runTokens === undefined) {
    // Several machines share the host: split the cores between them.
    config = { ...config, runTokens: Math.max(1, Math.floor(cores / threads)) };
  }
  const chunkSize = Math.max(1, Math.min(STRESS_CHUNK_MAX, Math.ceil(opts.iterations / (threads * 4))));
  const stopAfter = new SharedArrayBuffer(4);
  new Int32Array(stopAfter)[0] = STOP_NEVER;
  const chunks: StressChunk[] = [];
  for (let first = 0; first < opts.iterations; first += chunkSize) {
    chunks.push({ config, first, count: Math.min(chunkSize, opts.iterations - first), baseSeed: opts.seed, stopOnRace: opts.stopOnRace, stopAfter });
  }

  const pool = new Piscina<StressChunk, StressChunkResult>({
    filename: stressWorkerUrl().href,
    minThreads: Math.min(threads, chunks.length),
    maxThreads: Math.min(threads, chunks.length),
    idleTimeout: 1_000,
  });
  const t0 = performance.now();
  const counters = zeroCounters();
  const races = zeroRaces();
  let completed = 0;
  let racy = 0;
  let steps = 0;
  let first: FoundRace | null = null;
  const failures: (RunFailure & { iteration: number })[] = [];
  try {
    await Promise.all(
      chunks.map(async (chunk) => {
        const r = await pool.run(chunk);
        completed += r.completed;
        racy += r.racyIterations;
        steps += r.schedSteps;
        addCounters(counters, r.counters);
        addRaces(races, r.races);
        if (r.firstRace && (first === null || r.firstRace.iteration < first.iteration)) first = r.firstRace;
        if (r.failure) failures.push(r.failure);
        opts.onProgress?.(completed, opts.iterations, racy);
      }),
    );
  } finally {
    await pool.destroy();
  }
  const wallMs = performance.now() - t0;
  const found = first as FoundRace | null;
  const perMille = completed ? Math.round((racy / completed) * 1000 * 1000) / 1000 : 0;
  return {
    scenario: opts.scenario,
    config,
    iterations: completed,
    requested_iterations: opts.iterations,
    counters,
    races,
    racy_iterations: racy,
    racy_iterations_per_1000: perMille,
    races_per_1000: perMille,
    races_total: totalRaceCount(races),
    first_race: found,
    reproduce: found ? stressReproduceCommand(opts.scenario, config, found.seed) : null,
    failures,
    host: {
      wall_ms: Math.round(wallMs),
      iterations_per_s: Math.round((completed / (wallMs / 1000)) * 10) / 10,
      threads: Math.min(threads, chunks.length),
      sched_steps: steps,
    },
  };
}
