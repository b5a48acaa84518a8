/**
 * One CPU's set-associative TLB, living in a SharedArrayBuffer.
 *
 * Invariants:
 * - This module owns the TLB block's layout (the entry words below).
 * - Only the owning CPU's worker calls the mutating methods (`fill`,
 *   `invalidatePage`, `flushAsid`, `flushAll`, `markDirty`). Other CPUs never
 *   touch it: they send an IPI and the owner flushes itself.
 * - The hit path (`lookup`) uses plain typed-array reads: no Atomics, because
 *   nobody else writes these words (Atomics.load is 3.5-9x slower and not
 *   inlined in Node 20; docs/design.md, "Host scheduling").
 * - An entry caches the PTE's writable and dirty bits as they were at fill,
 *   plus the frame generation and the page's mapping generation at fill; it is
 *   never updated from the PTE later (that is what makes it stale).
 * - Set index = vpn & (sets - 1); replacement evicts the oldest fill of the set
 *   (FIFO: hits do not write a stamp, so the hit path stays read-only).
 * - Flush marks (private to the owner, not shared): a flush that drops the
 *   entry of (vpn, asid) with `mark` set remembers the frame and frame
 *   generation it cached, so the next miss on (vpn, asid) that finds the PTE
 *   still mapping that frame, same generation, can be counted as a refill the
 *   flush caused (`tlb_flush_refills`): the dropped translation was still
 *   valid (collateral damage). A miss that faults, or finds another frame or
 *   a reused one (the page was unmapped and mapped again), is the unmap's
 *   doing, not the flush's. Evictions and trap invalidations do not mark.
 */

// Entry layout: Int32Array `tlb`, CPU c's TLB at c * tlbWords(config); entry e at e * TLB_ENTRY_WORDS.
// Only this module (and the state hash's free-entry test, via E_VPN) reads entry words.
/** Virtual page number cached, or TLB_INVALID. */
export const E_VPN = 0;
/** Physical frame the translation points at. */
const E_FRAME = 1;
/** Cached permission/dirty bits: E_WRITABLE | E_DIRTY. */
const E_FLAGS = 2;
/** ASID of the mm the entry belongs to. */
export const E_ASID = 3;
/** Frame generation seen at fill (the oracle's use-after-free check). */
const E_GEN = 4;
/** Fill stamp: replacement evicts the oldest fill of a set (FIFO; hits do not restamp). */
const E_AGE = 5;
/** The page's mapping generation (P_MAP_GEN) when the entry was filled: the oracle's access-after-unmap check. */
const E_MAPGEN = 6;
export const TLB_ENTRY_WORDS = 8;
export const TLB_INVALID = -1;
const E_WRITABLE = 1;
const E_DIRTY = 2;
export function tlbWords(c: { tlbSets: number; tlbWays: number }): number {
  return c.tlbSets * c.tlbWays * TLB_ENTRY_WORDS;
}

/**
 * Flush marks are kept per (vpn, markTag(tag)) for mark tags 0..FLUSH_MARK_TAGS-1
 * (ASID slot + 1 <= 6 < 8): every context generation of a slot
 * (`--protocol context-reset`) shares its slot's marks.
 */
const FLUSH_MARK_TAGS = 8;
/** Dynamic ASID slots (TLB_NR_DYN_ASIDS, tlbState.ts): tag t belongs to slot (t - 1) mod this. */
const TAG_SLOTS = 6;
/** The mark index of TLB tag `tag`: its ASID slot + 1 (tags of one slot's context generations share it). */
export function markTag(tag: number): number {
  return tag <= 0 ? tag : ((tag - 1) % TAG_SLOTS) + 1;
}

/** A TLB write from a thread that does not own the TLB (debug check: only the owning CPU writes its TLB). */
export class TlbOwnerError extends Error {
  override readonly name = 'TlbOwnerError';
}
/** The simulated CPU this thread runs (-1: not a CPU thread). Set once per worker by `setTlbThreadOwner`. */
let threadCpu = -1;
/** Declare which simulated CPU this thread is (the CPU worker does, at configure time). */
export function setTlbThreadOwner(cpu: number): void {
  threadCpu = cpu;
}

const TLB_STAMP_LIMIT = 0x3fff_ffff;

export class Tlb {
  /** This CPU's slice of the shared TLB array. */
  readonly words: Int32Array;
  readonly sets: number;
  readonly ways: number;
  private readonly setMask: number;
  private readonly setStride: number;
  private stamp = 1;
  /** Flush marks per (vpn, tag) for vpns below `markedVpns`: frame + 1 of the dropped entry (0: none), and its frame generation. */
  private readonly marks: Int32Array;
  private readonly markGens: Int32Array;
  private readonly markedVpns: number;

