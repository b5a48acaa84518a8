/**
 * Host scheduling of simulated CPUs: run tokens (free mode) and the seeded
 * scheduler (replayable mode).
 *
 * Free mode (docs/design.md, "Host scheduling"): at most `runTokens` CPUs run
 * accesses at once, one per host core. A CPU runs a quantum of accesses, then
 * hands its token to the next waiting CPU in round-robin order. A CPU without
 * a token sleeps in Atomics.wait on its doorbell, so an IPI wakes it in ~10 us
 * and it handles the IPI without a token. A CPU that blocks (kernel lock,
 * barrier) gives its token back first, so blocking can never starve the CPU it
 * waits for. An IPI initiator that sleeps for acknowledgements lends its token
 * (`lend`): the borrower runs meanwhile, as the other CPUs of a real machine
 * do while the initiator spins, and hands it back (`giveBackTo`) at its next
 * doorbell poll once the initiator waits for a token again.
 *
 * Seeded mode: exactly one CPU runs at a time. At every scheduling point the
 * running CPU draws the next CPU from the scheduler's PRNG (its state lives in
 * shared memory, G_SCHED_PRNG) among the runnable CPUs, writes it to
 * G_SCHED_TURN and rings its doorbell. Because only the CPU holding the turn
 * touches shared state, a run is a pure function of the seed.
 * Hand-off speed (timing only, never a choice): a sleeping waiter costs the
 * host a futex wake-up per hand-off (~5-15 us), so when every CPU thread of
 * the machine has a host core of its own (`spinForTurn`: runTokens >= cpus)
 * the waiter the PRNG will pick next, if the runnable set does not change
 * meanwhile (`predictNext`: the next draw, computed without taking it), spins
 * on its doorbell instead of sleeping (adaptive budget, TURN_SPIN_MAX), and
 * whoever yields rings that predicted CPU awake if it sleeps, while spinning
 * pays off (its own budget is high). Every other waiter sleeps as before.
 * With a second host core but fewer cores than CPU threads (`standBy`: 2 <=
 * runTokens < cpus) one waiter at a time spins on its doorbell as the
 * machine's standby (G_SCHED_STANDBY, claimed with a CAS). A hand-off to the
 * standby costs no wake-up; one to a sleeper wakes it while the holder and
 * the standby keep both cores busy, so the host's idle cores never halt
 * between steps (on a VM, waking a thread on a halted core measured 20-40
 * us; on a busy one 4-5 us). The CPU that woke a sleeper takes the standby
 * role over (its core is the one about to idle) and the old standby sleeps.
 * At most two threads of the machine spin or run at once, the turn holder
 * and the standby, but for the few reads the old standby takes to notice.
 * Runnable = still has workload steps (C_SCHED_ACTIVE) or has IPIs or queue-carried IPIs (C_HW_PENDING) pending.
 * On a machine whose invalidations are applied by hardware (`--arch arm64`:
 * broadcast TLBIs; `--transport invlpgb` / `rar`: INVLPGB broadcasts and RAR
 * requests) the scheduler also picks among MMU agents: agent cpus + c is
 * CPU c's MMU (its invalidation hardware), runnable while TLBIs or
 * INVLPGB/RAR requests wait for it; its step runs on CPU c's thread (in
 * `waitTurn`), which applies them and yields as the agent
 * (src/kernel/arm64Tlbi.ts, src/engine/hwInval.ts). Elsewhere there are no
 * agents and nothing changes (`schedAgents`).
 *
 * Invariants:
 * - Token hand-off: a waiter first sets C_WANTS_TOKEN, then re-checks the pool;
 *   a releaser first tries to hand the token to a waiter (clearing its
 *   C_WANTS_TOKEN with a CAS, so a waiter is granted at most once), and only
 *   then returns it to the pool, re-scanning once to close the lost-wakeup
 *   window. Waits also time out (`TOKEN_WAIT_MS`) as a safety net.
 * - C_TOKEN_GRANT is GRANT_PLAIN for an ordinary hand-off and GRANT_LENT_BASE +
 *   lender for a loan; the number of tokens never changes (a loan is a
 *   hand-off that remembers where the token came from).
 * - Seeded: G_SCHED_TURN is written only by the CPU that currently holds the turn.
 */
