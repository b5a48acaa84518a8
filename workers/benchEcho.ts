/**
 * Echo worker of `tlbsim bench`'s message-passing limits (src/campaigns/bench/limits.ts).
 * It runs exactly one of three round-trip partners, chosen by `mode`, and
 * contains no simulator code: these are the host's floors.
 *
 * - `post`: answers every MessagePort message with a message (event loop).
 * - `atomics`: sleeps in Atomics.wait on PING; on each bump, bumps PONG and notifies.
 * - `doorbell`: runs a busy loop of typed-array reads (a running CPU) and
 *   looks at its doorbell every `pollInterval` reads; when it moved, drains
 *   the port with receiveMessageOnPort and acknowledges each message on ACK.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { ECHO_ACK, ECHO_BELL, ECHO_PING, ECHO_PONG, ECHO_STOP, type EchoWorkerData } from '../src/campaigns/bench/echoLayout.js';

/** Words of the busy loop's scratch array (a 64x4 TLB's worth of entries). */
const BUSY_SCRATCH_WORDS = 64 * 4 * 8;

/** `last`: the PING value already answered (read before 'ready', so no bump is ever missed). */
function serveAtomics(ctl: Int32Array, last: number): void {
  for (;;) {
    Atomics.wait(ctl, ECHO_PING, last);
    if (Atomics.load(ctl, ECHO_STOP) !== 0) return;
    const now = Atomics.load(ctl, ECHO_PING);
    if (now === last) continue;
    last = now;
    Atomics.add(ctl, ECHO_PONG, 1);
    Atomics.notify(ctl, ECHO_PONG);
  }
}

/** `seen`: the doorbell value before 'ready' was posted. */
function serveDoorbell(ctl: Int32Array, data: EchoWorkerData, seen: number): number {
  const scratch = new Int32Array(BUSY_SCRATCH_WORDS);
  let sink = 0;
  let x = 1;
  for (;;) {
    for (let i = 0; i < data.pollInterval; i++) {
      x = (Math.imul(x, 1103515245) + 12345) | 0;
      sink += scratch[(x >>> 8) & (BUSY_SCRATCH_WORDS - 1)];
    }
    const bell = Atomics.load(ctl, ECHO_BELL);
    if (bell === seen) continue;
    seen = bell;
    if (Atomics.load(ctl, ECHO_STOP) !== 0) return sink;
    for (;;) {
      const m = receiveMessageOnPort(data.port);
      if (m === undefined) break;
      Atomics.add(ctl, ECHO_ACK, 1);
      Atomics.notify(ctl, ECHO_ACK);
    }
  }
}

function main(data: EchoWorkerData): void {
  const ctl = new Int32Array(data.ctl);
  switch (data.mode) {
    case 'post':
      data.port.on('message', (m: unknown) => data.port.postMessage(m));
      parentPort?.postMessage('ready');
      return;
    case 'atomics': {
      const last = Atomics.load(ctl, ECHO_PING);
      parentPort?.postMessage('ready');
      serveAtomics(ctl, last);
      break;
    }
    case 'doorbell': {
      const seen = Atomics.load(ctl, ECHO_BELL);
      parentPort?.postMessage('ready');
      const sink = serveDoorbell(ctl, data, seen);
      if (sink === 42) console.log('');
      break;
    }
  }
  data.port.close();
}

main(workerData as EchoWorkerData);
