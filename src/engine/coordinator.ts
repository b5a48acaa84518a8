/**
 * The coordinator: builds a simulated machine, starts one worker thread per
 * CPU, runs workloads to completion, collects every number into a RunResult,
 * and shuts everything down.
 *
 * Invariants:
 * - The coordinator writes shared memory only between runs (`initRun`), while
 *   every CPU is idle; during a run it only reads, except to abort (G_ABORT +
 *   doorbells).
 * - Comlink is the control plane (configure, stats, close); runs start and
 *   end through the run-control block (src/engine/state/runControl.ts), a
 *   few shared words instead of a comlink round trip per worker and run, and
 *   whatever a run reports beyond plain numbers (an error, a trace) is
 *   fetched over comlink afterwards. IPIs never pass through the coordinator.
 * - A crashed or stuck CPU ends the run cleanly: the run is aborted, the
 *   failing CPU is named, every worker is terminated, and the counters measured
 *   so far (in shared memory) are kept in the result.
 * - Seeds: a run's behaviour is fixed by (config, seed) in seeded mode.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { quantileSorted } from 'simple-statistics';
import { totalmem } from 'node:os';
import { ConfigError, configToFlags, isPluginPath, sharedMemoryBytes, type SimConfig } from '../config/config.js';
import { pluginUrls } from '../plugin/load.js';
import type { CpuRunStats, CpuStats } from './cpu.js';
import { VMA_READ, VMA_RW } from '../kernel/fault.js';
import { pageSlots, COUNTER_WORDS, K, frameCount, wordsPerPage } from './layout.js';
import { describeLastEvent, resetCpuControl } from './state/cpuControl.js';
import { PhysicalMemory } from './memory.js';
import { initMm } from '../kernel/mm.js';
import { analyse } from './oracle.js';
import type { CpuTrace } from '../output/trace.js';
import { cpuWorkerUrl } from './paths.js';
import { silentLogger, type Logger } from '../output/log.js';
import { addCounters, readCpuCounters, zeroCounters, type Counters, type RunFailure, type RunResult } from '../output/result.js';
import { initSeededScheduler, raiseAbort } from './scheduler.js';
import { initSchedule, parseSchedule, schedAgents, readScheduleRecord, SCHED_MAX_CPUS, scheduleDriven, type ForcedChoice, type ScheduleRecord } from './forcedSchedule.js';
import { initFootprints, readFootprints, type StepFootprint } from './footprint.js';
import { getWorkload } from '../scenarios/workloads/index.js';
import { deriveSeed } from './prng.js';
import { COST_MODEL_DEFAULTS, modelRun, type CostModel, type ModelRound } from '../output/costModel.js';
import type { CpuWorkerApi, CpuWorkerInit } from '../../workers/cpu.js';
import { allocateMachine, viewMachine, type MachineBuffers, type MachineViews } from './state/machineViews.js';
import { ABORT_CPU_CRASHED, ABORT_INVARIANT, ABORT_IPI_TIMEOUT, ABORT_NONE, ABORT_SEEDED_STEPS, ABORT_STOPPED, abortReason, failedCpu, initRunControl, pagesUnmapped, schedSteps, schedTurn } from './state/globalBlock.js';
import { storeVmaWrite } from './state/pageState.js';
import { CMD_LEAVE, CMD_RUN, RunControl, allocateRunControl } from './state/runControl.js';

/** PRNG stream of the seeded scheduler (CPU streams are 0..cpus-1). */
const SCHED_SEED_STREAM = 0xfff_fff;
/** Boot yields to the event loop after creating this many workers (signals, progress bars). */
const BOOT_YIELD_EVERY = 16;
/** After an abort, how long to wait for CPUs to notice before terminating them. */
const ABORT_GRACE_MS = 2_000;
/**
 * Resource limits per CPU worker: the simulator's heap needs are tiny and V8's
 * defaults reserve far more. Measured at 64 CPUs: young generation 4 MB gave
 * 10.8 MB per CPU after a run, 2 MB gave 9.1 MB with no slowdown.
 */
export const WORKER_RESOURCE_LIMITS = { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 2, stackSizeMb: 1 };

