/**
 * The shared invalidation queue: TLB invalidations that reach other CPUs
 * without a MessagePort message. It carries three mechanisms:
 * - `invlpgb`: AMD INVLPGB + TLBSYNC (Linux 6.15, arch/x86/mm/tlb.c and
 *   arch/x86/include/asm/tlbflush.h: `invlpgb_flush_all_nonglobals`,
 *   `invlpgb_flush_user_nr_nosync`, `broadcast_tlb_flush`, `__tlbsync`). The
 *   broadcast reaches every CPU, whatever mm_cpumask says; each CPU's MMU
 *   applies it with no interrupt and no handler; TLBSYNC waits until every
 *   CPU has applied it.
 * - `rar`: Intel Remote Action Request (Rik van Riel's "x86/mm: RAR TLB
 *   invalidation" series, 2025): targeted to a cpumask like an IPI, applied
 *   by the target's hardware with no interrupt (also while interrupts are
 *   disabled); the initiator waits for every target's completion.
 * - `ipi`: an ordinary flush IPI, handled by flush_tlb_func in an interrupt,
 *   for CPUs that have no MessagePorts (only a workload's initiators get
 *   them): the lazy unmap flush's allocation-time flush runs on whichever CPU
 *   allocates the frame. It is counted exactly like a port-carried IPI.
 * - `ipi-fwd` (`--ipi-fanout tree`): an IPI round's request, written by the
 *   initiator into its own slot; the first target of each group (which got
 *   the initiator's message on its port) sets the bits of the group's other
 *   targets. Each handles it as an interrupt and acknowledges the
 *   initiator's round directly (ackBits, C_ACK_PENDING), not the queue.
 *
 * Modelling rule: only a CPU writes its own TLB. The initiator writes its
 * request into its own slot (`hwSlots`), sets its bit in each target's row
 * of `hwPendBits`, raises the target's C_HW_PENDING and rings its doorbell
 * (the wire; a sleeping CPU wakes as hardware would service it). The target
 * applies the request to its own TLB between two accesses, never inside one,
 * and always before the initiator's wait returns: in free mode at its next
 * doorbell poll; in seeded mode an INVLPGB or RAR is applied by the target's
 * MMU agent (agent cpus + t, src/engine/scheduler.ts) at a step the scheduler
 * picks, so a schedule may run the target's accesses through a stale entry
 * while the request is posted and not applied (what `--inject no-tlbsync`
 * lets the initiator miss); queue-carried IPIs are interrupts, handled by the
 * CPU itself at its scheduling point. Until that wait (TLBSYNC, RAR completion) returns,
 * a stale translation may still be used: that is the architecture's rule for
 * INVLPGB too (invalidations are complete only once TLBSYNC is), so the hit
 * path needs no extra check and stays a plain read of the TLB.
 *
 * Invariants:
 * - An initiator has at most one request in flight (it waits), so one slot
 *   and one C_HW_ACK_PENDING per CPU suffice, and one bit per initiator in a
 *   target's row.
 * - Order of a post: slot words, C_HW_ACK_PENDING, then per target: row bit,
 *   C_HW_PENDING, doorbell. A target that sees C_HW_PENDING > 0 finds the bit
 *   and the slot.
 * - Order of an application: read the slot, clear the bit (Atomics.and),
 *   C_HW_PENDING - 1 (of the request's kind: hardware-applied or interrupt), apply, then the initiator's C_HW_ACK_PENDING - 1 (the
 *   last one rings the initiator; a forwarded IPI acknowledges the
 *   initiator's round instead). The initiator rewrites its slot only after
 *   every application of the previous request was acknowledged.
 */
import { cpumaskWords } from './layout.js';
import { completeHwRequest, hwAckPending, hwPending, postHwRequest, startHwRequest, takeHwRequest } from './state/cpuControl.js';
import { IPI_ACK_SPIN, IpiTimeoutError, type IpiMessage, type IpiWaitHost } from './ipi.js';
import { andShared, loadShared, orShared } from './footprint.js';

