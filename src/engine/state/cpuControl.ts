/**
 * The per-CPU control words: Int32Array `cpuCtl` (src/engine/state/machineViews.ts),
 * CPU c's words at c * CPU_CTL_WORDS, one 64-byte cache line per CPU. Only this
 * file knows the offsets; every other module uses the accessors below, which
 * take the view and a CPU id.
 *
 * Invariants (who writes which word; which order matters):
 * - Every access is an Atomic except the seeded scheduler's initial
 *   sched-active store (`initSchedActive`), made while no CPU runs.
 * - Doorbell: bumped for every event a CPU must look at (IPI, ack completion,
 *   run token, seeded turn, lock release, program flag). A sleeper reads it
 *   before it checks its condition and waits on that value, so a ring between
 *   the check and the wait is never lost. Only the CPU's own thread sleeps on
 *   its doorbell (`waitDoorbell`), with its C_SLEEPING word raised; a ringer
 *   bumps the doorbell first and calls Atomics.notify only if C_SLEEPING is
 *   up. Both orders are sequentially consistent, so either the ringer sees the
 *   flag and wakes the sleeper, or the sleeper's Atomics.wait sees the bumped
 *   doorbell and does not sleep. Skipping the notify of a running CPU matters:
 *   every notify takes V8's process-wide futex lock, and on a host with fewer
 *   cores than CPU threads the notifier was often preempted in it.
 * - IPI round (src/engine/ipi.ts): the sender stores its round, THEN its ack
 *   count (`startIpiRound`); a CPU that stepped aside for the round
 *   (freeModeQuantum.ts) reads the ack count, then the round, so it never
 *   takes a later round's count for this one. A target's IPI count is raised
 *   after the message is posted (`postIpi`), then its doorbell rung: a target
 *   that sees the count finds the message queued. The ack that brings the
 *   sender's count to 0 rings the CPUs watching the round (see below), then
 *   the sender's doorbell.
 * - Watching a round (stepping aside, src/engine/freeModeQuantum.ts): the
 *   watcher raises the sender's C_ROUND_WATCHERS, stores the sender in its
 *   own C_WATCHING, THEN looks at the round; the last acker decrements the ack
 *   count, THEN reads C_ROUND_WATCHERS and, if non-zero, rings every CPU whose
 *   C_WATCHING names the sender. So either the watcher sees the round
 *   complete, or the acker sees (and rings) the watcher, whose doorbell sleep
 *   also wakes for any other IPI.
 * - Invalidation queue (src/engine/hwInval.ts): the same order with the
 *   request's round and ack count (`startHwRequest`), then per target its row
 *   bit (hwPendBits, set by the caller), its queue count, its doorbell
 *   (`postHwRequest`).
 * - Run tokens (src/engine/scheduler.ts): a waiter sets wants-token, then
 *   re-checks the pool; a giver clears wants-token with a CAS (so a waiter is
 *   granted at most once), stores the grant, then rings.
 * - Loaded mm and lazy (src/kernel/tlbState.ts): written by the CPU itself,
 *   read by flush initiators (should_flush_tlb).
 * - Last event: written by the CPU itself before it handles the event
 *   (arguments first, kind last), read by the coordinator after a crash.
 * - The coordinator zeroes the block between runs, while no CPU runs, except
 *   each CPU's C_DOORBELL and C_SLEEPING (`resetCpuControl`): between runs a
 *   worker sleeps on its doorbell (workers/cpu.ts), so a ring must still
 *   find its C_SLEEPING up, and a ring already counted must not be undone.
 */

