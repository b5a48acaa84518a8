/**
 * The MMU of one CPU: a load or a store by the running process goes through
 * the TLB, walks the page table on a miss, fills the TLB, applies the
 * architecture's clean-to-dirty rule, and calls the kernel's fault handler
 * (src/kernel/fault.ts) when the walk finds no usable PTE. Every access is checked
 * by the oracle's cheap per-access tests (stale frame, access after unmap,
 * write after protect, read after PROT_NONE).
 *
 * Invariants:
 * - Runs only on its CPU's thread: it is the only writer of that CPU's TLB
 *   and counters (only the owner writes its TLB).
 * - The hit path reads the TLB with plain typed-array reads; Atomics only for
 *   PTE read-modify-writes (walks, the dirty bit) and the frame generation.
 * - An access is one instruction: nothing else runs on this CPU in the
 *   middle of one (IPIs are handled between accesses, by src/engine/cpu.ts).
 * - A store writes its frame word with Atomics.store, then reads the frame
 *   generation (see PhysicalMemory.freeFrame: no store slips between the
 *   oracle's frame-drop check and the free).
 * - A TLB entry's generation is always that of the PTE it caches: a zap that
 *   bumped the mapping generation during the walk makes the walk start again.
 */
import { K } from './layout.js';
import type { PhysicalMemory } from './memory.js';
import { recordRace } from './oracle.js';
import { pteDirty, pteFrame, pteHwPresent, pteWrite, walkForRead, walkForWrite, weakSetDirty } from './pageTable.js';
import type { Tlb } from './tlb.js';
import { ptGenWord, type PageWalkCache } from './pageWalkCache.js';
import type { MachineViews } from './state/machineViews.js';
import { PROTECTED_NONE, loadMapGen, pageStep, protectedLevel, unmappedAt } from './state/pageState.js';
import { loadShared, readOwnFrameWord, readShared } from './footprint.js';

/** What the MMU needs of its CPU: its id, the machine, its TLB and ASID state, and the fault handler. */
export interface MmuHost {
  readonly id: number;
  readonly v: MachineViews;
  readonly tlb: Tlb;
  readonly mem: PhysicalMemory;
  readonly pages: number;
  /** Words per frame (one per CPU). */
  readonly W: number;
  /** Page slots of the machine: lastStore's stride. */
  readonly slots: number;
  /** x86 (and arm64) clean-to-dirty: a write through a clean entry re-walks and traps if the PTE is gone. */
  readonly isX86: boolean;
  /** The mm this CPU runs and its ASID (cpu_tlbstate.loaded_mm, loaded_mm_asid). */
  readonly tlbState: { readonly loadedMm: number; readonly loadedTag: number };
  /** Counter words and this CPU's base among them. */
  readonly counters: Float64Array;
  readonly cBase: number;
  /** `--page-walk-cache`: the CPU's paging-structure cache (null when off). */
  readonly pwc: PageWalkCache | null;
  /** handle_mm_fault(): false for SIGSEGV. */
  handleMmFault(mm: number, vpn: number, write: boolean): boolean;
}

/** One CPU's MMU (see the module comment). */
export class Mmu {
  private readonly id: number;
  private readonly v: MachineViews;
  private readonly tlb: Tlb;
  private readonly mem: PhysicalMemory;
  private readonly pages: number;
  private readonly W: number;
  private readonly slots: number;
  private readonly isX86: boolean;
  private readonly tlbState: MmuHost['tlbState'];
  private readonly counters: Float64Array;
  private readonly cBase: number;
  private readonly fault: (mm: number, vpn: number, write: boolean) => boolean;
  private readonly pwc: PageWalkCache | null;
  /** Value of this CPU's last store (stores are numbered per CPU, so a lost one is recognised). */
  private storeSeq = 0;

  /** A new run: stores are numbered from 1 again. */
  beginRun(): void {
    this.storeSeq = 0;
  }

