/**
 * ASIDs and many processes (`--mms M`, `--switch-every N`): each CPU has the
 * kernel's 6 dynamic ASIDs (choose_new_asid), TLB entries are tagged with
 * them, flushes of a process reach only the CPUs of its mm_cpumask that
 * run it (should_flush_tlb), and a switch back to a process whose ASID fell
 * behind its tlb_gen flushes that ASID.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig, type SimConfig } from '../src/config/config.js';
import { simulate } from '../src/api.js';
import { Cpu } from '../src/engine/cpu.js';
import { incMmTlbGen, mmCpumask } from '../src/kernel/mm.js';
import { shouldTrimCpumask } from '../src/kernel/tlbFlush.js';
import { TLB_NR_DYN_ASIDS, asidTag } from '../src/kernel/tlbState.js';
import { NO_RACES, totalRaces } from './helpers.js';
import { allocateMachine } from '../src/engine/state/machineViews.js';
import { takeSchedStep } from '../src/engine/state/globalBlock.js';

/** One run of a freshly booted machine (the library's `simulate`). */
const runOnce = (overrides: Partial<SimConfig>) => simulate(overrides);

/** A CPU object on this thread (switch_mm and choose_new_asid touch only its own state and the mm words). */
function cpuAlone(overrides: Partial<SimConfig> = {}): Cpu {
  const config = resolveConfig({ cpus: 3, pages: 8, mms: 8, tlbSets: 8, tlbWays: 8, ...overrides });
  const cpu = new Cpu({ id: 1, config, buffers: allocateMachine(config), inPorts: [], outPorts: [] });
  cpu.tlb.reset();
  cpu.tlbState.reset();
  return cpu;
}

/** Switch to `mm` and cache its pages 0..3 under the ASID it got. */
function runProcess(cpu: Cpu, mm: number): void {
  cpu.switchMm(mm);
  for (let p = 0; p < 4; p++) cpu.tlb.fill(p, cpu.tlbState.loadedTag, 100 + mm, true, true, 0);
}

describe('choose_new_asid on one CPU', () => {
  it('assigns slots 1..5, then 0, round-robin, each with a flush; the first 6 processes all keep their entries', () => {
    const cpu = cpuAlone();
    const slots: number[] = [];
    for (let mm = 0; mm < TLB_NR_DYN_ASIDS; mm++) {
      runProcess(cpu, mm);
      slots.push(cpu.tlbState.loadedMmAsid);
    }
    expect(slots).toEqual([1, 2, 3, 4, 5, 0]);
    const k = cpu.stats().counters;
    expect(k.context_switches).toBe(6);
    expect(k.asid_flushes).toBe(6);
    expect(k.asid_reuses).toBe(0);
    expect(cpu.tlb.occupancy()).toBe(24); // 6 processes x 4 entries: ASIDs keep them all
    // Back to process 0: its ASID is reused without a flush and its entries hit.
    cpu.switchMm(0);
    expect(cpu.tlbState.loadedMmAsid).toBe(1);
    expect(cpu.stats().counters.asid_reuses).toBe(1);
    expect(cpu.stats().counters.asid_flushes).toBe(6);
    expect(cpu.tlb.lookup(2, cpu.tlbState.loadedTag)).toBeGreaterThanOrEqual(0);
  });

  it('a seventh process takes the next slot round-robin and flushes the evicted process\'s entries', () => {
    const cpu = cpuAlone();
    for (let mm = 0; mm < 7; mm++) runProcess(cpu, mm);
    // mm 6 took slot 1 (next_asid wrapped to 1 after slot 0), evicting mm 0.
    expect(cpu.tlbState.loadedMmAsid).toBe(1);
    expect(cpu.tlb.occupancy()).toBe(24); // mm 0's 4 entries flushed, mm 6's 4 filled
    cpu.switchMm(0);
    const k = cpu.stats().counters;
    expect(k.asid_reuses).toBe(0); // mm 0 no longer owns a slot
    expect(k.asid_flushes).toBe(8);
    expect(cpu.tlbState.loadedMmAsid).toBe(2); // next round-robin slot, evicting mm 1
  });

  it('a reused ASID whose generation is behind the mm\'s tlb_gen is flushed; one that is current is not', () => {
    const cpu = cpuAlone();
    runProcess(cpu, 0);
    runProcess(cpu, 1);
    incMmTlbGen(cpu.v.mm, cpu.config.cpus, 0); // a flush of mm 0 this CPU did not see (it ran mm 1)
    cpu.switchMm(0);
    let k = cpu.stats().counters;
    expect(k.asid_reuses).toBe(1);
    expect(k.asid_flushes).toBe(3);
    expect(cpu.tlb.lookup(2, asidTag(1))).toBe(-1); // mm 0's slot was flushed
    expect(cpu.tlb.lookup(2, asidTag(2))).toBeGreaterThanOrEqual(0); // mm 1's entries survive
    expect(cpu.localTlbGen(0)).toBe(1);
    cpu.switchMm(1);
    k = cpu.stats().counters;
    expect(k.asid_reuses).toBe(2);
    expect(k.asid_flushes).toBe(3); // mm 1 is current: no flush
    expect(k.context_switches).toBe(4);
  });

  it('switching joins mm_cpumask and leaves the previous mm\'s bit set (the kernel trims it lazily)', () => {
    const cpu = cpuAlone();
    cpu.switchMm(0);
    cpu.switchMm(1);
    expect(mmCpumask(cpu.v.mm, 3, 0)).toEqual([1]);
    expect(mmCpumask(cpu.v.mm, 3, 1)).toEqual([1]);
  });
});

