/**
 * Unit tests of the set-associative TLB (src/engine/tlb.ts): hits, misses, set
 * indexing, FIFO replacement, the invalidation primitives, and the cached
 * writable/dirty bits and frame generation of an entry.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Tlb } from '../src/engine/tlb.js';
import { TLB_ENTRY_WORDS } from '../src/engine/tlb.js';

const SETS = 4;
const WAYS = 2;
const ASID = 1;
const OTHER_ASID = 2;

function makeTlb(sets = SETS, ways = WAYS): Tlb {
  const t = new Tlb(new Int32Array(sets * ways * TLB_ENTRY_WORDS), sets, ways);
  t.reset();
  return t;
}

/** The set an entry offset lies in. */
function setOf(t: Tlb, offset: number): number {
  return Math.floor(offset / (t.ways * TLB_ENTRY_WORDS));
}

/** `count` vpns that all map to set `set`: set, set+sets, set+2*sets, ... */
function vpnsInSet(set: number, count: number, sets = SETS): number[] {
  return Array.from({ length: count }, (_, i) => set + i * sets);
}

describe('Tlb', () => {
  let t: Tlb;
  beforeEach(() => {
    t = makeTlb();
  });

  it('starts empty after reset: every lookup misses', () => {
    expect(t.occupancy()).toBe(0);
    for (let vpn = 0; vpn < 16; vpn++) {
      expect(t.lookup(vpn, ASID)).toBe(-1);
      expect(t.lookup(vpn, 0)).toBe(-1);
    }
  });

  it('reset() invalidates entries that were filled before', () => {
    t.fill(3, ASID, 30, true, false, 0);
    t.fill(0, 0, 7, false, false, 0);
    expect(t.occupancy()).toBe(2);
    t.reset();
    expect(t.occupancy()).toBe(0);
    expect(t.lookup(3, ASID)).toBe(-1);
    expect(t.lookup(0, 0)).toBe(-1);
  });

  it('hits after a fill, with the cached frame, permission bits and generation', () => {
    const e = t.fill(5, ASID, 42, true, false, 7);
    expect(e).toBeGreaterThanOrEqual(0);
    expect(t.lookup(5, ASID)).toBe(e);
    expect(t.frame(e)).toBe(42);
    expect(t.gen(e)).toBe(7);
    expect(t.writable(e)).toBe(true);
    expect(t.dirty(e)).toBe(false);
    expect(t.occupancy()).toBe(1);
  });

  it('caches every combination of writable and dirty independently', () => {
    const combos: [boolean, boolean][] = [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ];
    // vpns 0..3 land in four different sets, so none evicts another.
    const offsets = combos.map(([w, d], vpn) => t.fill(vpn, ASID, 100 + vpn, w, d, vpn));
    combos.forEach(([w, d], vpn) => {
      const e = t.lookup(vpn, ASID);
      expect(e).toBe(offsets[vpn]);
      expect(t.writable(e)).toBe(w);
      expect(t.dirty(e)).toBe(d);
      expect(t.frame(e)).toBe(100 + vpn);
      expect(t.gen(e)).toBe(vpn);
    });
  });

  it('misses for another ASID or another vpn of the same set', () => {
    t.fill(5, ASID, 42, true, false, 0);
    expect(t.lookup(5, OTHER_ASID)).toBe(-1);
    expect(t.lookup(5 + SETS, ASID)).toBe(-1); // same set (5 & 3 === 9 & 3), different vpn
    expect(t.lookup(6, ASID)).toBe(-1);
  });

  it('places an entry in set vpn & (sets - 1)', () => {
    for (const vpn of [0, 1, 2, 3, 4, 7, 13, 1022]) {
      const tt = makeTlb();
      const e = tt.fill(vpn, ASID, 1, false, false, 0);
      expect(setOf(tt, e)).toBe(vpn & (SETS - 1));
    }
  });

  it('holds sets * ways translations when they are spread over every set', () => {
    const vpns = Array.from({ length: SETS * WAYS }, (_, i) => i);
    for (const vpn of vpns) t.fill(vpn, ASID, 1000 + vpn, false, false, 0);
    expect(t.occupancy()).toBe(SETS * WAYS);
    for (const vpn of vpns) {
      const e = t.lookup(vpn, ASID);
      expect(e).toBeGreaterThanOrEqual(0);
      expect(t.frame(e)).toBe(1000 + vpn);
    }
  });

  it('evicts the first-filled entry when ways+1 translations map to one set', () => {
    const [first, ...rest] = vpnsInSet(1, WAYS + 1);
    t.fill(first, ASID, 10, true, false, 0);
    const restOffsets = rest.map((vpn, i) => t.fill(vpn, ASID, 11 + i, true, false, 0));
    expect(t.lookup(first, ASID)).toBe(-1);
    for (const [i, vpn] of rest.entries()) expect(t.lookup(vpn, ASID)).toBe(restOffsets[i]);
    expect(t.occupancy()).toBe(WAYS);
    // Other sets are untouched by the eviction.
    expect(restOffsets.every((e) => setOf(t, e) === 1)).toBe(true);
  });

  it('replaces FIFO: hits do not protect the oldest fill', () => {
    const vpns = vpnsInSet(2, WAYS + 2);
    for (let i = 0; i < WAYS; i++) t.fill(vpns[i], ASID, i, false, false, 0);
    // Hit the oldest entry many times: with LRU it would survive, with FIFO it must not.
    for (let i = 0; i < 10; i++) expect(t.lookup(vpns[0], ASID)).toBeGreaterThanOrEqual(0);
    t.fill(vpns[WAYS], ASID, 99, false, false, 0);
    expect(t.lookup(vpns[0], ASID)).toBe(-1);
    expect(t.lookup(vpns[1], ASID)).toBeGreaterThanOrEqual(0);
    // The next fill evicts the next-oldest one.
    t.fill(vpns[WAYS + 1], ASID, 100, false, false, 0);
    expect(t.lookup(vpns[1], ASID)).toBe(-1);
    expect(t.lookup(vpns[WAYS], ASID)).toBeGreaterThanOrEqual(0);
    expect(t.lookup(vpns[WAYS + 1], ASID)).toBeGreaterThanOrEqual(0);
  });

  it('fills an invalidated way before evicting a valid one', () => {
    const vpns = vpnsInSet(3, WAYS + 1);
    for (let i = 0; i < WAYS; i++) t.fill(vpns[i], ASID, i, false, false, 0);
    expect(t.invalidatePage(vpns[1], ASID)).toBe(1);
    t.fill(vpns[WAYS], ASID, 50, false, false, 0);
    // vpns[0] is the oldest fill, but a free way existed: nothing valid is evicted.
    expect(t.lookup(vpns[0], ASID)).toBeGreaterThanOrEqual(0);
    expect(t.lookup(vpns[WAYS], ASID)).toBeGreaterThanOrEqual(0);
    expect(t.occupancy()).toBe(WAYS);
  });

  it('re-filling an existing (vpn, asid) replaces the entry in place', () => {
    const vpns = vpnsInSet(0, WAYS);
    const other = t.fill(vpns[0], ASID, 1, false, false, 0);
    const e = t.fill(vpns[1], ASID, 2, false, false, 3);
    const e2 = t.fill(vpns[1], ASID, 9, true, true, 4);
    expect(e2).toBe(e);
    expect(t.occupancy()).toBe(WAYS);
    expect(t.lookup(vpns[1], ASID)).toBe(e);
    expect(t.frame(e)).toBe(9);
    expect(t.gen(e)).toBe(4);
    expect(t.writable(e)).toBe(true);
    expect(t.dirty(e)).toBe(true);
    // The other way of the set survived (the refill did not evict it).
    expect(t.lookup(vpns[0], ASID)).toBe(other);
    expect(t.frame(other)).toBe(1);
  });

  it('re-filling the same vpn under another ASID adds a second entry', () => {
    const a = t.fill(6, ASID, 1, false, false, 0);
    const b = t.fill(6, OTHER_ASID, 2, false, false, 0);
    expect(b).not.toBe(a);
    expect(t.frame(t.lookup(6, ASID))).toBe(1);
    expect(t.frame(t.lookup(6, OTHER_ASID))).toBe(2);
  });

  // Regression: fill() once stopped at the first invalid way before looking for an
  // existing (vpn, asid) in a later way, leaving a duplicate that survived invlpg.
  it('re-filling an existing (vpn, asid) after an earlier way was invalidated leaves no duplicate', () => {
    const vpns = vpnsInSet(1, WAYS);
    t.fill(vpns[0], ASID, 1, false, false, 0);
    const e = t.fill(vpns[1], ASID, 2, true, false, 0);
    t.invalidatePage(vpns[0], ASID); // a hole before vpns[1]'s way
    expect(t.fill(vpns[1], ASID, 3, true, true, 1)).toBe(e);
    expect(t.occupancy()).toBe(1);
    expect(t.invalidatePage(vpns[1], ASID)).toBe(1);
    expect(t.lookup(vpns[1], ASID)).toBe(-1);
  });

  it('markDirty sets the cached dirty bit and nothing else', () => {
    const e = t.fill(2, ASID, 8, true, false, 5);
    t.markDirty(e);
    expect(t.dirty(e)).toBe(true);
    expect(t.writable(e)).toBe(true);
    expect(t.frame(e)).toBe(8);
    expect(t.gen(e)).toBe(5);
    expect(t.lookup(2, ASID)).toBe(e);
  });

  it('invalidatePage drops exactly one (vpn, asid) and reports it', () => {
    t.fill(5, ASID, 1, false, false, 0);
    t.fill(5, OTHER_ASID, 2, false, false, 0);
    t.fill(6, ASID, 3, false, false, 0);
    expect(t.invalidatePage(5, ASID)).toBe(1);
    expect(t.lookup(5, ASID)).toBe(-1);
    expect(t.lookup(5, OTHER_ASID)).toBeGreaterThanOrEqual(0);
    expect(t.lookup(6, ASID)).toBeGreaterThanOrEqual(0);
    expect(t.occupancy()).toBe(2);
    expect(t.invalidatePage(5, ASID)).toBe(0); // already gone
    expect(t.invalidatePage(7, ASID)).toBe(0); // never there
    expect(t.occupancy()).toBe(2);
  });

  it('flushAsid drops only that ASID and returns how many', () => {
    for (const vpn of [0, 1, 2]) t.fill(vpn, ASID, vpn, false, false, 0);
    for (const vpn of [0, 3]) t.fill(vpn, OTHER_ASID, 10 + vpn, false, false, 0);
    expect(t.flushAsid(ASID)).toBe(3);
    for (const vpn of [0, 1, 2]) expect(t.lookup(vpn, ASID)).toBe(-1);
    expect(t.frame(t.lookup(0, OTHER_ASID))).toBe(10);
    expect(t.frame(t.lookup(3, OTHER_ASID))).toBe(13);
    expect(t.occupancy()).toBe(2);
    expect(t.flushAsid(ASID)).toBe(0);
  });

  it('flushAll drops everything and returns how many', () => {
    for (const vpn of [0, 1, 5]) t.fill(vpn, ASID, vpn, false, false, 0);
    t.fill(2, OTHER_ASID, 2, false, false, 0);
    expect(t.flushAll()).toBe(4);
    expect(t.occupancy()).toBe(0);
    for (const vpn of [0, 1, 2, 5]) {
      expect(t.lookup(vpn, ASID)).toBe(-1);
      expect(t.lookup(vpn, OTHER_ASID)).toBe(-1);
    }
    expect(t.flushAll()).toBe(0);
  });

  it('never writes outside its own slice of a shared array', () => {
    const len = SETS * WAYS * TLB_ENTRY_WORDS;
    const whole = new Int32Array(new SharedArrayBuffer(3 * len * 4)).fill(0x5a5a5a5a);
    const mine = new Tlb(whole.subarray(len, 2 * len), SETS, WAYS);
    mine.reset();
    for (let vpn = 0; vpn < 3 * SETS * WAYS; vpn++) mine.fill(vpn, ASID, vpn, true, false, 0);
    mine.markDirty(mine.lookup(3 * SETS * WAYS - 1, ASID));
    mine.invalidatePage(3 * SETS * WAYS - 1, ASID);
    mine.flushAsid(ASID);
    mine.flushAll();
    expect(whole.subarray(0, len).every((w) => w === 0x5a5a5a5a)).toBe(true);
    expect(whole.subarray(2 * len).every((w) => w === 0x5a5a5a5a)).toBe(true);
  });
});
