/**
 * One simulated CPU, as seen from inside its worker thread. It owns the
 * CPU's parts and runs its run lifecycle, scheduling points, sleeping locks
 * and IPI handling; the MMU (loads and stores through the TLB: src/engine/mmu.ts),
 * the page-fault handler (src/kernel/fault.ts), free-mode host scheduling (run
 * tokens, loans, stepping aside: src/engine/freeModeQuantum.ts) and cpu_tlbstate
 * (src/kernel/tlbState.ts) are modules of their own that reach the CPU through
 * narrow interfaces (MmuHost, FaultHost, HostSchedHost). Imports flow one
 * way: this file imports them, none of them imports this file.
 *
 * Invariants:
 * - Only this CPU's thread writes its TLB and its counters.
 * - The access path (`load`/`store`, src/engine/mmu.ts) reads the TLB with plain
 *   typed-array reads; Atomics only for PTE read-modify-writes and the doorbell poll.
 * - IPIs are handled only between accesses (at `tick`, `schedPoint` or while
 *   waiting), never in the middle of one: an access is one instruction.
 * - Never sleep holding a run token, except while stepping aside (bounded):
 *   until a round whose IPI this CPU just handled completes, or, about to
 *   sleep on a kernel lock, until the lock holder's shootdown round completes. An IPI initiator that
 *   has to sleep for acknowledgements lends its token to a waiting CPU (on
 *   real hardware the other CPUs keep running while the initiator spins) and
 *   takes one back when the round is complete; a borrower hands the token
 *   back at its next doorbell poll once the lender asks for it.
 * - Waiting for a run token while holding kernel locks cannot deadlock: only
 *   CPUs that run hold tokens, and a token holder that blocks on a lock gives
 *   its token up first. Reclaim does it (it holds a batch of page locks
 *   throughout), and so do munmap/madvise (page locks held until their flush).
 *   The fault path avoids it for latency: it takes its token back only after
 *   unlock_page, so faulting CPUs never convoy behind a page lock.
 * - In seeded mode every point where another CPU may run is a `schedPoint`;
 *   nothing else depends on timing.
 */
import type { MessagePort } from 'node:worker_threads';
import type { SimConfig } from '../config/config.js';
import { IpiDelivery, type IpiMessage, type IpiWaitHost } from './ipi.js';
import { HwInvalQueue } from './hwInval.js';
import { applyPendingTlbis } from '../kernel/arm64Tlbi.js';
import { handleMmFault } from '../kernel/fault.js';
import { Mmu } from './mmu.js';
import { HostSched } from './freeModeQuantum.js';
import { COUNTER_WORDS, K, PTRS_PER_PTE, frameCount, pageSlots, ptlCount, wordsPerPage, type CounterName } from './layout.js';
import {
  LOCK_KIND_MMAP,
  LOCK_KIND_PAGE,
  LOCK_KIND_PTL,
  lockTag,
  mutexOwner,
  mutexTryLock,
  mutexUnlock,
  rwsemTryRead,
  rwsemTryWrite,
  rwsemUpRead,
  rwsemUpWrite,
} from '../kernel/locks.js';
import { PhysicalMemory } from './memory.js';
import { mmapLockWord } from '../kernel/mm.js';
import { CpuTlbState } from '../kernel/tlbState.js';
import { setRaceTraceHook } from './oracle.js';
import { TraceClock, TraceRing, type CpuTrace, type TraceEvent } from '../output/trace.js';
import { Prng, deriveSeed } from './prng.js';
import { RunTokens, SeededScheduler, raiseAbort, ringDoorbell } from './scheduler.js';
import { schedAgents } from './forcedSchedule.js';
import { LAST_EVENT_IPI, ackPending, doorbell, ipiRound, noteLastEvent, setWaitLock, waitDoorbell } from './state/cpuControl.js';
import { Tlb, setTlbThreadOwner } from './tlb.js';
import { PageWalkCache } from './pageWalkCache.js';
import { readCpuCounters } from '../output/result.js';
import { applyHwRequest, flushTlbFunc, lufFlushBeforeReuse } from '../kernel/tlbFlush.js';
import { chooseFlushTransport } from '../kernel/transports/index.js';
import type { FlushTransport } from '../kernel/transports/types.js';
import { viewMachine, type MachineBuffers, type MachineViews } from './state/machineViews.js';
import { ABORT_SEEDED_STEPS, ProgramState, abortReason, addLockWaiter, finishWorkload, markRunDone, runDone, schedSteps } from './state/globalBlock.js';
import { tlbWords } from './tlb.js';
import { registerFootprintViews, syncFootprints } from './footprint.js';

