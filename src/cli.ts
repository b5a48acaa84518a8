#!/usr/bin/env node
/**
 * The `tlbsim` command line: `tlbsim run`, `tlbsim stress` and `tlbsim bench`.
 *
 * Invariants:
 * - Bad input never produces a stack trace or a silently used default: it
 *   prints one line `tlbsim: error: ...` naming the option and what it accepts,
 *   and exits 2.
 * - With `--json`, stdout holds exactly one JSON object; logs and progress go to stderr.
 * - Exit codes: 0 the command ran (races found are results, not errors);
 *   1 the simulation failed (a CPU crashed or stopped acknowledging);
 *   2 bad input.
 */
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import {
  ARCHES,
  ConfigError,
  INJECTED_BUGS,
  MAX_CPUS,
  PENDING_FLUSH_MODES,
  PROTOCOLS,
  SCHED_MODES,
  SYSCALLS,
  WORKLOADS,
  resolveConfig,
  type SimConfig,
} from './config.js';
import { Machine } from './coordinator.js';
import { createLogger, LOG_LEVELS, type LogLevel } from './log.js';
import { formatRun, formatStress, toJson } from './report.js';
import { SCENARIO_NAMES, type ScenarioName } from './scenarios.js';
import { defaultStressThreads, runStress } from './stress.js';
import { compareProfiles, formatComparison } from './bench/compare.js';
import { formatProfile } from './bench/format.js';
import { parseProfile, ProfileError, type BenchTier } from './bench/profile.js';
import { DEFAULT_MAX_CPUS, MIN_MAX_CPUS, planSizes, runHostBench } from './bench/run.js';

/** Exit code for bad input. */
export const EXIT_USAGE = 2;
/** Exit code for a simulation that failed (crashed or stuck CPU). */
export const EXIT_SIM_FAILED = 1;

function num(flag: string): (v: string) => number {
  return (v: string) => {
    if (v.trim() === '' || !Number.isFinite(Number(v))) throw new InvalidArgumentError(`${flag} takes a number`);
    return Number(v);
  };
}

/** Options shared by `run` and `stress`. */
function addSimOptions(cmd: Command, forStress: boolean): Command {
  const d = (text: string): string => (forStress ? `${text} (default: the scenario's)` : text);
  return cmd
    .addOption(new Option('--cpus <n>', d('simulated CPUs (one worker thread each)')).argParser(num('--cpus')))
    .addOption(new Option('--workload <name>', d('workload')).choices(WORKLOADS))
    .addOption(new Option('--protocol <name>', d('unmap/flush protocol')).choices(PROTOCOLS))
    .addOption(new Option('--pages <n>', d('shared pages of the process')).argParser(num('--pages')))
    .addOption(new Option('--batch <n>', d('pages per tryToUnmapFlush (SWAP_CLUSTER_MAX = 32)')).argParser(num('--batch')))
    .addOption(new Option('--write-ratio <x>', d('fraction of accesses that are stores, 0..1')).argParser(num('--write-ratio')))
    .addOption(new Option('--seed <n>', 'seed of every PRNG (workloads, seeded scheduler)').argParser(num('--seed')))
    .addOption(new Option('--arch <name>', d('hardware semantics of the clean-to-dirty transition')).choices(ARCHES))
    .addOption(new Option('--sched <mode>', forStress ? 'free or seeded (default: seeded, so races replay)' : 'free (host interleaves) or seeded (replayable)').choices(SCHED_MODES))
    .addOption(new Option('--ops <n>', d('accesses per thread CPU, at least')).argParser(num('--ops')))
    .addOption(new Option('--tlb-sets <n>', d('TLB sets per CPU (power of two)')).argParser(num('--tlb-sets')))
    .addOption(new Option('--tlb-ways <n>', d('TLB ways per set')).argParser(num('--tlb-ways')))
    .addOption(new Option('--no-wp-recheck', "rik step 4 trusts step 1's clean/dirty state (shows the race the re-check guards)"))
    .addOption(new Option('--syscall <name>', d('mprotect workload: the call CPU 1 makes')).choices(SYSCALLS))
    .addOption(new Option('--range <lengths>', d("munmap workload: pages per mapped-and-unmapped range, e.g. 16 or 1,8,64 (cycled)")))
    .addOption(new Option('--reclaim-pages <list>', d("pages kswapd reclaims, in LRU order: '3', '4-7,0-3', '7-0' (default: all, lowest first)")))
    .addOption(new Option('--no-batched-pending-flush', 'mprotect/munmap/madvise skip flushTlbBatchedPending (the pre-4.13 bug)'))
    .addOption(new Option('--pending-flush <mode>', 'mm->tlb_flush_batched as the generation pair (gen, today) or the 4.13 boolean (bool)').choices(PENDING_FLUSH_MODES))
    .addOption(new Option('--inject <bug>', 'plant a known protocol bug to check the oracle').choices(INJECTED_BUGS))
    .addOption(new Option('--run-tokens <n>', 'CPUs running accesses at once (default: host cores)').argParser(num('--run-tokens')))
    .addOption(new Option('--lazy-cpus <n>', d('thread CPUs (the last K) in lazy TLB mode while reclaim runs')).argParser(num('--lazy-cpus')))
    .addOption(new Option('--no-tlb-gen', 'flush_tlb_func ignores tlb_gen: every flush does exactly what it asks (before Linux 4.14)'))
    .addOption(new Option('--ceiling <n>', d('tlb_single_page_flush_ceiling: a range flush of more pages is a full flush')).argParser(num('--ceiling')))
    .addOption(new Option('--quantum <n>', 'accesses per run-token turn').argParser(num('--quantum')))
    .addOption(new Option('--no-token-lending', 'free mode: an IPI initiator keeps its run token while it sleeps for acknowledgements'))
    .addOption(new Option('--doorbell-poll <n>', 'accesses between doorbell polls').argParser(num('--doorbell-poll')))
    .addOption(new Option('--ipi-timeout-ms <n>', 'a CPU that does not acknowledge an IPI within this is reported').argParser(num('--ipi-timeout-ms')))
    .addOption(new Option('--debug', 'check engine invariants (the default, except with --inject)'))
    .addOption(new Option('--no-debug', 'skip engine invariant checks'))
    .addOption(new Option('--max-seeded-steps <n>', 'livelock guard for seeded runs').argParser(num('--max-seeded-steps')))
    .addOption(new Option('--fault-cpu <n>', 'test hook: CPU to misbehave').argParser(num('--fault-cpu')).hideHelp())
    .addOption(new Option('--fault-kind <kind>', 'test hook: stop-acking or crash').choices(['none', 'stop-acking', 'crash']).hideHelp())
    .addOption(new Option('--json', 'print one JSON object on stdout'))
    .addOption(new Option('--log-level <level>', 'JSON logs on stderr').choices(LOG_LEVELS).default('silent'));
}

