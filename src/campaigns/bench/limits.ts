/**
 * The physical limits of message passing on this host: three round trips
 * between the main thread and one echo worker (workers/benchEcho.ts), each a
 * tinybench task whose samples are single round trips.
 *
 * - `post_message_rt`: MessagePort message there and back, both sides on
 *   their event loops (what comlink's control plane costs).
 * - `atomics_wait_notify_rt`: Atomics.notify to a thread asleep in
 *   Atomics.wait, which notifies back (waking a sleeping CPU).
 * - `doorbell_rt`: a message plus a doorbell bump to a thread that is busy
 *   and polls the doorbell every `DOORBELL_POLL` reads, drains its port with
 *   receiveMessageOnPort and acknowledges on a shared word the sender spins
 *   on (the engine's IPI to a running CPU).
 *
 * Invariant: each worker is stopped and terminated before the next starts,
 * so the three never share the host.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { Bench } from 'tinybench';
import { DEFAULTS } from '../../config/config.js';
import { benchEchoWorkerUrl } from '../../engine/paths.js';
import { ECHO_ACK, ECHO_BELL, ECHO_CTL_WORDS, ECHO_PING, ECHO_PONG, ECHO_STOP, type EchoMode, type EchoWorkerData } from './echoLayout.js';
import { figureOf, type Figure } from './figure.js';
import { taskSamplesMs } from './timing.js';

/** The three round trips, microseconds. */
export interface MessagingLimits {
  /** postMessage there and back between two event loops. */
  post_message_rt: Figure;
  /** Atomics.notify to a sleeping thread and back. */
  atomics_wait_notify_rt: Figure;
  /** Message + doorbell to a busy polling thread, receiveMessageOnPort, ack on a shared word. */
  doorbell_rt: Figure;
}

/** How long to measure each round trip. */
export interface LimitsBudget {
  /** tinybench time budget per round trip, ms. */
  timeMs: number;
  /** tinybench warm-up budget per round trip, ms. */
  warmupMs: number;
}

/** The echo worker polls its doorbell this often: the engine's default doorbellPollInterval. */
const DOORBELL_POLL = DEFAULTS.doorbellPollInterval;
/** The sender spins this many checks of the ack before sleeping on it (on one core a spinning sender would starve the echo). */
const SENDER_SPIN = 10_000;
/** A round trip longer than this is a broken rig, not a slow host. */
const ROUND_TRIP_TIMEOUT_MS = 5_000;
/** At least this many samples per round trip, whatever the time budget: a median of a handful is noise. */
export const MIN_SAMPLES = 100;

/** The message sent: the shape of the engine's flush-pages IPI, so it costs the same to clone. */
const MESSAGE = { kind: 'flush-pages', sender: 0, round: 1, mm: 0, tlbGen: 1, pages: [1] } as const;

interface Echo {
  ctl: Int32Array;
  port: MessageChannel['port1'];
  stop(): Promise<void>;
}

async function startEcho(mode: EchoMode): Promise<Echo> {
  const sab = new SharedArrayBuffer(ECHO_CTL_WORDS * Int32Array.BYTES_PER_ELEMENT);
  const ctl = new Int32Array(sab);
  const ch = new MessageChannel();
  const data: EchoWorkerData = { mode, ctl: sab, port: ch.port2, pollInterval: DOORBELL_POLL };
  const w = new Worker(benchEchoWorkerUrl(), { workerData: data, transferList: [ch.port2] });
  await new Promise<void>((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  });
  return {
    ctl,
    port: ch.port1,
    async stop() {
      Atomics.store(ctl, ECHO_STOP, 1);
      Atomics.add(ctl, ECHO_PING, 1);
      Atomics.notify(ctl, ECHO_PING);
      Atomics.add(ctl, ECHO_BELL, 1);
      ch.port1.close();
      await w.terminate();
    },
  };
}

/** Wait (spin, then sleep) until word `i` differs from `old`. */
function waitChange(ctl: Int32Array, i: number, old: number, what: string): void {
  for (let s = 0; s < SENDER_SPIN; s++) if (Atomics.load(ctl, i) !== old) return;
  const deadline = performance.now() + ROUND_TRIP_TIMEOUT_MS;
  while (Atomics.load(ctl, i) === old) {
    if (performance.now() > deadline) throw new Error(`${what}: no answer from the echo worker within ${ROUND_TRIP_TIMEOUT_MS} ms`);
    Atomics.wait(ctl, i, old, 1);
  }
}

function roundTrip(mode: EchoMode, e: Echo): (() => void) | (() => Promise<void>) {
  switch (mode) {
    case 'post':
      return () =>
        new Promise<void>((resolve) => {
          e.port.once('message', () => resolve());
          e.port.postMessage(MESSAGE);
        });
    case 'atomics':
      return () => {
        const pong = Atomics.load(e.ctl, ECHO_PONG);
        Atomics.add(e.ctl, ECHO_PING, 1);
        Atomics.notify(e.ctl, ECHO_PING);
        waitChange(e.ctl, ECHO_PONG, pong, 'Atomics.wait/notify round trip');
      };
    case 'doorbell':
      return () => {
        const ack = Atomics.load(e.ctl, ECHO_ACK);
        e.port.postMessage(MESSAGE);
        Atomics.add(e.ctl, ECHO_BELL, 1);
        waitChange(e.ctl, ECHO_ACK, ack, 'doorbell round trip');
      };
  }
}

/** Round-trip samples (microseconds) of one mode. */
async function measureMode(mode: EchoMode, budget: LimitsBudget): Promise<number[]> {
  const e = await startEcho(mode);
  try {
    const bench = new Bench({ time: budget.timeMs, iterations: MIN_SAMPLES, warmupTime: budget.warmupMs, warmupIterations: MIN_SAMPLES, retainSamples: true, throws: true });
    bench.add(mode, roundTrip(mode, e));
    await bench.run();
    return taskSamplesMs(bench.tasks[0]).map((ms) => ms * 1000);
  } finally {
    await e.stop();
  }
}

/** Measure the three round trips, one after the other. `onStep` is called after each. */
export async function measureLimits(budget: LimitsBudget, onStep: (label: string) => void = () => {}): Promise<MessagingLimits> {
  const post = await measureMode('post', budget);
  onStep('postMessage round trip');
  const atomics = await measureMode('atomics', budget);
  onStep('Atomics.wait/notify round trip');
  const doorbell = await measureMode('doorbell', budget);
  onStep('doorbell round trip');
  return {
    post_message_rt: figureOf(post, 'us', 'lower'),
    atomics_wait_notify_rt: figureOf(atomics, 'us', 'lower'),
    doorbell_rt: figureOf(doorbell, 'us', 'lower'),
  };
}