/** Event counter: bumped (Atomics.add + notify) for every event a CPU must look at: IPI, ack completion, run token, seeded turn. */
const C_DOORBELL = 0;
import { addShared, casShared, loadShared, subShared } from '../footprint.js';
/** IPIs posted to this CPU and not yet handled. Incremented by the sender before it rings. */
const C_IPI_PENDING = 1;
/** Acknowledgements this CPU (as sender) still waits for in its current round. */
const C_ACK_PENDING = 2;
/** Non-zero when a run token has been handed to this CPU while it waited (the grant kind, src/engine/scheduler.ts). */
const C_TOKEN_GRANT = 3;
/** 1 while this CPU waits for a run token. */
const C_WANTS_TOKEN = 4;
/** Seeded mode: 1 while the CPU still has workload steps to take. */
const C_SCHED_ACTIVE = 5;
/**
 * Interrupt-carried requests in the shared invalidation queue
 * (src/engine/hwInval.ts: queue-carried IPIs) posted to this CPU and not yet
 * applied. Incremented by the initiator after it set its bit in this CPU's
 * row of `hwPendBits`, decremented by this CPU when it applies the request.
 */
const C_HW_PENDING = 6;
/** Id of the sender's current IPI round (debug and stuck-CPU reports). */
const C_ROUND = 7;
/** Tag (`lockTag`, never 0) of the kernel lock this CPU sleeps on (0: none); the unlocker rings it. */
const C_WAIT_LOCK = 8;
/**
 * cpu_tlbstate_shared.is_lazy: 1 while this CPU runs a kernel thread with the
 * process's mm still loaded (lazy TLB). Written by the CPU itself (Atomics),
 * read by flush initiators, which skip it unless page tables were freed.
 */
const C_IS_LAZY = 9;
/**
 * cpu_tlbstate.loaded_mm, as flush initiators see it: 1 + the mm this CPU has
 * loaded (0: none, a kernel thread). Written by the CPU itself in
 * switch_mm_irqs_off *before* it joins mm_cpumask and reads tlb_gen;
 * read by should_flush_tlb after the initiator bumped tlb_gen. So either the
 * initiator sees the CPU on the mm and sends, or the CPU reads the bumped
 * tlb_gen and flushes at the switch (see src/kernel/tlbState.ts).
 */
const C_LOADED_MM = 10;
/**
 * Bit of the C_LOADED_MM word set while the loaded mm runs under its global
 * ASID (`--protocol invlpgb`): cpu_tlbstate.loaded_mm_asid is the global one,
 * as finish_asid_transition reads it on other CPUs.
 */
const LOADED_GLOBAL_ASID_BIT = 1 << 30;
/**
 * The last event this CPU began to handle, for crash reports: kind
 * (LAST_EVENT_*), then two arguments (IPI: sender and round; page fault: mm
 * and page). Written by the CPU itself before it handles the event.
 */
const C_LAST_EVENT = 11;
const C_LAST_EVENT_A = 12;
const C_LAST_EVENT_B = 13;
/**
 * Applications this CPU (as the initiator of a queue request, src/engine/hwInval.ts)
 * still waits for: TLBSYNC / RAR completion / the queue-carried IPI's acks.
 * The application that brings it to 0 rings this CPU's doorbell.
 */
const C_HW_ACK_PENDING = 14;
/** Id of this CPU's current queue request (debug, crash reports). */
const C_HW_ROUND = 15;
/** 1 while this CPU sleeps on its doorbell (`waitDoorbell`): ringers notify only then. Written by the CPU itself. */
const C_SLEEPING = 16;
/** 1 + the sender whose IPI round this CPU watches while it steps aside (0: none). Written by the CPU itself. */
const C_WATCHING = 17;
/** CPUs watching this CPU's current IPI round (C_WATCHING): its last acknowledgement rings them. */
const C_ROUND_WATCHERS = 18;
/**
 * Hardware-applied requests (INVLPGB broadcasts, RAR actions) posted to this
 * CPU and not yet applied, kept apart from C_HW_PENDING so the seeded
 * scheduler can tell the CPU's work (an interrupt) from its MMU agent's
 * (src/engine/scheduler.ts). Same writers and order as C_HW_PENDING.
 */
