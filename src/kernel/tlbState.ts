/**
 * cpu_tlbstate: which address spaces one CPU's TLB holds, under which ASIDs,
 * and how up to date each is. Models switch_mm_irqs_off(), choose_new_asid()
 * and enter_lazy_tlb() of Linux arch/x86/mm/tlb.c (PCID on, no global ASIDs).
 *
 * Invariants:
 * - Private to the owning CPU, except two shared words it alone writes
 *   (C_LOADED_MM, C_IS_LAZY: read by flush initiators in should_flush_tlb)
 *   and its own bits in each mm_cpumask.
 * - The CPU has TLB_NR_DYN_ASIDS dynamic ASIDs (slots). Slot s holds one mm
 *   (ctxs[s].ctxId, 0: none or init_mm) and the mm generation its entries
 *   reflect (ctxs[s].tlbGen). Every TLB entry is tagged asidTag(s) = s + 1
 *   (the kernel's kern_pcid(): PCID 0 is never a user mm's), so entries of a
 *   process that was switched out stay in the TLB and hit again when it comes
 *   back: that is what ASIDs buy.
 * - A slot's entries may be stale only while its mm is not loaded: every
 *   flush of a not-loaded mm bumps the mm's tlb_gen (flushTlbMmRange,
 *   setTlbUbcFlushPending), and the switch back compares the slot's tlbGen
 *   with it and flushes the slot if behind (choose_new_asid's need_flush).
 * - Order of a switch: publish loaded_mm (C_LOADED_MM), join mm_cpumask, then
 *   read tlb_gen. An initiator bumps tlb_gen, then reads mm_cpumask and
 *   loaded_mm. With sequentially consistent Atomics either the initiator sees
 *   this CPU on the mm and sends it the flush, or this CPU reads the bumped
 *   generation and flushes at the switch. (The kernel publishes loaded_mm
 *   only after CR3 is written and closes the same window differently: commit
 *   "x86/mm: Eliminate window where TLB flushes may be inadvertently
 *   skipped", 2025. This models the fixed kernel.)
 * - mm_cpumask is not trimmed on a switch (the kernel stopped clearing the
 *   bit in 6.x: the atomic write costs more than an occasional extra IPI). A
 *   CPU leaves an mm's mask when a flush for that mm reaches it while it runs
 *   another (flushTlbFunc: TLB_REMOTE_WRONG_CPU).
 * - Lazy TLB: enter_lazy_tlb() only sets is_lazy (the mm stays loaded). A
 *   flush that reaches a lazy CPU switches it to init_mm (switchToInitMm,
 *   from flush_tlb_func: switch_mm_irqs_off(NULL, &init_mm, NULL) clears
 *   is_lazy, loads init_mm, leaves mm_cpumask alone); when the kernel thread
 *   ends, the user task's mm is switched to again: without that flush, the
 *   prev == next path (one full flush if tlb_gen moved,
 *   `lazy_tlb_switch_back_flushes`); after it, a full switch whose
 *   choose_new_asid finds the ASID behind and flushes it (`asid_flushes`).
 * - Global ASIDs (`--transport invlpgb`, Linux 6.15): an mm with a global
 *   ASID runs under it on every CPU (tag globalAsidTag(asid), the same
 *   everywhere; INVLPGB keeps it up to date, so switching to it never
 *   flushes: choose_new_asid). A CPU running the mm under its dynamic ASID
 *   when the global one is assigned moves to it at its next switch_mm_irqs_off
 *   or flush_tlb_func (mm_needs_global_asid: reloadGlobalAsid). While it runs
 *   under the global ASID, bit LOADED_GLOBAL_ASID_BIT of C_LOADED_MM is set
 *   (finish_asid_transition reads it).
 * - `--transport rar` uses the same global ASIDs (Rik van Riel, "[RFC PATCH v3
 *   7/7] x86/mm: userspace & pageout flushing using Intel RAR", 2025-06-05,
 *   <20250605163544.3852565-8-riel@surriel.com>): RAR keeps a global ASID up
 *   to date only on the CPUs of mm_cpumask, so choose_new_asid flushes it on
 *   a CPU new to the mask (new_cpu), and the reload into it
 *   (mm_needs_global_asid) flushes too (choose_new_asid(..., true)).
 */