interface CpuWorker {
  id: number;
  worker: Worker;
  api: Comlink.Remote<CpuWorkerApi>;
  exited: boolean;
  exitCode: number | null;
  error: string | null;
  /** Its pending `serve()` call while it sits in the run-control loop (runs start through shared memory), else null. */
  serving: Promise<void> | null;
}

const ABORT_KINDS: Record<number, RunFailure['kind']> = {
  [ABORT_IPI_TIMEOUT]: 'ipi-timeout',
  [ABORT_CPU_CRASHED]: 'cpu-crashed',
  [ABORT_INVARIANT]: 'invariant',
  [ABORT_SEEDED_STEPS]: 'seeded-step-limit',
  [ABORT_STOPPED]: 'stopped',
};

/** A booted simulated machine: N CPU workers sharing one set of buffers. Reusable for many runs. */
export class Machine {
  readonly config: SimConfig;
  readonly buffers: MachineBuffers;
  readonly views: MachineViews;
  /** Milliseconds it took to start and configure every worker. */
  startupMs = 0;
  private cpus: CpuWorker[] = [];
  private crashListeners = new Set<(cpu: number, why: string) => void>();
  private dead = false;
  /**
   * The last run's trace (config.traceEvents > 0): every CPU's ring, by CPU
   * id (a CPU that crashed has none). null when not tracing. See trace.ts,
   * writeTrace.
   */
  lastTrace: CpuTrace[] | null = null;
  /** Set when boot's AbortSignal fired: startWorkers stops creating workers. */
  private bootAborted = false;
  /** The run's plug-ins: module URLs the workers import, and a scenario plug-in's initiators. */
  private plugins: Awaited<ReturnType<typeof pluginUrls>> = {};

  private readonly log: Logger;
  /** The run-control block shared with every worker, and the epoch of the last run issued through it (0: none yet). */
  private readonly runControlBuffer: SharedArrayBuffer;
  private readonly runControl: RunControl;
  private lastRunEpoch = 0;
  /** Prices the run's events into the result's `modeled` section. */
  readonly costModel: CostModel;

  private constructor(config: SimConfig, log: Logger, costModel: CostModel) {
    this.config = config;
    this.log = log;
    this.costModel = costModel;
    this.buffers = allocateMachine(config);
    this.views = viewMachine(this.buffers);
    this.runControlBuffer = allocateRunControl(config.cpus);
    this.runControl = new RunControl(this.runControlBuffer, config.cpus);
  }

