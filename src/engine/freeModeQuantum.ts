/**
 * Host scheduling of one CPU in free mode: which simulated CPUs run on the
 * host's cores (run tokens, src/engine/scheduler.ts), for how long (the quantum), and
 * what a CPU does with its token while it waits: gives it up to block,
 * lends it while it sleeps for acknowledgements, or keeps it and steps aside
 * while the shootdown round whose IPI it just handled completes. Seeded mode
 * has no host scheduling (the seeded scheduler's turn is the only runner).
 *
 * Invariants:
 * - Only the owning CPU's thread calls this object; the token words it
 *   changes are shared, and change only through RunTokens.
 * - Never sleep holding a run token, except while stepping aside (bounded
 *   by SHOOTDOWN_STEP_ASIDE_MS): until a round whose IPI this CPU just
 *   handled completes, or, about to sleep on a kernel lock, until the lock
 *   holder's shootdown round completes.
 * - A loan is one CPU running in the lender's seat, never a chain: a
 *   borrower returns the token to its lender (or to the pool for the lender
 *   to take), never to another waiter.
 * - A token given up to block with `resumeToken` false is owed: the CPU
 *   takes it back in `resumeRunning`, after it dropped every kernel lock
 *   (faulting CPUs never convoy behind a page lock).
 */
import type { SimConfig } from '../config/config.js';
import { ackPending, doorbell, ipiRound, unwatchRound, waitDoorbell, watchRound } from './state/cpuControl.js';
import type { RunTokens, WaitHooks } from './scheduler.js';

/**
 * Upper bound on how long a running CPU steps aside after handling a shootdown
 * IPI (free mode). A 255-target round takes a few ms here; longer than that
 * means something is stuck, and the sender's own timeout will report it.
 */
const SHOOTDOWN_STEP_ASIDE_MS = 20;
/**
 * An initiator lends its run token only for rounds to at most this many
 * targets. The loan puts a simulated CPU in the seat the sleeping initiator
 * left, as real hardware runs the other CPUs while one spins; but a round to
 * many targets needs that host core to wake them. Measured at 255 targets on
 * a 2-core host (IPI bench, median of five runs' medians): 6.3-6.5 ms without
 * lending against 7.0-9.7 ms with it, three alternating pairs; with this cap,
 * 6.6-8.8 ms, so the gain is near this host's noise but not against it. Small
 * machines, where the races live, always lend.
 */
const TOKEN_LENDING_MAX_TARGETS = 16;
/** What host scheduling needs of its CPU. */
export interface HostSchedHost extends WaitHooks {
  readonly config: SimConfig;
  /** This CPU's id (its doorbell and watch words). */
  readonly id: number;
  readonly cpuCtl: Int32Array;
  /** Handle IPIs if the doorbell rang since the last `serviceIpis`, and forget the last IPI's sender. */
  serviceIpisIfRung(): void;
}

/** Free-mode host scheduling of one CPU (see the module comment). */
export class HostSched {
  /** This CPU holds a run token. */
  private hasToken = false;
  /** A run token given up while blocked that the CPU must take back before it runs on. */
  private tokenOwed = false;
  /** This CPU lent its run token while it sleeps for IPI acknowledgements. */
  private tokenLent = false;
  /** The CPU whose token this one holds on loan, or -1 (see `returnBorrowedToken`). */
  private borrowedFrom = -1;
  /** Accesses left in this turn. */
  private quantumLeft: number;

  constructor(
    private readonly host: HostSchedHost,
    private readonly tokens: RunTokens,
  ) {
    this.quantumLeft = host.config.quantum;
  }

  /** A new run: nothing owed or lent, a full quantum, and wait for a token. */
  beginRun(): void {
    this.tokenOwed = false;
    this.tokenLent = false;
    this.quantumLeft = this.host.config.quantum;
    this.takeToken();
  }

  /** Wait for a run token (handling IPIs meanwhile) and note whether it is on loan. */
  private takeToken(): void {
    const lender = this.tokens.acquire(this.host);
    this.hasToken = true;
    this.borrowedFrom = lender;
  }

  /**
   * Give the run token to the next waiting CPU (or the pool). A borrowed
   * token goes back to its lender (or the pool) instead.
   */
  private dropToken(): void {
    if (this.borrowedFrom >= 0) this.tokens.returnLoan(this.borrowedFrom);
    else this.tokens.release();
    this.hasToken = false;
    this.borrowedFrom = -1;
  }

  /** The workload is done (or aborted): give the token back if held; nothing is owed or lent any more. */
  releaseTokenIfHeld(): void {
    this.tokenOwed = false;
    this.tokenLent = false;
    if (this.hasToken) this.dropToken();
  }

