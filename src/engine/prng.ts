/**
 * Seeded pseudo-random numbers (mulberry32): small, fast, and with state that
 * fits in one Int32 word, so the seeded scheduler can keep it in shared memory.
 *
 * Invariants: the same seed gives the same sequence on every thread and host;
 * nothing in a seeded run draws randomness from anywhere else.
 */

/** Advance a mulberry32 state; returns [nextState, value in [0, 2^32)]. */
export function mulberry32Step(state: number): [number, number] {
  const s = (state + 0x6d2b79f5) | 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [s, (t ^ (t >>> 14)) >>> 0];
}

/** Mix a seed with a stream id (CPU id, iteration number) into an independent seed. */
export function deriveSeed(seed: number, stream: number): number {
  let h = (seed ^ Math.imul(stream + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A thread-local seeded generator. */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed | 0;
  }
  /** Uniform integer in [0, 2^32). */
  nextU32(): number {
    const [s, v] = mulberry32Step(this.state);
    this.state = s;
    return v;
  }
  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}
