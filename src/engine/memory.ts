/**
 * Physical memory: frames, their generations, the free-frame pool, the page
 * lock, and the backing store that reclaim writes back to and faults read from.
 *
 * Invariants:
 * - A frame's generation is bumped (Atomics.add) exactly when it is freed, so a
 *   TLB entry filled before the free carries an older generation than the
 *   frame: that mismatch is the oracle's stale-access check.
 * - In debug mode `freeFrame` refuses (throws InvariantError) to free a frame
 *   whose PTE was cleared but whose covering flush has not been acknowledged
 *   (F_UNFLUSHED): "a frame is never freed or reused before its flush".
 * - The free-frame stack is guarded by a spinlock that is never held across a
 *   scheduling point, so in seeded mode it is always free when taken.
 * - `--protocol luf`: a frame freed with its flush deferred keeps its
 *   generation and carries a pending-flush generation (F_LUF_GEN); it may sit
 *   on the free stack, but allocFrame flushes (lufBeforeReuse) and bumps its
 *   generation before it is reused; in debug mode reusing it unflushed throws.
 * - The page lock (lock_page) is held by reclaim from isolation to free, and by
 *   the fault path while it installs a PTE: only its holder installs or clears
 *   a present PTE for that page.
 */
import { LOCK_KIND_PAGE, lockTag, mutexOwner, mutexTryLock, mutexUnlock } from '../kernel/locks.js';
import type { MachineViews } from './state/machineViews.js';
import { lufFlushed } from './state/globalBlock.js';
import { pageLockWord } from './state/pageState.js';
import { addShared, casShared, loadShared, noteFrameRead, readShared } from './footprint.js';

// Layout of the frame buffers (sizes in src/engine/state/machineViews.ts); only this file knows the offsets.
// `frameData`  Int32Array frames * wordsPerPage: frame f word w at f * W + w. Word w is written only by CPU w
//              (each thread of the process owns one slot of every shared page), so stores to a word are
//              totally ordered by that CPU's program order and the oracle can tell a lost store from an old one.
// `frameStep`  Int32Array, same shape: the protocol step (PAGE_STEP_*) of the page when that word was last stored.
// `frameGen`   Int32Array frames: owner generation, bumped (Atomics.add) when the frame is freed.
// `frameMeta`  Int32Array frames * FRAME_META_WORDS.
const F_PAGE = 0; // vpn the frame holds (-1 free)
const F_UNFLUSHED = 1; // 1 from PTE clear until the covering flush is acknowledged
/**
 * `--protocol luf`: the pending-flush generation of a frame freed with its
 * flush deferred (0: none). Set by the reclaimer when it frees the frame;
 * the allocator that takes the frame again flushes (unless G_LUF_FLUSHED
 * already covers it), bumps the frame generation and clears it.
 */
const F_LUF_GEN = 2;
const FRAME_META_WORDS = 4;
/** Free-frame stack: Int32Array `freeList` = [lock, top, frame ids...]. */
const FL_LOCK = 0;
const FL_TOP = 1;
const FL_BASE = 2;

/** Words of `frameMeta` for `frames` frames. */
export function frameMetaWords(frames: number): number {
  return frames * FRAME_META_WORDS;
}

/** Words of `freeList` for `frames` frames (the lock, the top, then one slot per frame). */
export function freeListWords(frames: number): number {
  return FL_BASE + frames;
}

/** A broken engine invariant (debug mode). Aborts the run. */
class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

/** Pages, frames and words-per-page of one machine. */
interface MemoryGeometry {
  pages: number;
  frames: number;
  wordsPerPage: number;
}

export class PhysicalMemory {
  constructor(
    private readonly v: MachineViews,
    readonly geo: MemoryGeometry,
    private readonly debug: boolean,
  ) {}

  /** Frames on the free stack (a plain read: coordinator or tests, while no CPU runs). */
  freeFrameCount(): number {
    return readShared(this.v.freeList, FL_TOP);
  }

