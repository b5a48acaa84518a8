/**
 * `tlb_flush_refills`, the TLB misses flushes cause (src/engine/tlb.ts flush marks):
 * a miss counts only when it refills exactly the translation a flush dropped
 * (same frame, same frame generation). Per-page reclaim invalidates only the
 * page it unmaps, whose next miss faults or finds a new mapping: zero refills.
 * Batched reclaim's full flushes drop still-valid entries of pages not yet
 * reclaimed: refills.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/config.js';
import { simulate } from '../src/api.js';
import { Tlb } from '../src/engine/tlb.js';
import { TLB_ENTRY_WORDS } from '../src/engine/tlb.js';

describe('flush marks', () => {
  const ASID = 1;
  const make = (): Tlb => {
    const t = new Tlb(new Int32Array(4 * 2 * TLB_ENTRY_WORDS), 4, 2, 16);
    t.reset();
    return t;
  };

  it('a flushed entry refilled with the same frame and generation counts once', () => {
    const t = make();
    t.fill(3, ASID, 40, true, false, 7);
    t.fill(5, ASID, 41, true, false, 2);
    expect(t.flushAsid(ASID, true)).toBe(2);
    expect(t.takeFlushMark(3, ASID, 40, 7)).toBe(true);
    expect(t.takeFlushMark(3, ASID, 40, 7)).toBe(false); // consumed
    expect(t.takeFlushMark(5, ASID, 41, 3)).toBe(false); // the frame was freed and reused since (generation moved)
  });

  it('invlpg marks only with mark set; a fault or another frame does not count', () => {
    const t = make();
    t.fill(3, ASID, 40, true, false, 7);
    t.invalidatePage(3, ASID); // a trap invalidation: no mark
    expect(t.takeFlushMark(3, ASID, 40, 7)).toBe(false);
    t.fill(3, ASID, 40, true, false, 7);
    t.invalidatePage(3, ASID, true);
    expect(t.takeFlushMark(3, ASID, 44, 1)).toBe(false); // remapped to another frame: the unmap's miss
    t.fill(3, ASID, 40, true, false, 7);
    t.invalidatePage(3, ASID, true);
    expect(t.takeFlushMark(3, ASID, -1, 0)).toBe(false); // a fault clears it
    expect(t.takeFlushMark(3, ASID, 40, 7)).toBe(false);
  });

  it('clearFlushMarks forgets a tag; unmarked flushes leave none', () => {
    const t = make();
    t.fill(2, ASID, 10, true, false, 1);
    t.flushAsid(ASID, true);
    t.clearFlushMarks(ASID);
    expect(t.takeFlushMark(2, ASID, 10, 1)).toBe(false);
    t.fill(2, ASID, 10, true, false, 1);
    t.flushAsid(ASID);
    expect(t.takeFlushMark(2, ASID, 10, 1)).toBe(false);
  });
});

describe('refills in reclaim runs (seeded)', () => {
  const base = { cpus: 4, pages: 32, batch: 8, sched: 'seeded' as const, ops: 400, seed: 5 };

  it('per-page reclaim causes none', async () => {
    const r = await simulate(resolveConfig({ ...base, protocol: 'per-page' }));
    expect(r.status).toBe('ok');
    expect(r.counters.nr_tlb_remote_flush).toBe(32);
    expect(r.counters.remote_flush_pages).toBe(32 * 3);
    expect(r.counters.remote_flush_full).toBe(0);
    expect(r.counters.tlb_flush_refills).toBe(0);
  });

  it('batched reclaim (full flushes) causes some, and the model prices each as a page walk', async () => {
    const r = await simulate(resolveConfig({ ...base, protocol: 'batched' }));
    expect(r.status).toBe('ok');
    expect(r.counters.nr_tlb_remote_flush).toBe(4);
    expect(r.counters.remote_flush_full + r.counters.tlb_flushes_elided).toBe(4 * 3);
    expect(r.counters.tlb_flush_refills).toBeGreaterThan(0);
    expect(r.counters.tlb_flush_refills).toBeLessThanOrEqual(r.counters.tlb_misses);
    expect(r.modeled.events.flush_refill.cycles).toBe(r.counters.tlb_flush_refills * r.modeled.cost_model.page_walk);
  });
});