import { mulberry32Step } from './prng.js';
import { chooseScheduled, scheduleDriven } from './forcedSchedule.js';
import { resumeHistory } from './footprint.js';
import { claimTokenWaiter, clearSchedActive, doorbell, idleDoorbell, hwPending, initSchedActive, ipiPending, ringDoorbell, schedActive, setTokenGrant, tokenGrant, wantToken, wantsToken, waitDoorbell } from './state/cpuControl.js';
import type { MachineViews } from './state/machineViews.js';
import { advanceTokenCursor, arriveSchedStarted, claimAbort, claimStandby, releaseStandby, standbyCpu, takeStandby, initSchedTurn, initSeededWords, markRunDone, returnFreeToken, runDone, schedPrng, schedTurn, setSchedPrng, setSchedTurn, takeFreeToken, takeSchedStep, tokenCursor, tokensFree } from './state/globalBlock.js';

/**
 * Safety-net timeout of a token wait: a lost wake-up costs at most this. The
 * grant path hands tokens over explicitly (and re-scans once after returning
 * a token to the pool), so a token is never left in the pool while a CPU
 * sleeps for one, and an expiry only costs a host context switch. 5 ms made
 * 254 waiting CPUs wake ~50,000 times a second at 256 CPUs for nothing; 100 ms
 * still woke each waiting CPU of a 1024-CPU reclaim 3.7 times per IPI round
 * (a round takes 60-100 ms there), against 0.26 at 1000 ms.
 */
const TOKEN_WAIT_MS = 1000;
/** C_TOKEN_GRANT of an ordinary token hand-off. */
const GRANT_PLAIN = 1;
/** C_TOKEN_GRANT of a token lent by CPU `c` is GRANT_LENT_BASE + c. */
const GRANT_LENT_BASE = 2;
/**
 * Seeded hand-off, adaptive spin: the doorbell reads a waiter predicted to run
 * next makes before it sleeps anyway. A spin that sees the ring doubles the
 * budget (up to TURN_SPIN_MAX), one that runs out halves it (below
 * TURN_SPIN_MIN it is 0: sleep at once). A read costs ~5-10 ns, a seeded step
 * 1-20 us: on a 2-core host with its cores free the spins succeed and the
 * budget stays near the top (~100 us); on a host whose cores are taken
 * (measured: load 10-20 on 2 cores, other processes) the turn holder and the
 * spinner share one core, every spin runs out, and a fixed 20,000-read spin
 * made steps 10x slower than sleeping: halving stops the waste within a few
 * hand-offs.
 */
const TURN_SPIN_MAX = 16_384;
/**
 * The standby's spin counts as preempted (and halves its budget, as a spin
 * that runs out does) when two of its clock reads were further apart than
 * STANDBY_READ_NS_MAX ns per doorbell read between them plus
 * STANDBY_PREEMPT_SLACK_NS. A read costs 3-30 ns on the
 * 2-core host; a preemption costs a scheduler slice (ms). Under load (two
 * CPU hogs on the 2-core host) a standby that was never preempted-checked
 * made steps 1.2-2.4x slower than sleeping, since the ring still came within
 * the budget, only late.
 */