// Request slots: Int32Array `hwSlots` (size in src/engine/state/machineViews.ts), CPU i's request at i * HW_SLOT_WORDS;
// only this file knows the offsets.
/**
 * Request kind, mechanism, mm (-1: every mm), page count, then (a forwarded
 * IPI round, `--ipi-fanout tree`) the request's tlb_gen and round, then the pages.
 */
const HS_KIND = 0;
const HS_VIA = 1;
const HS_MM = 2;
const HS_NPAGES = 3;
const HS_TLBGEN = 4;
const HS_ROUND = 5;
const HS_PAGES = 6;
/** Most pages one queue request names one by one (INVLPGB's count field is 16 bits; 64 keeps the slot one cache-line pair). */
export const HW_SLOT_PAGES = 64;
const HW_SLOT_WORDS = HS_PAGES + HW_SLOT_PAGES;

/** Words of `hwSlots` for `cpus` CPUs: one request slot each. */
export function hwSlotsWords(cpus: number): number {
  return cpus * HW_SLOT_WORDS;
}

/** Which mechanism carries a queue request. */
export type HwVia = 'invlpgb' | 'rar' | 'ipi' | 'ipi-fwd';
const VIA_CODES: Record<HwVia, number> = { invlpgb: 1, rar: 2, ipi: 3, 'ipi-fwd': 4 };
const VIA_NAMES: readonly HwVia[] = ['invlpgb', 'invlpgb', 'rar', 'ipi', 'ipi-fwd'];
/** Slot kinds of a forwarded IPI round's request (HS_KIND with via 'ipi-fwd'). */
const FWD_KINDS: readonly IpiMessage['kind'][] = ['flush-all', 'flush-pages', 'context-reset'];

/** INVLPGB and RAR are applied by the target's MMU with no interrupt; queue-carried IPIs are interrupts. */
function isHardwareApplied(via: HwVia): boolean {
  return via === 'invlpgb' || via === 'rar';
}

/** Which pending requests `HwInvalQueue.drain` applies. */
type HwDrain = 'all' | 'hardware' | 'interrupts';

/** What a queue request asks: every non-global entry, all of one mm, or some pages of one mm. */
type HwKind = 'all-nonglobals' | 'mm-all' | 'mm-pages';
const KIND_CODES: Record<HwKind, number> = { 'all-nonglobals': 1, 'mm-all': 2, 'mm-pages': 3 };
const KIND_NAMES: readonly HwKind[] = ['all-nonglobals', 'all-nonglobals', 'mm-all', 'mm-pages'];

/** One queue request. `pages` is empty unless kind is 'mm-pages' (at most HW_SLOT_PAGES). */
export interface HwRequest {
  readonly via: HwVia;
  readonly kind: HwKind;
  /** The mm ('mm-all', 'mm-pages'), or -1 ('all-nonglobals'). */
  readonly mm: number;
  readonly pages: readonly number[];
  /** via 'ipi-fwd': the initiator's IPI message, as the target handles it. */
  readonly msg?: IpiMessage;
}


/** The queue as one CPU sees it: post (as initiator), drain (as target). */
export class HwInvalQueue {
  private readonly maskWords: number;
  private round = 0;

  /** A new run: request rounds start again from 1, as C_HW_ROUND (zeroed by the coordinator) does. */
  beginRun(): void {
    this.round = 0;
  }

  constructor(
    readonly cpu: number,
    private readonly cpuCtl: Int32Array,
    private readonly slots: Int32Array,
    private readonly pendBits: Int32Array,
    cpus: number,
    private readonly spinBeforeSleep: boolean,
  ) {
    this.maskWords = cpumaskWords(cpus);
  }

