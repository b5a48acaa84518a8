/**
 * A seeded step against the host's hand-off floor (issue 19 §2).
 *
 * - Floor: two raw workers (workers/benchHandoff.ts) pass one turn back and
 *   forth through a shared word with Atomics.notify / Atomics.wait, as a
 *   seeded run passes its turn between CPU threads; one sample is a batch of
 *   `handoffsPerBatch` hand-offs, reported per hand-off. Measured sleeping
 *   (the waiter sleeps at once: `handoff_floor_us`) and spinning (the waiter
 *   reads the word up to RAW_SPIN_LOADS times first: what a free second core
 *   allows, `handoff_spin_us`).
 * - Step: one booted machine of scenario `unmap-window` (3 CPUs, seeded,
 *   weak, batched), reused for every run as `tlbsim stress` does; one sample
 *   is `runsPerSample` whole runs (machine.run, per-run reset and result
 *   included), and a step costs their wall time / their choice points
 *   (G_SCHED_STEPS summed). Measured once the machine is warm (`warmupRuns`
 *   and at least `warmupMs` of runs after boot), as a stress campaign of
 *   thousands of runs sees it: the first few hundred runs of a fresh machine
 *   are 2-3x slower while V8 compiles the engine in each CPU worker (~0.4 s
 *   of optimizing compiles on background threads competing for the cores;
 *   measured on a 2-core host: 12 us a step over runs 1-100, 7 us over runs
 *   201-300, 4-5 us from run 700 on).
 * - ratio: step_us / handoff_floor_us (medians), measured in the same run.
 *
 * Invariants: the raw workers are stopped before the machine boots, and the
 * machine is shut down before the next measurement; a run that fails throws.
 */
import { Worker } from 'node:worker_threads';
import { Bench } from 'tinybench';
import { Machine } from '../../engine/coordinator.js';
import { benchHandoffWorkerUrl } from '../../engine/paths.js';
import { scenarioConfig } from '../stress.js';
import { round3 } from './accessScaling.js';
import { figureOf, type Figure } from './figure.js';
import { H_CTL_WORDS, H_DONE, H_GO, H_N, H_STOP, H_TURN, type HandoffWorkerData } from './handoffLayout.js';
import { namedSamplesMs } from './timing.js';

/** The scenario whose seeded step is measured (the stress figures' scenario). */
const STEP_SCENARIO = 'unmap-window';
/** Seed of the first measured run (run i uses STEP_SEED + i): any seed, fixed so two hosts run the same schedules. */
const STEP_SEED = 1;
/** Reads before sleeping in the spinning floor: the engine's largest adaptive spin budget (src/engine/scheduler.ts, TURN_SPIN_MAX). */
const RAW_SPIN_LOADS = 16_384;
/** A batch of hand-offs that takes longer than this is a broken rig, not a slow host. */
const BATCH_TIMEOUT_MS = 30_000;

/** How much to measure. */
export interface StepBudget {
  /** Hand-offs per floor sample. */
  handoffsPerBatch: number;
  /** Floor samples per mode (one unmeasured batch first). */
  handoffSamples: number;
  /** Unmeasured runs after boot (V8 leaves the interpreter)... */
  warmupRuns: number;
  /** ...and at least this long (ms): until V8 has compiled the engine's hot paths in every CPU worker (see the header). */
  warmupMs: number;
  /** Runs per step sample. */
  runsPerSample: number;
  /** Step samples. */
  stepSamples: number;
}

/** The seeded-step figures of a profile. */
export interface SeededStepFigures {
  scenario: typeof STEP_SCENARIO;
  /** One hand-off between two raw workers, the waiter sleeping in Atomics.wait (us). */
  handoff_floor_us: Figure;
  /** The same, the waiter spinning first (us). */
  handoff_spin_us: Figure;
  /** Wall time per seeded choice point of the engine, whole runs included (us). */
  step_us: Figure;
  /** Seeded choice points per second per machine. */
  steps_per_s: Figure;
  /** Choice points per run (the same every sample: the runs' seeds are fixed). */
  steps_per_run: number;
  /** step_us / handoff_floor_us, medians. */
  ratio: number;
}

interface HandoffRig {
  ctl: Int32Array;
  stop(): Promise<void>;
}

