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
 *   2 bad input; 130 / 143 interrupted by SIGINT / SIGTERM (the partial
 *   result is printed first, marked "status": "partial").
 */
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import {
  ARCHES,
  ARM64_PENDING_MODES,
  ConfigError,
  CPU_FAULTS,
  DEFAULTS,
  FLAG_NAMES,
  INJECTED_BUGS,
  MAX_CPUS,
  PENDING_FLUSH_MODES,
  PROTOCOLS,
  SCHED_MODES,
  SYSCALLS,
  WORKLOADS,
  configToFlags,
  parseReclaimPages,
  resolveConfig,
  type SimConfig,
} from './config.js';
import { Machine, MachineInterrupted } from './coordinator.js';
import { writeFileAtomic } from './atomicWrite.js';
import { writeReport } from './htmlReport.js';
import { withInterrupts } from './interrupt.js';
import { zeroRaces } from './oracle.js';
import { zeroCounters, type RunResult } from './result.js';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './log.js';
import { formatExplore, formatRaces, formatRun, formatStress, toJson } from './report.js';
import { SCENARIO_NAMES, type ScenarioName } from './scenarios.js';
import { defaultStressThreads, runStress, scenarioConfig, type FoundRace, type StressResult } from './stress.js';
import { DEFAULT_MAX_SCHEDULES, exploreScenario, MAX_PREEMPTION_BOUND } from './explore.js';
import { KERNEL_SIDES, RACE_NAMES, RACES, type KernelSide } from './races/index.js';
import { TRACE_EVENTS_DEFAULT, writeTrace, type CpuTrace } from './trace.js';
import { loadConfigFile, simOptionsOf, type ConfigFileCommand } from './configFile.js';
import { COST_MODEL_DEFAULTS, loadCostModel, modelRun, type CostModel } from './costModel.js';
import { formatSweep, parseGridList, runSweep, SWEEP_KEYS, writeSweepDir, type Grid, type GridValue } from './sweep.js';
import { parseShard } from './shard.js';
import { mergeDirs, writeStressDir } from './merge.js';
import { formatValidate, runValidate } from './validate.js';
import { formatMechanismComparison, runMechanismComparison } from './mechanisms.js';
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
    .addOption(new Option('--config <file>', 'JSON file with any of these options (keys as in a result\'s "config"); flags given here override it'))
    .addOption(new Option('--cpus <n>', d('simulated CPUs (one worker thread each)')).argParser(num('--cpus')))
    .addOption(new Option('--workload <name>', d('workload')).choices(WORKLOADS))
    .addOption(new Option('--protocol <name>', d('unmap/flush protocol')).choices(PROTOCOLS))
    .addOption(new Option('--pages <n>', d('shared pages of the process')).argParser(num('--pages')))
    .addOption(new Option('--batch <n>', d('pages per tryToUnmapFlush (SWAP_CLUSTER_MAX = 32)')).argParser(num('--batch')))
    .addOption(new Option('--write-ratio <x>', d('fraction of accesses that are stores, 0..1')).argParser(num('--write-ratio')))
    .addOption(new Option('--seed <n>', 'seed of every PRNG (workloads, seeded scheduler)').argParser(num('--seed')))
    .addOption(new Option('--arch <name>', d('hardware: clean-to-dirty semantics (x86, weak); arm64 adds broadcast TLBI + per-CPU DSB')).choices(ARCHES))
    .addOption(new Option('--sched <mode>', forStress ? 'free or seeded (default: seeded, so races replay)' : 'free (host interleaves) or seeded (replayable)').choices(SCHED_MODES))
    .addOption(new Option('--ops <n>', d('accesses per thread CPU, at least')).argParser(num('--ops')))
    .addOption(new Option('--tlb-sets <n>', d('TLB sets per CPU (power of two)')).argParser(num('--tlb-sets')))
    .addOption(new Option('--tlb-ways <n>', d('TLB ways per set')).argParser(num('--tlb-ways')))
    .addOption(new Option('--no-wp-recheck', "rik step 4 trusts step 1's clean/dirty state (shows the race the re-check guards)"))
    .addOption(new Option('--syscall <name>', d('mprotect workload: the call CPU 1 makes')).choices(SYSCALLS))
    .addOption(new Option('--range <lengths>', d("munmap workload: pages per mapped-and-unmapped range, e.g. 16 or 1,8,64 (cycled)")))
    .addOption(new Option('--reclaim-pages <list>', d("pages kswapd reclaims, in LRU order: '3', '4-7,0-3', '7-0' (default: all, lowest first)")))
    .addOption(new Option('--no-batched-pending-flush', 'mprotect/munmap/madvise skip flushTlbBatchedPending (the pre-4.13 bug)'))
    .addOption(new Option('--no-flush-under-ptl', 'mremap and migrate_vma flush the TLB after dropping the PTE lock (before eb66ae030829 and 60bae7370896)'))
    .addOption(new Option('--pending-flush <mode>', 'mm->tlb_flush_batched as the generation pair (gen, today) or the 4.13 boolean (bool)').choices(PENDING_FLUSH_MODES))
    .addOption(new Option('--arm64-pending <mode>', "--arch arm64: arch_flush_tlb_batched_pending as flush_tlb_mm (flush-mm, today) or a lone DSB on the calling CPU (dsb, before 4b634918384c)").choices(ARM64_PENDING_MODES))
    .addOption(new Option('--inject <bug>', 'plant a known protocol bug to check the oracle').choices(INJECTED_BUGS))
    .addOption(new Option('--run-tokens <n>', 'CPUs running accesses at once (default: host cores)').argParser(num('--run-tokens')))
    .addOption(new Option('--lazy-cpus <n>', d('thread CPUs (the last K) in lazy TLB mode while reclaim runs')).argParser(num('--lazy-cpus')))
    .addOption(new Option('--no-tlb-gen', 'flush_tlb_func ignores tlb_gen: every flush does exactly what it asks (before Linux 4.14)'))
    .addOption(new Option('--mms <n>', d('processes (mm_structs) sharing the thread CPUs; thread CPU i starts in process (i-1) mod M')).argParser(num('--mms')))
    .addOption(new Option('--switch-every <n>', d('context-switch a thread CPU to the next process every N accesses (0: never); when switching, each thread makes exactly --ops accesses')).argParser(num('--switch-every')))
    .addOption(new Option('--cpumask-trim-ms <n>', d('should_trim_cpumask: at most once per N ms (seeded: steps) a flush also reaches mm_cpumask CPUs that switched away; 0: every flush')).argParser(num('--cpumask-trim-ms')))
    .addOption(new Option('--context-reset-cutoff <n>', d('--protocol context-reset: a flush of more pages gives the mm a new context instead (PowerPC, seed 004: 20)')).argParser(num('--context-reset-cutoff')))
    .addOption(new Option('--ro-pages <n>', d('the first N pages of every process are mapped read-only (threads only load them; what --protocol luf defers)')).argParser(num('--ro-pages')))
    .addOption(new Option('--irq-off <n>', d('thread CPUs run N accesses of every 2N with interrupts disabled: flush IPIs wait, INVLPGB/RAR do not (0: never)')).argParser(num('--irq-off')))
    .addOption(new Option('--ipi-fanout <mode>', d('IPI rounds: serial unicast (Linux) or a multicast tree (Barrelfish): one message per group, forwarded by its first target')).choices(['serial', 'tree']))
    .addOption(new Option('--ipi-group <n>', d('--ipi-fanout tree: CPUs per group (CPU c in group c / N; default 8)')).argParser(num('--ipi-group')))
    .addOption(new Option('--trace-events <n>', `events each CPU keeps for --trace (a ring of the last N; default ${TRACE_EVENTS_DEFAULT})`).argParser(num('--trace-events')))
    .addOption(new Option('--ceiling <n>', d('tlb_single_page_flush_ceiling: a range flush of more pages is a full flush')).argParser(num('--ceiling')))
    .addOption(new Option('--quantum <n>', 'accesses per run-token turn').argParser(num('--quantum')))
    .addOption(new Option('--no-token-lending', 'free mode: an IPI initiator keeps its run token while it sleeps for acknowledgements'))
    .addOption(new Option('--doorbell-poll <n>', 'accesses between doorbell polls').argParser(num('--doorbell-poll')))
    .addOption(new Option('--ipi-timeout-ms <n>', 'a CPU that does not acknowledge an IPI within this is reported').argParser(num('--ipi-timeout-ms')))
    .addOption(new Option('--debug', 'check engine invariants (the default, except with --inject)'))
    .addOption(new Option('--no-debug', 'skip engine invariant checks'))
    .addOption(new Option('--max-seeded-steps <n>', 'livelock guard for seeded runs').argParser(num('--max-seeded-steps')))
    .addOption(new Option('--ipi-step', 'seeded: handling an IPI is a scheduling step of its own (the CPU may be descheduled right after its interrupt)'))
    .addOption(new Option('--replay <schedule>', "seeded: follow this schedule (choice point:CPU list, as tlbsim explore prints it) instead of the PRNG"))
    .addOption(new Option('--fault-cpu <n>', 'test hook: CPU to misbehave').argParser(num('--fault-cpu')).hideHelp())
    .addOption(new Option('--fault-kind <kind>', 'test hook: stop-acking, crash, or crash-in-ipi').choices(CPU_FAULTS).hideHelp())
    .addOption(new Option('--cost-model <file>', 'JSON file overriding cost-model cycles (keys: see README, "The cost model")'))
    .addOption(new Option('--json', 'print one JSON object on stdout'))
    .addOption(new Option('--log-level <level>', 'logs on stderr (pretty on a terminal, JSON lines otherwise)').choices(LOG_LEVELS).default('silent'))
    .addOption(new Option('--log-file <file>', 'also write JSON-line logs to FILE (at info unless --log-level says otherwise)'));
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
  flushUnderPtl: boolean;
  tokenLending: boolean;
  tlbGen: boolean;
  inject?: SimConfig['inject'];
  syscall?: SimConfig['syscall'];
  pendingFlush?: SimConfig['pendingFlush'];
  arm64Pending?: SimConfig['arm64Pending'];
  reclaimPages?: string;
  range?: string;
  runTokens?: number;
  quantum?: number;
  ceiling?: number;
  lazyCpus?: number;
  mms?: number;
  switchEvery?: number;
  cpumaskTrimMs?: number;
  contextResetCutoff?: number;
  roPages?: number;
  irqOff?: number;
  ipiFanout?: 'serial' | 'tree';
  ipiGroup?: number;
  traceEvents?: number;
  doorbellPoll?: number;
  ipiTimeoutMs?: number;
  debug: boolean;
  maxSeededSteps?: number;
  faultCpu?: number;
  faultKind?: SimConfig['faultKind'];
  replay?: string;
  ipiStep?: boolean;
  json?: boolean;
  costModel?: string;
  logLevel: LogLevel;
  logFile?: string;
  config?: string;
}