/** Thrown inside a worker to unwind when the run was aborted (by anyone). */
export class SimAbort extends Error {
  override readonly name = 'SimAbort';
}


/**
 * How long a blocked CPU sleeps before re-checking a condition nobody rings it
 * for (the pending-flush workload waiting for reclaim progress). Short: such a
 * wait happens once per run. Rung conditions pass a longer safety net instead.
 */
const BLOCK_RECHECK_MS = 0.2;
/**
 * Safety-net timeout of a kernel-lock sleep. Every unlock rings the sleepers
 * (src/kernel/locks.ts: a sleeper publishes its tag before it re-tries, a releaser
 * stores the release before it looks), so this only bounds a lost wake-up,
 * which the protocol rules out. It must still be long: every expiry is a
 * host context switch that competes with IPI delivery. Polling every 0.2 ms
 * cost thousands of wake-ups per IPI round at 64 CPUs and tripled the round
 * latency; 20 ms still woke each sleeping CPU of a 1024-CPU reclaim about
 * 1.7 times per IPI round (counted per wait site), more often than the
 * round's own IPI; at 250 ms no lock sleep of that run timed out at all.
 */
const LOCK_WAIT_MS = 250;
/**
 * How long an idle CPU sleeps on its doorbell between checks for the end of
 * the run. Whoever ends the run rings every CPU, so this is a safety net too;
 * at 50 ms the idle CPUs of a 1024-CPU run woke 100 times per IPI round.
 */
const IDLE_WAIT_MS = 500;

/** Test hook: a crashing CPU exits after this many slow-path polls (mid-run, after warm-up has begun). */
const CRASH_AFTER_POLLS = 8;
/** Exit code of a deliberately crashed CPU worker. */
const CRASH_EXIT_CODE = 70;


/** Everything a CPU worker receives once, at configure time. */
export interface CpuInit {
  id: number;
  config: SimConfig;
  buffers: MachineBuffers;
  /** Ports this CPU receives IPIs on, one per initiator. */
  inPorts: MessagePort[];
  /** outPorts[t]: port to CPU t, on initiators only. */
  outPorts: (MessagePort | null)[];
  /** Module URLs of the run's plug-ins (src/plugin/load.ts), imported by the worker before it configures. */
  plugins?: { protocol?: string; workload?: string };
}

/** Per-run figures a worker returns that do not live in shared counters. */
export interface CpuRunStats {
  cpu: number;
  /** Host latency of every IPI round this CPU sent, microseconds. */
  ipiRoundUs: number[];
  /** Targets of every IPI round this CPU sent (same order as ipiRoundUs). */
  ipiRoundTargets: number[];
  /** Pages each round asked to invalidate one by one, or ROUND_FULL_FLUSH (-1) for a full flush (same order). */
  ipiRoundPages: number[];
  /** `--ipi-fanout tree`: groups each round was sent to (0: serial), and its largest group (same order). */
  ipiRoundGroups: number[];
  ipiRoundMaxGroup: number[];
  /** `--trace`: this CPU's ring of events. */
  trace?: CpuTrace;
  aborted: boolean;
  error?: string;
}

/** A CPU's statistics as read over the control plane (between runs). */
export interface CpuStats {
  cpu: number;
  /** mm loaded at the end of the last run (-1: none). */
  loadedMm: number;
  /** Valid entries in the TLB now. */
  tlbOccupancy: number;
  /** Host latency of every IPI round this CPU sent in the last run, microseconds. */
  ipiRoundUs: number[];
  /** This CPU's counters (same names as the JSON result). */
  counters: Record<CounterName, number>;
}