const STANDBY_READ_NS_MAX = 100;
/** See STANDBY_READ_NS_MAX: timer resolution and one cache miss per read are no preemption. */
const STANDBY_PREEMPT_SLACK_NS = 50_000;
/**
 * The standby's spin budget is time, not reads (a doorbell read costs 3 ns
 * or 30 depending on the host and on whether explore notes reads): at most
 * STANDBY_MAX_US, doubled by a ring, halved by a spin that runs out or was
 * preempted, 0 below STANDBY_MIN_US (sleep at once, with a STANDBY_PROBE_US
 * probe every TURN_SPIN_PROBE_EVERY-th wait). 200 us covers a few steps and
 * the hand-offs between them; on the 2-core VM (seeded step, unmap-window,
 * alternating runs) 200 us gave 9.5-11.6 us a step against 12.4-15.2 at
 * 100 us and 11.8-12.6 at 400 us.
 */
const STANDBY_MAX_US = 200;
/** See STANDBY_MAX_US. */
const STANDBY_MIN_US = STANDBY_MAX_US / 64;
/** See STANDBY_MAX_US. */
const STANDBY_PROBE_US = STANDBY_MAX_US / 4;
/** The standby reads the clock (and whether it is still the standby) every this many doorbell reads. */
const STANDBY_CLOCK_EVERY = 64;
/** Below this budget (reads) a waiter sleeps at once, and a yielding CPU does not ring the predicted one awake. */
const TURN_SPIN_MIN = 256;
/**
 * A waiter whose budget fell to 0 still spins a probe of TURN_SPIN_PROBE reads
 * (~60 us at the ~15 ns a read measured on a busy 2-core host) on every
 * TURN_SPIN_PROBE_EVERY-th wait, so a host whose cores came free is noticed
 * again within a few ms (256 hand-offs): under load the probes cost ~0.25 us
 * per hand-off on average, about 2% of a sleeping one.
 */
const TURN_SPIN_PROBE = 4_096;
/** See TURN_SPIN_PROBE. */
const TURN_SPIN_PROBE_EVERY = 256;
/** A spinning waiter re-checks that it is still the predicted next CPU every this many reads (the turn holder may have kept the turn, moving the PRNG). */
const TURN_SPIN_RECHECK = 256;
/** Safety-net timeout of a seeded turn wait: every hand-off rings the new turn holder, so an expiry only bounds a lost wake-up. */
const TURN_WAIT_MS = 50;
/** Value of G_SCHED_TURN when no CPU may run (seeded run finished). */
const TURN_NONE = -1;
/** Value of G_SCHED_TURN before a schedule-driven run's first choice (not every CPU has started yet). */
const TURN_PENDING = -2;

/** Ring CPU `c`'s doorbell (src/engine/state/cpuControl.ts), re-exported for the programs that wake each other. */
export { ringDoorbell };

/**
 * Abort the run: the first caller's `reason` wins (with `failedCpu`, if known,
 * recorded in G_FAIL_CPU), then every CPU's doorbell is rung so sleepers see it.
 * Used by a CPU that hits a timeout or an invariant and by the coordinator.
 */
export function raiseAbort(global: Int32Array, cpuCtl: Int32Array, cpus: number, reason: number, failedCpu = -1): void {
  claimAbort(global, reason, failedCpu);
  for (let c = 0; c < cpus; c++) ringDoorbell(cpuCtl, c);
}

/** What a waiting CPU does while it waits. */
export interface WaitHooks {
  /** Handle pending IPIs. */
  serviceIpis(): void;
  /** Throw if the run was aborted. */
  checkAbort(): void;
}

export class RunTokens {
  constructor(
    private readonly me: number,
    private readonly cpus: number,
    private readonly global: Int32Array,
    private readonly cpuCtl: Int32Array,
  ) {}

