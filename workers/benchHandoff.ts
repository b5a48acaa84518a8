/**
 * Raw hand-off worker of `tlbsim bench` (src/campaigns/bench/seededStep.ts):
 * two of these pass one turn back and forth through a shared word, the way a
 * seeded run passes its turn between CPU threads, with none of the simulator:
 * the holder stores the next hand-off number and notifies; the other reads it
 * (up to `spinLoads` times) and otherwise sleeps in Atomics.wait until it
 * changes. The time per hand-off is the floor a seeded step is compared with.
 *
 * Invariant: only the worker whose turn it is (H_TURN % 2 === me) writes H_TURN.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { H_DONE, H_GO, H_N, H_STOP, H_TURN, type HandoffWorkerData } from '../src/campaigns/bench/handoffLayout.js';

/** Safety-net timeout of a turn wait, ms: every hand-off notifies, so it only bounds a lost wake-up. */
const TURN_WAIT_MS = 50;

/** Run one batch: take every hand-off whose number is ours, until the batch's count is reached. */
function batch(ctl: Int32Array, me: number, spinLoads: number): void {
  const n = Atomics.load(ctl, H_N);
  for (;;) {
    let k = Atomics.load(ctl, H_TURN);
    for (let s = 0; s < spinLoads && k % 2 !== me && k < n; s++) k = Atomics.load(ctl, H_TURN);
    while (k % 2 !== me && k < n) {
      Atomics.wait(ctl, H_TURN, k, TURN_WAIT_MS);
      k = Atomics.load(ctl, H_TURN);
    }
    if (k >= n) return;
    Atomics.store(ctl, H_TURN, k + 1);
    Atomics.notify(ctl, H_TURN);
  }
}

function main(data: HandoffWorkerData): void {
  const ctl = new Int32Array(data.ctl);
  let go = Atomics.load(ctl, H_GO);
  parentPort?.postMessage('ready');
  for (;;) {
    Atomics.wait(ctl, H_GO, go);
    if (Atomics.load(ctl, H_STOP) !== 0) return;
    const now = Atomics.load(ctl, H_GO);
    if (now === go) continue;
    go = now;
    batch(ctl, data.me, data.spinLoads);
    Atomics.add(ctl, H_DONE, 1);
    Atomics.notify(ctl, H_DONE);
  }
}

main(workerData as HandoffWorkerData);