/**
 * Apply `--config FILE`: the file's simulation options under the flags
 * given, and its command keys (json, out, iterations, ...) where the flag was
 * not given. Returns the simulation options to resolve.
 */
function withConfigFile<O extends CliOpts>(o: O, cmd: Command, command: ConfigFileCommand): { opts: O; sim: Partial<SimConfig> } {
  const flags = overridesFrom(o, cmd);
  if (o.config === undefined) return { opts: o, sim: flags };
  const file = command === 'run' ? loadConfigFile(o.config, 'run') : loadConfigFile(o.config, 'stress');
  const fromFile = simOptionsOf(file);
  const opts = { ...o };
  const simKeys = new Set(Object.keys(fromFile));
  for (const [k, v] of Object.entries(file)) {
    if (simKeys.has(k) || v === undefined) continue;
    if (cmd.getOptionValueSource(k) !== 'cli') (opts as Record<string, unknown>)[k] = v;
  }
  const sim: Partial<SimConfig> = { ...fromFile, ...flags };
  // An injected bug from the file turns the engine's assertion off too, unless debug is set somewhere.
  if (sim.inject !== undefined && sim.inject !== 'none' && fromFile.debug === undefined && flags.debug === undefined) sim.debug = false;
  return { opts, sim };
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
    arm64Pending: o.arm64Pending,
    reclaimPages: o.reclaimPages,
    range: o.range,
    runTokens: o.runTokens,
    quantum: o.quantum,
    tlbSinglePageFlushCeiling: o.ceiling,
    lazyCpus: o.lazyCpus,
    mms: o.mms,
    switchEvery: o.switchEvery,
    cpumaskTrimMs: o.cpumaskTrimMs,
    contextResetCutoff: o.contextResetCutoff,
    roPages: o.roPages,
    irqOffAccesses: o.irqOff,
    ipiFanout: o.ipiFanout,
    ipiGroup: o.ipiGroup,
    traceEvents: o.traceEvents,
    doorbellPollInterval: o.doorbellPoll,
    ipiTimeoutMs: o.ipiTimeoutMs,
    maxSeededSteps: o.maxSeededSteps,
    faultCpu: o.faultCpu,
    faultKind: o.faultKind,
    schedule: o.replay,
    ipiStep: o.ipiStep,
  };
  if (given('wpRecheck')) p.wpRecheck = o.wpRecheck;
  if (given('batchedPendingFlush')) p.batchedPendingFlush = o.batchedPendingFlush;
  if (given('flushUnderPtl')) p.flushUnderPtl = o.flushUnderPtl;
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