  /**
   * Take a run token, sleeping on the doorbell (and handling IPIs) until one is
   * free or granted. Returns the lender if the token is on loan, else -1.
   */
  acquire(hooks: WaitHooks): number {
    const g = this.global;
    const ctl = this.cpuCtl;
    const me = this.me;
    for (;;) {
      const t = tokensFree(g);
      if (t > 0 && takeFreeToken(g, t)) return -1;
      wantToken(ctl, me);
      if (tokensFree(g) > 0) {
        if (claimTokenWaiter(ctl, me)) continue; // withdrew: retry the pool
        // else a releaser already picked us: wait for its grant below
      }
      for (;;) {
        const seen = doorbell(ctl, me);
        const grant = tokenGrant(ctl, me);
        if (grant !== 0) {
          setTokenGrant(ctl, me, 0);
          return grant >= GRANT_LENT_BASE ? grant - GRANT_LENT_BASE : -1;
        }
        hooks.serviceIpis();
        hooks.checkAbort();
        if (tokenGrant(ctl, me) !== 0) continue;
        if (waitDoorbell(ctl, me, seen, TOKEN_WAIT_MS) === 'timed-out') {
          // Safety net: a token sits in the pool and nobody granted it to us.
          if (tokensFree(g) > 0 && claimTokenWaiter(ctl, me)) break;
        }
      }
    }
  }

  /** Hand the token to the next waiting CPU (round-robin), or return it to the pool. */
  release(): void {
    if (this.grantToWaiter()) return;
    returnFreeToken(this.global);
    // A CPU may have registered after our scan and seen an empty pool: give it the token now.
    const c = this.findWaiter();
    if (c < 0) return;
    const t = tokensFree(this.global);
    if (t > 0 && takeFreeToken(this.global, t)) {
      if (claimTokenWaiter(this.cpuCtl, c)) {
        setTokenGrant(this.cpuCtl, c, GRANT_PLAIN);
        ringDoorbell(this.cpuCtl, c);
      } else {
        returnFreeToken(this.global);
      }
    }
  }

  /**
   * Lend this CPU's token to the next waiting CPU (round-robin). Returns false,
   * keeping the token, if nobody waits.
   */
  lend(): boolean {
    return this.grantToWaiter(GRANT_LENT_BASE + this.me);
  }

  /**
   * A borrower returns its token to `lender` if the lender is waiting for one.
   * Returns false (the borrower keeps the token) if it is not waiting yet.
   */
  giveBackTo(lender: number): boolean {
    if (!wantsToken(this.cpuCtl, lender) || !claimTokenWaiter(this.cpuCtl, lender)) return false;
    setTokenGrant(this.cpuCtl, lender, GRANT_PLAIN);
    ringDoorbell(this.cpuCtl, lender);
    return true;
  }

  /**
   * A borrower is done with a lent token: hand it to the lender if it waits,
   * else put it in the pool for the lender to take (never to another waiter:
   * that would turn one loan into a chain of running CPUs).
   */
  returnLoan(lender: number): void {
    if (!this.giveBackTo(lender)) returnFreeToken(this.global);
  }

  /** True if any other CPU waits for a token (cheap enough once per quantum). */
  someoneWaits(): boolean {
    return this.findWaiter() >= 0;
  }

  private findWaiter(): number {
    const n = this.cpus;
    const start = (tokenCursor(this.global) >>> 0) % n;
    for (let i = 0; i < n; i++) {
      const c = (start + i) % n;
      if (c !== this.me && wantsToken(this.cpuCtl, c)) return c;
    }
    return -1;
  }

  private grantToWaiter(grant = GRANT_PLAIN): boolean {
    const n = this.cpus;
    const start = (advanceTokenCursor(this.global) >>> 0) % n;
    for (let i = 0; i < n; i++) {
      const c = (start + i) % n;
      if (c === this.me) continue;
      if (wantsToken(this.cpuCtl, c) && claimTokenWaiter(this.cpuCtl, c)) {
        setTokenGrant(this.cpuCtl, c, grant);
        ringDoorbell(this.cpuCtl, c);
        return true;
      }
    }
    return false;
  }
}

/**
 * Seeded scheduler state set up by the coordinator before a run. With a
 * schedule-driven run (`initSchedule` done first), the first CPU is choice point 0.
 */
