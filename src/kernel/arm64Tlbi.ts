/**
 * `--arch arm64`: broadcast TLB invalidation (TLBI ... IS) and DSB ISH, after
 * arch/arm64/include/asm/tlbflush.h:
 * - `archTlbbatchAddPending` (arch_tlbbatch_add_pending ->
 *   __flush_tlb_page_nosync / __flush_tlb_range_nosync): one TLBI VALE1IS
 *   per page reclaim unmaps, with no DSB: the invalidation is in flight;
 * - `archTlbbatchFlush` (arch_tlbbatch_flush): dsb(ish) only: it completes
 *   the TLBIs this CPU issued for the batch;
 * - `archFlushTlbBatchedPending` (arch_flush_tlb_batched_pending, called by
 *   flush_tlb_batched_pending in mm/rmap.c): before 4b634918384c dsb(ish)
 *   only, which does not complete TLBIs *another* CPU issued ("the
 *   completion of the TLB maintenance instruction is guaranteed only by the
 *   execution of a DSB by the observer that performed the TLB maintenance
 *   instruction", Arm ARM, quoted in the fix); since, flush_tlb_mm(): TLBI
 *   ASIDE1IS of the whole mm, then this CPU's DSB;
 * - `arm64FlushTlbMmRange` (flush_tlb_mm / __flush_tlb_range ->
 *   __flush_tlb_range_nosync): TLBIs, then DSB. A range of MAX_DVM_OPS
 *   (config.arm64MaxDvmOps; PTRS_PER_PTE, 512, by default) pages or more
 *   without FEAT_TLBIRANGE, or of more than MAX_TLBI_RANGE_PAGES with it, is flush_tlb_mm (one TLBI ASIDE1IS);
 *   otherwise __flush_tlb_range_op: one TLBI VALE1IS per page without the
 *   feature (`--arm64-tlbi-range off`, the default), range TLBIs (RVALE1IS,
 *   `on`) with it, as flushTlbRangeOps counts them. Modelled without KPTI
 *   (no __tlbi_user twin) and without LPA2, with a 4 KB stride.
 *
 * The machine: a TLBI reaches every CPU (the issuer's own TLB included) with
 * no IPI and no interrupt. Each CPU's MMU applies the TLBIs posted to it to
 * its OWN TLB only (only the owner writes its TLB), at a point the scheduler
 * chooses: in seeded mode CPU c's MMU is a schedulable agent of its own
 * (`cpus + c`, src/engine/scheduler.ts), enabled while TLBIs wait for it, so a schedule
 * can run CPU c's accesses through a stale entry while a TLBI to it is in
 * flight; in free mode the CPU applies them at its doorbell polls and waits
 * (a sleeping CPU is rung, as hardware needs no awake CPU). A DSB waits until
 * every CPU has applied every TLBI this CPU issued, and for nothing else.
 *
 * Shared words (Int32Array `tlbi`, layout.ts): per CPU t its pending count
 * PEND(t) (TLBIs posted to t, not yet applied), per CPU i its outstanding
 * count OUT(i) ((TLBI, target) pairs i issued, not yet applied), and one
 * single-producer single-consumer ring per (issuer i, target t): head
 * (written by t only), tail (written by i only), TLBI_RING entries.
 *
 * Invariants:
 * - Order of a post, per target: wait for room, entry words, OUT(i) + 1,
 *   PEND(t) + 1, tail + 1 (publish), doorbell. So a target never sees an
 *   entry whose counts are not raised yet, and PEND(t) >= entries visible.
 * - Order of an application: read the entry, head + 1, PEND(t) - 1, apply
 *   to the own TLB, OUT(i) - 1 (the last one rings i, whose DSB may sleep).
 * - Per (issuer, target) TLBIs apply in issue order; across issuers in no
 *   promised order (the agent drains issuers lowest first).
 * - A DSB cannot deadlock: application needs no lock and no running CPU
 *   (an MMU agent is enabled whenever its CPU has TLBIs pending).
 */