describe('should_trim_cpumask', () => {
  it('0: every flush trims', () => {
    const cpu = cpuAlone({ cpumaskTrimMs: 0 });
    expect([shouldTrimCpumask(cpu, 0), shouldTrimCpumask(cpu, 0)]).toEqual([true, true]);
  });

  it('N: the first flush arms it, then at most once per N clock units (seeded: scheduler steps)', () => {
    const cpu = cpuAlone({ cpumaskTrimMs: 1000, sched: 'seeded' });
    const g = cpu.v.global;
    const stepTo = (n: number): void => {
      while (takeSchedStep(g) < n) {}
    };
    stepTo(5);
    expect(shouldTrimCpumask(cpu, 0)).toBe(false); // armed for step 1005
    stepTo(1005);
    expect(shouldTrimCpumask(cpu, 0)).toBe(false); // not after 1005 yet
    stepTo(1006);
    expect(shouldTrimCpumask(cpu, 0)).toBe(true); // re-armed for 2006
    expect(shouldTrimCpumask(cpu, 0)).toBe(false);
    expect(shouldTrimCpumask(cpu, 1)).toBe(false); // per mm: mm 1 only arms now
  });
});

describe('reclaim of M processes: IPIs reach only each mm_cpumask', () => {
  // N = 7 CPUs: kswapd + 6 threads dealt to M = 3 processes (2 CPUs each); P = 64, B = 32.
  it('batched: M x ceil(P/B) = 6 rounds of 2 IPIs (= ceil(P/B) x (N-1), not M times that)', async () => {
    const r = await runOnce({ cpus: 7, mms: 3, pages: 64, batch: 32, ops: 2000 });
    expect(r.status).toBe('ok');
    expect(r.counters.nr_tlb_remote_flush).toBe(6);
    expect(r.counters.ipis_sent).toBe(12);
    for (let c = 1; c < 7; c++) expect(r.per_cpu[c].nr_tlb_remote_flush_received, `CPU ${c}`).toBe(2);
    expect(r.counters.context_switches).toBe(6); // each thread's first load only
    expect(r.races).toEqual(NO_RACES);
  });

  it('per-page: M x P = 192 rounds of 2 IPIs', async () => {
    const r = await runOnce({ cpus: 7, mms: 3, pages: 64, batch: 32, ops: 2000, protocol: 'per-page' });
    expect(r.status).toBe('ok');
    expect(r.counters.nr_tlb_remote_flush).toBe(192);
    expect(r.counters.ipis_sent).toBe(384);
    expect(r.races).toEqual(NO_RACES);
  });

  it('one process (the default) keeps the engine\'s exact counts: ceil(P/B) rounds of N-1', async () => {
    const r = await runOnce({ cpus: 7, pages: 64, batch: 32, ops: 2000 });
    expect(r.counters.nr_tlb_remote_flush).toBe(2);
    expect(r.counters.ipis_sent).toBe(12);
    expect(r.counters.asid_reuses).toBe(0);
    expect(r.counters.context_switches).toBe(6);
  });
});

describe('context switches between processes', () => {
  // 4 threads, --ops 1000, --switch-every 100: each thread makes 1 + floor(999/100) = 10 switches (its first load included).
  const base: Partial<SimConfig> = { cpus: 5, pages: 64, ops: 1000, switchEvery: 100 };

  it('M = 2: 40 switches, 2 ASIDs assigned per CPU, every other switch a reuse (32)', async () => {
    const r = await runOnce({ ...base, mms: 2 });
    expect(r.status).toBe('ok');
    expect(r.counters.context_switches).toBe(40);
    expect(r.counters.asid_reuses).toBe(32);
    // 8 assignments, plus the reuses whose generation reclaim moved on meanwhile.
    expect(r.counters.asid_flushes).toBeGreaterThanOrEqual(8);
    expect(r.counters.asid_flushes).toBeLessThanOrEqual(40);
    expect(r.counters.loads + r.counters.stores).toBe(4 * 1000 + 4 * 64); // ops exactly, plus warm-up
    expect(r.races).toEqual(NO_RACES);
  });

  it('M = 7 (more than the 6 dynamic ASIDs), cycled: no ASID is ever reused, every switch flushes', async () => {
    const r = await runOnce({ ...base, mms: 7 });
    expect(r.status).toBe('ok');
    expect(r.counters.context_switches).toBe(40);
    expect(r.counters.asid_reuses).toBe(0);
    expect(r.counters.asid_flushes).toBe(40);
    expect(r.races).toEqual(NO_RACES);
  });

  for (const protocol of ['per-page', 'batched'] as const) {
    it(`${protocol}: switching while reclaim runs is race-free; reusing ASIDs without the tlb_gen check (--inject stale-asid) is caught`, async () => {
      const cfg: Partial<SimConfig> = { cpus: 5, mms: 2, pages: 64, ops: 20_000, switchEvery: 50, protocol };
      const ok = await runOnce(cfg);
      expect(ok.status).toBe('ok');
      expect(ok.races).toEqual(NO_RACES);
      // Seeded, so the planted bug's interleavings are the same on every host.
      const seeded: Partial<SimConfig> = { ...cfg, ops: 2_000, sched: 'seeded' };
      const okSeeded = await runOnce(seeded);
      expect(okSeeded.races).toEqual(NO_RACES);
      const bad = await runOnce({ ...seeded, inject: 'stale-asid', debug: false });
      expect(bad.counters.asid_reuses).toBeGreaterThan(0);
      expect(bad.races.stale_accesses).toBeGreaterThan(0);
      expect(totalRaces(bad.races)).toBeGreaterThan(0);
    });
  }
});
