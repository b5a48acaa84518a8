/**
 * `tlbsim stress`: a campaign of seeded iterations of one scenario in a
 * piscina pool, and `--trace-first-race`, which replays the first racy
 * iteration with tracing on.
 *
 * Invariant: only the replay of the first race records a trace, never the
 * campaign's iterations.
 */
import { type Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { resolveConfig } from '../../config/config.js';
import { Machine } from '../../engine/coordinator.js';
import { withInterrupts } from '../interrupt.js';
import { createLogger, type Logger } from '../../output/log.js';
import { formatStress, toJson } from '../../output/report.js';
import { defaultStressThreads, runStress, type FoundRace, type StressResult } from '../../campaigns/stress.js';
import { TRACE_EVENTS_DEFAULT, writeTrace } from '../../output/trace.js';
import { parseShard } from '../../campaigns/shard.js';
import { writeStressDir } from '../../campaigns/merge.js';
import { checkOutputDir, checkOutputFile } from '../../output/outputPaths.js';
import { addPresetOptions, addSimOptions, EXIT_SIM_FAILED, num, UsageError, withConfigFile, writeStdout, type CliOpts } from './options.js';
import { pluginFailure } from '../../plugin/load.js';

interface StressCliOpts extends CliOpts {
  scenario: string;
  iterations: number;
  stopOnRace?: boolean;
  threads?: number;
  progress: boolean;
  out?: string;
  traceFirstRace?: string;
  shard?: string;
}

async function cmdStress(given: StressCliOpts, cmd: Command): Promise<number> {
  const { opts: o, sim: overrides } = withConfigFile(given, cmd, 'stress');
  // Only the replay of the first race records a trace, never the campaign's iterations.
  const traceEvents = overrides.traceEvents;
  delete overrides.traceEvents;
  if (traceEvents !== undefined && traceEvents > 0 && o.traceFirstRace === undefined) {
    throw new UsageError('--trace-events needs --trace-first-race FILE on stress: it sizes the trace of the replayed race');
  }
  const seed = overrides.seed ?? 1;
  delete overrides.seed;
  const shard = o.shard === undefined ? null : parseShard(o.shard);
  // Before any iteration runs: a campaign that cannot write what it was asked to is refused, not lost at the end.
  if (o.out !== undefined) checkOutputDir('--out', o.out);
  if (o.traceFirstRace !== undefined) checkOutputFile('--trace-first-race', o.traceFirstRace);
  if (o.logFile !== undefined) checkOutputFile('--log-file', o.logFile);
  const log = createLogger(o.logLevel, { file: o.logFile });
  const showBar = o.progress && !o.json && process.stderr.isTTY === true;
  const bar = showBar
    ? new SingleBar({ format: 'stress [{bar}] {value}/{total} iterations | {races} racy | {eta_formatted} left', stream: process.stderr, hideCursor: true }, Presets.shades_classic)
    : null;
  bar?.start(shard === null ? o.iterations : Math.floor((shard.k * o.iterations) / shard.n) - Math.floor(((shard.k - 1) * o.iterations) / shard.n), 0, { races: 0 });
  const { value: result, signalExitCode } = await withInterrupts(
    (signal) =>
      runStress({
        scenario: o.scenario,
        kernel: o.kernel,
        overrides,
        iterations: o.iterations,
        seed,
        stopOnRace: o.stopOnRace === true,
        threads: o.threads,
        shard,
        signal,
        onProgress: (done, _total, racy) => {
          bar?.update(done, { races: racy });
          log.debug({ done, racy }, 'stress progress');
        },
      }),
    () => log.warn('interrupted: letting running iterations finish (press Ctrl-C again to exit at once)'),
  ).finally(() => bar?.stop());
  // A plug-in that threw in a worker is bad input: one line naming its file, exit 2 (the pool is already closed).
  const pluginFault = pluginFailure(result.failures[0]?.message);
  if (pluginFault) throw pluginFault;
  if (o.traceFirstRace !== undefined) await traceFirstRace(result, o.traceFirstRace, traceEvents || TRACE_EVENTS_DEFAULT, log);
  if (o.out !== undefined) writeStressDir(o.out, result);
  await writeStdout(`${o.json ? toJson(result) : formatStress(result)}${o.out !== undefined && !o.json ? `\n  wrote ${o.out}/stress.json` : ''}\n`);
  if (signalExitCode !== null) return signalExitCode;
  return result.failures.length > 0 ? EXIT_SIM_FAILED : 0;
}

/**
 * `--trace-first-race FILE`: run the campaign's first racy iteration again
 * with tracing on and write its trace (in seeded mode the replay is exact:
 * the same interleaving, the same race). Adds `first_race.trace` to the result.
 */
async function traceFirstRace(result: StressResult, file: string, traceEvents: number, log: Logger): Promise<void> {
  const first = result.first_race;
  if (!first) {
    log.warn('no race found: no trace written');
    return;
  }
  const config = resolveConfig({ ...result.config, seed: first.seed, traceEvents });
  const m = await Machine.boot(config, { logger: log });
  try {
    const r = await m.run(first.seed);
    if (m.lastTrace) {
      const summary = writeTrace(file, m.lastTrace, config, { iteration: first.iteration, races: r.races });
      (first as FoundRace & { trace?: unknown }).trace = { file, ...summary };
    }
  } finally {
    await m.shutdown();
  }
}

/** Add `tlbsim stress` to `program`. */
export function registerStress(program: Command): void {
  addPresetOptions(
    addSimOptions(program.command('stress').description('repeat a race scenario many times in parallel and report the races found'), true),
    { defaultScenario: 'unmap-window' },
  )
    .addOption(new Option('--iterations <n>', 'iterations to run').argParser(num('--iterations')).default(1000))
    .addOption(new Option('--stop-on-race', 'stop at the first iteration that finds a race'))
    .addOption(new Option('--threads <n>', `parallel simulations (piscina threads; default: host cores, ${defaultStressThreads()})`).argParser(num('--threads')))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .addOption(new Option('--trace-first-race <file>', 'replay the first racy iteration with tracing on and write its trace to FILE'))
    .addOption(new Option('--shard <K/N>', 'run only the K-th of N contiguous slices of the iterations (seeds unchanged); merge the --out folders with tlbsim merge'))
    .addOption(new Option('--out <dir>', 'also write the result to DIR/stress.json, atomically (what tlbsim merge and tlbsim report read)'))
    .exitOverride()
    .action(async (_o: StressCliOpts, cmd: Command) => {
      process.exitCode = await cmdStress(cmd.opts<StressCliOpts>(), cmd);
    });
}