import type { Cpu } from '../engine/cpu.js';
import { ringDoorbell } from '../engine/scheduler.js';
import { addShared, loadShared, subShared } from '../engine/footprint.js';

// Layout of the `tlbi` buffer (src/engine/state/machineViews.ts sizes it with tlbiWords): only this module knows it.
/** TLBIs one issuer may have in flight to one target before it stalls (hardware back-pressure). */
const TLBI_RING = 32;
/** Words of one TLBI in a ring: kind, mm, page, page count (range TLBIs; 0 otherwise). */
const TLBI_ENTRY_WORDS = 4;
/** Words of one (issuer, target) ring: head (target's), tail (issuer's), entries. */
const TLBI_RING_WORDS = 2 + TLBI_RING * TLBI_ENTRY_WORDS;
/** Words of the `tlbi` buffer: per CPU its pending count and its outstanding count, then the cpus x cpus rings (0 unless arm64). */
export function tlbiWords(c: { cpus: number; arch: string }): number {
  return c.arch === 'arm64' ? 2 * c.cpus + c.cpus * c.cpus * TLBI_RING_WORDS : 0;
}

/** What the TLBI paths use of a CPU (a narrow view of `Cpu`). */
type TlbiHost = Pick<Cpu, 'id' | 'config' | 'v' | 'tlb' | 'tlbState' | 'trace' | 'count' | 'traceEvent' | 'traceNow' | 'blockUntil'>;

/** What one TLBI names: a page (VALE1IS), a range of pages (RVALE1IS) or an ASID (ASIDE1IS). */
type TlbiKind = 'page' | 'asid' | 'range';
const KIND_CODES: Record<TlbiKind, number> = { page: 1, asid: 2, range: 3 };

/** __TLBI_RANGE_PAGES(num, scale): pages one range TLBI covers, (num + 1) << (5 * scale + 1). */
export function tlbiRangePages(num: number, scale: number): number {
  return (num + 1) * 2 ** (5 * scale + 1);
}

/** MAX_TLBI_RANGE_PAGES = __TLBI_RANGE_PAGES(31, 3): the most one __flush_tlb_range_op covers. */
export const MAX_TLBI_RANGE_PAGES = tlbiRangePages(31, 3);

/** __TLBI_RANGE_NUM(pages, scale): the num field for `pages` at `scale` (clamped to 31 units), -1 if less than one unit. */
export function tlbiRangeNum(pages: number, scale: number): number {
  return Math.floor(Math.min(pages, tlbiRangePages(31, scale)) / 2 ** (5 * scale + 1)) - 1;
}

/** One TLBI __flush_tlb_range_op issues. */
interface TlbiOp {
  readonly kind: 'page' | 'range';
  readonly page: number;
  readonly count: number;
}

/**
 * __flush_tlb_range_op() (6.x form: scale counts down from 3) for `pages`
 * pages from `start`, 4 KB stride, no LPA2: without FEAT_TLBIRANGE one
 * per-page TLBI each; with it, while more than one page is left, at each
 * scale from 3 down to 0 one range TLBI of __TLBI_RANGE_PAGES(num, scale)
 * pages if num >= 0, and a last single page by a per-page TLBI. So a range
 * of n < 2048 pages costs [n >= 64] + [n mod 64 >= 2] + [n odd] TLBIs.
 */
export function flushTlbRangeOps(start: number, pages: number, tlbiRange: boolean): TlbiOp[] {
  const ops: TlbiOp[] = [];
  let scale = 3;
  while (pages > 0) {
    if (!tlbiRange || pages === 1) {
      ops.push({ kind: 'page', page: start, count: 1 });
      start++;
      pages--;
      continue;
    }
    if (scale < 0) throw new Error(`flushTlbRangeOps: ${pages} pages left past scale 0 (more than MAX_TLBI_RANGE_PAGES?)`);
    const num = tlbiRangeNum(pages, scale);
    if (num >= 0) {
      const n = tlbiRangePages(num, scale);
      ops.push({ kind: 'range', page: start, count: n });
      start += n;
      pages -= n;
    }
    scale--;
  }
  return ops;
}

