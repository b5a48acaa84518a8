/**
 * TLB hit path: lookups per second through the engine's `Tlb.lookup` on a
 * filled 64x4 TLB in a SharedArrayBuffer, against a raw loop doing the same
 * reads (same set index, same way scan, written inline on the Int32Array).
 * Both loops run inside functions over the same precomputed stream of page
 * numbers, every lookup a hit; each tinybench sample is one batch of
 * LOOKUPS_PER_SAMPLE lookups, turned into lookups per second.
 *
 * Invariant: the two loops are checked to return the same sum, and every
 * lookup to hit, before anything is timed.
 */
import { Bench } from 'tinybench';
import { Prng } from '../../engine/prng.js';
import { Tlb } from '../../engine/tlb.js';
import { figureOf, type Figure } from './figure.js';
import { namedSamplesMs } from './timing.js';
import { E_ASID, E_VPN, TLB_ENTRY_WORDS } from '../../engine/tlb.js';

/** The default engine TLB: 64 sets x 4 ways = 256 entries. */
const TLB_SETS = 64;
/** Ways of the measured TLB. */
const TLB_WAYS = 4;
/** Pages looked up: exactly the TLB's capacity, so every lookup hits (the hit path is what is measured). */
export const PAGES = TLB_SETS * TLB_WAYS;
/** Address-space id every entry is tagged with. */
export const ASID = 1;
/** Lookups per tinybench sample: ~5-15 ms of work, far above timer resolution and call overhead. */
const LOOKUPS_PER_SAMPLE = 1_000_000;
/** At least this many samples per loop. */
export const MIN_SAMPLES = 20;
/** Place the measured TLB at this CPU's slice of a shared array, as the engine does (CPU 0 would start at offset 0). */
const CPU_SLICE = 1;
/** Seed of the page-number stream. */
const SEED = 12345;

/** How long to measure each loop. */
export interface LookupBudget {
  /** tinybench time per loop, ms. */
  timeMs: number;
  /**
   * tinybench warm-up per loop, ms. It must let V8 reach its final optimised
   * code: a 250 ms warm-up measured the engine loop at 0.67-0.77x raw when
   * this ran after the IPI benchmark in the same process (1.0x standalone).
   */
  warmupMs: number;
}

/** The TLB figures of a profile. */
export interface TlbLookupFigures {
  /** Hits per second through Tlb.lookup. */
  engine: Figure;
  /** Hits per second of the inline raw loop. */
  raw: Figure;
  /** engine / raw of the medians. */
  ratio: number;
}

/** Engine path: the engine's own method, called once per lookup. */
function engineLoop(tlb: Tlb, vpns: Int32Array, asid: number): number {
  let sum = 0;
  for (let i = 0; i < vpns.length; i++) sum += tlb.lookup(vpns[i], asid);
  return sum;
}

/** Raw path: the same reads written inline. */
function rawLoop(words: Int32Array, vpns: Int32Array, asid: number, setMask: number, setStride: number): number {
  let sum = 0;
  for (let i = 0; i < vpns.length; i++) {
    const vpn = vpns[i];
    let e = (vpn & setMask) * setStride;
    const end = e + setStride;
    let hit = -1;
    for (; e < end; e += TLB_ENTRY_WORDS) {
      if (words[e + E_VPN] === vpn && words[e + E_ASID] === asid) {
        hit = e;
        break;
      }
    }
    sum += hit;
  }
  return sum;
}

/** Measure both loops. */
export async function measureTlbLookup(budget: LookupBudget): Promise<TlbLookupFigures> {
  const tlbWords = TLB_SETS * TLB_WAYS * TLB_ENTRY_WORDS;
  const sab = new SharedArrayBuffer((CPU_SLICE + 1) * tlbWords * Int32Array.BYTES_PER_ELEMENT);
  const words = new Int32Array(sab).subarray(CPU_SLICE * tlbWords, (CPU_SLICE + 1) * tlbWords);
  const tlb = new Tlb(words, TLB_SETS, TLB_WAYS);
  tlb.reset();
  for (let vpn = 0; vpn < PAGES; vpn++) tlb.fill(vpn, ASID, vpn + 1, true, false, 0);
  if (tlb.occupancy() !== PAGES) throw new Error(`TLB holds ${tlb.occupancy()} entries, expected ${PAGES}`);

  const prng = new Prng(SEED);
  const vpns = new Int32Array(LOOKUPS_PER_SAMPLE);
  for (let i = 0; i < vpns.length; i++) vpns[i] = prng.below(PAGES);

  const setMask = TLB_SETS - 1;
  const setStride = TLB_WAYS * TLB_ENTRY_WORDS;
  const expected = engineLoop(tlb, vpns, ASID);
  const rawSum = rawLoop(words, vpns, ASID, setMask, setStride);
  if (expected !== rawSum) throw new Error(`engine and raw loops disagree: ${expected} vs ${rawSum}`);
  for (let i = 0; i < 1000; i++) if (tlb.lookup(vpns[i], ASID) < 0) throw new Error(`lookup of page ${vpns[i]} missed`);

  let sink = 0;
  const bench = new Bench({
    name: 'TLB lookups',
    time: budget.timeMs,
    iterations: MIN_SAMPLES,
    warmupIterations: MIN_SAMPLES,
    warmupTime: budget.warmupMs,
    retainSamples: true,
    throws: true,
  });
  bench
    .add('engine', () => {
      sink += engineLoop(tlb, vpns, ASID);
    })
    .add('raw', () => {
      sink += rawLoop(words, vpns, ASID, setMask, setStride);
    });
  await bench.run();
  if (sink === 0) throw new Error('TLB lookup loops returned nothing');
  const perSec = (ms: number): number => (LOOKUPS_PER_SAMPLE / ms) * 1000;
  const engine = figureOf(namedSamplesMs(bench, 'engine').map(perSec), 'lookups/s', 'higher');
  const raw = figureOf(namedSamplesMs(bench, 'raw').map(perSec), 'lookups/s', 'higher');
  return { engine, raw, ratio: Math.round((engine.median / raw.median) * 1000) / 1000 };
}
