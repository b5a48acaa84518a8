/**
 * The kernel's sleeping locks as shared words: lock_page (one per page), the
 * split PTE lock (one per page-table page, `pte_lockptr`) and mmap_lock (an
 * rw_semaphore per mm). This module only takes, releases and wakes; how a CPU
 * sleeps while it waits (handling IPIs, giving its run token back, or taking
 * scheduler steps in seeded mode) is `Cpu.sleepLock`.
 *
 * Invariants:
 * - Lock words change only with Atomics CAS (take) and store/sub (release).
 * - A mutex word is 0 when free and owner CPU + 1 when held; an rwsem word is
 *   the number of readers, or -1 while a writer holds it.
 * - Every unlock wakes every sleeper on that lock; each retries.
 * - Lost wake-ups are impossible: a sleeper publishes its tag in C_WAIT_LOCK
 *   and bumps G_LOCK_WAITERS *before* it re-tries the lock, and a releaser
 *   stores the release *before* it reads G_LOCK_WAITERS, so either the re-try
 *   sees the release or the releaser sees the sleeper and rings it.
 * - Lock order (deadlock freedom): mmap_lock, then page locks, then the PTE
 *   lock; nobody takes mmap_lock or a page lock while holding a PTE lock.
 *   Only reclaim (one CPU) sleeps for a page lock while holding others: it
 *   takes a batch in its LRU order and never takes mmap_lock. Every other
 *   path sleeps for a page lock holding none (the fault path holds one page
 *   lock at a time; zap trylocks under the PTE lock, and sleeps for a busy
 *   page only after it has released every page it cleared).
 */
import { ringLockWaiters } from '../engine/state/cpuControl.js';
import type { MachineViews } from '../engine/state/machineViews.js';
import { lockWaiters } from '../engine/state/globalBlock.js';
import { casShared, loadShared, subShared } from '../engine/footprint.js';

/** What a lock tag names: the kind of lock in the top bits, its index below. */
export const LOCK_KIND_PAGE = 0;
export const LOCK_KIND_PTL = 1;
export const LOCK_KIND_MMAP = 2;
type LockKind = typeof LOCK_KIND_PAGE | typeof LOCK_KIND_PTL | typeof LOCK_KIND_MMAP;

/** The C_WAIT_LOCK tag of lock `idx` of `kind` (never 0: 0 means "not waiting"; idx < 2^24, as config caps pages at 2^20). */
export function lockTag(kind: LockKind, idx: number): number {
  return ((kind << 24) | idx) + 1;
}

/** Try to take a mutex word for CPU `owner`. */
export function mutexTryLock(words: Int32Array, i: number, owner: number): boolean {
  return casShared(words, i, 0, owner + 1) === 0;
}

/** The CPU holding a mutex word, or -1. */
export function mutexOwner(words: Int32Array, i: number): number {
  return loadShared(words, i) - 1;
}

/**
 * Release a mutex word and wake every sleeper; each retries and all but one
 * sleep again. Waking only one (an exclusive wake-up, as lock_page waiters
 * get) was tried: at 255 CPUs, sleepers on a convoyed page lock then slept
 * out their 20 ms safety net with the lock free hundreds of times a run
 * (counted by safety_net_wakeups), so the cheaper wake-up lost wake-ups
 * somewhere this model does not yet explain.
 */
export function mutexUnlock(v: MachineViews, words: Int32Array, i: number, tag: number): void {
  Atomics.store(words, i, 0);
  wakeLockWaiters(v, tag);
}

/** down_read_trylock(): true if a read hold was taken (fails while a writer holds it). */
export function rwsemTryRead(words: Int32Array, i: number): boolean {
  for (;;) {
    const n = loadShared(words, i);
    if (n < 0) return false;
    if (casShared(words, i, n, n + 1) === n) return true;
  }
}

/** down_write_trylock(): true if the write hold was taken (only when nobody holds it). */
export function rwsemTryWrite(words: Int32Array, i: number): boolean {
  return casShared(words, i, 0, -1) === 0;
}

/** up_read(): drop a read hold; the last reader wakes sleepers (a writer may be waiting). */
export function rwsemUpRead(v: MachineViews, words: Int32Array, i: number, tag: number): void {
  if (subShared(words, i, 1) === 1) wakeLockWaiters(v, tag);
}

/** up_write(): drop the write hold and wake sleepers. */
export function rwsemUpWrite(v: MachineViews, words: Int32Array, i: number, tag: number): void {
  Atomics.store(words, i, 0);
  wakeLockWaiters(v, tag);
}

/** Ring every CPU sleeping on the lock tagged `tag` (wake_up_page and friends). */
function wakeLockWaiters(v: MachineViews, tag: number): void {
  if (lockWaiters(v.global) === 0) return;
  ringLockWaiters(v.cpuCtl, tag);
}