interface CliOpts {
  cpus?: number;
  workload?: SimConfig['workload'];
  protocol?: SimConfig['protocol'];
  pages?: number;
  batch?: number;
  writeRatio?: number;
  seed?: number;
  arch?: SimConfig['arch'];
  sched?: SimConfig['sched'];
  ops?: number;
  tlbSets?: number;
  tlbWays?: number;
  wpRecheck: boolean;
  batchedPendingFlush: boolean;
  tokenLending: boolean;
  tlbGen: boolean;
  inject?: SimConfig['inject'];
  syscall?: SimConfig['syscall'];
  pendingFlush?: SimConfig['pendingFlush'];
  reclaimPages?: string;
  range?: string;
  runTokens?: number;
  quantum?: number;
  ceiling?: number;
  lazyCpus?: number;
  doorbellPoll?: number;
  ipiTimeoutMs?: number;
  debug: boolean;
  maxSeededSteps?: number;
  faultCpu?: number;
  faultKind?: SimConfig['faultKind'];
  json?: boolean;
  logLevel: LogLevel;
}

/** Options the user actually gave, as a partial config (undefined = not given). */
function overridesFrom(o: CliOpts, cmd: Command): Partial<SimConfig> {
  const given = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
  const p: Partial<SimConfig> = {
    cpus: o.cpus,
    workload: o.workload,
    protocol: o.protocol,
    pages: o.pages,
    batch: o.batch,
    writeRatio: o.writeRatio,
    seed: o.seed,
    arch: o.arch,
    sched: o.sched,
    ops: o.ops,
    tlbSets: o.tlbSets,
    tlbWays: o.tlbWays,
    inject: o.inject,
    syscall: o.syscall,
    pendingFlush: o.pendingFlush,
    reclaimPages: o.reclaimPages,
    range: o.range,
    runTokens: o.runTokens,
    quantum: o.quantum,
    tlbSinglePageFlushCeiling: o.ceiling,
    lazyCpus: o.lazyCpus,
    doorbellPollInterval: o.doorbellPoll,
    ipiTimeoutMs: o.ipiTimeoutMs,
    maxSeededSteps: o.maxSeededSteps,
    faultCpu: o.faultCpu,
    faultKind: o.faultKind,
  };
  if (given('wpRecheck')) p.wpRecheck = o.wpRecheck;
  if (given('batchedPendingFlush')) p.batchedPendingFlush = o.batchedPendingFlush;
  if (given('tokenLending')) p.tokenLending = o.tokenLending;
  if (given('tlbGen')) p.tlbGen = o.tlbGen;
  // An injected bug is checked by the oracle; the engine's own assertion would stop the run first.
  if (given('debug')) p.debug = o.debug;
  else if (o.inject !== undefined && o.inject !== 'none') p.debug = false;
  for (const k of Object.keys(p) as (keyof SimConfig)[]) if (p[k] === undefined) delete p[k];
  return p;
}

