/**
 * `npm run bench`: the developers' benchmark. It runs the same code as
 * `tlbsim bench` (src/campaigns/bench/run.ts, `full` tier) with the developers' sizes
 * (IPI rounds to 1/7/63/255/511/1023 targets, start-up at 64/256/512/1024
 * CPUs), prints the same profile tables plus the engine's run details, and
 * ends with the targets' verdicts: IPI round within 2x of raw at every
 * target count, TLB lookups >= 0.5x raw, 256 CPUs ready < 10 s and
 * < 10 MB/CPU (512 < 10 s, 1024 < 20 s).
 *
 * Flags: --quick runs the `quick` tier with its own sizes (a check that the
 * wrapper works, ~20 s); --out=FILE also writes the profile.
 */
import { writeFileSync } from 'node:fs';
import { formatProfile } from '../src/campaigns/bench/format.js';
import { runHostBench } from '../src/campaigns/bench/run.js';
import { isMain, printTable, waitForQuietHost } from './common.js';
import { TARGET_COUNTS, printEngineDetails } from './ipiLatency.js';
import { CPU_COUNTS } from './startup.js';
import { ipiVerdicts, startupVerdicts, tlbVerdict } from './verdicts.js';

/** Run the shared bench, print its tables and the verdicts; true unless a target was missed. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<boolean> {
  const quick = argv.includes('--quick');
  const out = argv.find((a) => a.startsWith('--out='))?.slice('--out='.length);
  await waitForQuietHost('bench');
  const { profile, engineDetails } = await runHostBench({
    tier: quick ? 'quick' : 'full',
    ipiTargets: quick ? undefined : TARGET_COUNTS,
    startupSizes: quick ? undefined : CPU_COUNTS,
    onProgress: (done, total, label) => console.log(`  [${done}/${total} done] next: ${label}`),
  });
  console.log(`\n${formatProfile(profile)}`);
  printEngineDetails(
    profile.ipi_round.map((e) => e.targets),
    engineDetails,
  );
  if (out) writeFileSync(out, `${JSON.stringify(profile, null, 2)}\n`);
  console.log('');
  const results: [string, boolean | null][] = [
    ['ipiRound: engine median within 2x of raw at every target count', ipiVerdicts(profile.ipi_round)],
    ['tlbLookup: engine >= 0.5x raw lookups/s', tlbVerdict(profile.tlb_lookup)],
    ['startup: targets of the sizes measured', startupVerdicts(profile.startup)],
  ];
  printTable(
    `Summary (${profile.duration_s} s)`,
    ['benchmark', 'verdict'],
    results.map(([name, ok]) => [name, ok === null ? 'not measured' : ok ? 'target met' : 'target missed']),
  );
  return results.every(([, ok]) => ok !== false);
}

if (isMain(import.meta.url)) await main();
