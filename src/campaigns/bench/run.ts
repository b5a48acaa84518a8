/**
 * `tlbsim bench`: measure every figure of a host profile, one after the
 * other, on this host's available cores. The developers' `npm run bench`
 * (bench/all.ts) calls the same function, so the two cannot drift apart.
 *
 * Invariants:
 * - Every size follows `cores` (os.availableParallelism(), the affinity mask
 *   on Linux): IPI target counts, run-token points, piscina thread counts.
 *   Nothing assumes 2 cores.
 * - No simulated machine larger than `maxCpus` CPUs is booted.
 * - Measurements run one at a time (each would disturb the others), and
 *   each stops its workers before the next starts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_CPUS } from '../../config/config.js';
import { measureAccessScaling, scalingTokenCounts, type ScalingBudget } from './accessScaling.js';
import { HostLoadMonitor, hostInfo } from './host.js';
import { ipiRateCpus, measureIpiRate, type IpiRate, type IpiRateBudget } from './ipiRate.js';
import { ipiTargetCounts, measureIpiRound, type EngineIpi, type IpiBudget, type IpiRoundEntry } from './ipiRound.js';
import { measureLimits, type LimitsBudget } from './limits.js';
import { PROFILE_VERSION, type BenchTier, type HostProfile } from './profile.js';
import { measureSeededStep, type StepBudget } from './seededStep.js';
import { measureStartup, type StartupEntry } from './startup.js';
import { measureStressRate, stressThreadCounts, type StressBudget } from './stressRate.js';
import { measureTlbLookup, type LookupBudget } from './tlbLookup.js';

/** Everything a tier measures and how long. */
interface TierPlan {
  limits: LimitsBudget;
  step: StepBudget;
  ipi: IpiBudget;
  ipiRate: IpiRateBudget;
  scaling: ScalingBudget;
  tlb: LookupBudget;
  /** Machine sizes of the start-up figures (before the --max-cpus cap). */
  startupSizes: readonly number[];
  /** Child-process boots per size. */
  startupSamples: number;
  stress: StressBudget;
}

/**
 * The tiers. Budgets were set on a 2-core VM (Node 20) for about 20 s
 * (quick), 1.5-2 min (default) and 5 min or more (full; its 512 and
 * 1024-CPU start-ups alone take 6-20 s per sample there). A host with more
 * cores measures more points (IPI targets, run tokens, stress threads) and
 * takes longer.
 */
