/**
 * Stress iterations per second against piscina threads: 1, 2, 4 ... up to
 * every available core, for seeded and free scheduling, on scenario
 * `unmap-window` (weak, batched).
 *
 * Each tinybench sample is one whole `runStress` campaign (pool start-up,
 * one machine boot per pool thread, then the iterations); its rate is
 * iterations / campaign time. One unmeasured campaign warms each case up.
 * Start-up is most of a short campaign (a pool thread and a 3-CPU machine
 * took 2-5 s to start on a loaded 2-core host, against ~5 ms an iteration),
 * and T threads start T machines at once on the same cores, so the whole-
 * campaign speedup understates what T threads do once running.
 * `after_startup_per_s` leaves start-up out: the campaign reports every
 * chunk it finishes (runStress's onProgress), each thread's first chunk
 * carries its boot, so the rate is taken from the end of the T-th chunk
 * (every thread booted) to the end of the last: iterations done in between
 * / time in between.
 *
 * Invariants:
 * - A campaign that ran fewer iterations than asked for throws.
 * - Run tokens are left to `runStress`, which divides the cores between its
 *   threads, as `tlbsim stress` does.
 */
import { Bench } from 'tinybench';
import type { SchedMode } from '../../config/config.js';
import { runStress } from '../stress.js';
import { scalingTokenCounts, round3 } from './accessScaling.js';
import { figureOf, type Figure } from './figure.js';
import { namedSamplesMs } from './timing.js';

/** The scenario whose rate is measured. */
const STRESS_SCENARIO = 'unmap-window';

/** How much to measure. */
export interface StressBudget {
  /** Iterations per campaign, per scheduling mode (seeded steps cost ~50 us each, free runs are faster). */
  iterations: { seeded: number; free: number };
  /** Measured campaigns per case (samples). */
  samples: number;
  /** Unmeasured campaigns per case first. */
  warmups: number;
}

/** One case: a scheduling mode on a number of piscina threads. */
interface StressPoint {
  sched: SchedMode;
  /** piscina threads (parallel simulations). */
  threads: number;
  /** Iterations per campaign. */
  iterations: number;
  iterations_per_s: Figure;
  /** iterations_per_s / the same mode on 1 thread (medians). */
  speedup: number;
  /** Iterations per second once started: start-up (a campaign of one iteration per thread) taken out. */
  after_startup_per_s: Figure;
  /** after_startup_per_s / the same mode on 1 thread (medians). */
  after_startup_speedup: number;
}

/** The stress figures of a profile. */
export interface StressRate {
  scenario: typeof STRESS_SCENARIO;
  points: StressPoint[];
}

/** Thread counts measured on a host with `cores` cores: 1, 2, 4 ... and `cores`. */
export function stressThreadCounts(cores: number): number[] {
  return scalingTokenCounts(cores);
}

/** A campaign's rate once every pool thread has booted (see the header), or null if it ran too few chunks to tell. */
async function campaign(sched: SchedMode, threads: number, iterations: number): Promise<number | null> {
  const chunks: { t: number; completed: number }[] = [];
  const r = await runStress({
    scenario: STRESS_SCENARIO,
    overrides: { sched, protocol: 'batched', arch: 'weak' },
    iterations,
    seed: 1,
    stopOnRace: false,
    threads,
    onProgress: (completed) => chunks.push({ t: performance.now(), completed }),
  });
  if (r.iterations !== iterations) throw new Error(`stress ran ${r.iterations} of ${iterations} iterations`);
  if (r.failures.length > 0) throw new Error(`stress iteration ${r.failures[0].iteration} failed: ${r.failures[0].message}`);
  const from = chunks[threads - 1];
  const to = chunks[chunks.length - 1];
  if (!from || to.completed <= from.completed || to.t <= from.t) return null;
  return (to.completed - from.completed) / ((to.t - from.t) / 1000);
}

/** Measure every case; `onStep` is called after each. */
export async function measureStressRate(cores: number, budget: StressBudget, onStep: (label: string) => void = () => {}): Promise<StressRate> {
  const points: StressPoint[] = [];
  for (const sched of ['seeded', 'free'] as const) {
    let base = 0;
    let baseAfter = 0;
    for (const threads of stressThreadCounts(cores)) {
      const iterations = budget.iterations[sched];
      const after: number[] = [];
      const bench = new Bench({ iterations: budget.samples, time: 0, warmup: budget.warmups > 0, warmupIterations: budget.warmups, warmupTime: 0, retainSamples: true, throws: true });
      bench.add('campaign', async () => {
        const rate = await campaign(sched, threads, iterations);
        if (rate !== null) after.push(rate);
      });
      await bench.run();
      const fig = figureOf(namedSamplesMs(bench, 'campaign').map((ms) => iterations / (ms / 1000)), 'iterations/s', 'higher');
      // The last `samples` rates are the measured campaigns' (warm-ups ran first).
      const afterFig = figureOf(after.slice(-budget.samples), 'iterations/s', 'higher');
      if (threads === 1) {
        base = fig.median;
        baseAfter = afterFig.median;
      }
      points.push({ sched, threads, iterations, iterations_per_s: fig, speedup: round3(fig.median / base), after_startup_per_s: afterFig, after_startup_speedup: round3(afterFig.median / baseAfter) });
      onStep(`stress ${sched}, ${threads} thread${threads === 1 ? '' : 's'}`);
    }
  }
  return { scenario: STRESS_SCENARIO, points };
}
