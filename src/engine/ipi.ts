/**
 * Inter-processor interrupts: a real message on a MessagePort plus a doorbell word.
 *
 * Sending (smp_call_function_many with wait=1):
 *   1. the sender sets its C_ACK_PENDING to the number of targets and clears its
 *      row of the ack bitmap;
 *   2. for each target: post the request on the sender->target port, THEN
 *      increment the target's C_IPI_PENDING; after all of them, ring each
 *      target's doorbell (notify only a target that sleeps on it).
 *      (Posting first guarantees the target finds the message when it sees the
 *      pending count; the count is what a seeded scheduler looks at.)
 *   3. the sender waits until C_ACK_PENDING reaches 0 (spinning first only if
 *      no target had to be woken), servicing IPIs sent to
 *      itself meanwhile (two CPUs flushing each other must not deadlock) and
 *      giving up after `ipiTimeoutMs`, naming every CPU that never acknowledged.
 * Receiving: a CPU notices its doorbell changed (polled every `--doorbell-poll`
 *   accesses, or woken from Atomics.wait), drains its ports with
 *   receiveMessageOnPort(), flushes its own TLB, sets its bit in the sender's ack
 *   bitmap and decrements the sender's C_ACK_PENDING; the acknowledgement that
 *   brings it to 0 rings the sender's doorbell.
 *
 * Invariants:
 * - A sender has at most one round in flight (the call is synchronous), so one
 *   ack counter per sender suffices.
 * - Only the target touches its own TLB; the message only asks.
 * - A port carries messages from exactly one sender to one target. Only CPUs that
 *   can initiate flushes (the workload's initiators) get outgoing ports: N^2
 *   ports for 1,000 CPUs would not fit in a process.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { cpumaskWords } from './layout.js';
import { ackIpi, ackPending, ipiPending, postIpi, ringDoorbell, startIpiRound, takeIpi } from './state/cpuControl.js';
import { historyLive, loadShared, noteMessage, orShared } from './footprint.js';

/** Flush every entry of an mm (or of every mm when `mm` is -1: the batched-unmap full flush). */
interface FlushAllRequest {
  readonly kind: 'flush-all';
  readonly sender: number;
  readonly round: number;
  readonly mm: number;
  /** new_tlb_gen: mm->context.tlb_gen after this request's bump (TLB_GENERATION_INVALID, 0, for the batched-unmap flush). */
  readonly tlbGen: number;
  /** `--ipi-fanout tree`: the group members this target forwards the round to (absent: none). */
  readonly forward?: readonly number[];
}
/** Flush a list of pages of one mm (invlpg each). */
export interface FlushPagesRequest {
  readonly kind: 'flush-pages';
  readonly sender: number;
  readonly round: number;
  readonly mm: number;
  /** See FlushAllRequest.tlbGen. */
  readonly tlbGen: number;
  readonly pages: readonly number[];
  /** `--ipi-fanout tree`: the group members this target forwards the round to (absent: none). */
  readonly forward?: readonly number[];
}
/** `--protocol context-reset`: give the mm a new context (ASID/VSID) instead of flushing its pages. */
interface ContextResetRequest {
  readonly kind: 'context-reset';
  readonly sender: number;
  readonly round: number;
  readonly mm: number;
  /** See FlushAllRequest.tlbGen. */
  readonly tlbGen: number;
  /** `--ipi-fanout tree`: the group members this target forwards the round to (absent: none). */
  readonly forward?: readonly number[];
}
/** Every message a CPU can receive on its IPI ports. */
export type IpiMessage = FlushAllRequest | FlushPagesRequest | ContextResetRequest;

const IPI_KIND_CODE: Readonly<Record<IpiMessage['kind'], number>> = { 'flush-all': 1, 'flush-pages': 2, 'context-reset': 3 };

