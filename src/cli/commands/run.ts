/**
 * `tlbsim run`: boot one machine, run it once, print its result.
 *
 * Invariants: the progress bar is on stderr only (never with --json to a
 * pipe); an interrupted run prints its partial result before exiting 130 or
 * 143; the machine is always shut down.
 */
import { type Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { isPluginPath, parseReclaimPages, type SimConfig } from '../../config/config.js';
import { presetReproduceArgs, resolvePreset } from '../../scenarios/preset.js';
import { Machine, MachineInterrupted } from '../../engine/coordinator.js';
import { withInterrupts } from '../interrupt.js';
import { zeroRaces } from '../../engine/oracle.js';
import { zeroCounters, type RunResult } from '../../output/result.js';
import { createLogger, type Logger, type LogLevel } from '../../output/log.js';
import { formatRun, toJson } from '../../output/report.js';
import { TRACE_EVENTS_DEFAULT, writeTrace, type CpuTrace } from '../../output/trace.js';
import { COST_MODEL_DEFAULTS, loadCostModel, modelRun, type CostModel } from '../../output/costModel.js';
import { checkOutputFile } from '../../output/outputPaths.js';
import { estimateWork, workWarning } from '../../scenarios/workEstimate.js';
import { addPresetOptions, addSimOptions, emitResult, EXIT_SIM_FAILED, UsageError, withConfigFile, type CliOpts } from './options.js';
import { loadScenarioPlugin, pluginFailure } from '../../plugin/load.js';

/** How often the run's progress bar reads the machine's progress words. */
export const RUN_PROGRESS_POLL_MS = 200;
/**
 * Without a terminal (CI, a pipe, nohup) a long run logs its progress as a
 * pino line at most this often instead of drawing a bar: often enough to
 * show it is alive, rare enough for a log file.
 */
const PROGRESS_LOG_EVERY_MS = 5000;
/** A run estimated (src/scenarios/workEstimate.ts) above this many seconds counts as long: it logs progress when stderr is not a terminal. */
const PROGRESS_LOG_ABOVE_SECONDS = 10;

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

/**
 * Where a long run's progress goes when no bar is drawn (stderr is not a
 * terminal): the run's logger when it logs at info, else JSON lines on
 * stderr at info (stdout keeps only the result, `--json` or not). None for a
 * short run (estimated under PROGRESS_LOG_ABOVE_SECONDS) or with
 * `--no-progress`.
 */
function progressLogger(o: { progress: boolean }, c: SimConfig, log: Logger): Logger | null {
  if (!o.progress || process.stderr.isTTY === true || estimateWork(c).seconds <= PROGRESS_LOG_ABOVE_SECONDS) return null;
  return log.isLevelEnabled('info') ? log : createLogger('info', { pretty: false });
}

/** A run interrupted before its machine booted: nothing was measured, the configuration is kept. */
function interruptedBeforeBoot(config: SimConfig, reason: string, costModel: CostModel, reproduce: string): RunResult {
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
    reproduce,
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
  // `--scenario NAME [--kernel SIDE]`: the machine `stress` and `explore` boot for that preset (seeded unless --sched says otherwise).
  const choice = { scenario: o.scenario, kernel: o.kernel };
  if (o.scenario !== undefined && isPluginPath(o.scenario)) await loadScenarioPlugin(o.scenario);
  const resolved = resolvePreset(choice, withTracing(sim, o.trace, o.logLevel));
  const config = resolved.config;
  const reproduce = ['tlbsim', 'run', ...presetReproduceArgs({ ...choice, kernel: resolved.kernel }, config)].join(' ');
  const costModel = o.costModel === undefined ? COST_MODEL_DEFAULTS : loadCostModel(o.costModel);
  // Before any worker starts: a run that cannot write what it was asked to is refused, not lost at the end.
  if (o.out !== undefined) checkOutputFile('--out', o.out);
  if (o.trace !== undefined) checkOutputFile('--trace', o.trace);
  if (o.logFile !== undefined) checkOutputFile('--log-file', o.logFile);
  const log = createLogger(o.logLevel, { file: o.logFile });
  const warning = workWarning(config);
  if (warning !== null) process.stderr.write(`${warning}\n`);
  const bar = runProgressBar(o, config);
  const unit = runProgressUnit(config);
  const progressLog = bar === null ? progressLogger(o, config, log) : null;
  const { value: result, signalExitCode } = await withInterrupts(async (signal) => {
    log.info({ config }, 'booting machine');
    let m: Machine;
    try {
      m = await Machine.boot(config, { logger: log, signal, costModel, onWorkerReady: (ready) => bar?.update(ready) });
    } catch (e) {
      if (e instanceof MachineInterrupted) return interruptedBeforeBoot(config, e.message, costModel, reproduce);
      throw e;
    }
    bar?.setTotal(unit.total);
    bar?.update(0, { phase: 'running', unit: unit.unit });
    bar?.render(); // a phase change is always drawn (updates are otherwise throttled to the bar's frame rate)
    const poll = bar ? setInterval(() => bar.update(Math.min(unit.total, unit.read(m))), RUN_PROGRESS_POLL_MS) : null;
    const started = performance.now();
    const logProgress = (): void => {
      progressLog?.info({ done: Math.min(unit.total, unit.read(m)), total: unit.total, unit: unit.unit, elapsed_s: Math.round((performance.now() - started) / 1000) }, 'run progress');
    };
    logProgress();
    const logPoll = progressLog ? setInterval(logProgress, PROGRESS_LOG_EVERY_MS) : null;
    try {
      const r = await m.run(config.seed, { signal });
      r.reproduce = reproduce;
      if (poll) clearInterval(poll);
      if (logPoll) clearInterval(logPoll);
      bar?.update(Math.min(unit.total, unit.read(m)), { phase: 'shutting down' });
      bar?.render();
      logFlushEvents(log, m.lastTrace);
      if (o.trace !== undefined && m.lastTrace) r.trace = { file: o.trace, ...writeTrace(o.trace, m.lastTrace, config) };
      return r;
    } finally {
      if (poll) clearInterval(poll);
      if (logPoll) clearInterval(logPoll);
      // Interrupted: the process exits right after printing, which ends every worker; do not wait for 1024 terminations.
      if (signal.aborted) void m.shutdown();
      else await m.shutdown();
    }
  }, () => log.warn('interrupted: stopping every CPU (press Ctrl-C again to exit at once)')).finally(() => bar?.stop());
  log.info({ wallMs: result.host.wall_ms, status: result.status }, 'run finished');
  // A plug-in that threw in a worker is bad input: one line naming its file, exit 2 (the machine is already shut down).
  const pluginFault = pluginFailure(result.failure?.message);
  if (pluginFault) throw pluginFault;
  await emitResult(o, toJson(result), formatRun(result));
  if (signalExitCode !== null) return signalExitCode;
  return result.status === 'failed' ? EXIT_SIM_FAILED : 0;
}

interface RunCliOpts extends CliOpts {
  progress: boolean;
  out?: string;
  trace?: string;
}

/** Add `tlbsim run` to `program`. */
export function registerRun(program: Command): void {
  addPresetOptions(
    addSimOptions(
      program.command('run').description('run one simulation (default: reclaim on 8 CPUs, batched flush; --scenario NAME: the machine stress and explore boot for that preset) and print its counters'),
      false,
    ),
  )
    .addOption(new Option('--out <file>', 'also write the JSON result to FILE (atomically: a temporary file, then a rename)'))
    .addOption(new Option('--no-progress', 'no progress bar (it shows only on a terminal, on stderr)'))
    .addOption(new Option('--trace <file>', 'write the run as Chrome trace-event JSON (Perfetto UI, chrome://tracing): a track per CPU, IPI flows, flushes, faults, unmap windows, races'))
    .exitOverride()
    .action(async (_o: RunCliOpts, cmd: Command) => {
      process.exitCode = await cmdRun(cmd.opts<RunCliOpts>(), cmd);
    });
}