/** How often the run's progress bar reads the machine's progress words. */
export const RUN_PROGRESS_POLL_MS = 200;

/** What a run's progress bar counts in its running phase: reclaimed pages, or the workload's own operations. */
function runProgressUnit(c: SimConfig): { unit: string; total: number; read: (m: Machine) => number } {
  if (c.workload === 'tlb-flush') return { unit: 'write+madvise loops', total: c.ops * c.cpus, read: (m) => m.progress().workloadOps };
  if (c.workload === 'munmap') return { unit: 'munmaps', total: c.ops, read: (m) => m.progress().workloadOps };
  const reclaimed = c.workload === 'pending-flush' ? c.pages : parseReclaimPages(c.reclaimPages, c.pages).length;
  return { unit: 'pages unmapped', total: reclaimed * c.mms, read: (m) => m.progress().pagesUnmapped };
}

/**
 * A progress bar on stderr for a run's phases (booting, running, shutting
 * down). Only on a terminal, never with `--json` to a pipe, off with
 * `--no-progress`; never on stdout.
 */
function runProgressBar(o: { progress: boolean; json?: boolean }, c: SimConfig) {
  const show = o.progress && process.stderr.isTTY === true && !(o.json === true && process.stdout.isTTY !== true);
  if (!show) return null;
  const bar = new SingleBar({ format: '{phase} [{bar}] {value}/{total} {unit}', stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  bar.start(c.cpus, 0, { phase: 'booting', unit: 'CPUs ready' });
  return bar;
}

/** Print the result (stdout, and `--out FILE` atomically). */
async function emitResult(o: { json?: boolean; out?: string }, json: string, human: string): Promise<void> {
  if (o.out !== undefined) writeFileAtomic(o.out, `${json}\n`);
  await writeStdout(`${o.json ? json : human}\n`);
}

/** A run interrupted before its machine booted: nothing was measured, the configuration is kept. */
function interruptedBeforeBoot(config: SimConfig, reason: string, costModel: CostModel): RunResult {
  return {
    config,
    status: 'partial',
    partial: { reason },
    counters: zeroCounters(),
    per_cpu: [],
    races: zeroRaces(),
    race_reports: [],
    host: { wall_ms: 0, startup_ms: 0, ipi_round_latency_us: { median: 0, p99: 0, rounds: 0 }, sched_steps: 0 },
    modeled: modelRun(costModel, { perCpu: [], rounds: [] }),
    reproduce: ['tlbsim', 'run', ...configToFlags(config)].join(' '),
  };
}

/**
 * Tracing options: `--trace FILE` records every CPU's events (the last
 * `--trace-events N` per CPU); `--log-level trace` records them too, to log
 * each flush with its CPU and the kernel's reason.
 */
function withTracing(sim: Partial<SimConfig>, traceFile: string | undefined, logLevel: LogLevel): Partial<SimConfig> {
  if (sim.traceEvents !== undefined && sim.traceEvents > 0 && traceFile === undefined && logLevel !== 'trace') {
    throw new UsageError('--trace-events needs --trace FILE (or --log-level trace): it sizes the trace each CPU records');
  }
  if ((traceFile !== undefined || logLevel === 'trace') && (sim.traceEvents === undefined || sim.traceEvents === 0)) return { ...sim, traceEvents: TRACE_EVENTS_DEFAULT };
  return sim;
}

/** `--log-level trace`: every flush a CPU recorded, with its CPU and the kernel's reason (trace_tlb_flush). */
function logFlushEvents(log: Logger, traces: readonly CpuTrace[] | null): void {
  if (!traces || !log.isLevelEnabled('trace')) return;
  for (const t of traces) {
    for (const e of t.events) if (e.k === 'flush') log.trace({ cpu: t.cpu, reason: e.reason, mm: e.mm, full: e.full, pages: e.pages, ts: e.ts }, 'tlb flush');
  }
}

async function cmdRun(given: RunCliOpts, cmd: Command): Promise<number> {
  const { opts: o, sim } = withConfigFile(given, cmd, 'run');
  const config = resolveConfig(withTracing(sim, o.trace, o.logLevel));
  const costModel = o.costModel === undefined ? COST_MODEL_DEFAULTS : loadCostModel(o.costModel);
  const log = createLogger(o.logLevel, { file: o.logFile });
  const bar = runProgressBar(o, config);
  const unit = runProgressUnit(config);
  const { value: result, signalExitCode } = await withInterrupts(async (signal) => {
    log.info({ config }, 'booting machine');
    let m: Machine;
    try {
      m = await Machine.boot(config, { logger: log, signal, costModel, onWorkerReady: (ready) => bar?.update(ready) });
    } catch (e) {
      if (e instanceof MachineInterrupted) return interruptedBeforeBoot(config, e.message, costModel);
      throw e;
    }
    bar?.setTotal(unit.total);
    bar?.update(0, { phase: 'running', unit: unit.unit });
    bar?.render(); // a phase change is always drawn (updates are otherwise throttled to the bar's frame rate)
    const poll = bar ? setInterval(() => bar.update(Math.min(unit.total, unit.read(m))), RUN_PROGRESS_POLL_MS) : null;
    try {
      const r = await m.run(config.seed, { signal });
      if (poll) clearInterval(poll);
      bar?.update(Math.min(unit.total, unit.read(m)), { phase: 'shutting down' });
      bar?.render();
      logFlushEvents(log, m.lastTrace);
      if (o.trace !== undefined && m.lastTrace) r.trace = { file: o.trace, ...writeTrace(o.trace, m.lastTrace, config) };
      return r;
    } finally {
      if (poll) clearInterval(poll);
      // Interrupted: the process exits right after printing, which ends every worker; do not wait for 1024 terminations.
      if (signal.aborted) void m.shutdown();
      else await m.shutdown();
    }
  }, () => log.warn('interrupted: stopping every CPU (press Ctrl-C again to exit at once)')).finally(() => bar?.stop());
  log.info({ wallMs: result.host.wall_ms, status: result.status }, 'run finished');
  await emitResult(o, toJson(result), formatRun(result));
  if (signalExitCode !== null) return signalExitCode;
  return result.status === 'failed' ? EXIT_SIM_FAILED : 0;
}

interface RunCliOpts extends CliOpts {
  progress: boolean;
  out?: string;
  trace?: string;
}

interface StressCliOpts extends CliOpts {
  scenario: ScenarioName;
  kernel?: KernelSide;
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

interface ExploreCliOpts extends CliOpts {
  scenario: ScenarioName;
  kernel?: KernelSide;
  preemptionBound: number;
  maxSchedules: number;
  progress: boolean;
}

async function cmdExplore(given: ExploreCliOpts, cmd: Command): Promise<number> {
  const { opts: o, sim: overrides } = withConfigFile(given, cmd, 'stress');
  if (overrides.schedule !== undefined) throw new UsageError('--replay does not apply to explore: it chooses every schedule itself');
  if (!Number.isInteger(o.maxSchedules) || o.maxSchedules < 1) throw new UsageError(`--max-schedules must be a positive integer, got ${String(o.maxSchedules)}`);
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
        signal,
        onProgress: (n, racy, k) => bar?.update(n, { racy, k }),
      }),
    () => undefined,
  ).finally(() => bar?.stop());
  await writeStdout(`${o.json ? toJson(r) : formatExplore(r)}\n`);
  return signalExitCode ?? 0;
}