export function initSeededScheduler(global: Int32Array, cpuCtl: Int32Array, cpus: number, seed: number, views?: MachineViews, agents = cpus): void {
  for (let c = 0; c < cpus; c++) initSchedActive(cpuCtl, c);
  initSeededWords(global, seed);
  // A schedule-driven run hashes every CPU's TLB at each choice: its first choice waits until all have reset theirs (SeededScheduler.started).
  initSchedTurn(global, views && scheduleDriven(views.sched) ? TURN_PENDING : pickRunnable(global, cpuCtl, cpus, agents, views?.tlbi));
}

/** Draw the next agent to run among the runnable ones; TURN_NONE if none is. Caller holds the turn. */
function pickRunnable(global: Int32Array, cpuCtl: Int32Array, cpus: number, agents: number, tlbi?: Int32Array): number {
  return drawRunnable(global, cpuCtl, cpus, agents, tlbi, true);
}

/**
 * The agent the next draw would pick if the runnable set stays as it is now,
 * without taking the draw (any thread may call it; it writes nothing). Only
 * decides who spins for the turn, never who gets it.
 */
function predictNext(global: Int32Array, cpuCtl: Int32Array, cpus: number, agents: number, tlbi?: Int32Array): number {
  return drawRunnable(global, cpuCtl, cpus, agents, tlbi, false);
}

/** pickRunnable's draw; `take` stores the PRNG's new state (only the turn holder may). */
function drawRunnable(global: Int32Array, cpuCtl: Int32Array, cpus: number, agents: number, tlbi: Int32Array | undefined, take: boolean): number {
  let runnable = 0;
  for (let c = 0; c < agents; c++) if (isRunnable(cpuCtl, c, cpus, tlbi)) runnable++;
  if (runnable === 0) return TURN_NONE;
  const [s, r] = mulberry32Step(schedPrng(global));
  if (take) setSchedPrng(global, s);
  let k = r % runnable;
  for (let c = 0; c < agents; c++) {
    if (!isRunnable(cpuCtl, c, cpus, tlbi)) continue;
    if (k-- === 0) return c;
  }
  return TURN_NONE;
}

function isRunnable(cpuCtl: Int32Array, c: number, cpus: number, tlbi?: Int32Array): boolean {
  // An MMU agent: TLBIs (word c - cpus of `tlbi` is that CPU's pending count) or INVLPGB/RAR requests wait for its CPU.
  if (c >= cpus) return (tlbi !== undefined && tlbi.length > 0 && Atomics.load(tlbi, c - cpus) > 0) || hwPending(cpuCtl, c - cpus, true) > 0;
  // The CPU itself: its workload, or interrupts (port IPIs, queue-carried IPIs) to handle.
  return schedActive(cpuCtl, c) || ipiPending(cpuCtl, c) > 0 || hwPending(cpuCtl, c, false) > 0;
}