/** Every field of a message as numbers, in a fixed order (a receiver's read history, src/engine/footprint.ts). */
function ipiMessageWords(m: IpiMessage): number[] {
  const out = [IPI_KIND_CODE[m.kind], m.sender, m.round, m.mm, m.tlbGen];
  if (m.kind === 'flush-pages') out.push(m.pages.length, ...m.pages);
  if (m.forward !== undefined) out.push(-1, m.forward.length, ...m.forward);
  return out;
}

/** Body of a flush request, before the delivery layer stamps sender and round. */
export type FlushRequest =
  | Omit<FlushAllRequest, 'sender' | 'round'>
  | Omit<FlushPagesRequest, 'sender' | 'round'>
  | Omit<ContextResetRequest, 'sender' | 'round'>;

/** A target that did not acknowledge in time. */
export class IpiTimeoutError extends Error {
  override readonly name = 'IpiTimeoutError';
  constructor(
    readonly sender: number,
    readonly missing: readonly number[],
    readonly timeoutMs: number,
  ) {
    super(`CPU ${missing.join(', CPU ')} did not acknowledge CPU ${sender}'s TLB-flush IPI within ${timeoutMs} ms`);
  }
}

/** What the delivery layer needs from the CPU it runs on while it waits. */
export interface IpiWaitHost {
  /** Handle IPIs that arrived for this CPU (called while waiting for acks). */
  serviceIpis(): void;
  /** Block until something may have changed (doorbell event, seeded turn), at most `ms`. */
  waitForEvent(ms: number): void;
  /** Throw if the run was aborted. */
  checkAbort(): void;
  /** The sender is about to sleep until the acknowledgements of a round to `targets` CPUs are in (free mode may lend its run token here). */
  beginAckWait(targets: number): void;
  /** Every acknowledgement is in (or the wait is being abandoned). */
  endAckWait(): void;
}

/**
 * Spin this many checks of the ack counter before sleeping: a round to one
 * busy target takes ~4 us. Not when a target had to be woken: a host wake-up
 * alone takes longer than the spin, which would only burn the core the woken
 * target needs.
 */
export const IPI_ACK_SPIN = 256;

export class IpiDelivery {
  private round = 0;

  /** Id of this CPU's latest round as a sender (0: none yet). */
  get lastRound(): number {
    return this.round;
  }

  /** A new run: round ids start again from 1, as C_ROUND (zeroed by the coordinator) does, so no state of a run (nor its hash) depends on earlier runs. */
  beginRun(): void {
    this.round = 0;
  }
  private readonly maskWords: number;

  constructor(
    readonly cpu: number,
    private readonly cpuCtl: Int32Array,
    private readonly ackBits: Int32Array,
    cpus: number,
    /** outPorts[t]: port to CPU t (only on initiators). */
    private readonly outPorts: readonly (MessagePort | null)[],
    /** Ports this CPU receives on, one per initiator. */
    private readonly inPorts: readonly MessagePort[],
    private readonly spinBeforeSleep: boolean,
  ) {
    this.maskWords = cpumaskWords(cpus);
  }

