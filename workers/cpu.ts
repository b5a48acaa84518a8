/**
 * Entry point of one simulated CPU's worker thread.
 *
 * Control plane (comlink, never per-IPI): configure once, then `run(seed)` per
 * run, `stats()` between runs. Stopping a run is not a comlink call: it is the
 * shared G_ABORT word every CPU polls, because a running CPU never services
 * its event loop. `run` executes the whole workload synchronously on this thread and
 * resolves when the CPU is done; while it runs, the worker's event loop is not
 * turning, so IPIs arrive through the doorbell word + receiveMessageOnPort and
 * stop requests through G_ABORT, never as 'message' events.
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
import { ABORT_INVARIANT } from '../src/engine/state/globalBlock.js';

let cpu: Cpu | null = null;
/** This machine's protocol and workload: built-in, or plug-ins imported in configure (src/plugin/load.ts checked them). */
let protocol: (UnmapProtocol & { beginRun?(): void }) | null = null;
let workload: Workload | null = null;

/** Import a plug-in module the main thread compiled and checked. */
async function importPlugin<P>(url: string): Promise<P> {
  return ((await import(url)) as { default: P }).default;
}

const api = {
  /** Build this CPU's view of the machine. Returns its id. */
  async configure(init: CpuInit): Promise<number> {
    const c = init.config;
    protocol = isPluginPath(c.protocol) ? protocolFromPlugin(await importPlugin<ProtocolPlugin>(init.plugins!.protocol!), c.protocol) : getProtocol(c.protocol);
    workload = isPluginPath(c.workload) ? workloadFromPlugin(await importPlugin<ScenarioPlugin>(init.plugins!.workload!), c.workload) : getWorkload(c.workload);
    cpu = new Cpu(init);
    return cpu.id;
  },

  /**
   * Run the workload to completion (synchronously). `traceEpochMs`: the run's
   * start on the coordinator (performance.timeOrigin + now), the zero of
   * every CPU's trace clock.
   */
  run(seed: number, traceEpochMs = 0): CpuRunStats {
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

export type CpuWorkerApi = typeof api;

Comlink.expose(api, nodeEndpoint(parentPort!));