export const TIERS: { readonly [T in BenchTier]: TierPlan } = {
  quick: {
    limits: { timeMs: 300, warmupMs: 100 },
    // ~200 choice points per run and 4-50 us each: ~2.5 s of runs after the boot (2 s of warm-up: src/campaigns/bench/seededStep.ts;
    // after 1 s the step measured 11.6-16.0 us on a 2-core VM, after 2 s 9.6-9.7 us, as the default tier's),
    // plus the floor's 2 x 6 batches of 1,000 hand-offs (the spinning floor took ~100 us a hand-off on a 2-core host busy with other processes).
    step: { handoffsPerBatch: 1_000, handoffSamples: 5, warmupRuns: 20, warmupMs: 2_000, runsPerSample: 40, stepSamples: 5 },
    // One warm-up run: enough for the engine's isolates to leave the interpreter for the small machines quick boots.
    ipi: { engineWarmupRuns: 1, engineMeasuredRuns: 3, roundsSmall: 50, roundsLarge: 20, rawRuns: 3, rawTimeMs: 150, rawMinRounds: 50 },
    // About 0.5 s per engine run at 8 CPUs on a 2-core host (14,000 IPIs); the warm-up run leaves the interpreter.
    ipiRate: { engineOps: 250, engineRuns: 3, rawRounds: 500, rawRuns: 3 },
    scaling: { opsPerThread: 200_000, runs: 3 },
    tlb: { timeMs: 500, warmupMs: 500 },
    startupSizes: [16, 64],
    startupSamples: 2,
    stress: { iterations: { seeded: 100, free: 60 }, samples: 2, warmups: 0 },
  },
  default: {
    limits: { timeMs: 2_000, warmupMs: 500 },
    step: { handoffsPerBatch: 5_000, handoffSamples: 9, warmupRuns: 100, warmupMs: 2_000, runsPerSample: 50, stepSamples: 9 },
    // Five warm-up runs: at 64 CPUs the optimizing compiler was still busy in the second run (docs/design.md, host limits).
    ipi: { engineWarmupRuns: 5, engineMeasuredRuns: 7, roundsSmall: 200, roundsLarge: 40, rawRuns: 7, rawTimeMs: 400, rawMinRounds: 100 },
    ipiRate: { engineOps: 1_000, engineRuns: 5, rawRounds: 3_000, rawRuns: 5 },
    scaling: { opsPerThread: 2_000_000, runs: 7 },
    tlb: { timeMs: 3_000, warmupMs: 1_500 },
    startupSizes: [64, 256],
    startupSamples: 3,
    stress: { iterations: { seeded: 300, free: 150 }, samples: 5, warmups: 1 },
  },
  full: {
    limits: { timeMs: 3_000, warmupMs: 500 },
    step: { handoffsPerBatch: 10_000, handoffSamples: 15, warmupRuns: 100, warmupMs: 3_000, runsPerSample: 100, stepSamples: 15 },
    // Fewer minimum raw rounds and five measured runs: at 1023 targets (npm run bench) one raw round takes 20-40 ms
    // and one engine run 5-15 s on a 2-core host, so seven of each would make that row alone about 8 minutes.
    ipi: { engineWarmupRuns: 5, engineMeasuredRuns: 5, roundsSmall: 200, roundsLarge: 40, rawRuns: 5, rawTimeMs: 600, rawMinRounds: 50 },
    ipiRate: { engineOps: 3_000, engineRuns: 5, rawRounds: 5_000, rawRuns: 5 },
    scaling: { opsPerThread: 4_000_000, runs: 9 },
    tlb: { timeMs: 4_000, warmupMs: 1_500 },
    startupSizes: [64, 256, 512, 1024],
    startupSamples: 3,
    stress: { iterations: { seeded: 600, free: 300 }, samples: 5, warmups: 1 },
  },
};

/** Default of `--max-cpus`: the engine's own limit. */
export const DEFAULT_MAX_CPUS = MAX_CPUS;
/** Smallest `--max-cpus`: the stress figures boot the 3-CPU machine of scenario unmap-window (kswapd and two threads). */
export const MIN_MAX_CPUS = 3;

/** Options of one bench run. */
export interface HostBenchOptions {
  tier: BenchTier;
  /** Largest simulated machine to boot (default DEFAULT_MAX_CPUS). */
  maxCpus?: number;
  /** Override the tier's IPI target counts (the developers' benchmark measures 1/7/63/255/511/1023). */
  ipiTargets?: readonly number[];
  /** Override the tier's start-up machine sizes. */
  startupSizes?: readonly number[];
  /** Called after every measurement step. */
  onProgress?: (done: number, total: number, label: string) => void;
}

/** What a bench run returns: the profile, and engine details the developer benchmark prints. */
export interface HostBenchRun {
  profile: HostProfile;
  /** Engine run details per IPI target count (context switches, wall time, IPIs sent). */
  engineDetails: EngineIpi[];
}

/** The sizes a run will measure, after the --max-cpus cap. */
interface BenchSizes {
  cores: number;
  ipiTargets: number[];
  /** CPUs of the all-to-all IPI-rate machines. */
  ipiRateCpus: number;
  tokens: number[];
  startupSizes: number[];
  stressThreads: number[];
}

/** Keep sizes up to `max`; if any was dropped, measure `max` itself as the largest. */
function capSizes(sizes: readonly number[], max: number): number[] {
  const kept = sizes.filter((s) => s <= max);
  if (kept.length < sizes.length) kept.push(max);
  return [...new Set(kept)].sort((a, b) => a - b);
}