/** Index of CPU t's pending count. */
function pendIdx(t: number): number {
  return t;
}
/** Index of CPU i's outstanding count. */
function outIdx(cpus: number, i: number): number {
  return cpus + i;
}
/** Base of the (issuer i, target t) ring. */
function ringBase(cpus: number, i: number, t: number): number {
  return 2 * cpus + (i * cpus + t) * TLBI_RING_WORDS;
}
const R_HEAD = 0;
const R_TAIL = 1;
const R_ENTRIES = 2;

/**
 * Issue one TLBI ... IS from `cpu` to every CPU (itself included), without
 * waiting (no DSB). Stalls, as hardware back-pressure, while a target's ring
 * from this CPU is full.
 */
function tlbiBroadcast(cpu: TlbiHost, kind: TlbiKind, mm: number, page: number, count = 0): void {
  const q = cpu.v.tlbi;
  const n = cpu.config.cpus;
  const me = cpu.id;
  cpu.count('tlbi_broadcast');
  for (let t = 0; t < n; t++) {
    const b = ringBase(n, me, t);
    if (loadShared(q, b + R_TAIL) - loadShared(q, b + R_HEAD) >= TLBI_RING) {
      cpu.blockUntil(() => loadShared(q, b + R_TAIL) - loadShared(q, b + R_HEAD) < TLBI_RING);
    }
    const tail = loadShared(q, b + R_TAIL);
    const e = b + R_ENTRIES + (tail % TLBI_RING) * TLBI_ENTRY_WORDS;
    Atomics.store(q, e, KIND_CODES[kind]);
    Atomics.store(q, e + 1, mm);
    Atomics.store(q, e + 2, page);
    Atomics.store(q, e + 3, count);
    addShared(q, outIdx(n, me), 1);
    addShared(q, pendIdx(t), 1);
    Atomics.store(q, b + R_TAIL, tail + 1);
    ringDoorbell(cpu.v.cpuCtl, t);
  }
  if (cpu.trace) cpu.traceEvent({ k: 'hw_send', ts: cpu.traceNow(), dur: 0, via: 'tlbi', targets: n, full: kind === 'asid', pages: kind === 'page' ? 1 : kind === 'range' ? count : 0 });
}

/**
 * CPU `cpu`'s MMU applies every TLBI posted to it, to its own TLB. Runs on
 * the CPU's own thread (its MMU agent's step in seeded mode, a doorbell poll
 * in free mode). Returns how many it applied.
 */
export function applyPendingTlbis(cpu: TlbiHost): number {
  const q = cpu.v.tlbi;
  if (q.length === 0) return 0;
  const n = cpu.config.cpus;
  const me = cpu.id;
  let applied = 0;
  while (loadShared(q, pendIdx(me)) > 0) {
    let got = false;
    for (let i = 0; i < n; i++) {
      const b = ringBase(n, i, me);
      for (;;) {
        const head = loadShared(q, b + R_HEAD);
        if (head === loadShared(q, b + R_TAIL)) break;
        const e = b + R_ENTRIES + (head % TLBI_RING) * TLBI_ENTRY_WORDS;
        const kind = loadShared(q, e);
        const mm = loadShared(q, e + 1);
        const page = loadShared(q, e + 2);
        const count = loadShared(q, e + 3);
        Atomics.store(q, b + R_HEAD, head + 1);
        subShared(q, pendIdx(me), 1);
        applyTlbi(cpu, kind, mm, page, count, i);
        if (subShared(q, outIdx(n, i), 1) === 1) ringDoorbell(cpu.v.cpuCtl, i);
        applied++;
        got = true;
      }
    }
    if (!got) break;
  }
  return applied;
}

