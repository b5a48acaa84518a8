/**
 * Developer benchmark: stress iterations per second, seeded and free, on
 * 1, 2, 4 ... up to every available piscina thread (measured by
 * src/campaigns/bench/stressRate.ts, the code `tlbsim bench` runs, on the `full`
 * tier's budget). No fixed target.
 */
import { availableParallelism } from 'node:os';
import { fmtFigure, fmtRatio } from '../src/campaigns/bench/figure.js';
import { TIERS } from '../src/campaigns/bench/run.js';
import { measureStressRate } from '../src/campaigns/bench/stressRate.js';
import { isMain, printTable } from './common.js';

/** Measure and print the table (no target). */
export async function main(): Promise<void> {
  const r = await measureStressRate(Math.max(1, availableParallelism()), TIERS.full.stress);
  printTable(
    `stress iterations per second (scenario ${r.scenario}, weak, batched; median [p25-p75])`,
    ['sched', 'threads', 'iterations', 'iterations/s', 'speedup'],
    r.points.map((p) => [p.sched, String(p.threads), String(p.iterations), fmtFigure(p.iterations_per_s), fmtRatio(p.speedup)]),
  );
}

if (isMain(import.meta.url)) await main();