const C_HW_APPLY_PENDING = 19;
/** 128 bytes: two cache lines per CPU (the doorbell words and the watch words), so one CPU's doorbell traffic does not slow its neighbours' words. */
export const CPU_CTL_WORDS = 32;

/** Per-CPU control words that are machine state (the rest are doorbells, tokens and crash notes): the explorer hashes them. */
// C_HW_PENDING and C_HW_ACK_PENDING: an initiator waiting for TLBSYNC (or a queue IPI's acks) reads its
// C_HW_ACK_PENDING, so an application must change the hash even when it dropped no TLB entry.
const CPU_STATE_WORDS: readonly number[] = [C_IPI_PENDING, C_ACK_PENDING, C_SCHED_ACTIVE, C_HW_PENDING, C_HW_APPLY_PENDING, C_ROUND, C_WAIT_LOCK, C_IS_LAZY, C_LOADED_MM, C_HW_ACK_PENDING];

/**
 * True for a word of a CPU's control block that only the host scheduling
 * writes (doorbell and its sleep flag, run-token handshake, round watchers): left out of step footprints
 * (src/engine/footprint.ts). `i` indexes the whole `cpuCtl` buffer.
 */
export function isSchedCpuWord(i: number): boolean {
  const w = i % CPU_CTL_WORDS;
  return w === C_DOORBELL || w === C_TOKEN_GRANT || w === C_WANTS_TOKEN || w === C_SLEEPING || w === C_WATCHING || w === C_ROUND_WATCHERS;
}

/**
 * Coordinator, between runs: zero every CPU's control words except the ones
 * its worker sleeps on between runs (C_DOORBELL, C_SLEEPING: see the header);
 * no CPU runs, and neither word is machine state (the explorer does not hash
 * them, and a doorbell is only ever compared with an earlier read of itself).
 */
export function resetCpuControl(ctl: Int32Array, cpus: number): void {
  const lo = Math.min(C_DOORBELL, C_SLEEPING);
  const hi = Math.max(C_DOORBELL, C_SLEEPING);
  for (let c = 0; c < cpus; c++) {
    const b = c * CPU_CTL_WORDS;
    ctl.fill(0, b, b + lo);
    ctl.fill(0, b + lo + 1, b + hi);
    ctl.fill(0, b + hi + 1, b + CPU_CTL_WORDS);
  }
}

// C_LAST_EVENT is 0 (none) until the CPU's first IPI.
export const LAST_EVENT_IPI = 1;
export const LAST_EVENT_FAULT = 2;

function at(c: number, word: number): number {
  return c * CPU_CTL_WORDS + word;
}

// --- Doorbell ----------------------------------------------------------------

/** Bump CPU `c`'s doorbell and wake it if it sleeps on it. Returns true if it had to be woken. */
export function ringDoorbell(ctl: Int32Array, c: number): boolean {
  const b = c * CPU_CTL_WORDS;
  Atomics.add(ctl, b + C_DOORBELL, 1);
  if (Atomics.load(ctl, b + C_SLEEPING) === 0) return false;
  Atomics.notify(ctl, b + C_DOORBELL);
  return true;
}

/** CPU `c`'s doorbell count (read before checking a condition, then `waitDoorbell` on it). */
export function doorbell(ctl: Int32Array, c: number): number {
  return loadShared(ctl, at(c, C_DOORBELL));
}

/** CPU `c`'s doorbell read outside any step (between runs in the run-control loop, workers/cpu.ts; the seeded standby's spin): not noted as a footprint read. */
export function idleDoorbell(ctl: Int32Array, c: number): number {
  return Atomics.load(ctl, at(c, C_DOORBELL));
}

/** CPU `c` (the caller's own thread) sleeps until its doorbell differs from `seen`, or `ms` pass (C_SLEEPING up meanwhile). */
export function waitDoorbell(ctl: Int32Array, c: number, seen: number, ms: number): 'ok' | 'not-equal' | 'timed-out' {
  const b = c * CPU_CTL_WORDS;
  Atomics.store(ctl, b + C_SLEEPING, 1);
  const r = Atomics.wait(ctl, b + C_DOORBELL, seen, ms);
  Atomics.store(ctl, b + C_SLEEPING, 0);
  return r;
}

