/**
 * Unit tests of the PTE word format and the atomic PTE updates
 * (src/engine/pageTable.ts): what the hardware walks, reclaim, mprotect and the
 * write-protect fault may and may not change.
 */
import { describe, expect, it } from 'vitest';
import {
  PTE_ACCESSED,
  PTE_DIRTY,
  PTE_FRAME_MAX,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_WRITE,
  mkPte,
  pteDirty,
  pteFrame,
  pteHwPresent,
  pteMkwriteDirty,
  ptePresent,
  pteWrite,
  pteYoung,
  ptepGetAndClear,
  ptepSetProtNone,
  ptepSetWrprotect,
  walkForRead,
  walkForWrite,
  weakSetDirty,
} from '../src/engine/pageTable.js';

/** A one-PTE page table in shared memory (as the engine has it), at index 1 of 3 to catch stray writes. */
function table(pte: number): Int32Array {
  const pt = new Int32Array(new SharedArrayBuffer(3 * 4));
  pt[0] = 0x11;
  pt[1] = pte;
  pt[2] = 0x22;
  return pt;
}
const IDX = 1;
function neighboursUntouched(pt: Int32Array): void {
  expect(pt[0]).toBe(0x11);
  expect(pt[2]).toBe(0x22);
}

describe('PTE format', () => {
  it('the flag bits are distinct single bits', () => {
    const bits = [PTE_PRESENT, PTE_WRITE, PTE_DIRTY, PTE_ACCESSED];
    expect(new Set(bits).size).toBe(4);
    for (const b of bits) expect(b & (b - 1)).toBe(0);
  });

  it('mkPte round-trips the frame and sets present plus the given flags', () => {
    for (const frame of [0, 1, 2, 255, 256, 12345, PTE_FRAME_MAX]) {
      const pte = mkPte(frame, 0);
      expect(pteFrame(pte)).toBe(frame);
      expect(ptePresent(pte)).toBe(true);
      expect(pteWrite(pte)).toBe(false);
      expect(pteDirty(pte)).toBe(false);
      expect(pteYoung(pte)).toBe(false);
      expect(pte).toBeGreaterThanOrEqual(0); // fits a positive Int32
      const full = mkPte(frame, PTE_WRITE | PTE_DIRTY | PTE_ACCESSED);
      expect(pteFrame(full)).toBe(frame);
      expect(pteWrite(full) && pteDirty(full) && pteYoung(full) && ptePresent(full)).toBe(true);
      // Stored in and read back from an Int32Array unchanged.
      expect(table(full)[IDX]).toBe(full);
    }
  });

  it('each flag is read back on its own', () => {
    expect(pteWrite(mkPte(3, PTE_WRITE))).toBe(true);
    expect(pteDirty(mkPte(3, PTE_WRITE))).toBe(false);
    expect(pteDirty(mkPte(3, PTE_DIRTY))).toBe(true);
    expect(pteYoung(mkPte(3, PTE_DIRTY))).toBe(false);
    expect(pteYoung(mkPte(3, PTE_ACCESSED))).toBe(true);
    expect(ptePresent(0)).toBe(false);
    expect(ptePresent(PTE_DIRTY)).toBe(false);
  });

  it('mkPte rejects frames that do not fit', () => {
    expect(() => mkPte(-1, 0)).toThrow(RangeError);
    expect(() => mkPte(PTE_FRAME_MAX + 1, 0)).toThrow(RangeError);
  });
});

describe('ptepGetAndClear', () => {
  it('returns the old PTE and leaves 0', () => {
    const old = mkPte(77, PTE_WRITE | PTE_DIRTY | PTE_ACCESSED);
    const pt = table(old);
    expect(ptepGetAndClear(pt, IDX)).toBe(old);
    expect(pt[IDX]).toBe(0);
    neighboursUntouched(pt);
    expect(ptepGetAndClear(pt, IDX)).toBe(0);
    expect(pt[IDX]).toBe(0);
  });

  it('returns a stray dirty bit of a non-present word too (and clears it)', () => {
    const pt = table(PTE_DIRTY);
    expect(ptepGetAndClear(pt, IDX)).toBe(PTE_DIRTY);
    expect(pt[IDX]).toBe(0);
  });
});

