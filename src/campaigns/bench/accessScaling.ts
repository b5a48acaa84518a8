/**
 * Simulated accesses per second with 1, 2, 4 ... up to every available core
 * running (run tokens), and the parallel efficiency of each point.
 *
 * One machine per token count, always the same size and work: kswapd plus
 * `scalingThreads(cores)` thread CPUs (more threads than tokens, so every
 * token is always in use), the reclaim workload reduced to one reclaimed
 * page (one IPI round), each thread making `ops` loads and stores through
 * its TLB. A sample is (loads + stores) / wall time of one run, read from the
 * run's counters; one unmeasured warm-up run precedes the samples.
 *
 * Invariants:
 * - Only `runTokens` changes between the points, so the curve shows what
 *   more host cores buy the engine.
 * - efficiency(k) = rate(k) / (k x rate(1)), from the medians.
 */
import { MAX_CPUS, resolveConfig, type SimConfig } from '../../config/config.js';
import { Machine } from '../../engine/coordinator.js';
import { figureOf, type Figure } from './figure.js';

/** How much to measure per token count. */
export interface ScalingBudget {
  /** Loads + stores per thread CPU per run. */
  opsPerThread: number;
  /** Measured runs per token count (samples). */
  runs: number;
}

/** One point of the scaling curve. */
interface ScalingPoint {
  /** Run tokens: simulated CPUs running accesses at once. */
  tokens: number;
  /** Simulated loads + stores per second over the run. */
  accesses_per_s: Figure;
  /** accesses_per_s / accesses_per_s at 1 token (medians). */
  speedup: number;
  /** speedup / tokens: 1.0 is perfect scaling. */
  efficiency: number;
}

/** The scaling curve. */
export interface AccessScaling {
  /** Thread CPUs of every machine (plus kswapd on CPU 0). */
  threads: number;
  /** Accesses per thread per run. */
  ops_per_thread: number;
  points: ScalingPoint[];
}

/** Thread CPUs per machine: twice the cores, at least 4, so runnable CPUs always outnumber tokens (and queue for them). */
export function scalingThreads(cores: number, maxCpus: number = MAX_CPUS): number {
  return Math.max(1, Math.min(maxCpus - 1, Math.max(4, 2 * cores)));
}

/** Token counts 1, 2, 4 ... below `cores`, then `cores` itself. */
export function scalingTokenCounts(cores: number): number[] {
  const out: number[] = [];
  for (let k = 1; k < cores; k *= 2) out.push(k);
  out.push(cores);
  return out;
}

/** The machine of one point. */
function scalingConfig(cores: number, tokens: number, opsPerThread: number, maxCpus: number = MAX_CPUS): SimConfig {
  return resolveConfig({
    cpus: scalingThreads(cores, maxCpus) + 1,
    workload: 'reclaim',
    protocol: 'batched',
    // One page reclaimed: one IPI round, then the threads only access.
    reclaimPages: '0',
    pages: 256,
    ops: opsPerThread,
    sched: 'free',
    runTokens: tokens,
  });
}

/** Accesses per second samples of one token count. */
async function measurePoint(config: SimConfig, runs: number): Promise<number[]> {
  const m = await Machine.boot(config);
  try {
    const rates: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const r = await m.run(config.seed + i);
      if (r.status !== 'ok') throw new Error(`access-scaling run with ${config.runTokens} tokens failed: ${r.failure?.message ?? 'unknown'}`);
      const accesses = r.counters.loads + r.counters.stores;
      if (i > 0) rates.push(accesses / (r.host.wall_ms / 1000));
    }
    return rates;
  } finally {
    await m.shutdown();
  }
}

/** Measure the curve for a host with `cores` cores. `onStep` is called after each point. */
export async function measureAccessScaling(
  cores: number,
  budget: ScalingBudget,
  onStep: (label: string) => void = () => {},
  maxCpus: number = MAX_CPUS,
): Promise<AccessScaling> {
  const points: ScalingPoint[] = [];
  for (const tokens of scalingTokenCounts(cores)) {
    const fig = figureOf(await measurePoint(scalingConfig(cores, tokens, budget.opsPerThread, maxCpus), budget.runs), 'accesses/s', 'higher');
    const base = points.length > 0 ? points[0].accesses_per_s.median : fig.median;
    const speedup = fig.median / base;
    points.push({ tokens, accesses_per_s: fig, speedup: round3(speedup), efficiency: round3(speedup / tokens) });
    onStep(`accesses/s with ${tokens} run token${tokens === 1 ? '' : 's'}`);
  }
  return { threads: scalingThreads(cores, maxCpus), ops_per_thread: budget.opsPerThread, points };
}

/** Round to 3 decimals (ratios in a profile). */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