import type { CounterName } from '../engine/layout.js';
import { isLazyCpu, publishLoadedMm, setLazy } from '../engine/state/cpuControl.js';
import type { TraceEvent } from '../output/trace.js';
import { mmCpumaskSet, mmGlobalAsid, mmTlbGen } from './mm.js';
import type { Tlb } from '../engine/tlb.js';
import type { GlobalAsidMode } from './transports/types.js';

/** TLB_NR_DYN_ASIDS: dynamic ASIDs per CPU (arch/x86/include/asm/tlbflush.h). */
export const TLB_NR_DYN_ASIDS = 6;

/** mm->context.ctx_id of mm `m`: unique per mm and never 0 (0 marks a slot of init_mm / nobody). */
function mmCtxId(m: number): number {
  return m + 1;
}

/** The TLB tag of global ASID `asid` (kern_pcid(asid) = asid + 1; asid >= TLB_NR_DYN_ASIDS). */
export function globalAsidTag(asid: number): number {
  return asid + 1;
}

/** The TLB tag of dynamic ASID `slot` (kern_pcid(asid) = asid + 1). */
export function asidTag(slot: number): number {
  return slot + 1;
}

/** What CpuTlbState needs of its CPU: identity, the shared views, its TLB and counters. */
interface TlbStateHost {
  readonly id: number;
  readonly config: { readonly cpus: number; readonly inject: string };
  /** Whether and how this CPU's transport uses global ASIDs (fixed at boot). */
  readonly flushTransport: { readonly globalAsids: GlobalAsidMode };
  readonly v: { readonly mm: Int32Array; readonly cpuCtl: Int32Array };
  readonly tlb: Tlb;
  count(name: CounterName, n?: number): void;
  /** Tracing (see trace.ts): the clock, and the CPU's ring (no-op when not tracing). */
  readonly trace: unknown;
  traceNow(): number;
  traceEvent(e: TraceEvent): void;
}

/** One dynamic ASID: struct tlb_context. */
interface TlbContext {
  ctxId: number;
  tlbGen: number;
  /** `--protocol context-reset`: the slot's context generation (0..CONTEXT_GENERATIONS-1): its entries are tagged slotTag(slot, gen). */
  ctxGen: number;
}

/**
 * Context ids per ASID slot for `--protocol context-reset`: a reset moves the
 * slot to its next context id and leaves the old id's entries as zombies;
 * when an id comes round again its zombies are flushed first (the PowerPC
 * kernel's zombie-VSID reclaim, seed 004). 8 ids keep the tags within what
 * the TLB's flush marks can index cheaply (markTag folds them per slot).
 */
export const CONTEXT_GENERATIONS = 8;

/** The TLB tag of dynamic ASID `slot` in context generation `gen` (gen 0: asidTag(slot)). */
export function slotTag(slot: number, gen: number): number {
  return asidTag(slot) + TLB_NR_DYN_ASIDS * gen;
}

/** cpu_tlbstate of one CPU. */
export class CpuTlbState {
  /** The mm loaded on this CPU, or -1 (a kernel thread on init_mm). */
  loadedMm = -1;
  /** loaded_mm_asid: the slot the loaded mm's entries are tagged with. */
  loadedMmAsid = 0;
  /** TLB tag of the loaded mm's entries (asidTag(loadedMmAsid), or globalAsidTag when loadedGlobal). */
  loadedTag = asidTag(0);
  /** The loaded mm runs under its global ASID (is_global_asid(loaded_mm_asid); `--protocol invlpgb`). */
  loadedGlobal = false;
  /** next_asid: the slot the next newly assigned ASID takes (round-robin). */
  private nextAsid = 1;
  private readonly ctxs: TlbContext[] = Array.from({ length: TLB_NR_DYN_ASIDS }, () => ({ ctxId: 0, tlbGen: 0, ctxGen: 0 }));

  constructor(private readonly host: TlbStateHost) {}

  /** Boot state of a run: init_mm loaded in slot 0, next_asid 1 (initialize_tlbstate_and_flush). */
  reset(): void {
    this.loadedMm = -1;
    this.taskMm = -1;
    this.loadedGlobal = false;
    this.loadedMmAsid = 0;
    this.loadedTag = asidTag(0);
    this.nextAsid = 1;
    for (const c of this.ctxs) {
      c.ctxId = 0;
      c.tlbGen = 0;
      c.ctxGen = 0;
    }
    publishLoadedMm(this.host.v.cpuCtl, this.host.id, -1);
  }