  /** The `i`th frame from the bottom of the free stack (a plain read, as `freeFrameCount`). */
  freeFrameAt(i: number): number {
    return readShared(this.v.freeList, FL_BASE + i);
  }

  /** Boot state: every frame free, generation 0. Coordinator only, while no CPU runs. */
  static init(v: MachineViews, geo: MemoryGeometry): void {
    v.frameData.fill(0);
    v.frameStep.fill(0);
    v.frameGen.fill(0);
    for (let f = 0; f < geo.frames; f++) {
      v.frameMeta[f * FRAME_META_WORDS + F_PAGE] = -1;
      v.frameMeta[f * FRAME_META_WORDS + F_UNFLUSHED] = 0;
      v.frameMeta[f * FRAME_META_WORDS + F_LUF_GEN] = 0;
    }
    v.freeList[FL_LOCK] = 0;
    // LIFO: the most recently freed frame is reused first, which makes a
    // use-after-free through a stale TLB entry land in somebody else's page fast.
    for (let i = 0; i < geo.frames; i++) v.freeList[FL_BASE + i] = geo.frames - 1 - i;
    v.freeList[FL_TOP] = geo.frames;
  }

  private lockFreeList(): void {
    while (casShared(this.v.freeList, FL_LOCK, 0, 1) !== 0) {
      // Critical sections are a few instructions long; spin.
    }
  }
  private unlockFreeList(): void {
    Atomics.store(this.v.freeList, FL_LOCK, 0);
  }

  /**
   * `--protocol luf`: called by allocFrame for a frame freed with its flush
   * deferred (pending-flush generation `gen`), before the frame is reused. It
   * must leave G_LUF_FLUSHED >= gen (flush, or find it already flushed).
   */
  lufBeforeReuse: ((frame: number, gen: number) => void) | null = null;

  /**
   * alloc_page(). Returns -1 when memory is exhausted. A frame whose flush
   * was deferred (`--protocol luf`, F_LUF_GEN set) is flushed for first
   * (lufBeforeReuse), and only then gets its new generation: an access
   * through a stale read-only entry before this point read the frame's
   * unchanged contents; after it, no CPU holds such an entry.
   */
  allocFrame(page: number): number {
    this.lockFreeList();
    const top = readShared(this.v.freeList, FL_TOP);
    let f = -1;
    if (top > 0) {
      f = readShared(this.v.freeList, FL_BASE + top - 1);
      this.v.freeList[FL_TOP] = top - 1;
    }
    this.unlockFreeList();
    if (f >= 0) {
      const lufGen = loadShared(this.v.frameMeta, f * FRAME_META_WORDS + F_LUF_GEN);
      if (lufGen !== 0) {
        this.lufBeforeReuse?.(f, lufGen);
        if (this.debug && lufFlushed(this.v.global) < lufGen) {
          throw new InvariantError(`frame ${f} reused before its deferred (lazy unmap) flush, generation ${lufGen}, was done`);
        }
        addShared(this.v.frameGen, f, 1);
        Atomics.store(this.v.frameMeta, f * FRAME_META_WORDS + F_LUF_GEN, 0);
      }
      Atomics.store(this.v.frameMeta, f * FRAME_META_WORDS + F_PAGE, page);
      Atomics.store(this.v.frameMeta, f * FRAME_META_WORDS + F_UNFLUSHED, 0);
    }
    return f;
  }

