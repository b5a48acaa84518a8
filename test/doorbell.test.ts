/**
 * Doorbells and round watching (src/engine/state/cpuControl.ts): a ring
 * always bumps the doorbell and notifies only a CPU that sleeps on it
 * (C_SLEEPING); the last acknowledgement of a round rings every CPU that
 * watches it (stepping aside) and the sender, and no other CPU.
 *
 * The sleeping case runs a real worker thread on the compiled module (build
 * first: `npm run build`).
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ackIpi, CPU_CTL_WORDS, doorbell, ringDoorbell, startIpiRound, unwatchRound, watchRound } from '../src/engine/state/cpuControl.js';

const CPUS = 4;

function block(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(CPUS * CPU_CTL_WORDS * Int32Array.BYTES_PER_ELEMENT));
}

describe('doorbell', () => {
  it('a ring of a CPU that does not sleep bumps its doorbell and wakes nobody', () => {
    const ctl = block();
    expect(ringDoorbell(ctl, 1)).toBe(false);
    expect(ringDoorbell(ctl, 1)).toBe(false);
    // Two rings, two bumps; no other CPU's doorbell moved.
    expect(doorbell(ctl, 1)).toBe(2);
    expect([0, 2, 3].map((c) => doorbell(ctl, c))).toEqual([0, 0, 0]);
  });

  it('a ring of a CPU asleep on its doorbell notifies it, and its wait ends', async () => {
    const ctl = block();
    const moduleUrl = new URL('../dist/src/engine/state/cpuControl.js', import.meta.url).href;
    // The worker sleeps on CPU 2's doorbell again and again (each wait at most 10 s) and reports how each wait ended.
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.moduleUrl).then(({ doorbell, waitDoorbell }) => {
        const ctl = new Int32Array(workerData.sab);
        for (;;) parentPort.postMessage(waitDoorbell(ctl, 2, doorbell(ctl, 2), 10000));
      });`;
    const w = new Worker(code, { eval: true, workerData: { sab: ctl.buffer, moduleUrl } });
    try {
      const results: string[] = [];
      let onResult = (): void => {};
      w.on('message', (m: string) => {
        results.push(m);
        onResult();
      });
      // Ring every few ms until a ring finds it asleep; each ring before that only bumps the doorbell.
      let woke = false;
      for (let i = 0; i < 1_000 && !woke; i++) {
        woke = ringDoorbell(ctl, 2);
        if (!woke) await new Promise((r) => setTimeout(r, 5));
      }
      expect(woke).toBe(true);
      const before = results.length;
      // The wait that ring found must end (woken, or the bump seen before it began), never by its 10 s time-out.
      await new Promise<void>((resolve) => {
        onResult = resolve;
        if (results.length > before) resolve();
      });
      expect(results).not.toContain('timed-out');
    } finally {
      await w.terminate();
    }
  });
});

describe('watching a round', () => {
  it("the round's last ack rings the sender and every watcher, and nobody else", () => {
    const ctl = block();
    // CPU 0 sends round 7 to CPUs 1 and 2; CPU 3 steps aside watching it; CPU 1 watches nothing.
    startIpiRound(ctl, 0, 7, 2);
    watchRound(ctl, 3, 0);
    ackIpi(ctl, 0); // 2 -> 1: not the last ack, rings nobody
    expect([0, 1, 2, 3].map((c) => doorbell(ctl, c))).toEqual([0, 0, 0, 0]);
    ackIpi(ctl, 0); // 1 -> 0: rings the watcher (CPU 3) and the sender (CPU 0)
    expect([0, 1, 2, 3].map((c) => doorbell(ctl, c))).toEqual([1, 0, 0, 1]);
    unwatchRound(ctl, 3, 0);
    // The next round has no watcher: its last ack rings only the sender.
    startIpiRound(ctl, 0, 8, 1);
    ackIpi(ctl, 0);
    expect([0, 1, 2, 3].map((c) => doorbell(ctl, c))).toEqual([2, 0, 0, 1]);
  });
});
