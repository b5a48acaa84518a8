/**
 * Developer benchmark: TLB hit-path lookups per second, `Tlb.lookup` against
 * the inline raw loop (measured by src/campaigns/bench/tlbLookup.ts, the code
 * `tlbsim bench` runs, on the `full` tier's budget).
 *
 * Target: engine >= 0.5x the raw loop's lookups per second.
 */
import { fmtFigure, fmtRatio } from '../src/campaigns/bench/figure.js';
import { TIERS } from '../src/campaigns/bench/run.js';
import { measureTlbLookup } from '../src/campaigns/bench/tlbLookup.js';
import { HostLoadMonitor, describeLoad, isMain, printTable, waitForQuietHost } from './common.js';
import { tlbVerdict } from './verdicts.js';

/** Measure, print the table and the verdict; true if the target was met. */
export async function main(): Promise<boolean> {
  console.log('== TLB lookup hit path: Tlb.lookup vs inline typed-array loop ==');
  await waitForQuietHost('tlbLookup');
  const mon = new HostLoadMonitor();
  const t = await measureTlbLookup(TIERS.full.tlb);
  const load = mon.stop();
  printTable('TLB hit-path lookups, 64x4 TLB on a SharedArrayBuffer (median [p25-p75])', ['loop', 'lookups/s', 'samples', 'vs raw'], [
    ['engine Tlb.lookup', fmtFigure(t.engine), String(t.engine.samples), fmtRatio(t.ratio)],
    ['raw inline loop', fmtFigure(t.raw), String(t.raw.samples), fmtRatio(1)],
  ]);
  console.log(describeLoad('during the measurement', load));
  return tlbVerdict(t);
}

if (isMain(import.meta.url)) await main();
