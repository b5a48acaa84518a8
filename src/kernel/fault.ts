/**
 * The kernel's page-fault handler (handle_mm_fault), run on the faulting CPU
 * by its MMU (src/engine/mmu.ts) when a walk finds no usable PTE.
 *
 * Invariants:
 * - Runs under mmap_read_lock, so it never interleaves with an mprotect or
 *   munmap changing the VMA.
 * - Lock order: mmap_lock, then the page lock, then the PTE lock (src/kernel/locks.ts).
 * - Every lock is taken with `resumeToken` false: a run token given up to
 *   sleep is taken back only after every lock is dropped (`resumeRunning`),
 *   so faulting CPUs never convoy behind a page lock.
 * - A PTE is installed only under the page lock and the PTE lock, and only if
 *   still not present (another CPU may have faulted the page in meanwhile).
 */
import type { CounterName } from '../engine/layout.js';
import { LAST_EVENT_FAULT } from '../engine/state/cpuControl.js';
import type { PhysicalMemory } from '../engine/memory.js';
import { PTE_ACCESSED, PTE_DIRTY, PTE_WRITE, mkPte, pteMkwriteDirty, ptePresent, pteWrite } from '../engine/pageTable.js';
import type { TraceClock, TraceRing } from '../output/trace.js';
import type { MachineViews } from '../engine/state/machineViews.js';
import { PAGE_STEP_MAPPED, loadVmaWrite, storePageStep } from '../engine/state/pageState.js';
import { exchangeShared, loadShared } from '../engine/footprint.js';

/** VMA permission bits kept per page (src/engine/state/pageState.ts `loadVmaWrite`). */
export const VMA_NONE = 0;
export const VMA_READ = 1;
export const VMA_RW = 3;

/** What the fault handler needs of its CPU: the machine, its sleeping locks, counters and trace. */
export interface FaultHost {
  readonly id: number;
  readonly v: MachineViews;
  readonly mem: PhysicalMemory;
  readonly pages: number;
  readonly trace: TraceRing | null;
  readonly clock: TraceClock;
  count(name: CounterName, n?: number): void;
  noteEvent(kind: number, a: number, b: number): void;
  mmapLock(mm: number, write: boolean, resumeToken?: boolean): void;
  mmapUnlock(mm: number, write: boolean): void;
  lockPage(idx: number, resumeToken?: boolean): void;
  lockPtl(mm: number, vpn: number, resumeToken?: boolean): void;
  unlockPtl(mm: number, vpn: number): void;
  /** Take back a run token given up while blocked (free mode). */
  resumeRunning(): void;
}

/**
 * handle_mm_fault(), under mmap_read_lock (so it cannot interleave with an
 * mprotect or munmap changing the VMA). Not present: wait for the page lock
 * (reclaim holds a dirty page's lock until it has written it back and freed
 * the frame, a clean page's until just before the batch's final flush; the
 * backing store holds the page's data either way), read the page in
 * from the backing store and install a PTE under the PTE lock
 * (writable-clean for a read fault on a writable VMA, writable-dirty for a
 * write fault). Present but read-only on a write: do_wp_page() makes it
 * writable and dirty again if the VMA allows writes. Returns false for
 * SIGSEGV (the VMA forbids the access).
 */
export function handleMmFault(cpu: FaultHost, mm: number, vpn: number, write: boolean): boolean {
  cpu.count('page_faults');
  cpu.noteEvent(LAST_EVENT_FAULT, mm, vpn);
  const t0 = cpu.trace ? cpu.clock.now() : 0;
  // resumeToken false on every lock: a run token given up to sleep is taken
  // back only after every lock is dropped (faulting CPUs never convoy).
  cpu.mmapLock(mm, false, false);
  let ok: boolean;
  try {
    ok = faultUnderMmapLock(cpu, mm, vpn, write);
  } finally {
    cpu.mmapUnlock(mm, false);
  }
  cpu.resumeRunning();
  cpu.trace?.push({ k: 'fault', ts: t0, dur: cpu.clock.now() - t0, mm, page: vpn, write });
  return ok;
}

function faultUnderMmapLock(cpu: FaultHost, mm: number, vpn: number, write: boolean): boolean {
  const idx = mm * cpu.pages + vpn;
  const pt = cpu.v.pte;
  for (;;) {
    const vma = loadVmaWrite(cpu.v.pageState, idx);
    const pte = loadShared(pt, idx);
    if (vma === VMA_NONE || (write && vma !== VMA_RW)) {
      cpu.count(write ? 'segv_stores' : 'segv_loads');
      return false;
    }
    if (ptePresent(pte)) {
      if (!write || pteWrite(pte)) return true; // somebody else fixed it up; retry the access
      cpu.count('wp_faults');
      if (pteMkwriteDirty(pt, idx)) return true;
      continue;
    }
    // Not present: take the page lock (sleeps while reclaim owns the page).
    cpu.lockPage(idx, false);
    if (ptePresent(loadShared(pt, idx))) {
      cpu.mem.unlockPage(idx);
      continue;
    }
    const f = cpu.mem.allocFrame(vpn);
    if (f < 0) throw new Error(`CPU ${cpu.id}: out of frames faulting page ${vpn}`);
    cpu.mem.readIn(idx, f);
    const flags = PTE_ACCESSED | (vma === VMA_RW ? PTE_WRITE : 0) | (write ? PTE_DIRTY : 0);
    cpu.lockPtl(mm, vpn, false);
    exchangeShared(pt, idx, mkPte(f, flags));
    cpu.unlockPtl(mm, vpn);
    storePageStep(cpu.v.pageState, idx, PAGE_STEP_MAPPED);
    cpu.mem.unlockPage(idx);
    return true;
  }
}