  /**
   * After a doorbell poll that found nothing to step aside for: a borrower
   * hands the token back once its lender asks, and a CPU whose quantum
   * (`accesses` since the last poll) ran out passes the token on if anybody waits.
   */
  afterPoll(accesses: number): void {
    if (this.borrowedFrom >= 0 && this.returnBorrowedToken()) return;
    this.quantumLeft -= accesses;
    if (this.quantumLeft <= 0) {
      this.quantumLeft = this.host.config.quantum;
      if (this.tokens.someoneWaits()) {
        this.dropToken();
        this.takeToken();
      }
    }
  }

  /**
   * A borrower hands the token straight back once its lender (an IPI
   * initiator whose round completed) waits for one, then queues for a token
   * like anybody else. Returns true if it did.
   */
  private returnBorrowedToken(): boolean {
    if (!this.tokens.giveBackTo(this.borrowedFrom)) return false;
    this.hasToken = false;
    this.borrowedFrom = -1;
    this.quantumLeft = this.host.config.quantum;
    this.takeToken();
    return true;
  }

  /** About to block: give the token up. Returns whether one was held (pass it to `endBlock`). */
  beginBlock(): boolean {
    const had = this.hasToken;
    if (had) this.dropToken();
    return had;
  }

  /** Done blocking: take the token back now, or (`resumeToken` false) owe it until `resumeRunning`. */
  endBlock(hadToken: boolean, resumeToken: boolean): void {
    if (!hadToken) return;
    if (resumeToken) this.takeToken();
    else this.tokenOwed = true;
  }

  /** Take back the run token given up by a block with `resumeToken` false. */
  resumeRunning(): void {
    if (!this.tokenOwed) return;
    this.tokenOwed = false;
    this.takeToken();
  }

  /**
   * The initiator is about to sleep until its round's acknowledgements are in.
   * Lend the run token to a CPU waiting for one: on real hardware the other
   * CPUs keep running their code while the initiator spins in
   * smp_call_function_many, and a target may run on until the interrupt lands.
   */
  beginAckWait(targets: number): void {
    if (!this.hasToken || !this.host.config.tokenLending || targets > TOKEN_LENDING_MAX_TARGETS) return;
    if (!this.tokens.someoneWaits()) return;
    if (!this.tokens.lend()) return;
    this.hasToken = false;
    this.borrowedFrom = -1;
    this.tokenLent = true;
  }

  /** The round is complete: take a run token back if this CPU lent its own. */
  endAckWait(): void {
    if (!this.tokenLent) return;
    this.tokenLent = false;
    this.takeToken();
  }

  /** True while this CPU holds a run token. */
  holdsToken(): boolean {
    return this.hasToken;
  }

  /**
   * A running CPU that just handled a shootdown IPI from `sender` (round
   * `round`) leaves its host core to the sleeping targets of the same round
   * until the round completes (bounded by SHOOTDOWN_STEP_ASIDE_MS). It keeps
   * its run token. This changes no outcome: its TLB is already flushed, so
   * until the sender's flush returns it could only fault on the unmapped
   * pages and sleep on their page locks. On a 2-core host it halves the time
   * the other targets wait for a core. It sleeps on its own doorbell,
   * watching the round (src/engine/state/cpuControl.ts `watchRound`): the
   * round's last acknowledgement rings it, and so does an IPI from any other
   * sender, so neither waits for a timer. (It used to sleep on the sender's
   * ack word in 0.5 ms slices and saw other senders' IPIs only at the end of
   * a slice: with every CPU initiating, as in tlb-flush, rounds waited on one
   * step-aside after another.) It stops as soon as that sender starts another
   * round: this CPU may be one of its targets.
   */
  stepAsideDuringShootdown(sender: number, round: number): void {
    const ctl = this.host.cpuCtl;
    const me = this.host.id;
    const deadline = performance.now() + SHOOTDOWN_STEP_ASIDE_MS;
    watchRound(ctl, me, sender);
    try {
      for (;;) {
        // Doorbell first, then look at the round: its last ack and any other IPI ring the doorbell.
        const seen = doorbell(ctl, me);
        if (ackPending(ctl, sender) <= 0) return;
        // The sender stores C_ROUND before C_ACK_PENDING: a later round may have this CPU as a target.
        if (ipiRound(ctl, sender) !== round) return;
        const left = deadline - performance.now();
        if (left <= 0) return;
        waitDoorbell(ctl, me, seen, left);
        this.host.serviceIpisIfRung();
      }
    } finally {
      unwatchRound(ctl, me, sender);
    }
  }
}
