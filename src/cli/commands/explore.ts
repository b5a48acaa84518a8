/**
 * `tlbsim explore` (every schedule of a catalogue scenario up to a
 * preemption bound, or one shard's slice of them) and `tlbsim races` (the
 * catalogue).
 *
 * Invariant: the state hashes go to the `--out` file (what merge unions),
 * never to stdout.
 */
import { type Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { withInterrupts } from '../interrupt.js';
import { formatExplore, formatRaces, toJson } from '../../output/report.js';
import { DEFAULT_MAX_SCHEDULES, exploreScenario, MAX_PREEMPTION_BOUND, UNBOUNDED } from '../../campaigns/explore.js';
import { RACE_NAMES, RACES } from '../../scenarios/races/index.js';
import { addPresetOptions, addSimOptions, num, UsageError, withConfigFile, writeStdout, type CliOpts } from './options.js';
import { computeRaceVersions, loadRaceVersions, RACE_VERSION_ITERATIONS } from '../../scenarios/races/versions.js';
import { writeFileAtomic } from '../../output/atomicWrite.js';
import { parseShard } from '../../campaigns/shard.js';
import { writeExploreDir } from '../../campaigns/merge.js';
import { checkOutputDir } from '../../output/outputPaths.js';

interface ExploreCliOpts extends CliOpts {
  scenario: string;
  preemptionBound: number;
  maxSchedules: number;
  progress: boolean;
  shard?: string;
  out?: string;
  por: 'on' | 'off';
  /** Absent: on, unless --por on or --shard (which take it off). */
  stateful?: 'on' | 'off';
}

/** `--preemption-bound`: 0..MAX_PREEMPTION_BOUND, or `none` (no bound). */
function parseBound(v: string): number {
  if (v.trim() === 'none') return UNBOUNDED;
  const k = Number(v);
  if (!Number.isInteger(k) || k < 0 || k > MAX_PREEMPTION_BOUND) throw new UsageError(`--preemption-bound takes an integer from 0 to ${MAX_PREEMPTION_BOUND} or none, got '${v}'`);
  return k;
}

async function cmdExplore(given: ExploreCliOpts, cmd: Command): Promise<number> {
  const { opts: o, sim: overrides } = withConfigFile(given, cmd, 'stress');
  if (overrides.schedule !== undefined) throw new UsageError('--replay does not apply to explore: it chooses every schedule itself');
  if (!Number.isInteger(o.maxSchedules) || o.maxSchedules < 1) throw new UsageError(`--max-schedules must be a positive integer, got ${String(o.maxSchedules)}`);
  const shard = o.shard === undefined ? null : parseShard(o.shard);
  // Before any schedule runs: an exploration that cannot write what it was asked to is refused, not lost at the end.
  if (o.out !== undefined) checkOutputDir('--out', o.out);
  const showBar = o.progress && !o.json && process.stderr.isTTY === true;
  const bar = showBar ? new SingleBar({ format: 'explore {value} schedules | {racy} racy | bound {k}', stream: process.stderr, hideCursor: true }, Presets.shades_classic) : null;
  bar?.start(0, 0, { racy: 0, k: 0 });
  const { value: r, signalExitCode } = await withInterrupts(
    (signal) =>
      exploreScenario({
        scenario: o.scenario,
        kernel: o.kernel,
        overrides,
        bound: o.preemptionBound,
        maxSchedules: o.maxSchedules,
        shard,
        por: o.por === 'on',
        stateful: o.stateful === undefined ? o.por !== 'on' && shard === null : o.stateful === 'on',
        signal,
        onProgress: (n, racy, k) => bar?.update(n, { racy, k }),
      }),
    () => undefined,
  ).finally(() => bar?.stop());
  if (o.out !== undefined) writeExploreDir(o.out, r);
  const { state_hashes: _hashes, final_states: _finals, ...printed } = r;
  await writeStdout(`${o.json ? toJson(printed) : formatExplore(r)}${o.out !== undefined && !o.json ? `\n  wrote ${o.out}/explore.json` : ''}\n`);
  return signalExitCode ?? 0;
}

/** Add `tlbsim races` to `program`. */
export function registerRaces(program: Command): void {
  program
    .command('races')
    .description("list the race catalogue: each known Linux TLB-coherence race, its fix, and what goes wrong")
    .addOption(new Option('--json', 'print the catalogue as JSON'))
    .addOption(new Option('--versions', 'run every race under every --kernel-version profile (seeded stress, stop at the first race) and print the releases that reproduce it'))
    .addOption(new Option('--iterations <n>', '--versions: iterations per release, at most').argParser(num('--iterations')).default(RACE_VERSION_ITERATIONS))
    .addOption(new Option('--write <file>', '--versions: also write the table (JSON) to FILE, atomically (docs/race-versions.json is what tlbsim races shows)'))
    .exitOverride()
    .action(async (o: { json?: boolean; versions?: boolean; iterations: number; write?: string }) => {
      if (o.write !== undefined && o.versions !== true) throw new UsageError('--write applies to --versions (it writes the computed table)');
      if (!Number.isInteger(o.iterations) || o.iterations < 1) throw new UsageError(`--iterations must be a positive integer, got ${String(o.iterations)}`);
      const table = o.versions === true ? await computeRaceVersions({ iterations: o.iterations, seed: 1, onProgress: (n, v, r) => process.stderr.write(`${n} ${v}: ${r.reproduces === null ? 'n/a' : r.reproduces ? `races (seed ${String(r.witness)})` : 'no race'}\n`) }) : loadRaceVersions();
      if (o.write !== undefined && table !== null) writeFileAtomic(o.write, `${toJson(table)}\n`);
      await writeStdout(`${o.json ? toJson(RACE_NAMES.map((n) => ({ ...RACES[n], ...(table?.races[n] ? { versions: table.races[n] } : {}) }))) : formatRaces(table)}\n`);
      process.exitCode = 0;
    });
}

/** Add `tlbsim explore` to `program`. */
export function registerExplore(program: Command): void {
  addPresetOptions(
    addSimOptions(
      program
        .command('explore')
        .description('check every schedule of a scenario with at most K preemptions (iterative context bounding) and replay the shortest racy one'),
      true,
    ),
    { mandatory: true },
  )
    .addOption(new Option('--preemption-bound <k>', `most preemptions per schedule, 0 to ${MAX_PREEMPTION_BOUND}, or none (every schedule: with --por on, report "verified: every schedule" when it finishes)`).argParser(parseBound).default(2))
    .addOption(new Option('--por <on|off>', 'partial-order reduction: on runs one schedule per class of schedules that only reorder independent steps (bounded DPOR); off runs every schedule').choices(['on', 'off']).default('off'))
    .addOption(
      new Option(
        '--stateful <on|off>',
        'stateful exploration: a schedule stops branching at a state already explored (its shared memory and every CPU thread\'s read history); the verdict, the smallest racy bound and the final states are the full exploration\'s (default: on, off with --por on or --shard)',
      ).choices(['on', 'off']),
    )
    .addOption(new Option('--max-schedules <n>', 'stop (not exhaustive) after this many schedules').argParser(num('--max-schedules')).default(DEFAULT_MAX_SCHEDULES))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .addOption(new Option('--shard <K/N>', 'explore only the K-th of N disjoint slices of the schedules (subtrees below the default schedule); merge the --out folders with tlbsim merge'))
    .addOption(new Option('--out <dir>', 'also write the result, with its state hashes, to DIR/explore.json, atomically (what tlbsim merge reads)'))
    .exitOverride()
    .action(async (_o: ExploreCliOpts, cmd: Command) => {
      process.exitCode = await cmdExplore(cmd.opts<ExploreCliOpts>(), cmd);
    });
}