  constructor(host: MmuHost) {
    this.id = host.id;
    this.v = host.v;
    this.tlb = host.tlb;
    this.mem = host.mem;
    this.pages = host.pages;
    this.W = host.W;
    this.slots = host.slots;
    this.isX86 = host.isX86;
    this.tlbState = host.tlbState;
    this.counters = host.counters;
    this.cBase = host.cBase;
    this.fault = (mm, vpn, write) => host.handleMmFault(mm, vpn, write);
    this.pwc = host.pwc;
  }

  /** `--page-walk-cache`: a walk of `vpn` went through its page table: cache it with the table's generation now. */
  private cacheWalk(pwc: PageWalkCache, mm: number, vpn: number): void {
    pwc.fill(mm, vpn, loadShared(this.v.pageState, ptGenWord(this.pages, mm, vpn)));
  }

  /**
   * `--page-walk-cache`: a speculative page walk through this CPU's cached
   * paging-structure entry (x86 may walk through cached upper-level entries
   * at any time, even while a kernel thread runs on a lazily loaded mm). If
   * the cached page table was freed since it was cached, the walk reads
   * freed memory: a stale access (frame -1: the page-table page). Returns
   * whether it walked through a cached entry.
   */
  speculativeWalk(): boolean {
    const pwc = this.pwc;
    if (!pwc || pwc.mm < 0 || pwc.mm !== this.tlbState.loadedMm) return false;
    if (loadShared(this.v.pageState, ptGenWord(this.pages, pwc.mm, pwc.vpn)) !== pwc.gen) {
      recordRace(this.v, 'stale_access', this.id, pwc.vpn, 0, pageStep(this.v.pageState, pwc.mm * this.pages + pwc.vpn), -1, 'load');
    }
    return true;
  }

  /** The TLB tag of the running process's accesses: its ASID on this CPU. Only the loaded mm is accessed. */
  private accessTag(mm: number): number {
    if (mm !== this.tlbState.loadedMm) throw new Error(`CPU ${this.id}: access to mm ${mm} while mm ${this.tlbState.loadedMm} is loaded`);
    return this.tlbState.loadedTag;
  }

  /** A load by the running process. Returns the value read, or -1 if it faulted fatally (SIGSEGV). */
  load(mm: number, vpn: number): number {
    const asid = this.accessTag(mm);
    const idx = mm * this.pages + vpn;
    const counters = this.counters;
    const cb = this.cBase;
    for (;;) {
      let e = this.tlb.lookup(vpn, asid);
      if (e >= 0) {
        counters[cb + K.tlb_hits]++;
      } else {
        counters[cb + K.tlb_misses]++;
        const mapGen = loadMapGen(this.v.pageState, idx);
        const pte = walkForRead(this.v.pte, idx);
        if (this.pwc) this.cacheWalk(this.pwc, mm, vpn);
        if (!pteHwPresent(pte)) {
          this.tlb.takeFlushMark(vpn, asid, -1, 0); // a fault, not a refill the flush caused
          if (!this.fault(mm, vpn, false)) return -1;
          continue;
        }
        // A zap bumped the mapping generation during the walk: walk again, so
        // the entry's generation always belongs to the PTE it caches.
        if (loadMapGen(this.v.pageState, idx) !== mapGen) continue;
        const f = pteFrame(pte);
        const gen = this.mem.gen(f);
        if (this.tlb.takeFlushMark(vpn, asid, f, gen)) counters[cb + K.tlb_flush_refills]++;
        e = this.tlb.fill(vpn, asid, f, pteWrite(pte), pteDirty(pte), gen, mapGen);
      }
      const f = this.tlb.frame(e);
      const value = readOwnFrameWord(this.v.frameData, f * this.W + this.id);
      if (readShared(this.v.frameGen, f) !== this.tlb.gen(e)) {
        recordRace(this.v, 'stale_access', this.id, vpn, value, pageStep(this.v.pageState, idx), f, 'load');
      }
      if (unmappedAt(this.v.pageState, idx) > this.tlb.mapGen(e)) {
        recordRace(this.v, 'access_after_unmap', this.id, vpn, value, pageStep(this.v.pageState, idx), f, 'load');
      }
      if (protectedLevel(this.v.pageState, idx) === PROTECTED_NONE) {
        recordRace(this.v, 'read_after_protect', this.id, vpn, value, pageStep(this.v.pageState, idx), f, 'load');
      }
      counters[cb + K.loads]++;
      return value;
    }
  }

