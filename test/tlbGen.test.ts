/**
 * tlb_gen (arch/x86/mm/tlb.c flush_tlb_func): each CPU remembers the mm
 * generation its TLB has caught up to; a flush already covered is elided, a
 * range flush is done page by page only when it is exactly the next and the
 * latest generation, and a CPU further behind does one full flush instead.
 * `--no-tlb-gen` turns the comparison off (every flush does what it asks).
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig, type SimConfig } from '../src/config/config.js';
import { Machine } from '../src/engine/coordinator.js';
import { Cpu } from '../src/engine/cpu.js';
import { incMmTlbGen } from '../src/kernel/mm.js';
import { runStress } from '../src/campaigns/stress.js';
import { flushTlbFunc } from '../src/kernel/tlbFlush.js';
import { NO_RACES } from './helpers.js';
import { allocateMachine } from '../src/engine/state/machineViews.js';

const MM = 0;

/** A CPU object on this thread (no worker: flushTlbFunc is a pure function of its TLB, its generations and the mm's), mm 0 loaded, 8 pages cached. */
function cpuWithFullTlb(overrides: Partial<SimConfig> = {}): Cpu {
  const config = resolveConfig({ cpus: 3, pages: 8, tlbSets: 8, tlbWays: 2, ...overrides });
  const cpu = new Cpu({ id: 2, config, buffers: allocateMachine(config), inPorts: [], outPorts: [] });
  cpu.tlb.reset();
  cpu.switchMm(MM);
  for (let p = 0; p < 8; p++) cpu.tlb.fill(p, cpu.tlbState.loadedTag, p, true, true, 0);
  return cpu;
}

function bump(cpu: Cpu): number {
  return incMmTlbGen(cpu.v.mm, cpu.config.cpus, MM);
}

describe('flush_tlb_func with tlb_gen', () => {
  it('two queued flushes (a range for generation 1, a full one for 2): one full flush, then one elision', () => {
    const cpu = cpuWithFullTlb();
    const g1 = bump(cpu); // CPU 1's mprotect of page 3
    const g2 = bump(cpu); // CPU 0's flush_tlb_mm, sent before CPU 2 handled the first
    flushTlbFunc(cpu, { kind: 'flush-pages', mm: MM, tlbGen: g1, pages: [3] }, false);
    flushTlbFunc(cpu, { kind: 'flush-all', mm: MM, tlbGen: g2 }, false);
    const k = cpu.stats().counters;
    expect(k.tlb_partial_to_full).toBe(1);
    expect(k.tlb_flushes_elided).toBe(1);
    expect(k.tlb_entries_flushed).toBe(8); // the full flush dropped every entry
    expect(cpu.tlb.occupancy()).toBe(0);
    expect(cpu.localTlbGen(MM)).toBe(g2);
  });

  it('a CPU two generations behind (local_tlb_gen = mm_tlb_gen - 2): a range request of the latest generation is a full flush, the older one then elided', () => {
    // arch/x86/mm/tlb.c flush_tlb_func: a partial flush only if f->new_tlb_gen == local_tlb_gen + 1 (else the flush
    // of the generation in between would be skipped: the invariant is that every flush up to local_tlb_gen was done)
    // and f->new_tlb_gen == mm_tlb_gen. Here local = L, mm = L + 2 and the request is for L + 2: not the next one,
    // so a full flush (tlb_partial_to_full, remote_flush_full 1, every one of the 8 entries dropped) that catches
    // up to mm_tlb_gen; the range request for L + 1, handled after it, finds local_tlb_gen == mm_tlb_gen: elided.
    const cpu = cpuWithFullTlb();
    const local = cpu.localTlbGen(MM);
    const g1 = bump(cpu); // CPU 1's mprotect of page 3
    const g2 = bump(cpu); // CPU 0's mprotect of page 5, whose IPI CPU 2 handles first
    expect(g2).toBe(local + 2);
    flushTlbFunc(cpu, { kind: 'flush-pages', mm: MM, tlbGen: g2, pages: [5] }, false);
    let k = cpu.stats().counters;
    expect(k.tlb_partial_to_full).toBe(1);
    expect(k.remote_flush_full).toBe(1);
    expect(k.remote_flush_pages).toBe(0);
    expect(k.tlb_entries_flushed).toBe(8);
    expect(cpu.tlb.occupancy()).toBe(0);
    expect(cpu.localTlbGen(MM)).toBe(g2);
    flushTlbFunc(cpu, { kind: 'flush-pages', mm: MM, tlbGen: g1, pages: [3] }, false);
    k = cpu.stats().counters;
    expect(k.tlb_flushes_elided).toBe(1);
    expect(k.remote_flush_full).toBe(1);
    expect(k.remote_flush_pages).toBe(0);
    expect(cpu.localTlbGen(MM)).toBe(g2);
  });

  it('a range flush that is exactly the next generation flushes only its pages', () => {
    const cpu = cpuWithFullTlb();
    const g = bump(cpu);
    flushTlbFunc(cpu, { kind: 'flush-pages', mm: MM, tlbGen: g, pages: [3, 4] }, true);
    const k = cpu.stats().counters;
    expect(k.nr_tlb_local_flush_one).toBe(2);
    expect(k.nr_tlb_local_flush_all).toBe(0);
    expect(k.tlb_partial_to_full).toBe(0);
    expect(k.tlb_entries_flushed).toBe(2);
    expect(cpu.tlb.occupancy()).toBe(6);
  });

  it('the batched-unmap flush (no generation of its own) is elided once the CPU caught up, done when it is behind', () => {
    const cpu = cpuWithFullTlb();
    flushTlbFunc(cpu, { kind: 'flush-all', mm: -1, tlbGen: 0 }, false);
    expect(cpu.stats().counters.tlb_flushes_elided).toBe(1);
    expect(cpu.tlb.occupancy()).toBe(8);
    bump(cpu); // reclaim deferred a flush (arch_tlbbatch_add_pending)
    flushTlbFunc(cpu, { kind: 'flush-all', mm: -1, tlbGen: 0 }, false);
    expect(cpu.tlb.occupancy()).toBe(0);
    expect(cpu.stats().counters.tlb_flushes_elided).toBe(1);
  });

  it('--no-tlb-gen: both queued flushes are done as asked', () => {
    const cpu = cpuWithFullTlb({ tlbGen: false });
    const g1 = bump(cpu);
    const g2 = bump(cpu);
    flushTlbFunc(cpu, { kind: 'flush-pages', mm: MM, tlbGen: g1, pages: [3] }, false);
    expect(cpu.tlb.occupancy()).toBe(7);
    flushTlbFunc(cpu, { kind: 'flush-all', mm: MM, tlbGen: g2 }, false);
    const k = cpu.stats().counters;
    expect(k.tlb_flushes_elided).toBe(0);
    expect(k.tlb_partial_to_full).toBe(0);
    expect(k.tlb_entries_flushed).toBe(8);
  });
});