  /**
   * choose_new_asid(): the slot already holding `next` (flush only if its
   * generation is behind `nextTlbGen`), else the next slot round-robin, which
   * always needs a flush (it may hold another mm's entries).
   */
  chooseNewAsid(next: number, nextTlbGen: number): { asid: number; needFlush: boolean } {
    const id = mmCtxId(next);
    for (let asid = 0; asid < TLB_NR_DYN_ASIDS; asid++) {
      if (this.ctxs[asid].ctxId !== id) continue;
      this.host.count('asid_reuses');
      // `--inject stale-asid`: reuse the ASID without comparing generations (its entries may be stale).
      if (this.host.config.inject === 'stale-asid') return { asid, needFlush: false };
      return { asid, needFlush: this.ctxs[asid].tlbGen < nextTlbGen };
    }
    let asid = this.nextAsid++;
    if (asid >= TLB_NR_DYN_ASIDS) {
      asid = 0;
      this.nextAsid = 1;
    }
    return { asid, needFlush: true };
  }

  /**
   * switch_mm_irqs_off() to a different mm (a context switch; the first load
   * of a run too). Publishes loaded_mm, joins mm_cpumask, reads tlb_gen (in
   * that order: see the header), picks an ASID and flushes it if needed.
   * Returns whether the switch flushed.
   */
  switchMmIrqsOff(next: number): boolean {
    const h = this.host;
    if (next === this.loadedMm) return false;
    h.count('context_switches');
    publishLoadedMm(h.v.cpuCtl, h.id, next);
    const newCpu = mmCpumaskSet(h.v.mm, h.config.cpus, next, h.id);
    const nextTlbGen = mmTlbGen(h.v.mm, h.config.cpus, next);
    // choose_new_asid(): a global ASID is always up to date with INVLPGB: use it, no flush. With RAR (the series'
    // choose_new_asid(next, next_tlb_gen, new_cpu)) only on CPUs that stayed in mm_cpumask: a CPU new to the mask
    // missed the RAR flushes sent meanwhile, so need_flush = new_cpu.
    const global = this.globalAsidOf(next);
    if (global !== 0) {
      const needFlush = newCpu && h.flushTransport.globalAsids === 'targeted';
      if (h.trace) h.traceEvent({ k: 'switch_mm', ts: h.traceNow(), from: this.loadedMm, to: next, flushed: needFlush });
      this.loadedMm = next;
      this.useGlobalAsid(global);
      if (needFlush) this.flushGlobalAsid();
      return needFlush;
    }
    this.loadedGlobal = false;
    const { asid, needFlush } = this.chooseNewAsid(next, nextTlbGen);
    if (needFlush) {
      h.count('asid_flushes');
      // A reused ASID catches up on flushes made while away (its refills are
      // theirs); a newly assigned one drops another mm's entries (not a flush
      // of this mm: forget that tag's marks).
      const reused = this.ctxs[asid].ctxId === mmCtxId(next);
      const tag = slotTag(asid, this.ctxs[asid].ctxGen);
      if (!reused) h.tlb.clearFlushMarks(tag);
      h.count('tlb_entries_flushed', h.tlb.flushAsid(tag, reused));
      this.ctxs[asid].ctxId = mmCtxId(next);
      this.ctxs[asid].tlbGen = nextTlbGen;
    }
    if (h.trace) {
      const now = h.traceNow();
      h.traceEvent({ k: 'switch_mm', ts: now, from: this.loadedMm, to: next, flushed: needFlush });
      if (needFlush) h.traceEvent({ k: 'flush', ts: now, reason: 'TLB_FLUSH_ON_TASK_SWITCH', full: true, pages: 0, mm: next });
    }
    this.loadedMm = next;
    this.loadedMmAsid = asid;
    this.loadedTag = slotTag(asid, this.ctxs[asid].ctxGen);
    return needFlush;
  }

  /**
   * enter_lazy_tlb(): a kernel thread runs, the mm stays loaded; initiators
   * skip this CPU from now on (nothing to do if init_mm is loaded). Records
   * the user task's mm, to switch back to in leaveLazyTlb.
   */
  enterLazyTlb(): void {
    if (this.loadedMm < 0) return;
    this.taskMm = this.loadedMm;
    setLazy(this.host.v.cpuCtl, this.host.id, true);
    this.lazySince = this.host.traceNow();
  }

  /** Tracing: when this CPU went lazy. */
  private lazySince = 0;
  /** The mm of the user task the kernel thread interrupted (what leaveLazyTlb switches back to), or -1. */
  private taskMm = -1;