export class Cpu implements IpiWaitHost {
  readonly id: number;
  readonly config: SimConfig;
  readonly v: MachineViews;
  /** What the simulated programs share (barrier, reclaim progress, user flag): the API workloads and races use. */
  readonly program: ProgramState;
  readonly tlb: Tlb;
  /** Loads and stores of the running process (src/engine/mmu.ts). */
  private readonly mmu: Mmu;
  readonly mem: PhysicalMemory;
  readonly ipi: IpiDelivery;
  /** The shared invalidation queue (INVLPGB, RAR, queue-carried IPIs: src/engine/hwInval.ts). */
  readonly hw: HwInvalQueue;
  /** Host latency of every queue request this CPU posted (INVLPGB + TLBSYNC, RAR), microseconds. */
  readonly hwRoundUs: number[] = [];
  readonly pages: number;
  /** Page slots of the machine (every mm's pages): lastStore's stride. */
  private readonly slots: number;
  readonly W: number;
  readonly isX86: boolean;
  prng: Prng = new Prng(1);
  readonly ipiRoundUs: number[] = [];
  /** Per round sent: its target count (the cost model's input; see CpuRunStats). */
  readonly ipiRoundTargets: number[] = [];
  /** Per round sent: pages invalidated one by one, or -1 for a full flush. */
  readonly ipiRoundPages: number[] = [];
  /** Per round sent: multicast groups (0: serial) and the largest group's size. */
  readonly ipiRoundGroups: number[] = [];
  readonly ipiRoundMaxGroup: number[] = [];
  /** How this CPU's flushes reach the others (transports/): chosen once here, as Linux picks flush_tlb_multi at boot. */
  readonly flushTransport: FlushTransport;
  /** cpu_tlbstate: loaded mm, its ASID, and the generation each ASID's entries reflect (private to this CPU). */
  readonly tlbState: CpuTlbState;
  /** `--page-walk-cache`: this CPU's paging-structure cache (src/engine/pageWalkCache.ts); null when off. */
  readonly pwc: PageWalkCache | null;
  /**
   * `--irq-off`: interrupts are disabled (local_irq_disable) between accesses
   * of the workload: `tick` leaves flush IPIs pending (hardware invalidations
   * are still applied). Blocking waits always handle IPIs (as the kernel never
   * waits for another CPU with interrupts off).
   */
  private irqsOff = false;
  /** Sender of the last IPI handled by the current `tick` (free mode: see stepAsideDuringShootdown), or -1. */
  private lastIpiSender = -1;
  /** Round of that IPI (the sender's C_ROUND while that round is in flight). */
  private lastIpiRound = 0;
  /** Why this CPU aborted the run, when it was the one that noticed. */
  timeoutMessage: string | undefined;

  /** Free mode: run tokens, the quantum, loans and stepping aside (src/engine/freeModeQuantum.ts); null when seeded. */
  private readonly hostSched: HostSched | null;
  private readonly seeded: SeededScheduler | null;
  private readonly cBase: number;
  private readonly counters: Float64Array;
  private doorbellSnapshot = 0;
  private pollCountdown: number;
  private readonly stopsAcking: boolean;
  /** `--trace`: this CPU's ring of events (null: not tracing). Only this CPU writes it. */
  readonly trace: TraceRing | null;
  /** The trace clock (host us since the run began, or seeded steps). */
  readonly clock: TraceClock;
  /** Tracing: when each page this CPU unmapped had its PTE cleared (page slot -> ts), until its flush is acknowledged. */
  readonly unmapStarts = new Map<number, number>();

  /** Test hook (`faultKind: 'crash-in-ipi'`): the thread exits while handling its first IPI, before acknowledging it. */
  private readonly crashesInIpi: boolean;
  /** Test hook (`faultKind: 'crash'`): slow-path ticks left before this CPU's thread exits abruptly. */
  private crashCountdown: number;