export class SeededScheduler {
  /** `--arch arm64`: the TLBI buffer (its first words are each CPU's pending count); undefined otherwise. */
  private readonly tlbi: Int32Array | undefined;
  /** This CPU's MMU agent (cpus + me) on a machine with agents (`schedAgents`), else -1. */
  private readonly mmuAgent: number;
  /** The host lets the predicted next CPU spin for its turn (runTokens >= cpus). */
  private readonly spinForTurn: boolean;
  /**
   * This run spins (bounded) for the turn when predicted to run next,
   * instead of sleeping at once: PRNG-seeded runs only (the prediction is the
   * PRNG's next draw). Set at every run's start (`started`), because a
   * machine booted PRNG-seeded also runs schedule-driven runs (explore,
   * `--replay`): spinning there read the runnable words at timing-dependent
   * moments, inside a step, and made `--stateful` keys differ from run to run.
   */
  private spin = false;
  /** Current spin budget, reads (adaptive, see TURN_SPIN_MAX). Thread-local. */
  private spinBudget = TURN_SPIN_MAX;
  /** Waits since the last probe while the budget is 0 (see TURN_SPIN_PROBE). */
  private waitsSinceProbe = 0;
  /** The host has a second core for one spinning waiter (runTokens >= 2); see `standBy`. */
  private readonly standbyHost: boolean;
  /** This run keeps a standby spinner (standbyHost, and no predicted spin). Set at every run's start. */
  private standby = false;
  /** The standby's spin budget, us (adaptive, see STANDBY_MAX_US). Thread-local. */
  private standbyBudgetUs = STANDBY_MAX_US;
  /** Waits since the last standby probe while its budget is 0. */
  private standbyWaitsSinceProbe = 0;
  /**
   * This CPU just handed the turn to a sleeping CPU: its next wait takes the
   * standby role over instead of sleeping (its core is the one about to
   * idle; the old standby sees the change and sleeps).
   */
  private takeOver = false;
  /**
   * The MMU agent's step, run on this CPU's thread when the scheduler picks
   * the agent: apply the pending TLBIs / INVLPGB / RAR requests, then yield
   * as the agent (`yieldTurn(false, false, mmuAgent)`).
   */
  onMmuTurn: (() => void) | null = null;

  constructor(
    private readonly me: number,
    private readonly cpus: number,
    private readonly global: Int32Array,
    private readonly cpuCtl: Int32Array,
    private readonly maxSteps: number,
    /** The machine's views: a schedule-driven run reads its schedule and hashes the state through them. */
    private readonly views: MachineViews | null = null,
    /** Schedulable agents (`schedAgents`): `cpus`, or 2 * cpus with MMU agents. */
    private readonly agents = cpus,
    /**
     * Every CPU thread of the machine has a host core (runTokens >= cpus):
     * the predicted next CPU spins for its turn instead of sleeping (see the
     * header). PRNG-seeded runs only: a schedule-driven run never spins on a
     * prediction (it may still keep a standby, below).
     */
    spinForTurn = false,
    /** The host has a second core (runTokens >= 2): one waiter may spin as the standby (see `standBy`). */
    standbyHost = false,
  ) {
    this.spinForTurn = spinForTurn;
    this.standbyHost = standbyHost;
    this.spin = spinForTurn && (views === null || !scheduleDriven(views.sched));
    this.standby = standbyHost && !this.spin;
    this.tlbi = views !== null && views.tlbi.length > 0 ? views.tlbi : undefined;
    this.mmuAgent = agents > cpus ? cpus + me : -1;
  }

  /** This CPU's MMU agent id (a machine with agents), or -1. */
  get mmu(): number {
    return this.mmuAgent;
  }

  /**
   * This CPU has reset its run state (its TLB above all). In a
   * schedule-driven run the last CPU to start makes choice point 0 (every
   * other CPU only waits for its turn meanwhile) and hands out the turn.
   */
  started(): void {
    const v = this.views;
    this.spin = this.spinForTurn && (v === null || !scheduleDriven(v.sched));
    this.standby = this.standbyHost && !this.spin;
    this.takeOver = false;
    const n = arriveSchedStarted(this.global);
    if (n !== this.cpus || !v || !scheduleDriven(v.sched)) return;
    const first = chooseScheduled(v.sched, v, this.cpus, -1, false, 0, (c) => isRunnable(this.cpuCtl, c, this.cpus, this.tlbi), false, this.agents);
    setSchedTurn(this.global, first);
    if (first === TURN_NONE) {
      markRunDone(this.global);
      for (let c = 0; c < this.cpus; c++) ringDoorbell(this.cpuCtl, c);
      return;
    }
    // Only the chosen agent's thread has anything to do: the others keep sleeping until a hand-off rings them
    // (ringing them all cost every explored schedule up to cpus - 1 futex wake-ups for nothing).
    const holder = first >= this.cpus ? first - this.cpus : first;
    if (holder !== this.me) ringDoorbell(this.cpuCtl, holder);
  }