  /**
   * smp_call_function_many(targets, flush, wait=1). Returns the round's host
   * latency in microseconds (post of the first message to the last ack seen).
   * @throws IpiTimeoutError naming the CPUs that never acknowledged.
   */
  sendAndWait(
    targets: readonly number[],
    req: FlushRequest,
    host: IpiWaitHost,
    timeoutMs: number,
    tree?: { groups: readonly (readonly number[])[]; writeRound: (msg: IpiMessage) => void },
  ): number {
    if (targets.length === 0) return 0;
    const me = this.cpu;
    const ctl = this.cpuCtl;
    const round = ++this.round;
    const msg: IpiMessage = { ...req, sender: me, round } as IpiMessage;
    const rowBase = me * this.maskWords;
    for (let w = 0; w < this.maskWords; w++) Atomics.store(this.ackBits, rowBase + w, 0);
    startIpiRound(ctl, me, round, targets.length);
    // `--ipi-fanout tree`: one message per group, to its first target, naming the rest (they ack this round directly).
    if (tree) tree.writeRound(msg);
    // Serial: the same message object to every target (one clone per post, no per-target allocation).
    const groups = tree?.groups;
    const n = groups ? groups.length : targets.length;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const g = groups?.[i];
      const t = g ? g[0] : targets[i];
      const port = this.outPorts[t];
      if (!port) throw new Error(`CPU ${me} has no IPI port to CPU ${t} (not an initiator)`);
      port.postMessage(g && g.length > 1 ? ({ ...msg, forward: g.slice(1) } as IpiMessage) : msg);
      postIpi(ctl, t);
    }
    // Every message is queued and counted before the first ring: a woken target may take this thread's host core at once.
    let woke = false;
    for (let i = 0; i < n; i++) if (ringDoorbell(ctl, groups ? groups[i][0] : targets[i])) woke = true;
    if (this.spinBeforeSleep && !woke) {
      for (let i = 0; i < IPI_ACK_SPIN; i++) if (ackPending(ctl, me) === 0) return (performance.now() - t0) * 1000;
    }
    const deadline = t0 + timeoutMs;
    // A throw below ends the run (abort): the CPU's abort path drops any lent token state.
    host.beginAckWait(targets.length);
    for (;;) {
      host.serviceIpis();
      if (ackPending(ctl, me) === 0) break;
      host.checkAbort();
      const now = performance.now();
      if (now > deadline) {
        throw new IpiTimeoutError(me, targets.filter((t) => !this.acked(t)), timeoutMs);
      }
      host.waitForEvent(Math.min(50, deadline - now + 1));
    }
    // Latency is post to last ack: taking a lent run token back is not part of the round.
    const us = (performance.now() - t0) * 1000;
    host.endAckWait();
    return us;
  }

  /** Has this CPU acknowledged `sender`'s current round? (Its row is cleared when a round starts.) */
  hasAcked(sender: number): boolean {
    return (loadShared(this.ackBits, sender * this.maskWords + (this.cpu >> 5)) & (1 << (this.cpu & 31))) !== 0;
  }

  /** Did `target` acknowledge this CPU's current round? */
  private acked(target: number): boolean {
    return (loadShared(this.ackBits, this.cpu * this.maskWords + (target >> 5)) & (1 << (target & 31))) !== 0;
  }

  /** IPIs posted to this CPU and not yet handled. */
  pending(): number {
    return ipiPending(this.cpuCtl, this.cpu);
  }

  /**
   * Drain every pending IPI: call `handle` (the flush, on this CPU's own TLB),
   * then acknowledge. Returns how many were handled.
   */
  drain(handle: (m: IpiMessage) => void): number {
    const me = this.cpu;
    const ctl = this.cpuCtl;
    let handled = 0;
    while (ipiPending(ctl, me) > 0) {
      let got = false;
      for (const port of this.inPorts) {
        for (;;) {
          const r = receiveMessageOnPort(port);
          if (!r) break;
          got = true;
          const m = r.message as IpiMessage;
          if (historyLive()) noteMessage(ipiMessageWords(m)); // explore --stateful: the payload is not in shared memory
          handle(m);
          takeIpi(ctl, me);
          this.ack(m.sender);
          handled++;
        }
      }
      // The pending count is raised after the post, so a message is always queued
      // by the time we see the count; loop once more in case one lands now.
      if (!got) break;
    }
    return handled;
  }

  /** Acknowledge `sender`'s current round (a forwarded IPI of `--ipi-fanout tree` acks the initiator directly). */
  ack(sender: number): void {
    const me = this.cpu;
    orShared(this.ackBits, sender * this.maskWords + (me >> 5), 1 << (me & 31));
    ackIpi(this.cpuCtl, sender);
  }

  /** Close every port (end of the worker's life). */
  close(): void {
    for (const p of this.inPorts) p.close();
    for (const p of this.outPorts) p?.close();
  }
}