describe('ptepSetWrprotect', () => {
  it('clears only the write bit of a present writable PTE and returns the old value', () => {
    const old = mkPte(9, PTE_WRITE | PTE_DIRTY | PTE_ACCESSED);
    const pt = table(old);
    expect(ptepSetWrprotect(pt, IDX)).toBe(old);
    expect(pt[IDX]).toBe(mkPte(9, PTE_DIRTY | PTE_ACCESSED));
    neighboursUntouched(pt);
  });

  it('leaves a non-present PTE alone, even one with stray bits', () => {
    for (const v of [0, PTE_DIRTY, PTE_WRITE, (5 << 8) | PTE_WRITE | PTE_DIRTY]) {
      const pt = table(v);
      expect(ptepSetWrprotect(pt, IDX)).toBe(v);
      expect(pt[IDX]).toBe(v);
    }
  });

  it('leaves an already read-only PTE unchanged', () => {
    const ro = mkPte(4, PTE_ACCESSED);
    const pt = table(ro);
    expect(ptepSetWrprotect(pt, IDX)).toBe(ro);
    expect(pt[IDX]).toBe(ro);
  });
});

describe('walkForRead', () => {
  it('sets the accessed bit of a present PTE and returns the new value', () => {
    const pte = mkPte(12, PTE_WRITE);
    const pt = table(pte);
    expect(walkForRead(pt, IDX)).toBe(pte | PTE_ACCESSED);
    expect(pt[IDX]).toBe(pte | PTE_ACCESSED);
    neighboursUntouched(pt);
  });

  it('never sets the dirty bit', () => {
    const pt = table(mkPte(12, PTE_WRITE));
    walkForRead(pt, IDX);
    expect(pteDirty(pt[IDX])).toBe(false);
  });

  it('returns an already-young PTE unchanged', () => {
    const pte = mkPte(12, PTE_ACCESSED);
    const pt = table(pte);
    expect(walkForRead(pt, IDX)).toBe(pte);
    expect(pt[IDX]).toBe(pte);
  });

  it('does not touch a non-present PTE', () => {
    for (const v of [0, PTE_DIRTY]) {
      const pt = table(v);
      expect(walkForRead(pt, IDX)).toBe(v);
      expect(pt[IDX]).toBe(v);
    }
  });
});

describe('walkForWrite', () => {
  it('sets accessed and dirty on a present writable PTE and returns the new value', () => {
    const pte = mkPte(21, PTE_WRITE);
    const pt = table(pte);
    const next = pte | PTE_ACCESSED | PTE_DIRTY;
    expect(walkForWrite(pt, IDX, -1)).toBe(next);
    expect(pt[IDX]).toBe(next);
    neighboursUntouched(pt);
  });

  it('succeeds when the PTE still maps the expected frame', () => {
    const pte = mkPte(21, PTE_WRITE | PTE_ACCESSED);
    const pt = table(pte);
    expect(walkForWrite(pt, IDX, 21)).toBe(pte | PTE_DIRTY);
    expect(pteDirty(pt[IDX])).toBe(true);
  });

  it('does not set dirty on a non-present PTE (the x86 trap)', () => {
    const pt = table(0);
    expect(walkForWrite(pt, IDX, -1)).toBe(0);
    expect(pt[IDX]).toBe(0);
    expect(walkForWrite(pt, IDX, 21)).toBe(0);
    expect(pt[IDX]).toBe(0);
  });

  it('does not set dirty or accessed on a read-only PTE', () => {
    const ro = mkPte(21, 0);
    const pt = table(ro);
    const got = walkForWrite(pt, IDX, -1);
    expect(got).toBe(ro);
    expect(pteDirty(got)).toBe(false);
    expect(pt[IDX]).toBe(ro);
    expect(walkForWrite(pt, IDX, 21)).toBe(ro);
    expect(pt[IDX]).toBe(ro);
  });

  it('does not set dirty when the PTE maps another frame than expected', () => {
    const other = mkPte(22, PTE_WRITE);
    const pt = table(other);
    expect(walkForWrite(pt, IDX, 21)).toBe(other);
    expect(pt[IDX]).toBe(other);
  });

  it('returns an already dirty-and-young PTE unchanged', () => {
    const pte = mkPte(5, PTE_WRITE | PTE_DIRTY | PTE_ACCESSED);
    const pt = table(pte);
    expect(walkForWrite(pt, IDX, 5)).toBe(pte);
    expect(pt[IDX]).toBe(pte);
  });
});