  /** True while this CPU (not its MMU agent) holds the turn; the caller then runs its step (explore --stateful: its reads are folded from here). */
  holdsTurn(): boolean {
    if (schedTurn(this.global) !== this.me) return false;
    // The turn came back (maybe already, from a step another CPU took meanwhile): this CPU's next step starts here.
    resumeHistory();
    return true;
  }

  /** Sleep until this CPU holds the turn or the run is over. Returns false if the run is over. */
  waitTurn(hooks: Pick<WaitHooks, 'checkAbort'>): boolean {
    const g = this.global;
    for (;;) {
      const seen = doorbell(this.cpuCtl, this.me);
      const turn = schedTurn(g);
      if (turn === this.me) {
        resumeHistory(); // explore --stateful: this thread's step starts (src/engine/footprint.ts)
        return true;
      }
      if (turn === this.mmuAgent && this.mmuAgent >= 0 && this.onMmuTurn) {
        resumeHistory();
        this.onMmuTurn(); // this CPU's MMU applies its TLBIs and yields the turn
        continue;
      }
      if (runDone(g)) return false;
      hooks.checkAbort();
      if (this.spin ? this.spinForRing(seen) : this.standby && this.standBy(seen)) continue;
      waitDoorbell(this.cpuCtl, this.me, seen, TURN_WAIT_MS);
    }
  }

  /** This CPU's thread runs the agent the next draw would pick (this CPU or its MMU). */
  private predictedNext(): boolean {
    const p = predictNext(this.global, this.cpuCtl, this.cpus, this.agents, this.tlbi);
    return p === this.me || (p >= 0 && p === this.mmuAgent);
  }

  /**
   * While this CPU is the predicted next one, re-read its doorbell up to
   * `spinBudget` times. True if it rang (look at the turn again), false
   * to sleep: not predicted (any more), or the spin ran out (which halves
   * the budget; a ring doubles it).
   */
  private spinForRing(seen: number): boolean {
    const ctl = this.cpuCtl;
    const me = this.me;
    let budget = this.spinBudget;
    if (budget === 0) {
      if (++this.waitsSinceProbe < TURN_SPIN_PROBE_EVERY) return false;
      this.waitsSinceProbe = 0;
      budget = TURN_SPIN_PROBE;
    }
    for (let i = 0; i < budget; i += TURN_SPIN_RECHECK) {
      if (!this.predictedNext()) return false;
      const n = Math.min(TURN_SPIN_RECHECK, budget - i);
      for (let j = 0; j < n; j++) {
        if (doorbell(ctl, me) !== seen) {
          this.spinBudget = Math.min(TURN_SPIN_MAX, budget * 2);
          return true;
        }
      }
    }
    this.spinBudget = budget >> 1 < TURN_SPIN_MIN ? 0 : budget >> 1;
    return false;
  }