describe('tlb_gen on running machines', () => {
  it('the mprotect scenario elides and widens flushes with tlb_gen, and never without; IPI counts are the same', async () => {
    const on = await runStress({ scenario: 'mprotect', overrides: {}, iterations: 200, seed: 1, stopOnRace: false });
    const off = await runStress({ scenario: 'mprotect', overrides: { tlbGen: false }, iterations: 200, seed: 1, stopOnRace: false });
    expect(on.races).toEqual(NO_RACES);
    expect(off.races).toEqual(NO_RACES);
    expect(on.counters.tlb_flushes_elided + on.counters.tlb_partial_to_full).toBeGreaterThan(0);
    expect(off.counters.tlb_flushes_elided).toBe(0);
    expect(off.counters.tlb_partial_to_full).toBe(0);
  });

  it('a range flush that reaches a CPU behind in generation becomes a full flush, which also covers a page reclaim cleared outside the span', async () => {
    // Without the pending flush, page 0 (cleared by reclaim, outside mprotect's span) races with --no-tlb-gen...
    const base = { pages: 16, reclaimPages: '0,8-15', batchedPendingFlush: false } as const;
    const off = await runStress({ scenario: 'mprotect', overrides: { ...base, tlbGen: false }, iterations: 1000, seed: 1, stopOnRace: false });
    expect(off.races.writes_after_protect).toBeGreaterThan(0);
    // ...and never with tlb_gen: reclaim's deferred flush bumped the generation, so CPU 2 is behind and flushes everything.
    const on = await runStress({ scenario: 'mprotect', overrides: base, iterations: 1000, seed: 1, stopOnRace: false });
    expect(on.races).toEqual(NO_RACES);
    expect(on.counters.tlb_partial_to_full).toBeGreaterThan(0);
  });

  it('exact IPI counts hold with tlb_gen on and off (batched reclaim, N=5, P=50, B=16: 4 rounds of 4)', async () => {
    for (const tlbGen of [true, false]) {
      const m = await Machine.boot(resolveConfig({ cpus: 5, pages: 50, batch: 16, ops: 200, tlbGen }));
      try {
        const r = await m.run();
        expect(r.status).toBe('ok');
        expect(r.counters.nr_tlb_remote_flush).toBe(4);
        expect(r.counters.ipis_sent).toBe(16);
      } finally {
        await m.shutdown();
      }
    }
  });
});