// --- IPI rounds (src/engine/ipi.ts) -------------------------------------------

/** Sender `c` starts IPI round `round` to `targets` CPUs: the round first, then the ack count (see the header). */
export function startIpiRound(ctl: Int32Array, c: number, round: number, targets: number): void {
  Atomics.store(ctl, at(c, C_ROUND), round);
  Atomics.store(ctl, at(c, C_ACK_PENDING), targets);
}

/** After posting its message: raise target `t`'s IPI count (the caller rings it next, `ringDoorbell`). */
export function postIpi(ctl: Int32Array, t: number): void {
  addShared(ctl, at(t, C_IPI_PENDING), 1);
}

/** IPIs posted to CPU `c` and not yet handled. */
export function ipiPending(ctl: Int32Array, c: number): number {
  return loadShared(ctl, at(c, C_IPI_PENDING));
}

/** CPU `c` handled one of its pending IPIs. */
export function takeIpi(ctl: Int32Array, c: number): void {
  subShared(ctl, at(c, C_IPI_PENDING), 1);
}

/** Acknowledgements sender `c` still waits for in its current round. */
export function ackPending(ctl: Int32Array, c: number): number {
  return loadShared(ctl, at(c, C_ACK_PENDING));
}

/** Sender `c`'s current IPI round. */
export function ipiRound(ctl: Int32Array, c: number): number {
  return loadShared(ctl, at(c, C_ROUND));
}

/** Acknowledge one IPI of `sender`'s round; the last one rings the CPUs watching the round, then the sender (see the header). */
export function ackIpi(ctl: Int32Array, sender: number): void {
  const b = sender * CPU_CTL_WORDS;
  if (subShared(ctl, b + C_ACK_PENDING, 1) !== 1) return;
  if (Atomics.load(ctl, b + C_ROUND_WATCHERS) > 0) {
    const tag = sender + 1;
    for (let w = 0; w < ctl.length; w += CPU_CTL_WORDS) {
      if (Atomics.load(ctl, w + C_WATCHING) === tag) ringDoorbell(ctl, w / CPU_CTL_WORDS);
    }
  }
  ringDoorbell(ctl, sender);
}

/** CPU `c` starts watching `sender`'s round (stepping aside): count it, then name the sender (see the header). */
export function watchRound(ctl: Int32Array, c: number, sender: number): void {
  Atomics.add(ctl, at(sender, C_ROUND_WATCHERS), 1);
  Atomics.store(ctl, at(c, C_WATCHING), sender + 1);
}

/** CPU `c` stops watching `sender`'s round. */
export function unwatchRound(ctl: Int32Array, c: number, sender: number): void {
  Atomics.store(ctl, at(c, C_WATCHING), 0);
  Atomics.sub(ctl, at(sender, C_ROUND_WATCHERS), 1);
}

// --- Invalidation queue (src/engine/hwInval.ts) --------------------------------

/** Initiator `c` starts queue request `round` to `targets` CPUs: the round first, then the count of applications it waits for. */
export function startHwRequest(ctl: Int32Array, c: number, round: number, targets: number): void {
  Atomics.store(ctl, at(c, C_HW_ROUND), round);
  Atomics.store(ctl, at(c, C_HW_ACK_PENDING), targets);
}

/**
 * After setting its bit in target `t`'s row: raise `t`'s queue count (the
 * hardware-applied one for INVLPGB/RAR, `hardware`), then ring it.
 */
export function postHwRequest(ctl: Int32Array, t: number, hardware: boolean): void {
  const b = t * CPU_CTL_WORDS;
  addShared(ctl, b + (hardware ? C_HW_APPLY_PENDING : C_HW_PENDING), 1);
  ringDoorbell(ctl, t);
}

