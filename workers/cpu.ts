/**
 * Entry point of one simulated CPU's worker thread.
 *
 * Control plane (comlink, never per-IPI): configure once, then `serve()`,
 * `stats()` and `lastRunStats()` between runs. Runs are not comlink calls:
 * `serve` sleeps on this CPU's doorbell and runs the workload each time the
 * coordinator issues CMD_RUN through the run-control block
 * (src/engine/state/runControl.ts), publishing
 * the run's figures there, until it issues CMD_LEAVE (then `serve` returns
 * and the worker's event loop takes comlink calls again). Stopping a run is
 * not a comlink call either: it is the shared G_ABORT word every CPU polls.
 * A run executes the whole workload synchronously on this thread; while it
 * runs, the worker's event loop is not turning, so IPIs arrive through the
 * doorbell word + receiveMessageOnPort and stop requests through G_ABORT,
 * never as 'message' events.
 * `configure` first imports the run's plug-in modules (docs/extending.md),
 * which the main thread compiled and checked (src/plugin/load.ts).
 */
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Cpu, SimAbort, type CpuInit, type CpuRunStats, type CpuStats } from '../src/engine/cpu.js';
import { raiseAbort } from '../src/engine/scheduler.js';
import { getProtocol, type UnmapProtocol } from '../src/kernel/protocols/index.js';
import { getWorkload, type Workload } from '../src/scenarios/workloads/index.js';
import { isPluginPath } from '../src/config/config.js';
import { protocolFromPlugin, workloadFromPlugin, type ProtocolPlugin, type ScenarioPlugin } from '../src/plugin/api.js';
import { ABORT_INVARIANT, abortReason } from '../src/engine/state/globalBlock.js';
import { CMD_RUN, RunControl } from '../src/engine/state/runControl.js';

/**
 * How long `serve` sleeps between checks of the run epoch: whatever needs
 * this CPU rings it (the coordinator's command, or the run's first ring of
 * it), so this only bounds how long a terminated worker can linger in the
 * wait (and costs one wake-up per idle second).
 */
const SERVE_WAIT_MS = 1_000;

let cpu: Cpu | null = null;
/** This machine's protocol and workload: built-in, or plug-ins imported in configure (src/plugin/load.ts checked them). */
let protocol: (UnmapProtocol & { beginRun?(): void }) | null = null;
let workload: Workload | null = null;
/** The machine's run-control block, and the last epoch this worker acted on (it acts once per epoch). */
let runControl: RunControl | null = null;
let servedEpoch = 0;
/** The figures of the last run `serve` made, for `lastRunStats`. */
let lastStats: CpuRunStats | null = null;

/** What configure receives: the CPU's own init, and the machine's run-control block (src/engine/state/runControl.ts). */
export interface CpuWorkerInit extends CpuInit {
  runControl: SharedArrayBuffer;
}

/** Import a plug-in module the main thread compiled and checked. */
async function importPlugin<P>(url: string): Promise<P> {
  return ((await import(url)) as { default: P }).default;
}

const api = {
  /** Build this CPU's view of the machine. Returns its id. */
  async configure(init: CpuWorkerInit): Promise<number> {
    const c = init.config;
    protocol = isPluginPath(c.protocol) ? protocolFromPlugin(await importPlugin<ProtocolPlugin>(init.plugins!.protocol!), c.protocol) : getProtocol(c.protocol);
    workload = isPluginPath(c.workload) ? workloadFromPlugin(await importPlugin<ScenarioPlugin>(init.plugins!.workload!), c.workload) : getWorkload(c.workload);
    cpu = new Cpu(init);
    runControl = new RunControl(init.runControl, c.cpus);
    servedEpoch = runControl.epoch();
    return cpu.id;
  },

  /**
   * Run every run the coordinator issues through the run-control block, until
   * it issues CMD_LEAVE (see the header). Publishes each run's figures there;
   * those that do not fit wait for `lastRunStats`.
   */
  serve(): void {
    const rc = runControl;
    if (!rc || !cpu) throw new Error('serve() before configure()');
    for (;;) {
      servedEpoch = rc.awaitEpoch(cpu.v.cpuCtl, cpu.id, servedEpoch, SERVE_WAIT_MS);
      if (rc.command() !== CMD_RUN) return;
      const s = runOnce(rc.seed(), rc.traceEpochMs());
      lastStats = s;
      rc.publish(cpu.id, servedEpoch, s, s.error !== undefined || s.trace !== undefined, abortReason(cpu.v.global) !== 0);
    }
  },

  /** The full figures of the last run (error message, trace, every round), when the run-control block flagged them. */
  lastRunStats(): CpuRunStats | null {
    return lastStats;
  },

  /** Read this CPU's statistics (between runs: a running CPU's event loop does not turn). */
  stats(): CpuStats {
    if (!cpu) throw new Error('stats() before configure()');
    return cpu.stats();
  },

  /** Close this CPU's IPI ports. */
  close(): void {
    cpu?.ipi.close();
  },
};

/**
 * Run the workload to completion (synchronously). `traceEpochMs`: the run's
 * start on the coordinator (performance.timeOrigin + now), the zero of
 * every CPU's trace clock.
 */
function runOnce(seed: number, traceEpochMs = 0): CpuRunStats {
  const c = cpu;
  if (!c || !workload || !protocol) throw new Error('run() before configure()');
  const w = workload;
  const p = protocol;
  p.beginRun?.();
  // What every return carries: the rounds sent, and the trace so far (an aborted run's too).
  const base = (): Pick<CpuRunStats, 'cpu' | 'ipiRoundUs' | 'ipiRoundTargets' | 'ipiRoundPages' | 'ipiRoundGroups' | 'ipiRoundMaxGroup' | 'trace'> => ({
    cpu: c.id,
    ipiRoundUs: [...c.ipiRoundUs],
    ipiRoundTargets: [...c.ipiRoundTargets],
    ipiRoundPages: [...c.ipiRoundPages],
    ipiRoundGroups: [...c.ipiRoundGroups],
    ipiRoundMaxGroup: [...c.ipiRoundMaxGroup],
    ...(c.trace ? { trace: { cpu: c.id, events: c.trace.events(), dropped: c.trace.dropped } } : {}),
  });
  try {
    if (c.beginRun(seed, traceEpochMs)) {
      w.run(c, p);
      c.finishWorkload();
    }
    return { ...base(), aborted: false };
  } catch (e) {
    c.releaseTokenIfHeld();
    if (e instanceof SimAbort) {
      return { ...base(), aborted: true, error: c.timeoutMessage };
    }
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    raiseAbort(c.v.global, c.v.cpuCtl, c.config.cpus, ABORT_INVARIANT, c.id);
    return { ...base(), aborted: true, error: msg };
  }
}

export type CpuWorkerApi = typeof api;

Comlink.expose(api, nodeEndpoint(parentPort!));