  /**
   * Spin on this CPU's doorbell as the machine's only standby waiter, if no
   * other thread of the machine is one (or taking the role over, `takeOver`).
   * True if it rang (look at the turn again), false to sleep. Budget in time,
   * adapted as in `spinForRing` (see STANDBY_MAX_US).
   */
  private standBy(seen: number): boolean {
    let budget = this.standbyBudgetUs;
    if (budget === 0) {
      if (++this.standbyWaitsSinceProbe < TURN_SPIN_PROBE_EVERY) return false;
      this.standbyWaitsSinceProbe = 0;
      budget = STANDBY_PROBE_US;
    }
    const g = this.global;
    if (this.takeOver) {
      this.takeOver = false;
      takeStandby(g, this.me);
    } else if (!claimStandby(g, this.me)) return false;
    const ctl = this.cpuCtl;
    const me = this.me;
    let rang = false;
    let displaced = false;
    const t0 = performance.now();
    const until = t0 + budget / 1000;
    let now = t0;
    let maxGap = 0; // ms between two clock reads: a preemption shows as a gap far above STANDBY_CLOCK_EVERY reads
    outer: for (;;) {
      if (standbyCpu(g) !== me) {
        displaced = true; // another CPU took the role over: sleep, budget unchanged
        break;
      }
      for (let j = 0; j < STANDBY_CLOCK_EVERY; j++) {
        if (idleDoorbell(ctl, me) !== seen) {
          rang = true;
          break outer;
        }
      }
      const t = performance.now();
      if (t - now > maxGap) maxGap = t - now;
      now = t;
      if (now >= until) break;
    }
    releaseStandby(g, me);
    if (displaced) return false;
    maxGap = Math.max(maxGap, performance.now() - now);
    // Preempted while spinning (the host's cores are taken): spinning only takes a core the holder may need.
    const preempted = maxGap * 1e6 > STANDBY_CLOCK_EVERY * STANDBY_READ_NS_MAX + STANDBY_PREEMPT_SLACK_NS;
    this.standbyBudgetUs = rang && !preempted ? Math.min(STANDBY_MAX_US, Math.max(budget * 2, STANDBY_MIN_US)) : budget / 2 < STANDBY_MIN_US ? 0 : budget / 2;
    return rang;
  }

  /**
   * Spinning hand-offs: ring the thread of the agent the next draw would
   * pick, unless it is `holder`'s (the new turn holder) or this one (it
   * checks for itself before it sleeps), so a sleeper starts spinning
   * while the holder takes its step.
   */
  private wakePredicted(holder: number): void {
    if (this.spinBudget === 0) return; // spinning does not pay on this host now: no extra wake-ups
    const p = predictNext(this.global, this.cpuCtl, this.cpus, this.agents, this.tlbi);
    if (p < 0) return;
    const t = p >= this.cpus ? p - this.cpus : p;
    if (t !== this.me && t !== holder) ringDoorbell(this.cpuCtl, t);
  }

  /**
   * A scheduling point: pick who runs the next step (`blocked`: this CPU
   * yields from a wait, see src/engine/forcedSchedule.ts). Returns the step count, or
   * -1 if the step budget is exhausted. If another CPU is picked, hands it the
   * turn; the caller must then `waitTurn`.
   */
  yieldTurn(blocked = false, afterIrq = false, as = this.me): number {
    const steps = takeSchedStep(this.global);
    if (steps > this.maxSteps) return -1;
    const v = this.views;
    const next =
      v && scheduleDriven(v.sched)
        ? chooseScheduled(v.sched, v, this.cpus, as, blocked, steps, (c) => isRunnable(this.cpuCtl, c, this.cpus, this.tlbi), afterIrq, this.agents)
        : pickRunnable(this.global, this.cpuCtl, this.cpus, this.agents, this.tlbi);
    if (next === as) {
      // The same agent goes on: its caller's holdsTurn() (or waitTurn, for an MMU agent) resumes its history.
      if (this.spin) this.wakePredicted(this.me);
      return steps;
    }
    if (this.mmuAgent >= 0 && (next === this.me || next === this.mmuAgent)) {
      // Handed from this CPU to its own MMU agent or back: the same thread; waitTurn sees it.
      setSchedTurn(this.global, next);
      return steps;
    }
    setSchedTurn(this.global, next);
    if (next === TURN_NONE) {
      markRunDone(this.global);
      for (let c = 0; c < this.cpus; c++) ringDoorbell(this.cpuCtl, c);
    } else {
      const holder = next >= this.cpus ? next - this.cpus : next; // an MMU agent runs on its CPU's thread
      if (ringDoorbell(this.cpuCtl, holder) && this.standby) this.takeOver = true;
      if (this.spin) this.wakePredicted(holder);
    }
    return steps;
  }

  /** This CPU has no workload steps left (it stays runnable only while IPIs are pending). */
  retire(): void {
    clearSchedActive(this.cpuCtl, this.me);
  }
}