  constructor(init: CpuInit) {
    const c = init.config;
    this.id = init.id;
    this.config = c;
    this.v = viewMachine(init.buffers);
    registerFootprintViews(this.v); // explore --por on: reads of shared words are noted against these buffers
    this.program = new ProgramState(this.v.global);
    this.pages = c.pages;
    this.W = wordsPerPage(c);
    // arm64 keeps x86's clean-to-dirty rule: hardware DBM sets the dirty bit in the PTE atomically and faults if it is invalid.
    this.isX86 = c.arch === 'x86' || c.arch === 'arm64';
    const tlbLen = tlbWords(c);
    // Debug: every TLB write is checked to run on this CPU's own thread (only the owner writes its TLB).
    if (c.debug) setTlbThreadOwner(this.id);
    this.tlb = new Tlb(this.v.tlb.subarray(this.id * tlbLen, (this.id + 1) * tlbLen), c.tlbSets, c.tlbWays, c.pages, c.debug ? this.id : -1);
    this.flushTransport = chooseFlushTransport(c);
    this.tlbState = new CpuTlbState(this);
    this.slots = pageSlots(c);
    this.mem = new PhysicalMemory(this.v, { pages: pageSlots(c), frames: frameCount(pageSlots(c)), wordsPerPage: this.W }, c.debug);
    this.ipi = new IpiDelivery(this.id, this.v.cpuCtl, this.v.ackBits, c.cpus, init.outPorts, init.inPorts, c.sched === 'free');
    this.hw = new HwInvalQueue(this.id, this.v.cpuCtl, this.v.hwSlots, this.v.hwPendBits, c.cpus, c.sched === 'free');
    if (c.protocol === 'luf') this.mem.lufBeforeReuse = (_f, gen) => lufFlushBeforeReuse(this, gen);
    this.hostSched = c.sched === 'free' ? new HostSched(this, new RunTokens(this.id, c.cpus, this.v.global, this.v.cpuCtl)) : null;
    // Seeded: the predicted next CPU spins for the turn only when every CPU thread has a host core (runTokens counts the cores
    // this machine may use: a 3-CPU machine spinning that way on 2 cores made steps 1.3-3x slower than sleeping); with two
    // cores or more, one waiter spins as the machine's standby instead (src/engine/scheduler.ts, `standBy`).
    this.seeded = c.sched === 'seeded' ? new SeededScheduler(this.id, c.cpus, this.v.global, this.v.cpuCtl, c.maxSeededSteps, this.v, schedAgents(c), c.runTokens >= c.cpus, c.runTokens >= 2) : null;
    if (this.seeded && this.seeded.mmu >= 0) this.seeded.onMmuTurn = () => this.mmuStep();
    this.cBase = this.id * COUNTER_WORDS;
    this.counters = this.v.counters;
    this.pwc = c.pageWalkCache ? new PageWalkCache() : null;
    this.mmu = new Mmu({
      id: this.id,
      v: this.v,
      tlb: this.tlb,
      mem: this.mem,
      pages: this.pages,
      W: this.W,
      slots: this.slots,
      isX86: this.isX86,
      tlbState: this.tlbState,
      counters: this.counters,
      cBase: this.cBase,
      pwc: this.pwc,
      handleMmFault: (mm, vpn, write) => this.handleMmFault(mm, vpn, write),
    });
    this.pollCountdown = c.doorbellPollInterval;
    this.stopsAcking = c.faultKind === 'stop-acking' && c.faultCpu === this.id;
    this.crashesInIpi = c.faultKind === 'crash-in-ipi' && c.faultCpu === this.id;
    this.clock = new TraceClock(c.sched === 'seeded', () => schedSteps(this.v.global));
    this.trace = c.traceEvents > 0 ? new TraceRing(c.traceEvents) : null;
    if (this.trace) {
      const ring = this.trace;
      setRaceTraceHook((kind, _cpu, page, value, frame, op) => ring.push({ k: 'race', ts: this.clock.now(), kind, page, value, frame, op }));
    }
    this.crashCountdown = c.faultKind === 'crash' && c.faultCpu === this.id ? CRASH_AFTER_POLLS : -1;
  }

  // -------------------------------------------------------------------------
  // Run lifecycle
  // -------------------------------------------------------------------------

  /** Reset per-run state and wait to be allowed to run. Returns false if the run ended before this CPU got a turn. */
  beginRun(seed: number, traceEpochMs = 0): boolean {
    this.tlb.reset();
    syncFootprints(this.v);
    this.trace?.clear();
    this.unmapStarts.clear();
    this.clock.start(traceEpochMs);
    this.mmu.beginRun();
    this.ipi.beginRun();
    this.hw.beginRun();
    this.ipiRoundUs.length = 0;
    this.ipiRoundTargets.length = 0;
    this.ipiRoundPages.length = 0;
    this.ipiRoundGroups.length = 0;
    this.ipiRoundMaxGroup.length = 0;
    this.hwRoundUs.length = 0;
    this.tlbState.reset();
    this.pwc?.reset();
    this.prng = new Prng(deriveSeed(seed, this.id));
    this.doorbellSnapshot = doorbell(this.v.cpuCtl, this.id);
    this.pollCountdown = this.config.doorbellPollInterval;
    if (this.seeded) {
      this.seeded.started();
      return this.seeded.waitTurn(this);
    }
    this.hostSched!.beginRun();
    return true;
  }

  /** The workload is done on this CPU: give up the CPU and keep handling IPIs until every CPU is done. */
  finishWorkload(): void {
    const g = this.v.global;
    if (this.seeded) {
      this.seeded.retire();
      for (;;) {
        this.serviceIpis();
        if (this.seeded.yieldTurn(true) < 0) this.abortRun(ABORT_SEEDED_STEPS);
        if (this.seeded.holdsTurn()) continue;
        if (!this.seeded.waitTurn(this)) return;
      }
    }
    this.hostSched!.releaseTokenIfHeld();
    if (finishWorkload(g) === this.config.cpus) {
      markRunDone(g);
      for (let c = 0; c < this.config.cpus; c++) ringDoorbell(this.v.cpuCtl, c);
    }
    for (;;) {
      // Snapshot the doorbell (serviceIpis does) before looking at the run-done
      // flag: whoever sets the flag rings afterwards, so the wait below returns
      // at once instead of sleeping out IDLE_WAIT_MS.
      this.serviceIpis();
      if (runDone(g)) break;
      this.checkAbort();
      if (waitDoorbell(this.v.cpuCtl, this.id, this.doorbellSnapshot, IDLE_WAIT_MS) === 'timed-out' && runDone(g)) {
        this.countSafetyNetWakeup();
      }
    }
  }

