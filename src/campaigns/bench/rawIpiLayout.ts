/**
 * The raw IPI baseline's wire (src/campaigns/bench/ipiRound.ts and ipiRate.ts
 * senders, workers/rawIpiWorker.ts CPUs): the engine's IPI wire with none of
 * the simulator. A request is a MessagePort message (the engine's flush-pages
 * IPI, so it costs the same to clone) drained with receiveMessageOnPort; the
 * target's pending count, its doorbell and the sender's ack counter are
 * Atomics words, with the engine's orders (src/engine/ipi.ts,
 * src/engine/state/cpuControl.ts):
 * - post every message and raise every target's pending count, THEN ring
 *   each doorbell, notifying only a CPU that sleeps on it (its SLEEPING word
 *   is up while it waits);
 * - the sender spins on its ack counter only when no target had to be woken;
 * - the acknowledgement that brings the ack counter to 0 rings the sender.
 *
 * Layout: one 64-byte line per slot, like the engine's per-CPU control
 * block, so CPUs never share a line. Line 0 holds the rig's globals; raw CPU
 * c's words are in line c + 1.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { FlushPagesRequest } from '../../engine/ipi.js';

/** Int32 words per slot (64 bytes). */
const RAW_STRIDE = 16;
/** Global: non-zero tells every CPU to leave its loop. */
export const RAW_G_STOP = 0;
/** Global: id of the CPU that runs a busy access loop instead of sleeping (-1: none). */
export const RAW_G_BUSY_TARGET = 1;
/** Global: non-zero once an all-to-all run may start. */
export const RAW_G_START = 2;
/** Global: all-to-all CPUs that sent all their rounds. */
export const RAW_G_DONE = 3;
/** CPU line: the doorbell. */
const RAW_BELL = 0;
/** CPU line: 1 while the CPU sleeps on its doorbell. */
const RAW_SLEEPING = 1;
/** CPU line: requests posted to this CPU and not yet handled. */
const RAW_PENDING = 2;
/** CPU line: acknowledgements this CPU (as sender) still waits for. */
const RAW_ACK = 3;
/** A raw round that takes longer than this is a bug in the rig, not a slow host. */
const RAW_TIMEOUT_MS = 10_000;

/** Int32 words the control buffer needs for `cpus` raw CPUs. */
export function rawCtlWords(cpus: number): number {
  return (cpus + 1) * RAW_STRIDE;
}

function line(c: number): number {
  return (c + 1) * RAW_STRIDE;
}

/** What each raw CPU worker receives. */
export interface RawWorkerData {
  ctl: SharedArrayBuffer;
  /** Raw CPUs of the rig (the one-sender rig's sender, on the main thread, is CPU 0). */
  cpus: number;
  id: number;
  /** `one-sender`: handle requests until stopped; `all-to-all`: send `rounds` rounds to every other CPU, handling theirs. */
  mode: 'one-sender' | 'all-to-all';
  /** Ports this CPU receives requests on, one per sender. */
  inPorts: MessagePort[];
  /** outPorts[t]: port to CPU t (all-to-all; null for itself). */
  outPorts: (MessagePort | null)[];
  /** All-to-all: rounds this CPU sends. */
  rounds: number;
  /** Ack-counter checks before sleeping (when no target had to be woken). */
  spin: number;
  /** When this CPU is the busy one: look at the doorbell every this many accesses. */
  pollInterval: number;
}

/** The message a raw target receives: the engine's flush-pages IPI (without a multicast forward list), so it costs the same to clone. */
export type RawIpiMessage = Omit<FlushPagesRequest, 'forward'>;

/** Global word `g` of the rig. */
export function rawGlobal(ctl: Int32Array, g: number): number {
  return Atomics.load(ctl, g);
}

/** Set global word `g` (then ring the CPUs that must see it). */
export function setRawGlobal(ctl: Int32Array, g: number, value: number): void {
  Atomics.store(ctl, g, value);
}

