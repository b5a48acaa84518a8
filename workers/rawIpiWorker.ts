/**
 * Raw IPI baseline CPU (src/campaigns/bench/ipiRound.ts, src/campaigns/bench/ipiRate.ts):
 * a plain worker on the engine's IPI wire (src/campaigns/bench/rawIpiLayout.ts:
 * MessagePort message, pending count, doorbell, ack counter) with none of the
 * simulator: the floor the engine's IPI path is compared with.
 *
 * - `one-sender`: sleep on the doorbell; when woken, handle and acknowledge
 *   every request. Diagnostic: the CPU whose id is in RAW_G_BUSY_TARGET
 *   instead runs a busy loop of typed-array reads and looks at its doorbell
 *   every `pollInterval` reads, like a simulated CPU that holds a run token.
 * - `all-to-all`: after RAW_G_START, send `rounds` rounds to every other CPU,
 *   each time waiting for every ack while handling the requests sent to it
 *   (tlb-flush without the simulator); then keep handling requests until
 *   every CPU is done. Posts its finish time (performance.timeOrigin + now).
 *
 * Invariant: only this worker's thread sleeps on its own doorbell.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  addRawGlobal,
  RAW_G_BUSY_TARGET,
  RAW_G_DONE,
  RAW_G_START,
  RAW_G_STOP,
  rawBell,
  rawDrain,
  rawGlobal,
  rawPost,
  rawRing,
  rawSleep,
  rawWaitAcks,
  type RawIpiMessage,
  type RawWorkerData,
} from '../src/campaigns/bench/rawIpiLayout.js';

/** Words of the busy loop's scratch array: 256 pages' worth of TLB entries, like a 64x4 TLB. */
const BUSY_SCRATCH_WORDS = 64 * 4 * 8;

function serveOneSender(data: RawWorkerData, ctl: Int32Array): number {
  const scratch = new Int32Array(BUSY_SCRATCH_WORDS);
  let sink = 0;
  let x = data.id + 1;
  parentPort?.postMessage('ready');
  for (;;) {
    const seen = rawBell(ctl, data.id);
    sink += rawDrain(ctl, data.id, data.inPorts);
    if (rawGlobal(ctl, RAW_G_STOP) !== 0) return sink;
    if (rawGlobal(ctl, RAW_G_BUSY_TARGET) === data.id) {
      // Busy: run accesses until the doorbell rings (a request, or a mode change).
      while (rawBell(ctl, data.id) === seen) {
        for (let i = 0; i < data.pollInterval; i++) {
          x = (Math.imul(x, 1103515245) + 12345) | 0;
          sink += scratch[(x >>> 8) & (BUSY_SCRATCH_WORDS - 1)];
        }
      }
      continue;
    }
    rawSleep(ctl, data.id, seen);
  }
}

function runAllToAll(data: RawWorkerData, ctl: Int32Array): number {
  const { cpus, id: me } = data;
  const targets: number[] = [];
  for (let t = 0; t < cpus; t++) if (t !== me) targets.push(t);
  parentPort?.postMessage('ready');
  for (;;) {
    const seen = rawBell(ctl, me);
    if (rawGlobal(ctl, RAW_G_START) !== 0) break;
    rawSleep(ctl, me, seen);
  }
  let sink = 0;
  for (let r = 1; r <= data.rounds; r++) {
    const msg: RawIpiMessage = { kind: 'flush-pages', sender: me, round: r, mm: 0, tlbGen: r, pages: [r & 255] };
    const woke = rawPost(ctl, me, targets, data.outPorts, msg);
    sink += rawWaitAcks(ctl, me, woke, data.spin, data.inPorts);
  }
  const finishedAt = performance.timeOrigin + performance.now();
  if (addRawGlobal(ctl, RAW_G_DONE, 1) === cpus) for (let c = 0; c < cpus; c++) rawRing(ctl, c);
  // Others may still send to this CPU: handle their requests until every CPU is done.
  for (;;) {
    const seen = rawBell(ctl, me);
    sink += rawDrain(ctl, me, data.inPorts);
    if (rawGlobal(ctl, RAW_G_DONE) === cpus) break;
    rawSleep(ctl, me, seen);
  }
  parentPort?.postMessage(finishedAt);
  return sink;
}

function main(data: RawWorkerData): void {
  const ctl = new Int32Array(data.ctl);
  const sink = data.mode === 'one-sender' ? serveOneSender(data, ctl) : runAllToAll(data, ctl);
  for (const p of data.inPorts) p.close();
  for (const p of data.outPorts) p?.close();
  if (sink === 42.5) console.log('');
}

main(workerData as RawWorkerData);