  /**
   * free_page(): bump the generation (every TLB entry still pointing here is
   * now stale), run `afterRetire` (the oracle's frame-drop check), then return
   * the frame to the pool.
   *
   * The order closes the gap between the check and the free: a store through
   * an old entry either lands before the bump (stores write the frame with
   * Atomics.store and then Atomics.load the generation, so in the sequentially
   * consistent order it also precedes the check, which sees it), or reads the
   * bumped generation after its write and reports itself as a stale access.
   */
  freeFrame(f: number, afterRetire?: () => void, lufGen = 0): void {
    if (this.debug && lufGen === 0 && loadShared(this.v.frameMeta, f * FRAME_META_WORDS + F_UNFLUSHED) !== 0) {
      throw new InvariantError(
        `frame ${f} (page ${this.v.frameMeta[f * FRAME_META_WORDS + F_PAGE]}) freed before the TLB flush covering its unmap was acknowledged`,
      );
    }
    if (lufGen !== 0) {
      // Lazy unmap flush: the flush is deferred to the frame's next
      // allocation, and so is the generation bump (see allocFrame).
      Atomics.store(this.v.frameMeta, f * FRAME_META_WORDS + F_LUF_GEN, lufGen);
    } else {
      addShared(this.v.frameGen, f, 1);
    }
    afterRetire?.();
    Atomics.store(this.v.frameMeta, f * FRAME_META_WORDS + F_PAGE, -1);
    this.lockFreeList();
    const top = readShared(this.v.freeList, FL_TOP);
    this.v.freeList[FL_BASE + top] = f;
    this.v.freeList[FL_TOP] = top + 1;
    this.unlockFreeList();
  }

  /** Mark a frame as unmapped-but-not-yet-flushed (debug bookkeeping). */
  markUnflushed(f: number): void {
    Atomics.store(this.v.frameMeta, f * FRAME_META_WORDS + F_UNFLUSHED, 1);
  }
  /** The flush covering this frame's unmap has been acknowledged by every target. */
  markFlushed(f: number): void {
    Atomics.store(this.v.frameMeta, f * FRAME_META_WORDS + F_UNFLUSHED, 0);
  }

  /** Current generation of a frame. */
  gen(f: number): number {
    return loadShared(this.v.frameGen, f);
  }

  /** Read a page in from the backing store into a frame (the refault). */
  readIn(page: number, f: number): void {
    const W = this.geo.wordsPerPage;
    const { frameData, frameStep, backing } = this.v;
    for (let w = 0; w < W; w++) {
      frameData[f * W + w] = readShared(backing, page * W + w);
      frameStep[f * W + w] = 0;
    }
  }

  /** migrate_folio(): copy frame `from` to frame `to` (the page's data moves). */
  copyFrame(from: number, to: number): void {
    const W = this.geo.wordsPerPage;
    const { frameData, frameStep } = this.v;
    noteFrameRead(this.v, from, W); // every CPU's word of the old frame (explore's footprints)
    for (let w = 0; w < W; w++) {
      Atomics.store(frameData, to * W + w, loadShared(frameData, from * W + w));
      frameStep[to * W + w] = readShared(frameStep, from * W + w);
    }
  }

  /** pageout(): copy the frame to the backing store. */
  writeBack(page: number, f: number): void {
    const W = this.geo.wordsPerPage;
    const { frameData, backing } = this.v;
    noteFrameRead(this.v, f, W); // every CPU's word of the frame (explore's footprints)
    for (let w = 0; w < W; w++) backing[page * W + w] = frameData[f * W + w];
  }

  /** trylock_page(): true if taken. `owner` is the CPU id. */
  trylockPage(pageStateIdx: number, owner: number): boolean {
    return mutexTryLock(this.v.pageState, pageLockWord(pageStateIdx), owner);
  }
  /** The CPU holding the page lock of page-state index `pageStateIdx`, or -1. */
  pageLockOwner(pageStateIdx: number): number {
    return mutexOwner(this.v.pageState, pageLockWord(pageStateIdx));
  }
  /** unlock_page(): release, then wake the CPUs sleeping on this page's lock (wake_up_page). */
  unlockPage(pageStateIdx: number): void {
    mutexUnlock(this.v, this.v.pageState, pageLockWord(pageStateIdx), lockTag(LOCK_KIND_PAGE, pageStateIdx));
  }
}