/** Add to global word `g`; returns the new value. */
export function addRawGlobal(ctl: Int32Array, g: number, n: number): number {
  return Atomics.add(ctl, g, n) + n;
}

/** CPU `c`'s doorbell count. */
export function rawBell(ctl: Int32Array, c: number): number {
  return Atomics.load(ctl, line(c) + RAW_BELL);
}

/** Ring CPU `c`'s doorbell, notifying it only if it sleeps. Returns true if it had to be woken. */
export function rawRing(ctl: Int32Array, c: number): boolean {
  const b = line(c);
  Atomics.add(ctl, b + RAW_BELL, 1);
  if (Atomics.load(ctl, b + RAW_SLEEPING) === 0) return false;
  Atomics.notify(ctl, b + RAW_BELL);
  return true;
}

/** CPU `c` (the caller) sleeps while its doorbell still reads `seen`, at most `ms` (SLEEPING up meanwhile). */
export function rawSleep(ctl: Int32Array, c: number, seen: number, ms = Infinity): void {
  const b = line(c);
  Atomics.store(ctl, b + RAW_SLEEPING, 1);
  Atomics.wait(ctl, b + RAW_BELL, seen, ms);
  Atomics.store(ctl, b + RAW_SLEEPING, 0);
}

/** CPU `me` posts `msg` to every target (`ports[t]`): ack count, every message and pending count, then every doorbell. Returns true if a target had to be woken. */
export function rawPost(ctl: Int32Array, me: number, targets: readonly number[], ports: readonly (MessagePort | null)[], msg: RawIpiMessage): boolean {
  Atomics.store(ctl, line(me) + RAW_ACK, targets.length);
  for (const t of targets) {
    (ports[t] as MessagePort).postMessage(msg);
    Atomics.add(ctl, line(t) + RAW_PENDING, 1);
  }
  let woke = false;
  for (const t of targets) if (rawRing(ctl, t)) woke = true;
  return woke;
}

/** CPU `me` handles every request posted to it: take it, acknowledge its sender (the last ack rings the sender). Returns a value to keep the work alive. */
export function rawDrain(ctl: Int32Array, me: number, inPorts: readonly MessagePort[]): number {
  const p = line(me) + RAW_PENDING;
  let sink = 0;
  while (Atomics.load(ctl, p) > 0) {
    let got = false;
    for (const port of inPorts) {
      for (;;) {
        const r = receiveMessageOnPort(port);
        if (r === undefined) break;
        got = true;
        const m = r.message as RawIpiMessage;
        sink += m.pages[0];
        Atomics.sub(ctl, p, 1);
        if (Atomics.sub(ctl, line(m.sender) + RAW_ACK, 1) === 1) rawRing(ctl, m.sender);
      }
    }
    if (!got) break;
  }
  return sink;
}

/**
 * CPU `me` waits until every target acknowledged its round: spin `spin`
 * checks first unless a target had to be woken (`woke`), then sleep on its
 * doorbell, handling requests sent to it meanwhile if `inPorts` is given.
 */
export function rawWaitAcks(ctl: Int32Array, me: number, woke: boolean, spin: number, inPorts: readonly MessagePort[] | null): number {
  const a = line(me) + RAW_ACK;
  if (!woke) for (let i = 0; i < spin; i++) if (Atomics.load(ctl, a) === 0) return 0;
  const deadline = performance.now() + RAW_TIMEOUT_MS;
  let sink = 0;
  for (;;) {
    const seen = rawBell(ctl, me);
    if (inPorts) sink += rawDrain(ctl, me, inPorts);
    if (Atomics.load(ctl, a) === 0) return sink;
    if (performance.now() > deadline) throw new Error(`raw IPI rig: CPU ${me}'s round still waits for ${Atomics.load(ctl, a)} acknowledgements after ${RAW_TIMEOUT_MS} ms`);
    rawSleep(ctl, me, seen, 50);
  }
}