class UsageError extends Error {}

/**
 * Write to stdout and wait until it is handed to the OS: the CLI ends with
 * process.exit, and a pipe takes writes asynchronously, so a large JSON
 * result (per-CPU counters of 256 CPUs) was cut off at 64 KiB without this.
 */
function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

async function cmdRun(o: CliOpts, cmd: Command): Promise<number> {
  const config = resolveConfig(overridesFrom(o, cmd));
  const log = createLogger(o.logLevel);
  log.info({ config }, 'booting machine');
  const m = await Machine.boot(config, { logger: log });
  let result;
  try {
    result = await m.run();
  } finally {
    await m.shutdown();
  }
  log.info({ wallMs: result.host.wall_ms }, 'run finished');
  await writeStdout(`${o.json ? toJson(result) : formatRun(result)}\n`);
  return result.status === 'ok' ? 0 : EXIT_SIM_FAILED;
}

interface StressCliOpts extends CliOpts {
  scenario: ScenarioName;
  iterations: number;
  stopOnRace?: boolean;
  threads?: number;
  progress: boolean;
}

async function cmdStress(o: StressCliOpts, cmd: Command): Promise<number> {
  const overrides = overridesFrom(o, cmd);
  const seed = overrides.seed ?? 1;
  delete overrides.seed;
  const log = createLogger(o.logLevel);
  const showBar = o.progress && !o.json && process.stderr.isTTY === true;
  const bar = showBar
    ? new SingleBar({ format: 'stress [{bar}] {value}/{total} iterations | {races} racy | {eta_formatted} left', stream: process.stderr, hideCursor: true }, Presets.shades_classic)
    : null;
  bar?.start(o.iterations, 0, { races: 0 });
  let result;
  try {
    result = await runStress({
      scenario: o.scenario,
      overrides,
      iterations: o.iterations,
      seed,
      stopOnRace: o.stopOnRace === true,
      threads: o.threads,
      onProgress: (done, _total, racy) => {
        bar?.update(done, { races: racy });
        log.debug({ done, racy }, 'stress progress');
      },
    });
  } finally {
    bar?.stop();
  }
  await writeStdout(`${o.json ? toJson(result) : formatStress(result)}\n`);
  return result.failures.length > 0 ? EXIT_SIM_FAILED : 0;
}

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
  let run;
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

/** Build the command tree. */
export function buildProgram(): Command {
  const program = new Command('tlbsim')
    .description('Simulate TLB shootdowns, batched unmap flushes and the races in the unmap window, one worker thread per CPU.')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // One line per error: fold commander's "(Did you mean ...)" hint onto the error line.
      writeErr: (s) => process.stderr.write(s.replace(/\n(?=\(Did you mean)/, ' ').replace(/^error:/, 'tlbsim: error:')),
    });

  addSimOptions(
    program.command('run').description('run one simulation (default: reclaim on 8 CPUs, batched flush) and print its counters'),
    false,
  )
    .exitOverride()
    .action(async (_o: CliOpts, cmd: Command) => {
      process.exitCode = await cmdRun(cmd.opts<CliOpts>(), cmd);
    });

  addSimOptions(
    program.command('stress').description('repeat a race scenario many times in parallel and report the races found'),
    true,
  )
    .addOption(new Option('--scenario <name>', 'race scenario').choices(SCENARIO_NAMES).default('unmap-window'))
    .addOption(new Option('--iterations <n>', 'iterations to run').argParser(num('--iterations')).default(1000))
    .addOption(new Option('--stop-on-race', 'stop at the first iteration that finds a race'))
    .addOption(new Option('--threads <n>', `parallel simulations (piscina threads; default: host cores, ${defaultStressThreads()})`).argParser(num('--threads')))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .exitOverride()
    .action(async (_o: StressCliOpts, cmd: Command) => {
      process.exitCode = await cmdStress(cmd.opts<StressCliOpts>(), cmd);
    });

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
  return program;
}

/** Run the CLI with `argv` (without node and script). Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length === 0) {
    process.stderr.write(program.helpInformation());
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its one-line message; help and version exit 0.
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (e instanceof ConfigError || e instanceof UsageError || e instanceof ProfileError) {
      process.stderr.write(`tlbsim: error: ${e.message}\n`);
      return EXIT_USAGE;
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`tlbsim: error: ${msg.split('\n')[0]}\n`);
    return EXIT_SIM_FAILED;
  }
}

function invokedDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`tlbsim: error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(EXIT_SIM_FAILED);
    },
  );
}