  /**
   * Post `req` to `targets` (never this CPU) and wait until each applied it
   * (TLBSYNC / RAR completion / every IPI acknowledged). Returns the host
   * latency in microseconds. @throws IpiTimeoutError naming the CPUs that
   * never applied it.
   */
  postAndWait(targets: readonly number[], req: HwRequest, host: IpiWaitHost, timeoutMs: number, wait = true): number {
    if (targets.length === 0) return 0;
    // A request posted without waiting (`--inject no-tlbsync`) must be applied everywhere before the slot is rewritten.
    if (this.unsynced) {
      this.unsynced = false;
      this.waitApplied(performance.now(), host, timeoutMs, []);
    }
    if (req.pages.length > HW_SLOT_PAGES) throw new Error(`a queue request names at most ${HW_SLOT_PAGES} pages, got ${req.pages.length}`);
    const me = this.cpu;
    const ctl = this.cpuCtl;
    const s = me * HW_SLOT_WORDS;
    Atomics.store(this.slots, s + HS_VIA, VIA_CODES[req.via]);
    Atomics.store(this.slots, s + HS_KIND, KIND_CODES[req.kind]);
    Atomics.store(this.slots, s + HS_MM, req.mm);
    Atomics.store(this.slots, s + HS_NPAGES, req.pages.length);
    for (let i = 0; i < req.pages.length; i++) Atomics.store(this.slots, s + HS_PAGES + i, req.pages[i]);
    startHwRequest(ctl, me, ++this.round, targets.length);
    const t0 = performance.now();
    const word = me >> 5;
    const bit = 1 << (me & 31);
    const hardware = isHardwareApplied(req.via);
    for (const t of targets) {
      orShared(this.pendBits, t * this.maskWords + word, bit);
      postHwRequest(ctl, t, hardware);
    }
    if (!wait) {
      // The planted bug: return before the targets applied it (INVLPGB without TLBSYNC).
      this.unsynced = true;
      return 0;
    }
    return this.waitApplied(t0, host, timeoutMs, targets);
  }

  /** A request was posted and not waited for (`--inject no-tlbsync`). */
  private unsynced = false;

  /** Wait until every target applied this CPU's request (C_HW_ACK_PENDING is 0). Returns host us since `t0`. */
  private waitApplied(t0: number, host: IpiWaitHost, timeoutMs: number, targets: readonly number[]): number {
    const ctl = this.cpuCtl;
    if (this.spinBeforeSleep) {
      for (let i = 0; i < IPI_ACK_SPIN; i++) if (hwAckPending(ctl, this.cpu) === 0) return (performance.now() - t0) * 1000;
    }
    const deadline = t0 + timeoutMs;
    host.beginAckWait(Math.max(1, targets.length));
    for (;;) {
      host.serviceIpis();
      if (hwAckPending(ctl, this.cpu) === 0) break;
      host.checkAbort();
      const now = performance.now();
      // A throw ends the run (abort): the CPU's abort path drops any lent token state.
      if (now > deadline) throw new IpiTimeoutError(this.cpu, targets.filter((t) => this.stillPending(t)), timeoutMs);
      host.waitForEvent(Math.min(50, deadline - now + 1));
    }
    const us = (performance.now() - t0) * 1000;
    host.endAckWait();
    return us;
  }

  /**
   * `--ipi-fanout tree`, on the initiator before its round: put the round's
   * message in this CPU's slot for the groups' first targets to forward. A
   * page list longer than the slot is forwarded as a full flush (more than
   * asked, never less).
   */
  writeRound(msg: IpiMessage): void {
    const s = this.cpu * HW_SLOT_WORDS;
    const pages = msg.kind === 'flush-pages' && msg.pages.length <= HW_SLOT_PAGES ? msg.pages : null;
    const kind = msg.kind === 'flush-pages' && pages === null ? 'flush-all' : msg.kind;
    Atomics.store(this.slots, s + HS_VIA, VIA_CODES['ipi-fwd']);
    Atomics.store(this.slots, s + HS_KIND, FWD_KINDS.indexOf(kind));
    Atomics.store(this.slots, s + HS_MM, msg.mm);
    Atomics.store(this.slots, s + HS_TLBGEN, msg.tlbGen);
    Atomics.store(this.slots, s + HS_ROUND, msg.round);
    Atomics.store(this.slots, s + HS_NPAGES, pages?.length ?? 0);
    if (pages) for (let i = 0; i < pages.length; i++) Atomics.store(this.slots, s + HS_PAGES + i, pages[i]);
  }