  /**
   * Allocate shared memory, start one worker per CPU and configure it.
   * `costModel` (default COST_MODEL_DEFAULTS) prices the result's `modeled`.
   * @throws HostMemoryError (before anything starts) if the machine would not fit this host's memory.
   * @throws MachineInterrupted if `opts.signal` aborts while booting (every started worker is stopped).
   */
  static async boot(
    config: SimConfig,
    opts: { logger?: Logger; costModel?: CostModel; signal?: AbortSignal; onWorkerReady?: (ready: number, total: number) => void } = {},
  ): Promise<Machine> {
    checkHostMemory(config);
    // Plug-ins (docs/extending.md) are compiled, imported and checked here, before any worker starts.
    const plugins = await pluginUrls(config);
    const m = new Machine(config, opts.logger ?? silentLogger, opts.costModel ?? COST_MODEL_DEFAULTS);
    m.plugins = plugins;
    const t0 = performance.now();
    const signal = opts.signal;
    let onAbort: (() => void) | null = null;
    const interrupted = new Promise<never>((_, reject) => {
      onAbort = () => {
        m.bootAborted = true;
        reject(new MachineInterrupted(describeAbort(signal, 'while booting')));
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
    interrupted.catch(() => undefined);
    try {
      await Promise.race([m.startWorkers(opts.onWorkerReady), interrupted]);
    } catch (e) {
      // Interrupted: stop the workers in the background and return at once
      // (terminating hundreds of workers mid-boot takes seconds; a CLI exits
      // right after, which ends them all).
      if (e instanceof MachineInterrupted) void m.shutdown();
      else await m.shutdown();
      throw e;
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    m.startupMs = performance.now() - t0;
    m.log.info({ cpus: config.cpus, startupMs: Math.round(m.startupMs) }, 'machine booted');
    return m;
  }

  private async startWorkers(onReady?: (ready: number, total: number) => void): Promise<void> {
    const c = this.config;
    const initiators = (this.plugins.initiators ?? (isPluginPath(c.workload) ? [] : getWorkload(c.workload).initiators(c))).filter((i) => i < c.cpus);
    const inPorts: MessagePort[][] = Array.from({ length: c.cpus }, () => []);
    const outPorts: (MessagePort | null)[][] = Array.from({ length: c.cpus }, () => new Array<MessagePort | null>(c.cpus).fill(null));
    for (const i of initiators) {
      for (let t = 0; t < c.cpus; t++) {
        if (t === i) continue;
        const ch = new MessageChannel();
        outPorts[i][t] = ch.port1;
        inPorts[t].push(ch.port2);
      }
    }
    const url = cpuWorkerUrl();
    let ready = 0;
    for (let id = 0; id < c.cpus; id++) {
      const worker = new Worker(url, { name: `tlbsim-cpu${id}`, resourceLimits: WORKER_RESOURCE_LIMITS });
      const cw: CpuWorker = {
        id,
        worker,
        api: Comlink.wrap<CpuWorkerApi>(nodeEndpoint(worker)),
        exited: false,
        exitCode: null,
        error: null,
        serving: null,
      };
      worker.on('error', (err: Error) => {
        cw.error = `${err.name}: ${err.message}`;
      });
      worker.on('exit', (code: number) => {
        cw.exited = true;
        cw.exitCode = code;
        if (!this.dead) this.log.error({ cpu: id, code, error: cw.error }, 'CPU worker exited during a run');
        if (!this.dead) for (const l of this.crashListeners) l(id, cw.error ?? `worker exited with code ${code}`);
      });
      this.cpus.push(cw);
      // Creating a worker blocks this thread for a few ms: let signals and progress through now and then.
      if ((id + 1) % BOOT_YIELD_EVERY === 0) {
        await new Promise<void>((r) => setImmediate(r));
        if (this.bootAborted) throw new MachineInterrupted('boot interrupted');
      }
    }
    await Promise.all(
      this.cpus.map((cw) => {
        const init: CpuWorkerInit = {
          id: cw.id,
          config: c,
          buffers: this.buffers,
          runControl: this.runControlBuffer,
          inPorts: inPorts[cw.id],
          outPorts: outPorts[cw.id],
          plugins: { protocol: this.plugins.protocol, workload: this.plugins.workload },
        };
        const transfer = [...inPorts[cw.id], ...outPorts[cw.id].filter((p): p is MessagePort => p !== null)];
        return this.withCrashGuard(cw.api.configure(Comlink.transfer(init, transfer))).then(() => onReady?.(++ready, c.cpus));
      }),
    );
  }

  /** Reject if any worker dies while `p` is pending. */
  private withCrashGuard<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onCrash = (cpu: number, why: string): void => reject(new Error(`CPU ${cpu} worker died: ${why}`));
      this.crashListeners.add(onCrash);
      p.then(
        (v) => {
          this.crashListeners.delete(onCrash);
          resolve(v);
        },
        (e: unknown) => {
          this.crashListeners.delete(onCrash);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  /** Read every CPU's statistics over the control plane (between runs only). */
  async readStats(): Promise<CpuStats[]> {
    if (this.dead) throw new Error('machine was shut down');
    await this.leaveServing();
    return Promise.all(this.cpus.map((c) => c.api.stats()));
  }

  /** Number of CPU workers still alive. */
  liveWorkers(): number {
    return this.cpus.filter((c) => !c.exited).length;
  }

  /** Thread ids of the CPU workers (tests use them to check nothing is left running). */
  workerThreadIds(): number[] {
    return this.cpus.map((c) => c.worker.threadId);
  }

  /** Reset every shared word to the boot state of a run. Only while no CPU runs. */
  private initRun(seed: number, schedule: readonly ForcedChoice[] | null, footprints = false, stateful = false): void {
    const v = this.views;
    const c = this.config;
    v.global.fill(0);
    resetCpuControl(v.cpuCtl, c.cpus); // every CPU's control words, lazy flags included, but the doorbells idle workers sleep on
    v.ackBits.fill(0);
    v.hwSlots.fill(0);
    v.hwPendBits.fill(0);
    v.lufMask.fill(0);
    v.tlbi.fill(0);
    v.counters.fill(0);
    v.pte.fill(0);
    v.pageState.fill(0);
    v.ptl.fill(0);
    v.raceLog.fill(0);
    v.lastStore.fill(0);
    v.backing.fill(0);
    // TLBs are not touched here: each CPU resets its own at the start of a run (only the owner writes its TLB).
    for (let m = 0; m < c.mms; m++) initMm(v.mm, c.cpus, m);
    const slots = pageSlots(c);
    for (let i = 0; i < slots; i++) storeVmaWrite(v.pageState, i, i % c.pages < c.roPages ? VMA_READ : VMA_RW);
    PhysicalMemory.init(v, { pages: slots, frames: frameCount(slots), wordsPerPage: wordsPerPage(c) });
    initRunControl(v.global, Math.min(c.runTokens, c.cpus));
    if (c.sched === 'seeded') {
      initSchedule(v.sched, c.cpus, schedule, stateful);
      initFootprints(v, footprints && schedule !== null, stateful && schedule !== null);
      initSeededScheduler(v.global, v.cpuCtl, c.cpus, deriveSeed(seed, SCHED_SEED_STREAM), v, schedAgents(c));
    }
  }

  /**
   * Progress of the current run, read while it runs (for a progress bar):
   * pages unmapped so far by reclaim-style workloads, and operations done by
   * the others (summed `workload_ops`; plain reads of counters other threads
   * write, so approximate).
   */
  progress(): { pagesUnmapped: number; workloadOps: number } {
    const v = this.views;
    let ops = 0;
    for (let c = 0; c < this.config.cpus; c++) ops += v.counters[c * COUNTER_WORDS + K.workload_ops];
    return { pagesUnmapped: pagesUnmapped(v.global), workloadOps: ops };
  }

  /** Abort the current run: every CPU stops at its next poll. */
  abort(reason = ABORT_STOPPED, cpu = -1): void {
    raiseAbort(this.views.global, this.views.cpuCtl, this.config.cpus, reason, cpu);
  }

  /**
   * Run the workload once with `seed` (default: the config's). Resolves with the
   * result even when the run fails (status 'failed'); a failed run terminates
   * every worker, so the machine cannot run again.
   */
  async run(
    seed: number = this.config.seed,
    /** `footprints`: record step footprints (explore --por on); `stateful`: record full state keys (explore --stateful on). */
    opts: { signal?: AbortSignal; schedule?: readonly ForcedChoice[]; footprints?: boolean; stateful?: boolean } = {},
  ): Promise<RunResult> {
    if (this.dead) throw new Error('machine was shut down (a failed run terminates its workers)');
    const c0 = this.config;
    const schedule = opts.schedule ?? (c0.schedule === '' ? null : parseSchedule(c0.schedule, c0.cpus, schedAgents(c0)));
    if (schedule !== null && (c0.sched !== 'seeded' || c0.cpus > SCHED_MAX_CPUS)) {
      throw new Error(`a schedule needs --sched seeded and at most ${SCHED_MAX_CPUS} CPUs`);
    }
    this.initRun(seed, schedule, opts.footprints === true, opts.stateful === true);
    const t0 = performance.now();
    const signal = opts.signal;
    let interrupted: string | null = null;
    const onAbort = (): void => {
      interrupted = describeAbort(signal, 'while running');
      this.abort(ABORT_STOPPED);
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const crashes: { cpu: number; why: string }[] = [];
    const onCrash = (cpu: number, why: string): void => {
      crashes.push({ cpu, why });
      this.abort(ABORT_CPU_CRASHED, cpu);
    };
    this.crashListeners.add(onCrash);
    const epoch = performance.timeOrigin + performance.now();
    const settled = await this.runEveryCpu(seed, epoch);
    this.crashListeners.delete(onCrash);
    signal?.removeEventListener('abort', onAbort);
    const wallMs = performance.now() - t0;
    this.log.debug({ seed, wallMs: Math.round(wallMs) }, 'run finished');

    const stats: CpuRunStats[] = [];
    for (const s of settled) if (s) stats.push(s);
    this.lastTrace = this.config.traceEvents > 0 ? stats.flatMap((s) => (s.trace ? [s.trace] : [])).sort((a, b) => a.cpu - b.cpu) : null;
    const aborted = abortReason(this.views.global);
    let failure: RunFailure | undefined;
    const crash = crashes[0];
    if (crash) {
      const last = describeLastEvent(this.views.cpuCtl, crash.cpu);
      failure = { kind: 'cpu-crashed', cpu: crash.cpu, message: `CPU ${crash.cpu} crashed: ${crash.why}; last event: ${last}`, last_event: last };
    } else if (interrupted !== null) {
      // Every CPU unwound at the abort: the machine stays usable; the caller decides when to shut it down.
      this.log.warn({ reason: interrupted }, 'run interrupted');
      return this.buildResult(seed, stats, wallMs, undefined, interrupted);
    } else if (aborted !== ABORT_NONE) {
      const kind = ABORT_KINDS[aborted] ?? 'stopped';
      const message = stats.find((s) => s.error)?.error ?? `run aborted (${kind})`;
      failure = { kind, cpu: failedCpu(this.views.global), message };
    }
    if (failure) {
      this.log.error({ failure }, 'run failed');
      await this.shutdown();
    }
    return this.buildResult(seed, stats, wallMs, failure);
  }

  /**
   * Start one run on every CPU through the run-control block and await its
   * end; if a CPU dies or the run is aborted, give the others ABORT_GRACE_MS
   * to notice, then stop waiting (shutdown terminates them). Returns each
   * CPU's figures, null for a CPU that did not finish (it crashed or is
   * stuck); figures the block could not carry are fetched over comlink.
   */
  private async runEveryCpu(seed: number, traceEpochMs: number): Promise<(CpuRunStats | null)[]> {
    this.ensureServing();
    const rc = this.runControl;
    // A PRNG-seeded run wakes only the CPU taking the first turn (an MMU agent's runs on its CPU's thread): the
    // others start when that run first rings them (src/engine/state/runControl.ts). Free and schedule-driven runs
    // (whose first choice waits for every CPU: SeededScheduler.started) wake every CPU.
    const turn = this.config.sched === 'seeded' ? schedTurn(this.views.global) : -1;
    const first = turn >= this.config.cpus ? turn - this.config.cpus : turn;
    const epoch = rc.issue(this.views.cpuCtl, CMD_RUN, seed, traceEpochMs, first >= 0 ? first : null);
    this.lastRunEpoch = epoch;
    await this.settleRun(epoch);
    const stats: (CpuRunStats | null)[] = this.cpus.map(() => null);
    const detail: CpuWorker[] = [];
    this.cpus.forEach((cw, i) => {
      if (!rc.finished(cw.id, epoch)) return;
      const o = rc.outcome(cw.id);
      if (!o.detail) {
        const { detail: _, ...figures } = o;
        stats[i] = { cpu: cw.id, ...figures };
      } else if (!cw.exited) detail.push(cw);
    });
    if (detail.length > 0) {
      await this.leaveServing();
      await Promise.all(
        detail.map(async (cw) => {
          stats[this.cpus.indexOf(cw)] = await this.unlessExited(cw, cw.api.lastRunStats());
        }),
      );
    }
    return stats;
  }

  /** Resolve once every CPU has finished the run of `epoch` or exited, or ABORT_GRACE_MS after an abort. */
  private settleRun(epoch: number): Promise<void> {
    const rc = this.runControl;
    return new Promise((resolve) => {
      let graceTimer: NodeJS.Timeout | null = null;
      let over = false;
      const finish = (): void => {
        over = true;
        if (graceTimer) clearTimeout(graceTimer);
        clearInterval(watch);
        this.crashListeners.delete(check);
        rc.releaseWaiter(); // the pending waitAsync resolves now instead of at the next run
        resolve();
      };
      const check = (): void => {
        if (!over && this.cpus.every((cw) => cw.exited || rc.finished(cw.id, epoch))) finish();
      };
      // The last CPU to finish (or any CPU of an aborted run) notifies RC_DONE; re-arm until the run is over.
      const arm = (): void => {
        if (over) return;
        const seen = rc.doneCount();
        check();
        if (!over) void rc.waitDone(seen).then(arm);
      };
      // A safety net for a lost notify, and the abort's grace period.
      const watch = setInterval(() => {
        check();
        if (!over && graceTimer === null && abortReason(this.views.global) !== ABORT_NONE) graceTimer = setTimeout(finish, ABORT_GRACE_MS);
      }, 20);
      // A CPU whose worker exited will never finish: count it as settled.
      this.crashListeners.add(check);
      arm();
    });
  }

  /** Put every live worker in its `serve` loop (workers/cpu.ts) unless it is there already. */
  private ensureServing(): void {
    for (const cw of this.cpus) {
      if (cw.serving !== null || cw.exited) continue;
      const p = cw.api.serve();
      cw.serving = p;
      const left = (): void => {
        if (cw.serving === p) cw.serving = null;
      };
      p.then(left, left);
    }
  }

  /**
   * Ask every serving worker to leave its `serve` loop so it takes comlink
   * calls again; await the ones idle since the last run (a worker still
   * stuck in that run leaves when it finishes it).
   */
  private async leaveServing(): Promise<void> {
    const serving = this.cpus.filter((cw) => cw.serving !== null && !cw.exited);
    if (serving.length === 0) return;
    const last = this.lastRunEpoch;
    this.runControl.issue(this.views.cpuCtl, CMD_LEAVE);
    const idle = serving.filter((cw) => last === 0 || this.runControl.finished(cw.id, last));
    await Promise.all(idle.map((cw) => this.unlessExited(cw, cw.serving ?? Promise.resolve())));
  }

  /** `p`'s value, or null if it rejects or `cw`'s worker exits first. */
  private unlessExited<T>(cw: CpuWorker, p: Promise<T>): Promise<T | null> {
    if (cw.exited) return Promise.resolve(null);
    return new Promise((resolve) => {
      const onExit = (cpu: number): void => {
        if (cpu !== cw.id) return;
        this.crashListeners.delete(onExit);
        resolve(null);
      };
      this.crashListeners.add(onExit);
      p.then(
        (v) => {
          this.crashListeners.delete(onExit);
          resolve(v);
        },
        () => {
          this.crashListeners.delete(onExit);
          resolve(null);
        },
      );
    });
  }

  private buildResult(seed: number, stats: CpuRunStats[], wallMs: number, failure?: RunFailure, partial?: string): RunResult {
    const c = this.config;
    const v = this.views;
    const perCpu: Counters[] = [];
    const total = zeroCounters();
    for (let cpu = 0; cpu < c.cpus; cpu++) {
      const row = readCpuCounters(v.counters, cpu);
      perCpu.push(row);
      addCounters(total, row);
    }
    // A run cut short has pages in flight: only what the oracle saw at access time counts.
    const verdict = analyse(v, c.cpus, pageSlots(c), wordsPerPage(c), { endOfRunCheck: !failure && partial === undefined });
    const lat = stats.flatMap((s) => s.ipiRoundUs).sort((a, b) => a - b);
    const config = { ...c, seed };
    const rounds: ModelRound[][] = Array.from({ length: c.cpus }, () => []);
    for (const s of stats) {
      rounds[s.cpu] = s.ipiRoundTargets.map((targets, i) => ({ targets, pages: s.ipiRoundPages[i], groups: s.ipiRoundGroups?.[i] ?? 0, maxGroup: s.ipiRoundMaxGroup?.[i] ?? 0 }));
    }
    const modeled = modelRun(this.costModel, { perCpu, rounds });
    return {
      config,
      status: failure ? 'failed' : partial !== undefined ? 'partial' : 'ok',
      ...(failure ? { failure } : {}),
      ...(partial !== undefined ? { partial: { reason: partial } } : {}),
      counters: total,
      per_cpu: perCpu,
      races: verdict.races,
      race_reports: verdict.reports,
      modeled,
      host: {
        wall_ms: round3(wallMs),
        startup_ms: round3(this.startupMs),
        ipi_round_latency_us: {
          median: lat.length ? round3(quantileSorted(lat, 0.5)) : 0,
          p99: lat.length ? round3(quantileSorted(lat, 0.99)) : 0,
          rounds: lat.length,
        },
        sched_steps: c.sched === 'seeded' ? schedSteps(v.global) : 0,
      },
      reproduce: ['tlbsim', 'run', ...configToFlags(config)].join(' '),
    };
  }

  /**
   * The choice points of the last run, if it was schedule-driven (a
   * `schedule` option or config), else null. Read between runs only.
   */
  /** The footprints of the first `steps` steps of the last schedule-driven run (`run(..., { footprints: true })`), else null. */
  stepFootprints(steps: number): StepFootprint[] | null {
    return readFootprints(this.views, steps);
  }

  scheduleRecord(): ScheduleRecord | null {
    return scheduleDriven(this.views.sched) ? readScheduleRecord(this.views.sched) : null;
  }

  /** Stop every worker. Safe to call more than once. */
  async shutdown(): Promise<void> {
    if (this.dead) return;
    this.dead = true;
    this.abort(ABORT_STOPPED);
    this.runControl.issue(this.views.cpuCtl, CMD_LEAVE); // serving workers leave their wait at once
    await Promise.all(
      this.cpus.map(async (cw) => {
        if (cw.exited) return;
        const exited = new Promise<void>((r) => cw.worker.once('exit', () => r()));
        await cw.worker.terminate();
        if (!cw.exited) await exited;
        cw.api[Comlink.releaseProxy]();
      }),
    );
  }
}

/** Machine.boot was interrupted (its AbortSignal fired): every worker it had started is stopped. */
export class MachineInterrupted extends Error {
  override readonly name = 'MachineInterrupted';
}

/** The machine would not fit this host's memory: thrown before any worker starts. */
export class HostMemoryError extends ConfigError {}

/**
 * Host memory one simulated CPU costs, MB: a Node 20 worker thread with our
 * resource limits and the engine loaded. Measured here: 7.0-7.6 MB per CPU
 * at 256-1024 CPUs (an empty worker alone: 6.8-7.3 MB).
 */
const HOST_MB_PER_CPU = 7.5;
/** Host memory of the coordinator process itself, MB (Node, the result, the logger). */
const HOST_MB_BASE = 150;
/** Use at most this fraction of the host's total memory: the rest is the OS's and other processes'. */
const HOST_MEMORY_FRACTION = 0.9;

/** Estimated host memory (MB) of a machine with config `c`: workers, shared memory, the coordinator. */
export function estimateHostMemoryMb(c: SimConfig): number {
  return Math.ceil(c.cpus * HOST_MB_PER_CPU + sharedMemoryBytes(c) / (1 << 20) + HOST_MB_BASE);
}

/**
 * Fail before booting if the machine would not fit: one line with the estimate and the limit.
 * @param totalMb the host's memory (default: os.totalmem()).
 * @throws HostMemoryError
 */
export function checkHostMemory(c: SimConfig, totalMb = totalmem() / (1 << 20)): void {
  const need = estimateHostMemoryMb(c);
  const limit = Math.floor(totalMb * HOST_MEMORY_FRACTION);
  if (need > limit) {
    throw new HostMemoryError(
      `--cpus ${c.cpus} with --pages ${c.pages} needs about ${need} MB of host memory (${HOST_MB_PER_CPU} MB per CPU worker plus shared memory), more than the ${limit} MB this host allows (${Math.round(HOST_MEMORY_FRACTION * 100)}% of ${Math.round(totalMb)} MB): use fewer CPUs or pages`,
    );
  }
}

/** The reason an AbortSignal carries (a string, or an Error's message), with where it struck. */
function describeAbort(signal: AbortSignal | undefined, where: string): string {
  const r: unknown = signal?.reason;
  const what = typeof r === 'string' ? r : r instanceof Error && r.name !== 'AbortError' ? r.message : 'aborted';
  return `${what} ${where}`;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