async function startRig(spinLoads: number): Promise<HandoffRig> {
  const sab = new SharedArrayBuffer(H_CTL_WORDS * Int32Array.BYTES_PER_ELEMENT);
  const ctl = new Int32Array(sab);
  const workers = [0, 1].map((me) => new Worker(benchHandoffWorkerUrl(), { workerData: { me, ctl: sab, spinLoads } satisfies HandoffWorkerData }));
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
        }),
    ),
  );
  return {
    ctl,
    async stop() {
      Atomics.store(ctl, H_STOP, 1);
      Atomics.add(ctl, H_GO, 1);
      Atomics.notify(ctl, H_GO);
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/** One batch of `n` hand-offs: start both workers, sleep until both report the batch done. */
function runBatch(ctl: Int32Array, n: number): void {
  const done = Atomics.load(ctl, H_DONE);
  Atomics.store(ctl, H_TURN, 0);
  Atomics.store(ctl, H_N, n);
  Atomics.add(ctl, H_GO, 1);
  Atomics.notify(ctl, H_GO);
  const deadline = performance.now() + BATCH_TIMEOUT_MS;
  for (;;) {
    const d = Atomics.load(ctl, H_DONE);
    if (d - done >= 2) return;
    if (performance.now() > deadline) throw new Error(`hand-off floor: ${n} hand-offs did not finish within ${BATCH_TIMEOUT_MS} ms`);
    Atomics.wait(ctl, H_DONE, d, 100);
  }
}

/** Per-hand-off samples (us) with the waiter spinning `spinLoads` reads first. */
async function measureHandoff(spinLoads: number, budget: StepBudget): Promise<number[]> {
  const rig = await startRig(spinLoads);
  try {
    const n = budget.handoffsPerBatch;
    const bench = new Bench({ iterations: budget.handoffSamples, time: 0, warmup: true, warmupIterations: 1, warmupTime: 0, retainSamples: true, throws: true });
    bench.add('batch', () => runBatch(rig.ctl, n));
    await bench.run();
    return namedSamplesMs(bench, 'batch').map((ms) => (ms * 1000) / n);
  } finally {
    await rig.stop();
  }
}

/** Per-step samples (us) and choice points per run of the engine on STEP_SCENARIO. */
async function measureEngineStep(budget: StepBudget): Promise<{ stepUs: number[]; stepsPerRun: number }> {
  const config = scenarioConfig(STEP_SCENARIO, { sched: 'seeded', protocol: 'batched', arch: 'weak' });
  const m = await Machine.boot(config);
  try {
    const runOnce = async (seed: number): Promise<number> => {
      const r = await m.run(seed);
      if (r.status !== 'ok') throw new Error(`seeded-step run (seed ${seed}) failed: ${r.failure?.message ?? r.status}`);
      return r.host.sched_steps;
    };
    const warmUntil = performance.now() + budget.warmupMs;
    for (let i = 0; i < budget.warmupRuns || performance.now() < warmUntil; i++) await runOnce(STEP_SEED + (i % budget.runsPerSample));
    const stepUs: number[] = [];
    let steps = 0;
    let runs = 0;
    for (let s = 0; s < budget.stepSamples; s++) {
      let sampleSteps = 0;
      const t0 = performance.now();
      for (let i = 0; i < budget.runsPerSample; i++) sampleSteps += await runOnce(STEP_SEED + i);
      const ms = performance.now() - t0;
      stepUs.push((ms * 1000) / sampleSteps);
      steps += sampleSteps;
      runs += budget.runsPerSample;
    }
    return { stepUs, stepsPerRun: Math.round(steps / runs) };
  } finally {
    await m.shutdown();
  }
}

/** Measure the floor (sleeping, then spinning) and the engine's step; `onStep` after each. */
export async function measureSeededStep(budget: StepBudget, onStep: (label: string) => void = () => {}): Promise<SeededStepFigures> {
  const floor = figureOf(await measureHandoff(0, budget), 'us', 'lower');
  const spin = figureOf(await measureHandoff(RAW_SPIN_LOADS, budget), 'us', 'lower');
  onStep('seeded hand-off floor');
  const { stepUs, stepsPerRun } = await measureEngineStep(budget);
  const step = figureOf(stepUs, 'us', 'lower');
  onStep('seeded step');
  return {
    scenario: STEP_SCENARIO,
    handoff_floor_us: floor,
    handoff_spin_us: spin,
    step_us: step,
    steps_per_s: figureOf(
      stepUs.map((us) => 1e6 / us),
      'steps/s',
      'higher',
    ),
    steps_per_run: stepsPerRun,
    ratio: round3(step.median / floor.median),
  };
}