/** Queue requests posted to CPU `c` and not yet applied: both kinds, or only the hardware-applied (`true`) or interrupt-carried (`false`) ones. */
export function hwPending(ctl: Int32Array, c: number, hardware?: boolean): number {
  if (hardware !== undefined) return loadShared(ctl, at(c, hardware ? C_HW_APPLY_PENDING : C_HW_PENDING));
  return loadShared(ctl, at(c, C_HW_PENDING)) + loadShared(ctl, at(c, C_HW_APPLY_PENDING));
}

/** CPU `c` took one of its pending queue requests (a hardware-applied one if `hardware`). */
export function takeHwRequest(ctl: Int32Array, c: number, hardware: boolean): void {
  subShared(ctl, at(c, hardware ? C_HW_APPLY_PENDING : C_HW_PENDING), 1);
}

/** Applications initiator `c` still waits for. */
export function hwAckPending(ctl: Int32Array, c: number): number {
  return loadShared(ctl, at(c, C_HW_ACK_PENDING));
}

/** One application of `sender`'s request is done; the last one rings the sender. */
export function completeHwRequest(ctl: Int32Array, sender: number): void {
  const b = sender * CPU_CTL_WORDS;
  if (subShared(ctl, b + C_HW_ACK_PENDING, 1) === 1) {
    ringDoorbell(ctl, sender);
  }
}

// --- Run tokens and seeded turns (src/engine/scheduler.ts) ---------------------

/** CPU `c` waits for a run token. */
export function wantToken(ctl: Int32Array, c: number): void {
  Atomics.store(ctl, at(c, C_WANTS_TOKEN), 1);
}

/** Does CPU `c` wait for a run token? */
export function wantsToken(ctl: Int32Array, c: number): boolean {
  return loadShared(ctl, at(c, C_WANTS_TOKEN)) === 1;
}

/** Clear CPU `c`'s wants-token if set (CAS 1 -> 0); true if this call cleared it (by the waiter: withdrew; by a giver: may grant). */
export function claimTokenWaiter(ctl: Int32Array, c: number): boolean {
  return casShared(ctl, at(c, C_WANTS_TOKEN), 1, 0) === 1;
}

/** The grant handed to CPU `c` (0: none). */
export function tokenGrant(ctl: Int32Array, c: number): number {
  return loadShared(ctl, at(c, C_TOKEN_GRANT));
}

/** Hand CPU `c` a run token (`grant` non-zero), or take note it consumed its grant (0). The giver rings afterwards. */
export function setTokenGrant(ctl: Int32Array, c: number, grant: number): void {
  Atomics.store(ctl, at(c, C_TOKEN_GRANT), grant);
}

/** Seeded mode, before a run (no CPU runs): every CPU has workload steps to take. A plain write. */
export function initSchedActive(ctl: Int32Array, c: number): void {
  ctl[at(c, C_SCHED_ACTIVE)] = 1;
}

/** Seeded mode: CPU `c` took its last workload step. */
export function clearSchedActive(ctl: Int32Array, c: number): void {
  Atomics.store(ctl, at(c, C_SCHED_ACTIVE), 0);
}

/** Seeded mode: does CPU `c` still have workload steps to take? */
export function schedActive(ctl: Int32Array, c: number): boolean {
  return loadShared(ctl, at(c, C_SCHED_ACTIVE)) !== 0;
}

// --- Kernel lock sleepers (src/kernel/locks.ts) --------------------------------

/** CPU `c` sleeps on the lock tagged `tag` (0: it stopped sleeping). */
export function setWaitLock(ctl: Int32Array, c: number, tag: number): void {
  Atomics.store(ctl, at(c, C_WAIT_LOCK), tag);
}