  /**
   * `markedVpns`: track flush marks for vpns 0..markedVpns-1 (0: none, e.g.
   * unit tests). `owner` >= 0 turns on the debug check that every mutation
   * runs on that CPU's own thread (`setTlbThreadOwner`).
   */
  constructor(words: Int32Array, sets: number, ways: number, markedVpns = 0, readonly owner = -1) {
    this.words = words;
    this.markedVpns = markedVpns;
    this.marks = new Int32Array(markedVpns * FLUSH_MARK_TAGS);
    this.markGens = new Int32Array(markedVpns * FLUSH_MARK_TAGS);
    this.sets = sets;
    this.ways = ways;
    this.setMask = sets - 1;
    this.setStride = ways * TLB_ENTRY_WORDS;
  }

  /** Debug check (owner >= 0): throw unless this thread is the owning CPU. */
  private checkOwner(): void {
    if (this.owner >= 0 && threadCpu !== this.owner) {
      throw new TlbOwnerError(`CPU ${this.owner}'s TLB written from ${threadCpu < 0 ? 'a thread that is no CPU' : `CPU ${threadCpu}'s thread`}: only the owning CPU writes its TLB`);
    }
  }

  /** Mark every entry invalid (boot state). */
  reset(): void {
    this.checkOwner();
    const w = this.words;
    for (let e = 0; e < w.length; e += TLB_ENTRY_WORDS) {
      w[e + E_VPN] = TLB_INVALID;
      w[e + E_FLAGS] = 0;
    }
    this.stamp = 1;
    this.marks.fill(0);
  }

  /** Remember that a flush dropped entry `e` (see the header). */
  private mark(e: number): void {
    const w = this.words;
    const vpn = w[e + E_VPN];
    const asid = markTag(w[e + E_ASID]);
    if (vpn < 0 || vpn >= this.markedVpns || asid < 0 || asid >= FLUSH_MARK_TAGS) return;
    const i = vpn * FLUSH_MARK_TAGS + asid;
    this.marks[i] = w[e + E_FRAME] + 1;
    this.markGens[i] = w[e + E_GEN];
  }

  /**
   * Clear the flush mark of (vpn, asid) and say whether it matches `frame` at
   * generation `gen`: true if a flush dropped a translation to exactly that
   * frame since the last miss on (vpn, asid), so this refill is the flush's
   * collateral damage. Pass frame -1 to just clear (a fault).
   */
  takeFlushMark(vpn: number, tag: number, frame: number, gen: number): boolean {
    const asid = markTag(tag);
    if (vpn < 0 || vpn >= this.markedVpns || asid < 0 || asid >= FLUSH_MARK_TAGS) return false;
    const i = vpn * FLUSH_MARK_TAGS + asid;
    const hit = this.marks[i] === frame + 1 && frame >= 0 && this.markGens[i] === gen;
    this.marks[i] = 0;
    return hit;
  }

  /** Forget every mark of `asid` (the tag is being given to another mm). */
  clearFlushMarks(tag: number): void {
    const asid = markTag(tag);
    if (asid < 0 || asid >= FLUSH_MARK_TAGS) return;
    for (let v = 0; v < this.markedVpns; v++) this.marks[v * FLUSH_MARK_TAGS + asid] = 0;
  }

  /**
   * Find the entry for (vpn, asid). Returns the entry's word offset, or -1 on a miss.
   * Hot path: plain reads only.
   */
  lookup(vpn: number, asid: number): number {
    const w = this.words;
    let e = (vpn & this.setMask) * this.setStride;
    const end = e + this.setStride;
    for (; e < end; e += TLB_ENTRY_WORDS) {
      if (w[e + E_VPN] === vpn && w[e + E_ASID] === asid) return e;
    }
    return -1;
  }

  /**
   * Insert a translation, evicting the oldest-filled way of the set.
   * Returns the entry offset.
   */
  fill(vpn: number, asid: number, frame: number, writable: boolean, dirty: boolean, gen: number, mapGen = 0): number {
    this.checkOwner();
    const w = this.words;
    const base = (vpn & this.setMask) * this.setStride;
    const end = base + this.setStride;
    // 1. the same translation already cached: replace it in place (never two copies);
    // 2. else the first invalid way; 3. else the oldest fill.
    let victim = -1;
    for (let e = base; e < end; e += TLB_ENTRY_WORDS) {
      if (w[e + E_VPN] === vpn && w[e + E_ASID] === asid) {
        victim = e;
        break;
      }
    }
    if (victim < 0) {
      let oldest = Infinity;
      for (let e = base; e < end; e += TLB_ENTRY_WORDS) {
        if (w[e + E_VPN] === TLB_INVALID) {
          victim = e;
          break;
        }
        if (w[e + E_AGE] < oldest) {
          oldest = w[e + E_AGE];
          victim = e;
        }
      }
    }
    if (this.stamp >= TLB_STAMP_LIMIT) this.renumberAges();
    w[victim + E_VPN] = vpn;
    w[victim + E_ASID] = asid;
    w[victim + E_FRAME] = frame;
    w[victim + E_FLAGS] = (writable ? E_WRITABLE : 0) | (dirty ? E_DIRTY : 0);
    w[victim + E_GEN] = gen;
    w[victim + E_MAPGEN] = mapGen;
    w[victim + E_AGE] = this.stamp++;
    return victim;
  }

  /** Keep fill stamps inside an Int32 word: restart them, preserving each set's order. */
  private renumberAges(): void {
    const w = this.words;
    let next = 1;
    for (let base = 0; base < w.length; base += this.setStride) {
      const order: number[] = [];
      for (let e = base; e < base + this.setStride; e += TLB_ENTRY_WORDS) order.push(e);
      order.sort((a, b) => w[a + E_AGE] - w[b + E_AGE]);
      for (const e of order) w[e + E_AGE] = next++;
    }
    this.stamp = next;
  }

  /** The entry's cached frame. */
  frame(e: number): number {
    return this.words[e + E_FRAME];
  }
  /** The entry's cached frame generation. */
  gen(e: number): number {
    return this.words[e + E_GEN];
  }
  /** The page's mapping generation when the entry was filled. */
  mapGen(e: number): number {
    return this.words[e + E_MAPGEN];
  }
  writable(e: number): boolean {
    return (this.words[e + E_FLAGS] & E_WRITABLE) !== 0;
  }
  dirty(e: number): boolean {
    return (this.words[e + E_FLAGS] & E_DIRTY) !== 0;
  }
  /** Record that the entry is now cached dirty (after the clean-to-dirty transition). */
  markDirty(e: number): void {
    this.words[e + E_FLAGS] |= E_DIRTY;
  }

  /** invlpg: drop the entry for (vpn, asid). Returns 1 if one was dropped. `mark`: a flush (not a trap) dropped it. */
  invalidatePage(vpn: number, asid: number, mark = false): number {
    this.checkOwner();
    const e = this.lookup(vpn, asid);
    if (e < 0) return 0;
    if (mark) this.mark(e);
    this.words[e + E_VPN] = TLB_INVALID;
    return 1;
  }

  /** Flush every entry tagged with `asid` (CR3 write with PCID). Returns how many were dropped. `mark`: remember them (see the header). */
  flushAsid(asid: number, mark = false): number {
    this.checkOwner();
    const w = this.words;
    let n = 0;
    for (let e = 0; e < w.length; e += TLB_ENTRY_WORDS) {
      if (w[e + E_VPN] !== TLB_INVALID && w[e + E_ASID] === asid) {
        if (mark) this.mark(e);
        w[e + E_VPN] = TLB_INVALID;
        n++;
      }
    }
    return n;
  }

  /**
   * Remember every entry of `tag` as dropped by a flush (for refill
   * accounting) without invalidating it: a context reset leaves them in the
   * TLB as zombies that no lookup matches any more.
   */
  markAsid(tag: number): number {
    const w = this.words;
    let n = 0;
    for (let e = 0; e < w.length; e += TLB_ENTRY_WORDS) {
      if (w[e + E_VPN] !== TLB_INVALID && w[e + E_ASID] === tag) {
        this.mark(e);
        n++;
      }
    }
    return n;
  }

  /** Flush everything. Returns how many entries were dropped. `mark`: remember them (see the header). */
  flushAll(mark = false): number {
    this.checkOwner();
    const w = this.words;
    let n = 0;
    for (let e = 0; e < w.length; e += TLB_ENTRY_WORDS) {
      if (w[e + E_VPN] !== TLB_INVALID) {
        if (mark) this.mark(e);
        w[e + E_VPN] = TLB_INVALID;
        n++;
      }
    }
    return n;
  }

  /** Number of valid entries (tests, reports). */
  occupancy(): number {
    let n = 0;
    for (let e = 0; e < this.words.length; e += TLB_ENTRY_WORDS) if (this.words[e + E_VPN] !== TLB_INVALID) n++;
    return n;
  }
}