  /** Mark the whole run aborted (everyone stops at their next poll) and unwind this CPU. */
  abortRun(reason: number, failedCpu = -1): never {
    raiseAbort(this.v.global, this.v.cpuCtl, this.config.cpus, reason, failedCpu);
    throw new SimAbort(`run aborted (reason ${reason})`);
  }

  /** Give back the run token if held (after an abort). */
  releaseTokenIfHeld(): void {
    this.hostSched?.releaseTokenIfHeld();
  }

  // -------------------------------------------------------------------------
  // Scheduling
  // -------------------------------------------------------------------------

  /**
   * Called by workloads once per access. Free mode: poll the doorbell every
   * `doorbellPollInterval` accesses and pass the run token on every `quantum`.
   * Seeded mode: every access is one scheduler step.
   */
  tick(): void {
    if (this.irqsOff) {
      this.tickIrqsOff();
      return;
    }
    if (this.seeded) {
      this.schedPoint();
      return;
    }
    if (--this.pollCountdown > 0) return;
    this.pollCountdown = this.config.doorbellPollInterval;
    if (this.crashCountdown >= 0 && --this.crashCountdown < 0) process.exit(CRASH_EXIT_CODE);
    if (doorbell(this.v.cpuCtl, this.id) !== this.doorbellSnapshot) {
      // Only an IPI handled right here counts: one handled earlier while blocked
      // (or a doorbell rung for a token grant or an unlock) must not make this
      // CPU step aside for a round whose IPI it has not received yet.
      this.lastIpiSender = -1;
      this.serviceIpis();
      // A borrower that just took its lender's interrupt steps aside like any
      // target; when the round is over the lender asks for its token back and
      // the check below returns it at once.
      if (this.lastIpiSender >= 0) this.stepAsideDuringShootdown(this.lastIpiSender, this.lastIpiRound);
    }
    this.checkAbort();
    this.hostSched!.afterPoll(this.config.doorbellPollInterval);
  }

  /**
   * `tick` with interrupts disabled: the MMU still applies INVLPGB/RAR
   * invalidations; flush IPIs stay pending until `setIrqsOff(false)`. Free
   * mode polls as usual (the doorbell snapshot is left alone, so the next
   * enabled poll sees the ring) and applies them here; seeded mode takes its
   * scheduler step, and its MMU agent applies them at a step of its own.
   */
  private tickIrqsOff(): void {
    if (this.seeded) {
      const steps = this.seeded.yieldTurn();
      if (steps < 0) this.abortRun(ABORT_SEEDED_STEPS);
      if (!this.seeded.holdsTurn() && !this.seeded.waitTurn(this)) throw new SimAbort('seeded run ended while this CPU still had work');
    } else {
      if (--this.pollCountdown > 0) return;
      this.pollCountdown = this.config.doorbellPollInterval;
      this.checkAbort();
    }
    if (!this.seeded && this.hw.pending('hardware') > 0) this.count('hw_applied_irqs_off', this.hw.drain((req, sender) => applyHwRequest(this, req, sender), 'hardware'));
    if (this.ipi.pending() > 0 || this.hw.pending('interrupts') > 0) this.count('irq_off_ipi_delays');
  }

  /** local_irq_disable() / local_irq_enable() between accesses (`--irq-off`); enabling delivers pending IPIs at once. */
  setIrqsOff(off: boolean): void {
    this.irqsOff = off;
    if (!off) this.serviceIpis();
  }

  /**
   * A point where another CPU may run (protocol steps, waits). Seeded mode:
   * the scheduler picks the next CPU; free mode: handle IPIs and check for abort.
   */
  schedPoint(blocked = false, afterIrq = false): void {
    if (this.crashCountdown >= 0 && --this.crashCountdown < 0) process.exit(CRASH_EXIT_CODE);
    if (this.seeded) {
      const steps = this.seeded.yieldTurn(blocked, afterIrq);
      if (steps < 0) this.abortRun(ABORT_SEEDED_STEPS);
      if (!this.seeded.holdsTurn() && !this.seeded.waitTurn(this)) {
        throw new SimAbort('seeded run ended while this CPU still had work');
      }
      const interrupted = this.config.ipiStep && this.ipi.pending() > 0;
      this.serviceIpis();
      if (interrupted) this.schedPoint(false, true); // --ipi-step: the interrupt was this step
      return;
    }
    this.serviceIpis();
    this.checkAbort();
  }

