/**
 * Stress throughput: seeded and free stress iterations per second on this
 * host, and how free mode scales from 1 to 2 piscina threads.
 *
 * Each tinybench task runs one whole stress campaign (piscina pool start-up,
 * one machine boot per pool thread, then ITERATIONS iterations); the rate is
 * ITERATIONS / mean task time. The raw baseline in the same run is the same
 * campaign on one thread: the 2-thread figure over it is the scaling.
 * No fixed target: the figures go into the closing note and README.
 */
import { Bench } from 'tinybench';
import { runStress } from '../src/stress.js';
import type { SchedMode } from '../src/config.js';
import { fmt, isMain, latencyOf, printTable, ratio } from './common.js';

/** Iterations per campaign: enough that pool start-up (~0.2 s) is a small share. */
export const ITERATIONS = { seeded: 300, free: 150 } as const;
/** Campaigns per task (tinybench samples). */
export const SAMPLES = 3;

async function campaign(sched: SchedMode, threads: number): Promise<void> {
  const r = await runStress({
    scenario: 'unmap-window',
    overrides: { sched, protocol: 'batched', arch: 'weak' },
    iterations: ITERATIONS[sched],
    seed: 1,
    stopOnRace: false,
    threads,
  });
  if (r.iterations !== ITERATIONS[sched]) throw new Error(`stress ran ${r.iterations} of ${ITERATIONS[sched]} iterations`);
}

export async function main(): Promise<void> {
  const bench = new Bench({ iterations: SAMPLES, time: 0, warmupIterations: 1, warmupTime: 0 });
  const cases: { name: string; sched: SchedMode; threads: number }[] = [
    { name: 'seeded, 1 thread', sched: 'seeded', threads: 1 },
    { name: 'seeded, 2 threads', sched: 'seeded', threads: 2 },
    { name: 'free, 1 thread', sched: 'free', threads: 1 },
    { name: 'free, 2 threads', sched: 'free', threads: 2 },
  ];
  for (const c of cases) bench.add(c.name, () => campaign(c.sched, c.threads));
  await bench.run();
  const rate = new Map<string, number>();
  const rows = cases.map((c, i) => {
    const lat = latencyOf(bench.tasks[i]);
    const perS = ITERATIONS[c.sched] / (lat.mean / 1000);
    rate.set(c.name, perS);
    return [c.name, fmt(ITERATIONS[c.sched], 0), fmt(lat.mean, 0), fmt(perS, 1)];
  });
  printTable('stress iterations per second (scenario unmap-window, weak, batched)', ['case', 'iterations', 'campaign ms', 'iterations/s'], rows);
  const seededScale = rate.get('seeded, 2 threads')! / rate.get('seeded, 1 thread')!;
  const freeScale = rate.get('free, 2 threads')! / rate.get('free, 1 thread')!;
  console.log(`scaling 1 -> 2 piscina threads: seeded ${ratio(seededScale)}, free ${ratio(freeScale)}`);
}

if (isMain(import.meta.url)) await main();