  /**
   * flush_tlb_func() on a lazy CPU: switch_mm_irqs_off(NULL, &init_mm, NULL).
   * is_lazy is cleared, loaded_mm becomes init_mm (published for
   * should_flush_tlb), the mm's ASID keeps its entries and its ctxs tlb_gen
   * (so the switch back flushes it), and mm_cpumask is left alone.
   */
  switchToInitMm(): void {
    const h = this.host;
    const from = this.loadedMm;
    setLazy(h.v.cpuCtl, h.id, false);
    publishLoadedMm(h.v.cpuCtl, h.id, -1);
    this.loadedMm = -1;
    this.loadedGlobal = false;
    if (h.trace) {
      const now = h.traceNow();
      h.traceEvent({ k: 'lazy', ts: this.lazySince, dur: now - this.lazySince });
      h.traceEvent({ k: 'switch_mm', ts: now, from, to: -1, flushed: false });
    }
  }

  /** cpu_tlbstate_shared.is_lazy. */
  isLazy(): boolean {
    return isLazyCpu(this.host.v.cpuCtl, this.host.id);
  }

  /**
   * switch_mm_irqs_off() back to the loaded mm from lazy TLB mode (prev ==
   * next): clear is_lazy, then read tlb_gen (initiators bump, then read
   * is_lazy); if the TLB went out of date meanwhile, one full flush of the
   * loaded ASID (TLB_FLUSH_ON_TASK_SWITCH).
   */
  leaveLazyTlb(): void {
    const h = this.host;
    const mm = this.loadedMm;
    if (mm >= 0 && (this.needsGlobalAsid() || this.loadedGlobal)) {
      // prev == next: mm_needs_global_asid -> reload into the global ASID; a global ASID needs no tlb_gen catch-up.
      setLazy(h.v.cpuCtl, h.id, false);
      if (h.trace) h.traceEvent({ k: 'lazy', ts: this.lazySince, dur: h.traceNow() - this.lazySince });
      if (!this.loadedGlobal) this.reloadGlobalAsid();
      return;
    }
    if (mm < 0) {
      // A flush switched this CPU to init_mm meanwhile: a full switch back (it rejoins mm_cpumask; choose_new_asid flushes the behind ASID).
      const task = this.taskMm;
      this.taskMm = -1;
      if (task >= 0) this.switchMmIrqsOff(task);
      return;
    }
    setLazy(h.v.cpuCtl, h.id, false);
    if (h.trace) h.traceEvent({ k: 'lazy', ts: this.lazySince, dur: h.traceNow() - this.lazySince });
    const gen = mmTlbGen(h.v.mm, h.config.cpus, mm);
    const ctx = this.ctxs[this.loadedMmAsid];
    if (ctx.tlbGen >= gen) return;
    if (h.trace) h.traceEvent({ k: 'flush', ts: h.traceNow(), reason: 'TLB_FLUSH_ON_TASK_SWITCH', full: true, pages: 0, mm });
    h.count('lazy_tlb_switch_back_flushes');
    h.count('tlb_entries_flushed', h.tlb.flushAsid(this.loadedTag, true));
    ctx.tlbGen = gen;
  }

  /** `--transport invlpgb` or `rar`: the global ASID of `mm` (0: none; always 0 for other transports). */
  globalAsidOf(mm: number): number {
    return this.host.flushTransport.globalAsids !== 'none' && mm >= 0 ? mmGlobalAsid(this.host.v.mm, this.host.config.cpus, mm) : 0;
  }

  /** mm_needs_global_asid(loaded_mm, loaded_mm_asid): the loaded mm got a global ASID this CPU does not use yet. */
  needsGlobalAsid(): boolean {
    return !this.loadedGlobal && this.globalAsidOf(this.loadedMm) !== 0;
  }

  /**
   * switch_mm_irqs_off(NULL, loaded_mm, NULL) when mm_needs_global_asid: the
   * prev == next reload into the global ASID (CR3 with the global PCID, no
   * flush: choose_new_asid). The dynamic ASID's entries of the mm stay, no
   * longer reachable.
   */
  reloadGlobalAsid(): void {
    this.host.count('global_asid_reloads');
    this.useGlobalAsid(this.globalAsidOf(this.loadedMm));
    // `--transport rar`: the series calls choose_new_asid(next, next_tlb_gen, true) here: need_flush under RAR.
    if (this.host.flushTransport.globalAsids === 'targeted') this.flushGlobalAsid();
  }