interface SweepCliOpts {
  out?: string;
  config?: string;
  shard?: string;
  parallel?: number;
  costModel?: string;
  progress: boolean;
  json?: boolean;
  [option: string]: unknown;
}

/** Attribute name (commander's camelCase) of each sweep option -> the SimConfig key it sweeps. */
const sweepAttr = new Map<string, keyof SimConfig>();

/** `tlbsim sweep`'s grid options: every run option as a list (booleans as on/off lists, or --no-x for off). */
function addSweepOptions(cmd: Command): Command {
  for (const key of SWEEP_KEYS) {
    const flag = FLAG_NAMES[key];
    const hidden = key === 'faultCpu' || key === 'faultKind';
    if (typeof DEFAULTS[key] === 'boolean') {
      const pos = flag.replace(/^--no-/, '--');
      const on = new Option(`${pos} <list>`, `sweep ${key}: on/off list (run flag ${flag})`);
      const off = new Option(flag, `${key} off in every point`);
      if (hidden) {
        on.hideHelp();
        off.hideHelp();
      }
      cmd.addOption(on).addOption(off);
      sweepAttr.set(on.attributeName(), key);
    } else {
      const sep = key === 'range' || key === 'reclaimPages' ? "';'" : "','";
      const opt = new Option(`${flag} <list>`, `${sep}-separated values of ${flag} (as for tlbsim run)`);
      if (hidden) opt.hideHelp();
      cmd.addOption(opt);
      sweepAttr.set(opt.attributeName(), key);
    }
  }
  return cmd;
}

