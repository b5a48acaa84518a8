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
 */
import { parentPort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Cpu, SimAbort, type CpuInit, type CpuRunStats, type CpuStats } from '../src/engine/cpu.js';
import { raiseAbort } from '../src/engine/scheduler.js';
import { getProtocol } from '../src/kernel/protocols/index.js';
import { getWorkload } from '../src/scenarios/workloads/index.js';
import { ABORT_INVARIANT } from '../src/engine/state/globalBlock.js';

let cpu: Cpu | null = null;

const api = {
  /** Build this CPU's view of the machine. Returns its id. */
  configure(init: CpuInit): number {
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
    if (!c) throw new Error('run() before configure()');
    const workload = getWorkload(c.config.workload);
    const protocol = getProtocol(c.config.protocol);
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
        workload.run(c, protocol);
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