  /**
   * `--protocol rar`: load_new_mm_cr3(..., need_flush) with the global ASID
   * (TLB_FLUSH_ON_TASK_SWITCH; no ctxs[] update, it is not a dynamic ASID):
   * the global PCID's entries on this CPU are dropped. Counted in asid_flushes.
   */
  private flushGlobalAsid(): void {
    const h = this.host;
    h.count('asid_flushes');
    if (h.trace) h.traceEvent({ k: 'flush', ts: h.traceNow(), reason: 'TLB_FLUSH_ON_TASK_SWITCH', full: true, pages: 0, mm: this.loadedMm });
    h.count('tlb_entries_flushed', h.tlb.flushAsid(this.loadedTag, true));
  }

  /** Load the global ASID `asid` for the loaded mm and publish it (LOADED_GLOBAL_ASID_BIT). */
  private useGlobalAsid(asid: number): void {
    this.loadedGlobal = true;
    this.loadedTag = globalAsidTag(asid);
    publishLoadedMm(this.host.v.cpuCtl, this.host.id, this.loadedMm, true);
  }

  /** The ASID slot holding `mm` on this CPU, or -1. */
  slotOf(mm: number): number {
    const id = mmCtxId(mm);
    for (let s = 0; s < TLB_NR_DYN_ASIDS; s++) if (this.ctxs[s].ctxId === id) return s;
    return -1;
  }

  /** The TLB tag `mm`'s entries carry on this CPU, or -1 if no slot holds it. */
  tagOf(mm: number): number {
    const s = this.slotOf(mm);
    return s < 0 ? -1 : slotTag(s, this.ctxs[s].ctxGen);
  }

  /** Every TLB tag a slot holds now (the tags an all-non-globals flush must drop; the TLB holds no global entries). */
  liveTags(): number[] {
    return this.ctxs.map((c, s) => slotTag(s, c.ctxGen));
  }

  /**
   * `--protocol context-reset`: give `mm`'s slot on this CPU a new context
   * id (the PowerPC VSID reset of seed 004). Its entries stay in the TLB as
   * zombies no lookup matches (marked as dropped, so their refills count as
   * this flush's); if the new id still tags zombies from CONTEXT_GENERATIONS
   * resets ago, those are flushed first: the rule every ASID allocator
   * keeps when an id comes round (arm64 new_context() rolls the generation
   * over and flush_context() queues local_flush_tlb_all() on every CPU
   * before an id of the new generation is used, arch/arm64/mm/context.c;
   * x86 choose_new_asid() sets need_flush when it hands a slot to a new mm,
   * arch/x86/mm/tlb.c); `--inject context-reuse` skips it. The slot is then
   * caught up to `mmGen`. Returns false if no slot holds `mm` (nothing
   * cached to retire).
   */
  resetContext(mm: number, mmGen: number): boolean {
    const h = this.host;
    const s = this.slotOf(mm);
    if (s < 0) return false;
    const ctx = this.ctxs[s];
    h.tlb.markAsid(slotTag(s, ctx.ctxGen));
    ctx.ctxGen = (ctx.ctxGen + 1) % CONTEXT_GENERATIONS;
    const tag = slotTag(s, ctx.ctxGen);
    // `--inject context-reuse`: take the id without retiring its zombies, which come back to life under it (an ASID
    // rollover without arm64's flush_context(), arch/arm64/mm/context.c, or x86 choose_new_asid()'s need_flush).
    const zombies = h.config.inject === 'context-reuse' ? 0 : h.tlb.flushAsid(tag, false);
    if (zombies > 0) h.count('context_zombie_flushes');
    ctx.tlbGen = Math.max(ctx.tlbGen, mmGen);
    if (s === this.loadedMmAsid && this.loadedMm === mm) this.loadedTag = tag;
    h.count('context_resets');
    return true;
  }

  /** cpu_tlbstate.ctxs[].tlb_gen of `mm`'s slot on this CPU (0 if it has none). */
  localTlbGen(mm: number): number {
    const id = mmCtxId(mm);
    for (const c of this.ctxs) if (c.ctxId === id) return c.tlbGen;
    return 0;
  }

  /** The loaded mm's TLB has caught up to generation `gen` (flushTlbFunc only). */
  setLoadedTlbGen(gen: number): void {
    this.ctxs[this.loadedMmAsid].tlbGen = gen;
  }

  /** The loaded mm's slot generation. */
  loadedTlbGen(): number {
    return this.ctxs[this.loadedMmAsid].tlbGen;
  }
}
