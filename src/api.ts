/**
 * The typed entry points of the library, one per command: `simulate` (run),
 * `runStress` (stress), `runSweep` (sweep), `writeTrace` and `writeReport`.
 * Each takes plain options, validates them as the CLI does (ConfigError, one
 * line), and returns the command's result object; nothing is only printed.
 *
 * Invariant: the CLI calls these same functions' building blocks, so a
 * library caller and a command-line user get the same numbers for the same
 * options.
 */
import { resolveConfig, type SimConfig } from './config/config.js';
import { Machine } from './engine/coordinator.js';
import type { CostModel } from './output/costModel.js';
import type { Logger } from './output/log.js';
import type { RunResult } from './output/result.js';
import { TRACE_EVENTS_DEFAULT, writeTrace } from './output/trace.js';

/** How `simulate` runs, besides the machine's options. */
export interface SimulateOptions {
  /** Write the run's Chrome trace-event JSON here (`--trace FILE`); the result gains `trace`. */
  trace?: string;
  /** Stops the run early (Ctrl-C): the result then has `status: 'partial'` and what was measured so far. */
  signal?: AbortSignal;
  /** Cycles the `modeled` section prices events at (default COST_MODEL_DEFAULTS). */
  costModel?: CostModel;
  /** pino logger for the machine's lifecycle (default: silent). */
  logger?: Logger;
}

/**
 * Boot a machine, run its workload once, shut it down: `tlbsim run` as a function.
 * @param options any run options (the fields of SimConfig; missing ones take their defaults). A full SimConfig works too.
 * @returns the run's result: counters, per-CPU counters, races, host figures, `modeled`, and `trace` if asked for.
 * @throws ConfigError (one line) for a bad option, before anything starts.
 * @example
 * const r = await simulate({ cpus: 16, protocol: 'per-page' });
 * console.log(r.counters.ipis_sent);
 */
export async function simulate(options: Partial<SimConfig> = {}, opts: SimulateOptions = {}): Promise<RunResult> {
  const traced = opts.trace !== undefined && (options.traceEvents === undefined || options.traceEvents === 0);
  const config = resolveConfig(traced ? { ...options, traceEvents: TRACE_EVENTS_DEFAULT } : options);
  const m = await Machine.boot(config, { costModel: opts.costModel, logger: opts.logger, signal: opts.signal });
  try {
    const r = await m.run(config.seed, { signal: opts.signal });
    if (opts.trace !== undefined && m.lastTrace) r.trace = { file: opts.trace, ...writeTrace(opts.trace, m.lastTrace, config) };
    return r;
  } finally {
    await m.shutdown();
  }
}

export { runStress, type StressOptions, type StressResult } from './campaigns/stress.js';
export { runSweep, writeSweepDir, type SweepOptions, type SweepResult } from './campaigns/sweep.js';
export { writeTrace, type CpuTrace, type TraceSummary } from './output/trace.js';
export { writeReport, renderReport, readReportInput, type ReportInput } from './output/htmlReport.js';