describe('weakSetDirty', () => {
  it('ORs dirty into a present PTE (even a read-only one) and returns the old value', () => {
    const ro = mkPte(30, PTE_ACCESSED);
    const pt = table(ro);
    expect(weakSetDirty(pt, IDX)).toBe(ro);
    expect(pt[IDX]).toBe(ro | PTE_DIRTY);
    expect(ptePresent(pt[IDX])).toBe(true);
    expect(pteWrite(pt[IDX])).toBe(false);
    neighboursUntouched(pt);
  });

  it('sets dirty on a cleared PTE, which stays non-present (the lost dirty bit)', () => {
    const pt = table(0);
    expect(weakSetDirty(pt, IDX)).toBe(0);
    expect(pt[IDX]).toBe(PTE_DIRTY);
    expect(ptePresent(pt[IDX])).toBe(false);
    expect(pteDirty(pt[IDX])).toBe(true);
    // The word is still "not present" to every reader that matters.
    expect(walkForRead(pt, IDX)).toBe(PTE_DIRTY);
    expect(ptePresent(walkForWrite(pt, IDX, -1))).toBe(false);
  });
});

describe('pteMkwriteDirty (do_wp_page)', () => {
  it('makes a present read-only PTE writable, dirty and young, keeping the frame', () => {
    const pt = table(mkPte(40, 0));
    expect(pteMkwriteDirty(pt, IDX)).toBe(true);
    expect(pt[IDX]).toBe(mkPte(40, PTE_WRITE | PTE_DIRTY | PTE_ACCESSED));
    neighboursUntouched(pt);
  });

  it('is a no-op returning true on a PTE that is already writable, dirty and young', () => {
    const pte = mkPte(40, PTE_WRITE | PTE_DIRTY | PTE_ACCESSED);
    const pt = table(pte);
    expect(pteMkwriteDirty(pt, IDX)).toBe(true);
    expect(pt[IDX]).toBe(pte);
  });

  it('returns false and changes nothing when the PTE is not present', () => {
    for (const v of [0, PTE_DIRTY]) {
      const pt = table(v);
      expect(pteMkwriteDirty(pt, IDX)).toBe(false);
      expect(pt[IDX]).toBe(v);
    }
  });
});

describe('ptepSetProtNone (mprotect PROT_NONE) and what the hardware walk sees', () => {
  it('a present PTE keeps its frame and stays present to the kernel, loses write, and every hardware walk faults on it without touching it', () => {
    const pt = table(mkPte(40, PTE_WRITE | PTE_DIRTY | PTE_ACCESSED));
    const old = ptepSetProtNone(pt, IDX);
    expect(old).toBe(mkPte(40, PTE_WRITE | PTE_DIRTY | PTE_ACCESSED));
    const now = pt[IDX];
    expect(now).toBe(mkPte(40, PTE_DIRTY | PTE_ACCESSED | PTE_PROTNONE));
    expect(ptePresent(now)).toBe(true); // reclaim and zap still see it
    expect(pteFrame(now)).toBe(40);
    expect(pteHwPresent(now)).toBe(false);
    expect(pteHwPresent(old)).toBe(true);
    // A clean, old PROT_NONE PTE: the walk sets neither accessed nor dirty, and returns a word the caller faults on.
    const clean = table(mkPte(41, PTE_WRITE));
    ptepSetProtNone(clean, IDX);
    const before = clean[IDX];
    expect(pteHwPresent(walkForRead(clean, IDX))).toBe(false);
    expect(pteHwPresent(walkForWrite(clean, IDX, -1))).toBe(false);
    expect(pteHwPresent(walkForWrite(clean, IDX, 41))).toBe(false);
    expect(clean[IDX]).toBe(before);
    neighboursUntouched(pt);
  });

  it('changes nothing on a PTE that is not present or already PROT_NONE', () => {
    for (const v of [0, PTE_DIRTY, mkPte(40, PTE_PROTNONE)]) {
      const pt = table(v);
      expect(ptepSetProtNone(pt, IDX)).toBe(v);
      expect(pt[IDX]).toBe(v);
    }
  });
});