  /**
   * Sleep (handling IPIs, without a run token) until `tryTake()` succeeds on
   * the lock tagged `tag`; every unlock of that lock rings this CPU. With
   * `resumeToken` false a CPU that gave its run token up to sleep does not
   * wait for it again here: the caller finishes its short critical section
   * first and calls `resumeRunning()` after unlocking (the fault path).
   */
  sleepLock(tag: number, tryTake: () => boolean, resumeToken = true, owner: () => number = () => -1): void {
    if (tryTake()) return;
    if (this.hostSched?.holdsToken()) {
      // The holder is in the middle of a shootdown (ptep_clear_flush under the
      // PTE lock, a flush under the page lock): step aside with the token until
      // its round completes, as a target does, instead of handing the token to
      // the next CPU, which would only run into the same lock. Bounded: it
      // gives the token up below if the lock is still held after the round.
      // Only once this CPU has acknowledged that round: asleep on the holder's
      // ack word it would not see the round's own IPI on its doorbell.
      const o = owner();
      if (o >= 0 && o !== this.id) {
        this.serviceIpis();
        const round = ipiRound(this.v.cpuCtl, o);
        if (ackPending(this.v.cpuCtl, o) > 0 && this.ipi.hasAcked(o)) {
          this.stepAsideDuringShootdown(o, round);
          if (tryTake()) return;
        }
      }
    }
    setWaitLock(this.v.cpuCtl, this.id, tag);
    addLockWaiter(this.v.global, 1);
    try {
      this.blockUntil(tryTake, LOCK_WAIT_MS, resumeToken, true);
    } finally {
      setWaitLock(this.v.cpuCtl, this.id, 0);
      addLockWaiter(this.v.global, -1);
    }
  }

  /** lock_page() of page-state index `idx` (see `sleepLock` for `resumeToken`). */
  lockPage(idx: number, resumeToken = true): void {
    this.sleepLock(lockTag(LOCK_KIND_PAGE, idx), () => this.mem.trylockPage(idx, this.id), resumeToken, () => this.mem.pageLockOwner(idx));
  }

  /** Index of the PTE lock covering page `vpn` of `mm` (one per page-table page). */
  ptlIdx(mm: number, vpn: number): number {
    return mm * ptlCount(this.pages) + Math.floor(vpn / PTRS_PER_PTE);
  }

  /** pte_offset_map_lock(): take the split PTE lock of the page table holding `vpn`. */
  lockPtl(mm: number, vpn: number, resumeToken = true): void {
    const i = this.ptlIdx(mm, vpn);
    this.sleepLock(lockTag(LOCK_KIND_PTL, i), () => mutexTryLock(this.v.ptl, i, this.id), resumeToken, () => mutexOwner(this.v.ptl, i));
  }

  /** pte_unmap_unlock(). */
  unlockPtl(mm: number, vpn: number): void {
    const i = this.ptlIdx(mm, vpn);
    mutexUnlock(this.v, this.v.ptl, i, lockTag(LOCK_KIND_PTL, i));
  }

  /** mmap_read_lock() / mmap_write_lock() (see `sleepLock` for `resumeToken`). */
  mmapLock(mm: number, write: boolean, resumeToken = true): void {
    const i = mmapLockWord(this.config.cpus, mm);
    const words = this.v.mm;
    this.sleepLock(lockTag(LOCK_KIND_MMAP, mm), write ? () => rwsemTryWrite(words, i) : () => rwsemTryRead(words, i), resumeToken);
  }

  /** mmap_read_unlock() / mmap_write_unlock(). */
  mmapUnlock(mm: number, write: boolean): void {
    const i = mmapLockWord(this.config.cpus, mm);
    if (write) rwsemUpWrite(this.v, this.v.mm, i, lockTag(LOCK_KIND_MMAP, mm));
    else rwsemUpRead(this.v, this.v.mm, i, lockTag(LOCK_KIND_MMAP, mm));
  }

  /**
   * Block until `cond()` holds, handling IPIs; gives the run token back
   * meanwhile. `rung`: whoever makes `cond` true rings this CPU, so a sleep
   * that times out with `cond` already true and no ring is counted
   * (`safety_net_wakeups`).
   */
  blockUntil(cond: () => boolean, recheckMs = BLOCK_RECHECK_MS, resumeToken = true, rung = false): void {
    if (cond()) return;
    if (this.seeded) {
      while (!cond()) this.schedPoint(true);
      return;
    }
    const hadToken = this.hostSched!.beginBlock();
    for (;;) {
      this.serviceIpis();
      if (cond()) break;
      this.checkAbort();
      if (waitDoorbell(this.v.cpuCtl, this.id, this.doorbellSnapshot, recheckMs) === 'timed-out' && rung && cond()) {
        this.countSafetyNetWakeup();
        break;
      }
    }
    this.hostSched!.endBlock(hadToken, resumeToken);
  }

