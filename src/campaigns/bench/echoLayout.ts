/**
 * Shared words and start-up data of the echo worker (workers/benchEcho.ts)
 * that src/campaigns/bench/limits.ts measures round trips against. Each word sits on
 * its own 64-byte line so the two threads never false-share.
 */
import type { MessagePort } from 'node:worker_threads';

/** Int32 words per line (64 bytes). */
const LINE = 16;
/** Sender bumps and notifies: "your turn" (atomics mode). */
export const ECHO_PING = 0;
/** Echo bumps and notifies: "done" (atomics mode). */
export const ECHO_PONG = LINE;
/** Sender bumps after posting a message: the polled doorbell (doorbell mode). */
export const ECHO_BELL = 2 * LINE;
/** Echo bumps per message drained (doorbell mode). */
export const ECHO_ACK = 3 * LINE;
/** Non-zero: leave the loop. */
export const ECHO_STOP = 4 * LINE;
/** Int32 words of the control buffer. */
export const ECHO_CTL_WORDS = 5 * LINE;

/** Which round trip the echo worker serves. */
export type EchoMode = 'post' | 'atomics' | 'doorbell';

/** What the echo worker receives. */
export interface EchoWorkerData {
  mode: EchoMode;
  ctl: SharedArrayBuffer;
  port: MessagePort;
  /** Doorbell mode: reads of the busy loop between looks at the doorbell. */
  pollInterval: number;
}