/** Ring every CPU of the block that sleeps on the lock tagged `tag`. */
export function ringLockWaiters(ctl: Int32Array, tag: number): void {
  for (let b = 0; b < ctl.length; b += CPU_CTL_WORDS) {
    if (loadShared(ctl, b + C_WAIT_LOCK) === tag) {
      ringDoorbell(ctl, b / CPU_CTL_WORDS);
    }
  }
}

// --- Loaded mm and lazy TLB (src/kernel/tlbState.ts) ---------------------------

/** CPU `c` publishes its loaded mm (-1: none) and whether it runs under the mm's global ASID. */
export function publishLoadedMm(ctl: Int32Array, c: number, mm: number, globalAsid = false): void {
  Atomics.store(ctl, at(c, C_LOADED_MM), globalAsid ? (mm + 1) | LOADED_GLOBAL_ASID_BIT : mm + 1);
}

/** The mm CPU `c` has loaded, as flush initiators see it (-1: none). */
export function loadedMmOf(ctl: Int32Array, c: number): number {
  return (loadShared(ctl, at(c, C_LOADED_MM)) & ~LOADED_GLOBAL_ASID_BIT) - 1;
}

/** Does CPU `c` run its loaded mm under the mm's global ASID (cpu_tlbstate.loaded_mm_asid)? */
export function loadedGlobalAsidOf(ctl: Int32Array, c: number): boolean {
  return (loadShared(ctl, at(c, C_LOADED_MM)) & LOADED_GLOBAL_ASID_BIT) !== 0;
}

/** CPU `c` enters (true) or leaves (false) lazy TLB mode (cpu_tlbstate_shared.is_lazy). */
export function setLazy(ctl: Int32Array, c: number, lazy: boolean): void {
  Atomics.store(ctl, at(c, C_IS_LAZY), lazy ? 1 : 0);
}

/** Is CPU `c` in lazy TLB mode (cpu_tlbstate_shared.is_lazy)? */
export function isLazyCpu(ctl: Int32Array, c: number): boolean {
  return loadShared(ctl, at(c, C_IS_LAZY)) !== 0;
}

// --- Crash notes ---------------------------------------------------------------

/** CPU `c` is about to handle an event (LAST_EVENT_*): the arguments first, the kind last. */
export function noteLastEvent(ctl: Int32Array, c: number, kind: number, a: number, b: number): void {
  Atomics.store(ctl, at(c, C_LAST_EVENT_A), a);
  Atomics.store(ctl, at(c, C_LAST_EVENT_B), b);
  Atomics.store(ctl, at(c, C_LAST_EVENT), kind);
}

/** CPU `c`'s last event, as a sentence (for a crash report). */
export function describeLastEvent(ctl: Int32Array, c: number): string {
  const kind = loadShared(ctl, at(c, C_LAST_EVENT));
  const a = loadShared(ctl, at(c, C_LAST_EVENT_A));
  const b = loadShared(ctl, at(c, C_LAST_EVENT_B));
  if (kind === LAST_EVENT_IPI) return `handling CPU ${a}'s TLB-flush IPI (round ${b})`;
  if (kind === LAST_EVENT_FAULT) return `handling a page fault on page ${b} of mm ${a}`;
  return 'none recorded (it had not handled an IPI or a fault yet)';
}

// --- State hash (src/engine/forcedSchedule.ts) ---------------------------------

/** Mix CPU `c`'s machine-state words (plain reads: the explorer hashes between turns) into `h` with `mix`, in a fixed order. */
export function mixCpuState(ctl: Int32Array, c: number, h: number, mix: (h: number, word: number) => number, every = false): number {
  if (!every) {
    for (const w of CPU_STATE_WORDS) h = mix(h, ctl[at(c, w)]);
    return h;
  }
  // `every` (explore --stateful keys): every word but the host scheduling's, crash notes and queue round ids included.
  for (let w = 0; w < CPU_CTL_WORDS; w++) if (!isSchedCpuWord(w)) h = mix(h, ctl[at(c, w)]);
  return h;
}
