/**
 * Raw IPI baseline target (used by src/campaigns/bench/ipiRound.ts): a plain worker that
 * sleeps in Atomics.wait on its doorbell word, drains its MessagePort with
 * receiveMessageOnPort when woken, and acknowledges each message by
 * decrementing the sender's Atomics ack counter (the last acker bumps the
 * sender's doorbell and notifies it). None of the simulator runs here: this
 * is the floor the engine's IPI path is compared with.
 *
 * Diagnostic mode: the target whose id is in RAW_BUSY_TARGET instead runs a
 * busy loop of typed-array reads and polls its doorbell every `pollInterval`
 * reads, like a simulated CPU that holds a run token.
 */
import { receiveMessageOnPort, workerData, parentPort } from 'node:worker_threads';
import { RAW_ACK, RAW_BUSY_TARGET, RAW_SENDER_BELL, RAW_STOP, rawBellIndex, type RawWorkerData } from '../src/campaigns/bench/rawIpiLayout.js';

/** Words of the busy loop's scratch array: 256 pages' worth of TLB entries, like a 64x4 TLB. */
const BUSY_SCRATCH_WORDS = 64 * 4 * 8;

function serve(data: RawWorkerData): void {
  const ctl = new Int32Array(data.ctl);
  const port = data.port;
  const bell = rawBellIndex(data.id);
  const scratch = new Int32Array(BUSY_SCRATCH_WORDS);
  let sink = 0;
  let x = data.id + 1;

  const drain = (): void => {
    for (;;) {
      const r = receiveMessageOnPort(port);
      if (r === undefined) return;
      if (Atomics.sub(ctl, RAW_ACK, 1) === 1) {
        Atomics.add(ctl, RAW_SENDER_BELL, 1);
        Atomics.notify(ctl, RAW_SENDER_BELL);
      }
    }
  };

  parentPort?.postMessage('ready');
  for (;;) {
    const seen = Atomics.load(ctl, bell);
    drain();
    if (Atomics.load(ctl, RAW_STOP) !== 0) break;
    if (Atomics.load(ctl, RAW_BUSY_TARGET) === data.id) {
      // Busy: run accesses until the doorbell rings (an IPI, or a mode change).
      while (Atomics.load(ctl, bell) === seen) {
        for (let i = 0; i < data.pollInterval; i++) {
          x = (Math.imul(x, 1103515245) + 12345) | 0;
          sink += scratch[(x >>> 8) & (BUSY_SCRATCH_WORDS - 1)];
        }
      }
      continue;
    }
    Atomics.wait(ctl, bell, seen);
  }
  port.close();
  if (sink === 42) console.log('');
}

serve(workerData as RawWorkerData);