async function cmdSweep(given: SweepCliOpts, cmd: Command): Promise<number> {
  const grid: Grid = {};
  const o: SweepCliOpts = { ...given };
  if (given.config !== undefined) {
    // The file first: each option a value or a list; its sweep keys where no flag was given.
    const file = loadConfigFile(given.config, 'sweep');
    for (const [k, v] of Object.entries(file)) {
      if (v === undefined) continue;
      if (Object.hasOwn(DEFAULTS, k)) grid[k as keyof SimConfig] = (Array.isArray(v) ? v : [v]) as GridValue[];
      else if (cmd.getOptionValueSource(k) !== 'cli') (o as Record<string, unknown>)[k] = v;
    }
  }
  for (const [attr, key] of sweepAttr) {
    const v = o[attr];
    if (v === undefined || v === true) continue;
    grid[key] = v === false ? [false] : parseGridList(key, String(v));
  }
  if (o.out === undefined) throw new UsageError("tlbsim sweep needs --out DIR (or \"out\" in --config FILE): the folder for results.csv, results.json and the plots");
  const out = o.out;
  const shard = o.shard === undefined ? null : parseShard(o.shard);
  const costModel = o.costModel === undefined ? COST_MODEL_DEFAULTS : loadCostModel(o.costModel);
  const showBar = o.progress && !o.json && process.stderr.isTTY === true;
  const bar = showBar
    ? new SingleBar({ format: 'sweep [{bar}] {value}/{total} points | {failed} failed | {duration_formatted} elapsed, ETA {eta_points}', stream: process.stderr, hideCursor: true }, Presets.shades_classic)
    : null;
  let started = false;
  const t0 = performance.now();
  // ETA from the points done so far (cli-progress's own shows infinity until the first point ends).
  const eta = (done: number, total: number): string => {
    if (done === 0) return 'after the first point';
    const s = Math.round((((performance.now() - t0) / 1000) * (total - done)) / done);
    return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
  };
  let result;
  try {
    result = await runSweep({
      grid,
      costModel,
      shard,
      parallel: o.parallel,
      onProgress: (done, total, failed) => {
        if (!started) {
          bar?.start(total, 0, { failed: 0, eta_points: eta(0, total) });
          started = true;
        }
        bar?.update(done, { failed, eta_points: eta(done, total) });
      },
    });
  } finally {
    bar?.stop();
  }
  const files = await writeSweepDir(out, result);
  const failed = result.points.filter((p) => p.status === 'failed').length;
  await writeStdout(
    `${o.json ? toJson({ out, files, points: result.points.length, failed, shard: result.shard, total_points: result.campaign.total_points, host: result.host }) : formatSweep(result, out)}\n`,
  );
  // Like stress: everything was written, but a point that failed is a failed simulation.
  return failed > 0 ? EXIT_SIM_FAILED : 0;
}