  /** Take back the run token given up by a `blockUntil(..., resumeToken = false)`. */
  resumeRunning(): void {
    this.hostSched?.resumeRunning();
  }

  // IpiWaitHost -------------------------------------------------------------

  /**
   * Seeded mode, a machine with MMU agents (`--arch arm64`, `--transport
   * invlpgb` / `rar`): this CPU's MMU agent holds the turn. It applies the
   * TLBIs (src/kernel/arm64Tlbi.ts) or INVLPGB/RAR requests
   * (src/engine/hwInval.ts) posted to this CPU and yields: a step of its own,
   * so a schedule may delay it past this CPU's accesses. With interrupts
   * disabled on the CPU it applies them all the same (`hw_applied_irqs_off`).
   */
  private mmuStep(): void {
    if (this.v.tlbi.length > 0) applyPendingTlbis(this);
    if (this.hw.pending('hardware') > 0) {
      const n = this.hw.drain((req, sender) => applyHwRequest(this, req, sender), 'hardware');
      if (this.irqsOff) this.count('hw_applied_irqs_off', n);
    }
    if (this.seeded!.yieldTurn(false, false, this.seeded!.mmu) < 0) this.abortRun(ABORT_SEEDED_STEPS);
  }

  /** Handle every pending IPI (flush own TLB, acknowledge). */
  serviceIpis(): void {
    this.doorbellSnapshot = doorbell(this.v.cpuCtl, this.id);
    if (this.stopsAcking) return; // test hook: a CPU that never acknowledges
    // arm64, free mode: the MMU applies broadcast TLBIs at the doorbell poll (seeded: its own agent's step).
    if (!this.seeded && this.v.tlbi.length > 0) applyPendingTlbis(this);
    // INVLPGB/RAR: in free mode the MMU applies queued invalidations between accesses, no interrupt taken (seeded
    // with MMU agents: the agent's step does, and the CPU handles only queue-carried IPIs here).
    const which = this.seeded && this.seeded.mmu >= 0 ? 'interrupts' : 'all';
    if (this.hw.pending(which) > 0) this.hw.drain((req, sender) => applyHwRequest(this, req, sender), which);
    if (this.ipi.pending() === 0) return;
    this.ipi.drain((m) => this.handleIpi(m));
  }

  waitForEvent(ms: number): void {
    if (this.seeded) {
      this.schedPoint(true);
      return;
    }
    waitDoorbell(this.v.cpuCtl, this.id, this.doorbellSnapshot, ms);
  }

  /** The initiator is about to sleep until its round's acknowledgements are in (free mode may lend its run token: src/engine/freeModeQuantum.ts). */
  beginAckWait(targets: number): void {
    this.hostSched?.beginAckWait(targets);
  }

  /** The round is complete: take a run token back if this CPU lent its own. */
  endAckWait(): void {
    this.hostSched?.endAckWait();
  }

  checkAbort(): void {
    if (abortReason(this.v.global) !== 0) throw new SimAbort('run aborted');
  }

  /** Free mode: step aside until `sender`'s round `round` completes (src/engine/freeModeQuantum.ts). */
  private stepAsideDuringShootdown(sender: number, round: number): void {
    this.lastIpiSender = -1;
    this.hostSched!.stepAsideDuringShootdown(sender, round);
  }

  /** The control words of every CPU (HostSchedHost). */
  get cpuCtl(): Int32Array {
    return this.v.cpuCtl;
  }

  /** Handle IPIs if the doorbell rang since the last `serviceIpis`; forget the last IPI's sender (HostSchedHost). */
  serviceIpisIfRung(): void {
    if (doorbell(this.v.cpuCtl, this.id) !== this.doorbellSnapshot) this.serviceIpis();
    this.lastIpiSender = -1;
  }