  /**
   * `--ipi-fanout tree`, on a group's first target while it handles
   * `initiator`'s message: forward the round to `members` (the initiator's
   * slot holds it). They acknowledge the initiator, not this CPU, so nothing
   * here waits.
   */
  forward(initiator: number, members: readonly number[]): void {
    const ctl = this.cpuCtl;
    const word = initiator >> 5;
    const bit = 1 << (initiator & 31);
    for (const t of members) {
      orShared(this.pendBits, t * this.maskWords + word, bit);
      postHwRequest(ctl, t, false);
    }
  }

  /** Has `target` not yet applied this CPU's current request? */
  private stillPending(target: number): boolean {
    return (loadShared(this.pendBits, target * this.maskWords + (this.cpu >> 5)) & (1 << (this.cpu & 31))) !== 0;
  }

  /** Requests posted to this CPU and not yet applied (`which`: as in `drain`). */
  pending(which: HwDrain = 'all'): number {
    return hwPending(this.cpuCtl, this.cpu, which === 'all' ? undefined : which === 'hardware');
  }

  /**
   * Apply pending requests to this CPU's own TLB (`apply`), then complete
   * them. Returns how many. `which`: 'all'; 'hardware' (INVLPGB and RAR only:
   * the MMU agent's step in seeded mode, or a poll with interrupts disabled,
   * which leaves queue-carried and forwarded IPIs pending); 'interrupts'
   * (queue-carried and forwarded IPIs only: a seeded CPU's own scheduling
   * point, whose MMU agent applies the rest).
   */
  drain(apply: (req: HwRequest, sender: number) => void, which: HwDrain = 'all'): number {
    const me = this.cpu;
    const ctl = this.cpuCtl;
    let applied = 0;
    while (this.pending(which) > 0) {
      let got = false;
      for (let w = 0; w < this.maskWords; w++) {
        const rowIdx = me * this.maskWords + w;
        let bits = loadShared(this.pendBits, rowIdx);
        while (bits !== 0) {
          const b = 31 - Math.clz32(bits & -bits);
          bits &= bits - 1;
          const sender = w * 32 + b;
          // Read the slot, then clear the bit, then apply: the sender rewrites its slot (and a multicast group's
          // first target sets this bit again for the sender's next round) only after this application is
          // acknowledged, which `apply` (forwarded IPIs) or `complete` does last.
          const req = this.readSlot(sender);
          const hardware = isHardwareApplied(req.via);
          if ((which === 'hardware' && !hardware) || (which === 'interrupts' && hardware)) continue;
          andShared(this.pendBits, rowIdx, ~(1 << b));
          takeHwRequest(ctl, me, hardware);
          apply(req, sender);
          if (req.via !== 'ipi-fwd') this.complete(sender);
          got = true;
          applied++;
        }
      }
      if (!got) break;
    }
    return applied;
  }

  private readSlot(sender: number): HwRequest {
    const s = sender * HW_SLOT_WORDS;
    const n = loadShared(this.slots, s + HS_NPAGES);
    const pages: number[] = [];
    for (let i = 0; i < n; i++) pages.push(loadShared(this.slots, s + HS_PAGES + i));
    const via = VIA_NAMES[loadShared(this.slots, s + HS_VIA)] ?? 'invlpgb';
    if (via === 'ipi-fwd') {
      const kind = FWD_KINDS[loadShared(this.slots, s + HS_KIND)] ?? 'flush-all';
      const mm = loadShared(this.slots, s + HS_MM);
      const tlbGen = loadShared(this.slots, s + HS_TLBGEN);
      const round = loadShared(this.slots, s + HS_ROUND);
      const msg: IpiMessage = kind === 'flush-pages' ? { kind, sender, round, mm, tlbGen, pages } : { kind, sender, round, mm, tlbGen };
      return { via, kind: 'mm-all', mm, pages, msg };
    }
    return {
      via: VIA_NAMES[loadShared(this.slots, s + HS_VIA)] ?? 'invlpgb',
      kind: KIND_NAMES[loadShared(this.slots, s + HS_KIND)] ?? 'all-nonglobals',
      mm: loadShared(this.slots, s + HS_MM),
      pages,
    };
  }

  private complete(sender: number): void {
    completeHwRequest(this.cpuCtl, sender);
  }
}