interface MergeCliOpts {
  out: string;
  json?: boolean;
}

async function cmdMerge(dirs: string[], o: MergeCliOpts): Promise<number> {
  const r = await mergeDirs(dirs, o.out);
  const summary =
    r.kind === 'sweep'
      ? `tlbsim merge: ${r.shards} sweep shards, ${r.sweep!.points.length} points -> ${o.out} (${r.files.length} files)`
      : `tlbsim merge: ${r.shards} stress shards, ${r.stress!.iterations} iterations, ${r.stress!.racy_iterations} racy${r.stress!.first_race ? `, earliest race at iteration ${r.stress!.first_race.iteration}` : ''} -> ${o.out}`;
  await writeStdout(`${o.json ? toJson({ kind: r.kind, shards: r.shards, out: o.out, files: r.files }) : summary}\n`);
  return 0;
}

interface ValidateCliOpts {
  costModel?: string;
  json?: boolean;
  mechanisms?: boolean;
  mechanismsCpus?: string;
}

async function cmdValidate(o: ValidateCliOpts): Promise<number> {
  const costModel = o.costModel === undefined ? COST_MODEL_DEFAULTS : loadCostModel(o.costModel);
  if (o.mechanisms || o.mechanismsCpus !== undefined) {
    const cpus = o.mechanismsCpus === undefined ? undefined : o.mechanismsCpus.split(',').map((x) => {
      const n = Number(x.trim());
      if (!Number.isInteger(n) || n < 2 || n > MAX_CPUS) throw new UsageError(`--mechanisms-cpus takes CPU counts from 2 to ${MAX_CPUS}, comma-separated, got '${x}'`);
      return n;
    });
    const c = await runMechanismComparison({ costModel, cpus });
    await writeStdout(`${o.json ? toJson(c) : formatMechanismComparison(c)}\n`);
    return c.safe ? 0 : EXIT_SIM_FAILED;
  }
  const r = await runValidate({ costModel });
  await writeStdout(`${o.json ? toJson(r) : formatValidate(r)}\n`);
  return r.failed > 0 ? EXIT_SIM_FAILED : 0;
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
    .addOption(new Option('--out <file>', 'also write the JSON result to FILE (atomically: a temporary file, then a rename)'))
    .addOption(new Option('--no-progress', 'no progress bar (it shows only on a terminal, on stderr)'))
    .addOption(new Option('--trace <file>', 'write the run as Chrome trace-event JSON (Perfetto UI, chrome://tracing): a track per CPU, IPI flows, flushes, faults, unmap windows, races'))
    .exitOverride()
    .action(async (_o: RunCliOpts, cmd: Command) => {
      process.exitCode = await cmdRun(cmd.opts<RunCliOpts>(), cmd);
    });

  addSimOptions(
    program.command('stress').description('repeat a race scenario many times in parallel and report the races found'),
    true,
  )
    .addOption(new Option('--scenario <name>', 'race scenario (tlbsim races lists the catalogue)').choices(SCENARIO_NAMES).default('unmap-window'))
    .addOption(new Option('--kernel <side>', "catalogue scenarios: the kernel before the fix (buggy) or after (fixed; the default)").choices(KERNEL_SIDES))
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
  program
    .command('races')
    .description("list the race catalogue: each known Linux TLB-coherence race, its fix, and what goes wrong")
    .addOption(new Option('--json', 'print the catalogue as JSON'))
    .exitOverride()
    .action(async (o: { json?: boolean }) => {
      await writeStdout(`${o.json ? toJson(RACE_NAMES.map((n) => RACES[n])) : formatRaces()}\n`);
      process.exitCode = 0;
    });
  addSimOptions(
    program
      .command('explore')
      .description('check every schedule of a scenario with at most K preemptions (iterative context bounding) and replay the shortest racy one'),
    true,
  )
    .addOption(new Option('--scenario <name>', 'race catalogue scenario (tlbsim races)').choices(RACE_NAMES).makeOptionMandatory())
    .addOption(new Option('--kernel <side>', 'catalogue scenarios: buggy or fixed (default)').choices(KERNEL_SIDES))
    .addOption(new Option('--preemption-bound <k>', `most preemptions per schedule, 0 to ${MAX_PREEMPTION_BOUND}`).argParser(num('--preemption-bound')).default(2))
    .addOption(new Option('--max-schedules <n>', 'stop (not exhaustive) after this many schedules').argParser(num('--max-schedules')).default(DEFAULT_MAX_SCHEDULES))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .exitOverride()
    .action(async (_o: ExploreCliOpts, cmd: Command) => {
      process.exitCode = await cmdExplore(cmd.opts<ExploreCliOpts>(), cmd);
    });
  program
    .command('report')
    .description('write one self-contained HTML report of a run result, a stress result or a sweep folder')
    .argument('<input>', 'RESULT.json (tlbsim run --out / --json), a stress result, or a sweep folder')
    .requiredOption('--out <file>', 'the HTML file to write (atomically)')
    .exitOverride()
    .action((input: string, o: { out: string }) => {
      const kind = writeReport(input, o.out);
      process.stderr.write(`tlbsim: wrote the ${kind} report ${o.out}\n`);
      process.exitCode = 0;
    });

  addSimOptions(program.command('config').description('print the resolved configuration (defaults, then --config FILE, then flags) as JSON'), false)
    .addOption(new Option('--print', 'print it (the only action)'))
    .addOption(new Option('--scenario <name>', "resolve a stress scenario's configuration instead of run's").choices(SCENARIO_NAMES))
    .exitOverride()
    .action(async (_o: ConfigCliOpts, cmd: Command) => {
      process.exitCode = await cmdConfig(cmd.opts<ConfigCliOpts>(), cmd);
    });

  addSweepOptions(
    program
      .command('sweep')
      .description('run a grid of machines (comma lists for any run option) in parallel; write results.csv, results.json and SVG plots to --out'),
  )
    .addOption(new Option('--out <dir>', 'folder for results.csv, results.json and the plots (required, here or in --config)'))
    .addOption(new Option('--config <file>', 'JSON file: any run option as a value or a list (a grid dimension), and out, shard, parallel, costModel; flags override it'))
    .addOption(new Option('--shard <K/N>', 'run only the K-th of N slices of the grid (points dealt round-robin); merge the folders with tlbsim merge'))
    .addOption(new Option('--parallel <n>', `machines run at once (piscina threads; default: host cores, ${defaultStressThreads()})`).argParser(num('--parallel')))
    .addOption(new Option('--cost-model <file>', 'JSON file overriding cost-model cycles'))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .addOption(new Option('--json', 'print a JSON summary on stdout'))
    .exitOverride()
    .action(async (_o: SweepCliOpts, cmd: Command) => {
      process.exitCode = await cmdSweep(cmd.opts<SweepCliOpts>(), cmd);
    });

  program
    .command('merge')
    .description("combine the --out folders of a sharded sweep or stress campaign into what the unsharded run writes")
    .argument('<dirs...>', 'the shard folders (every shard, once)')
    .addOption(new Option('--out <dir>', 'folder to write the merged result to').makeOptionMandatory())
    .addOption(new Option('--json', 'print a JSON summary on stdout'))
    .exitOverride()
    .action(async (dirs: string[], _o: MergeCliOpts, cmd: Command) => {
      process.exitCode = await cmdMerge(dirs, cmd.opts<MergeCliOpts>());
    });

  program
    .command('validate')
    .description('run a fixed set of points and print each published reference beside what the simulator gives, with a verdict per row')
    .addOption(new Option('--cost-model <file>', 'JSON file overriding cost-model cycles'))
    .addOption(new Option('--json', 'print one JSON object on stdout'))
    .addOption(new Option('--mechanisms', 'instead: compare batched, invlpgb, rar, luf and context-reset on reclaim and tlb-flush at 16, 64 and 256 CPUs (a few minutes)'))
    .addOption(new Option('--mechanisms-cpus <list>', 'with --mechanisms: other machine sizes, e.g. 16 or 8,16'))
    .exitOverride()
    .action(async (_o: ValidateCliOpts, cmd: Command) => {
      process.exitCode = await cmdValidate(cmd.opts<ValidateCliOpts>());
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

interface ConfigCliOpts extends CliOpts {
  print?: boolean;
  scenario?: ScenarioName;
}

async function cmdConfig(given: ConfigCliOpts, cmd: Command): Promise<number> {
  if (given.print !== true) throw new UsageError('tlbsim config takes --print (show the resolved configuration)');
  const stress = given.scenario !== undefined;
  const { opts, sim } = withConfigFile(given, cmd, stress ? 'stress' : 'run');
  const config = stress ? scenarioConfig(opts.scenario!, sim) : resolveConfig(sim);
  await writeStdout(`${JSON.stringify(config, null, 2)}\n`);
  return 0;
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
