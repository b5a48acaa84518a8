/**
 * `tlbsim bench`: this host's profile (src/campaigns/bench/), or `--compare A B` of
 * two saved profiles.
 *
 * Invariant: every option is checked before anything is measured.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { type Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { MAX_CPUS } from '../../config/config.js';
import { compareProfiles, formatComparison } from '../../campaigns/bench/compare.js';
import { formatProfile } from '../../campaigns/bench/format.js';
import { parseProfile, type BenchTier } from '../../campaigns/bench/profile.js';
import { DEFAULT_MAX_CPUS, MIN_MAX_CPUS, planSizes, runHostBench } from '../../campaigns/bench/run.js';
import { num, UsageError, writeStdout } from './options.js';

interface BenchCliOpts {
  quick?: boolean;
  full?: boolean;
  json?: boolean;
  out?: string;
  maxCpus?: number;
  compare?: string[];
  progress: boolean;
}

/** Read and check one `--compare` profile; a missing or unparseable file is bad input. */
function readProfileFile(file: string): ReturnType<typeof parseProfile> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--compare: cannot read ${file} (${code === 'ENOENT' ? 'no such file' : (code ?? 'unreadable')}); pass two files written by 'tlbsim bench --out FILE'`);
  }
  return parseProfile(text, file);
}

async function cmdBench(o: BenchCliOpts, cmd: Command): Promise<number> {
  const given = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
  if (o.compare !== undefined) {
    if (o.compare.length !== 2) throw new UsageError(`--compare takes exactly two profile files (A.json B.json), got ${o.compare.length}`);
    for (const f of ['quick', 'full', 'out', 'maxCpus']) {
      if (given(f)) throw new UsageError(`--compare reads two saved profiles and measures nothing: drop --${f === 'maxCpus' ? 'max-cpus' : f}`);
    }
    const [fa, fb] = o.compare;
    const c = compareProfiles(readProfileFile(fa), readProfileFile(fb), fa, fb);
    await writeStdout(`${o.json ? JSON.stringify(c, null, 2) : formatComparison(c)}\n`);
    return 0;
  }
  if (o.maxCpus !== undefined && (!Number.isInteger(o.maxCpus) || o.maxCpus < MIN_MAX_CPUS || o.maxCpus > MAX_CPUS)) {
    throw new UsageError(`--max-cpus must be an integer from ${MIN_MAX_CPUS} to ${MAX_CPUS} (the largest simulated machine the bench boots), got ${o.maxCpus}`);
  }
  if (o.out !== undefined) {
    const dir = dirname(resolvePath(o.out));
    if (o.out.trim() === '' || !existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--out: directory ${dir} does not exist; create it or pick another file`);
    if (existsSync(o.out) && statSync(o.out).isDirectory()) throw new UsageError(`--out: ${o.out} is a directory; give a file name`);
  }
  const tier: BenchTier = o.quick ? 'quick' : o.full ? 'full' : 'default';
  const opts = { tier, maxCpus: o.maxCpus ?? DEFAULT_MAX_CPUS };
  planSizes(opts); // validates before anything starts
  const showBar = o.progress && process.stderr.isTTY === true && !(o.json && process.stdout.isTTY !== true);
  const bar = showBar
    ? new SingleBar({ format: 'bench [{bar}] {value}/{total} | running: {step} | {duration_formatted}', stream: process.stderr, hideCursor: true }, Presets.shades_classic)
    : null;
  let run: Awaited<ReturnType<typeof runHostBench>>;
  try {
    run = await runHostBench({
      ...opts,
      onProgress: (done, total, label) => {
        if (bar && done === 0) bar.start(total, 0, { step: label });
        else bar?.update(done, { step: label });
      },
    });
  } finally {
    bar?.stop();
  }
  const json = `${JSON.stringify(run.profile, null, 2)}\n`;
  if (o.out !== undefined) writeFileSync(o.out, json);
  await writeStdout(o.json ? json : `${formatProfile(run.profile)}\n${o.out !== undefined ? `\nprofile written to ${o.out}\n` : ''}`);
  return 0;
}

/** Add `tlbsim bench` to `program`. */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('benchmark this host (about 2 min; --quick ~20 s, --full longer) and print its profile, or compare two saved profiles')
    .addOption(new Option('--quick', 'short run (~20 s): fewer samples, small machines').conflicts('full'))
    .addOption(new Option('--full', 'long run: more IPI targets, start-up up to 1024 CPUs, more samples'))
    .addOption(new Option('--json', 'print the profile as one JSON object on stdout'))
    .addOption(new Option('--out <file>', 'also write the profile (JSON) to this file'))
    .addOption(new Option('--max-cpus <n>', `largest simulated machine to boot (${MIN_MAX_CPUS}-${MAX_CPUS}; default ${DEFAULT_MAX_CPUS})`).argParser(num('--max-cpus')))
    .addOption(new Option('--compare <files...>', 'compare two saved profiles A.json B.json instead of measuring'))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .exitOverride()
    .action(async (_o: BenchCliOpts, cmd: Command) => {
      process.exitCode = await cmdBench(cmd.opts<BenchCliOpts>(), cmd);
    });
}