  /** The flush IPI handler (a port message, or a round forwarded by a multicast group's first target). */
  handleIpi(m: IpiMessage): void {
    this.lastIpiSender = m.sender;
    this.lastIpiRound = m.round;
    this.noteEvent(LAST_EVENT_IPI, m.sender, m.round);
    if (this.crashesInIpi) process.exit(CRASH_EXIT_CODE); // test hook: die mid-IPI, before the acknowledgement
    this.count('nr_tlb_remote_flush_received');
    if (m.forward && m.forward.length > 0) {
      // `--ipi-fanout tree`: this CPU is its group's first target: forward to the rest first (as Barrelfish's multicast does).
      this.hw.forward(m.sender, m.forward);
      this.count('ipis_sent', m.forward.length);
      this.count('ipis_forwarded', m.forward.length);
    }
    const t0 = this.trace ? this.clock.now() : 0;
    flushTlbFunc(this, m, false);
    this.trace?.push({ k: 'ipi_handle', ts: t0, dur: this.clock.now() - t0, sender: m.sender, round: m.round });
  }

  // -------------------------------------------------------------------------
  // Counters
  // -------------------------------------------------------------------------

  /** The trace clock's now (0 when not tracing: callers only use it for events they push). */
  traceNow(): number {
    return this.trace ? this.clock.now() : 0;
  }

  /** Push an event on this CPU's trace ring, if tracing. */
  traceEvent(e: TraceEvent): void {
    this.trace?.push(e);
  }

  /** Record the event this CPU is about to handle (C_LAST_EVENT: read by the coordinator if this CPU crashes). */
  noteEvent(kind: number, a: number, b: number): void {
    noteLastEvent(this.v.cpuCtl, this.id, kind, a, b);
  }

  /** Snapshot of this CPU's statistics (control plane, between runs). */
  stats(): CpuStats {
    const counters = readCpuCounters(this.counters, this.id);
    return { cpu: this.id, loadedMm: this.loadedMm, tlbOccupancy: this.tlb.occupancy(), ipiRoundUs: [...this.ipiRoundUs], counters };
  }

  /** A rung sleep timed out with its condition true: count it unless a ring did arrive (it raced the timeout). */
  private countSafetyNetWakeup(): void {
    if (doorbell(this.v.cpuCtl, this.id) === this.doorbellSnapshot) this.count('safety_net_wakeups');
  }

  count(name: CounterName, n = 1): void {
    this.counters[this.cBase + K[name]] += n;
  }

  // -------------------------------------------------------------------------
  // Address space
  // -------------------------------------------------------------------------

  /**
   * switch_mm(): load `mm` on this CPU (switch_mm_irqs_off; see tlbState.ts:
   * it publishes loaded_mm, joins mm_cpumask, reads tlb_gen, picks an ASID).
   */
  switchMm(mm: number): void {
    this.tlbState.switchMmIrqsOff(mm);
  }

  /** enter_lazy_tlb(): run a kernel thread, keeping the mm loaded; flush initiators skip this CPU from now on. */
  enterLazyTlb(): void {
    this.tlbState.enterLazyTlb();
  }

  /** `--page-walk-cache`: a speculative page walk through the cached paging-structure entry (src/engine/mmu.ts). */
  speculativeWalk(): boolean {
    return this.mmu.speculativeWalk();
  }

  /** cpu_tlbstate_shared.is_lazy of this CPU. */
  isLazy(): boolean {
    return this.tlbState.isLazy();
  }

  /** switch_mm_irqs_off() back from lazy TLB mode: one full flush if the TLB fell behind the mm's tlb_gen. */
  leaveLazyTlb(): void {
    this.tlbState.leaveLazyTlb();
  }

  /** The mm generation this CPU's TLB has caught up to for `mm` (0 if none of its ASIDs holds it). */
  localTlbGen(mm: number): number {
    return this.tlbState.localTlbGen(mm);
  }

  /** Index of (mm, vpn) in the PTE and page-state arrays. */
  pageIdx(mm: number, vpn: number): number {
    return mm * this.pages + vpn;
  }

  // -------------------------------------------------------------------------
  // The MMU (src/engine/mmu.ts) and the fault handler (src/kernel/fault.ts)
  // -------------------------------------------------------------------------

  /** mm loaded on this CPU, or -1 (kernel thread). */
  get loadedMm(): number {
    return this.tlbState.loadedMm;
  }

  /** A load by the running process. Returns the value read, or -1 if it faulted fatally (SIGSEGV). */
  load(mm: number, vpn: number): number {
    return this.mmu.load(mm, vpn);
  }

  /** A store by the running process to its own word of page `vpn`. Returns false if it faulted fatally (SIGSEGV). */
  store(mm: number, vpn: number): boolean {
    return this.mmu.store(mm, vpn);
  }

  /** handle_mm_fault() on this CPU (src/kernel/fault.ts). Returns false for SIGSEGV. */
  handleMmFault(mm: number, vpn: number, write: boolean): boolean {
    return handleMmFault(this, mm, vpn, write);
  }
}
