/**
 * Shared-word layout of the raw IPI baseline (src/campaigns/bench/ipiRound.ts sender,
 * workers/rawIpiWorker.ts targets). One 64-byte line per slot, like the
 * engine's per-CPU control block, so targets never share a line.
 */
import type { MessagePort } from 'node:worker_threads';
import type { FlushPagesRequest } from '../../engine/ipi.js';

/** Int32 words per slot (64 bytes). */
const RAW_STRIDE = 16;
/** Slot 0, word 0: acknowledgements the sender still waits for. */
export const RAW_ACK = 0;
/** Slot 0, word 1: the sender's doorbell (the last acker bumps it and notifies). */
export const RAW_SENDER_BELL = 1;
/** Slot 0, word 2: non-zero tells every target to leave its loop. */
export const RAW_STOP = 2;
/** Slot 0, word 3: id of the target that runs a busy access loop instead of sleeping (-1: none). */
export const RAW_BUSY_TARGET = 3;

/** Doorbell word of target `t` (slot t + 1). */
export function rawBellIndex(t: number): number {
  return (t + 1) * RAW_STRIDE;
}

/** Int32 words the control buffer needs for `targets` targets. */
export function rawCtlWords(targets: number): number {
  return (targets + 1) * RAW_STRIDE;
}

/** What each raw target worker receives. */
export interface RawWorkerData {
  ctl: SharedArrayBuffer;
  id: number;
  port: MessagePort;
  /** When this target is the busy one: look at the doorbell every this many accesses. */
  pollInterval: number;
}

/** The message a raw target receives: the engine's flush-pages IPI (without a multicast forward list), so it costs the same to clone. */
export type RawIpiMessage = Omit<FlushPagesRequest, 'forward'>;
