/**
 * Runs every micro-benchmark in sequence (`npm run bench`): IPI round latency
 * vs a raw worker baseline (target: within 2x), TLB hit-path lookups vs a raw
 * typed-array loop (target: >= 0.5x), and start-up time / memory (target: 256
 * CPUs ready in < 10 s, < 10 MB per CPU), and stress iterations per second
 * (seeded and free, 1 and 2 piscina threads; no fixed target). Prints a
 * summary of the verdicts.
 */
import { main as ipiLatency } from './ipiLatency.js';
import { main as startup } from './startup.js';
import { main as tlbLookup } from './tlbLookup.js';
import { main as stressRate } from './stressRate.js';
import { isMain, printTable } from './common.js';

export async function main(): Promise<boolean> {
  const t0 = performance.now();
  const results: [string, boolean][] = [];
  results.push(['ipiLatency: engine within 2x of raw at 1/7/63/255/511/1023 targets', await ipiLatency()]);
  console.log('');
  results.push(['tlbLookup: engine >= 0.5x raw lookups/s', await tlbLookup()]);
  console.log('');
  results.push(['startup: 256 CPUs ready < 10 s and < 10 MB/CPU', await startup()]);
  console.log('');
  await stressRate();
  printTable(
    `Summary (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
    ['benchmark', 'verdict'],
    results.map(([name, ok]) => [name, ok ? 'target met' : 'target missed']),
  );
  return results.every(([, ok]) => ok);
}

if (isMain(import.meta.url)) await main();