  /**
   * A store by the running process to its own word of page `vpn`. Returns
   * false if it faulted fatally (SIGSEGV: the VMA does not allow writes).
   */
  store(mm: number, vpn: number): boolean {
    const asid = this.accessTag(mm);
    const idx = mm * this.pages + vpn;
    const counters = this.counters;
    const cb = this.cBase;
    const pt = this.v.pte;
    for (;;) {
      let e = this.tlb.lookup(vpn, asid);
      if (e < 0) {
        counters[cb + K.tlb_misses]++;
        const mapGen = loadMapGen(this.v.pageState, idx);
        const pte = walkForWrite(pt, idx, -1);
        if (this.pwc) this.cacheWalk(this.pwc, mm, vpn);
        if (!pteHwPresent(pte) || !pteWrite(pte)) {
          this.tlb.takeFlushMark(vpn, asid, -1, 0); // a fault, not a refill the flush caused
          if (!this.fault(mm, vpn, true)) return false;
          continue;
        }
        if (loadMapGen(this.v.pageState, idx) !== mapGen) continue; // see load()
        const f = pteFrame(pte);
        const gen = this.mem.gen(f);
        if (this.tlb.takeFlushMark(vpn, asid, f, gen)) counters[cb + K.tlb_flush_refills]++;
        e = this.tlb.fill(vpn, asid, f, true, true, gen, mapGen);
      } else {
        counters[cb + K.tlb_hits]++;
        if (!this.tlb.writable(e)) {
          // Write to a read-only translation traps on every architecture; the
          // fault invalidates the faulting translation.
          this.tlb.invalidatePage(vpn, asid);
          if (!this.fault(mm, vpn, true)) return false;
          continue;
        }
        if (!this.tlb.dirty(e)) {
          // The clean-to-dirty transition (docs/design.md, "Hardware semantics").
          if (this.isX86) {
            const f = this.tlb.frame(e);
            const pte = walkForWrite(pt, idx, f);
            if (!pteHwPresent(pte) || !pteWrite(pte) || pteFrame(pte) !== f) {
              // "A write to a clean unmapped page via a cached TLB entry must trap."
              this.tlb.invalidatePage(vpn, asid);
              if (!this.fault(mm, vpn, true)) return false;
              continue;
            }
          } else {
            weakSetDirty(pt, idx); // blind OR: lands in a dead word if the PTE is gone
          }
          this.tlb.markDirty(e);
        }
      }
      const f = this.tlb.frame(e);
      const step = pageStep(this.v.pageState, idx);
      const value = ++this.storeSeq;
      const w = f * this.W + this.id;
      this.v.frameStep[w] = step;
      // Write, then read the generation (both sequentially consistent): see PhysicalMemory.freeFrame.
      Atomics.store(this.v.frameData, w, value);
      if (loadShared(this.v.frameGen, f) !== this.tlb.gen(e)) recordRace(this.v, 'stale_access', this.id, vpn, value, step, f, 'store');
      if (protectedLevel(this.v.pageState, idx) !== 0) recordRace(this.v, 'write_after_protect', this.id, vpn, value, step, f, 'store');
      if (unmappedAt(this.v.pageState, idx) > this.tlb.mapGen(e)) recordRace(this.v, 'access_after_unmap', this.id, vpn, value, step, f, 'store');
      this.v.lastStore[this.id * this.slots + idx] = value;
      counters[cb + K.stores]++;
      return true;
    }
  }
}