/** Work out what a run with these options measures on a host with `cores` cores. */
export function planSizes(opts: HostBenchOptions, cores: number = Math.max(1, availableParallelism())): BenchSizes {
  const plan = TIERS[opts.tier];
  const maxCpus = opts.maxCpus ?? DEFAULT_MAX_CPUS;
  if (!Number.isInteger(maxCpus) || maxCpus < MIN_MAX_CPUS || maxCpus > MAX_CPUS) {
    throw new RangeError(`--max-cpus must be an integer from ${MIN_MAX_CPUS} to ${MAX_CPUS}, got ${String(opts.maxCpus)}`);
  }
  const ipiTargets = opts.ipiTargets ? capSizes(opts.ipiTargets, maxCpus - 1) : ipiTargetCounts(cores, opts.tier, maxCpus);
  return {
    cores,
    ipiTargets,
    ipiRateCpus: ipiRateCpus(cores, maxCpus),
    tokens: scalingTokenCounts(cores),
    startupSizes: capSizes(opts.startupSizes ?? plan.startupSizes, maxCpus),
    stressThreads: stressThreadCounts(cores),
  };
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** The label of every measurement step, in the order they run (the progress bar shows the running one). */
export function planLabels(sizes: BenchSizes): string[] {
  return [
    'postMessage round trip',
    'Atomics.wait/notify round trip',
    'doorbell round trip',
    'seeded hand-off floor',
    'seeded step',
    ...sizes.ipiTargets.map((t) => `IPI round, ${plural(t, 'target')}`),
    `IPIs/s all-to-all, ${sizes.ipiRateCpus} CPUs`,
    ...sizes.tokens.map((k) => `accesses/s, ${plural(k, 'run token')}`),
    'TLB lookups',
    ...sizes.startupSizes.map((c) => `start-up, ${c} CPUs`),
    ...(['seeded', 'free'] as const).flatMap((m) => sizes.stressThreads.map((t) => `stress ${m}, ${plural(t, 'thread')}`)),
  ];
}

/** tlbsim's version, from the package.json above this module (dist/src/bench or src/campaigns/bench). */
export function tlbsimVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const f = join(dir, 'package.json');
    if (existsSync(f)) {
      const pkg = JSON.parse(readFileSync(f, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tlbsim' && typeof pkg.version === 'string') return pkg.version;
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** Measure a host profile. */
export async function runHostBench(opts: HostBenchOptions): Promise<HostBenchRun> {
  const plan = TIERS[opts.tier];
  const host = hostInfo();
  const sizes = planSizes(opts, host.cores);
  const labels = planLabels(sizes);
  const total = labels.length;
  let done = 0;
  // Each measurement reports its own end; the progress line names the one that runs next.
  const step = (): void => {
    done++;
    opts.onProgress?.(done, total, labels[done] ?? 'done');
  };
  opts.onProgress?.(0, total, labels[0]);
  const t0 = performance.now();
  const load = new HostLoadMonitor();

  const limits = await measureLimits(plan.limits, step);
  const seededStep = await measureSeededStep(plan.step, step);

  const ipi: IpiRoundEntry[] = [];
  const engineDetails: EngineIpi[] = [];
  for (const targets of sizes.ipiTargets) {
    const { entry, engine } = await measureIpiRound(targets, plan.ipi);
    ipi.push({ ...entry, ratio: { median: round3(entry.ratio.median), p99: round3(entry.ratio.p99) } });
    engineDetails.push(engine);
    step();
  }

  const ipiRate: IpiRate = await measureIpiRate(sizes.ipiRateCpus, plan.ipiRate);
  step();

  const scaling = await measureAccessScaling(host.cores, plan.scaling, step, opts.maxCpus ?? DEFAULT_MAX_CPUS);

  const tlb = await measureTlbLookup(plan.tlb);
  step();

  const startup: StartupEntry[] = [];
  for (const cpus of sizes.startupSizes) {
    startup.push(await measureStartup(cpus, plan.startupSamples));
    step();
  }

  const stress = await measureStressRate(host.cores, plan.stress, step);

  const l = load.stop();
  const profile: HostProfile = {
    tlbsim_profile: PROFILE_VERSION,
    tlbsim_version: tlbsimVersion(),
    created_at: new Date().toISOString(),
    tier: opts.tier,
    max_cpus: opts.maxCpus ?? DEFAULT_MAX_CPUS,
    duration_s: Math.round((performance.now() - t0) / 100) / 10,
    host,
    other_processes_pct: l ? Math.round(l.foreignPct * 10) / 10 : null,
    limits,
    seeded_step: seededStep,
    ipi_round: ipi,
    ipi_rate: ipiRate,
    access_scaling: scaling,
    tlb_lookup: tlb,
    startup,
    stress,
  };
  return { profile, engineDetails };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