/** One TLBI on this CPU's own TLB: the page (VALE1IS), `count` pages from it (RVALE1IS) or every entry (ASIDE1IS) of `mm`'s ASID here. */
function applyTlbi(cpu: TlbiHost, kind: number, mm: number, page: number, count: number, sender: number): void {
  cpu.count('tlbi_applied');
  const tag = cpu.tlbState.tagOf(mm);
  let dropped = 0;
  if (tag >= 0) {
    if (kind === KIND_CODES.page) dropped = cpu.tlb.invalidatePage(page, tag, true);
    else if (kind === KIND_CODES.range) for (let p = page; p < page + count; p++) dropped += cpu.tlb.invalidatePage(p, tag, true);
    else dropped = cpu.tlb.flushAsid(tag, true);
  }
  cpu.count('tlb_entries_flushed', dropped);
  if (cpu.trace) cpu.traceEvent({ k: 'hw_apply', ts: cpu.traceNow(), via: 'tlbi', sender, full: kind === KIND_CODES.asid, pages: kind === KIND_CODES.page ? 1 : kind === KIND_CODES.range ? count : 0 });
}

/** dsb(ish): wait until every CPU applied every TLBI this CPU issued (not other CPUs' TLBIs). */
function dsbIsh(cpu: TlbiHost): void {
  const q = cpu.v.tlbi;
  cpu.count('dsb_waits');
  const i = outIdx(cpu.config.cpus, cpu.id);
  const t0 = cpu.trace ? cpu.traceNow() : 0;
  cpu.blockUntil(() => loadShared(q, i) === 0, undefined, true, true);
  if (cpu.trace) cpu.traceEvent({ k: 'hw_send', ts: t0, dur: cpu.traceNow() - t0, via: 'dsb', targets: cpu.config.cpus, full: false, pages: 0 });
}

/** arch_tlbbatch_add_pending(): the reclaimed page's TLBI VALE1IS, not waited for. */
export function archTlbbatchAddPending(cpu: TlbiHost, mm: number, page: number): void {
  tlbiBroadcast(cpu, 'page', mm, page);
}

/** arch_tlbbatch_flush(): dsb(ish), completing the batch's TLBIs (this CPU issued them). */
export function archTlbbatchFlush(cpu: TlbiHost): void {
  dsbIsh(cpu);
}

/**
 * arch_flush_tlb_batched_pending(): `--arm64-pending flush-mm` (since
 * 4b634918384c) flush_tlb_mm(mm); `dsb` (before) a lone dsb(ish), which
 * waits only for this CPU's TLBIs, not reclaim's.
 */
export function archFlushTlbBatchedPending(cpu: TlbiHost, mm: number): void {
  if (cpu.config.arm64Pending === 'dsb') {
    dsbIsh(cpu);
    return;
  }
  arm64FlushTlbMmRange(cpu, mm, null);
}

/**
 * flush_tlb_mm() (`pages` null: TLBI ASIDE1IS) or __flush_tlb_range() of
 * the span of `pages` (lowest to highest; __flush_tlb_range_nosync): by
 * ASID at MAX_DVM_OPS pages or more without FEAT_TLBIRANGE (more than
 * MAX_TLBI_RANGE_PAGES with it), else the TLBIs of __flush_tlb_range_op
 * (flushTlbRangeOps); then dsb(ish). x86's `--ceiling` does not apply.
 */
export function arm64FlushTlbMmRange(cpu: TlbiHost, mm: number, pages: readonly number[] | null): void {
  const range = cpu.config.arm64TlbiRange === 'on';
  if (pages === null || pages.length === 0) {
    tlbiBroadcast(cpu, 'asid', mm, -1);
  } else {
    const lo = Math.min(...pages);
    const span = Math.max(...pages) - lo + 1;
    // MAX_DVM_OPS (`--arm64-max-dvm-ops`, PTRS_PER_PTE = 512 by default): without range TLBIs, this many pages or more are flushed by ASID.
    if ((!range && span >= cpu.config.arm64MaxDvmOps) || (range && span > MAX_TLBI_RANGE_PAGES)) tlbiBroadcast(cpu, 'asid', mm, -1);
    else for (const op of flushTlbRangeOps(lo, span, range)) tlbiBroadcast(cpu, op.kind, mm, op.page, op.kind === 'range' ? op.count : 0);
  }
  dsbIsh(cpu);
}
