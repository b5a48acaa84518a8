/**
 * The cost model (src/output/costModel.ts): its arithmetic on a hand-computed run,
 * the defaults against their sources, a real seeded run whose modeled rounds
 * follow from its exact counts, the same `modeled` section from two seeded
 * runs, and `--cost-model` files (overrides applied; a bad key is one line,
 * exit 2).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/config.js';
import { simulate } from '../src/api.js';
import { COST_MODEL_DEFAULTS, loadCostModel, modelRun, resolveCostModel, roundCycles, type CostModel } from '../src/output/costModel.js';
import { zeroCounters, type Counters, type RunResult } from '../src/output/result.js';
import { runCliInProcess } from './cliInProcess.js';
import { lines, parseOneJsonObject, runCli } from './helpers.js';

/** Round numbers so every product below can be checked by hand. */
const HAND: CostModel = {
  ghz: 2,
  ipi_send_base: 1000,
  ipi_send_per_target: 100,
  irq_entry: 300,
  flush_handler: 200,
  invlpg: 50,
  full_flush: 700,
  flush_call_base: 400,
  page_walk: 10,
  page_fault: 5000,
  context_switch: 900,
  invlpgb_broadcast: 60,
  hw_apply: 7,
  tlbsync_wait: 800,
  rar_send_base: 900,
  rar_send_per_target: 90,
  context_reset: 120,
  tlbi_broadcast: 40,
  dsb_wait: 650,
};

function counters(set: Partial<Counters>): Counters {
  return { ...zeroCounters(), ...set };
}

describe('cost-model arithmetic of the mechanisms beyond IPIs', () => {
  // CPU 0 issues 2 INVLPGB + 2 TLBSYNC and 3 RAR actions to 5 targets in all; CPU 1 applies 2 broadcasts and 3 RAR
  // actions, resets 4 contexts (1 zombie flush) and forwards 6 multicast IPIs.
  const perCpu = [
    counters({ invlpgb_sent: 2, tlbsync_waits: 2, rar_sent: 3, rar_targets: 5, pages_unmapped: 10 }),
    counters({ invlpgb_applied: 2, rar_applied: 3, hw_flush_full: 2, hw_flush_pages: 9, context_resets: 4, context_zombie_flushes: 1, ipis_forwarded: 6 }),
  ];
  const m = modelRun(HAND, { perCpu, rounds: [[], []] });
  it('prices each event by its own key', () => {
    expect(m.events.invlpgb).toEqual({ count: 2, cycles: 120 });
    expect(m.events.tlbsync).toEqual({ count: 2, cycles: 1600 });
    expect(m.events.rar_send).toEqual({ count: 3, cycles: 3 * 900 + 5 * 90 });
    expect(m.events.hw_apply).toEqual({ count: 5, cycles: 35 });
    expect(m.events.context_reset).toEqual({ count: 4, cycles: 480 });
    expect(m.events.zombie_flush).toEqual({ count: 1, cycles: 700 });
    expect(m.events.ipi_forward).toEqual({ count: 6, cycles: 600 });
    // All of it is TLB maintenance: CPU 0 120 + 1600 + 3150; CPU 1 35 + 480 + 700 + 600.
    expect(m.tlb_maintenance_cycles_per_cpu).toEqual([4870, 1815]);
    expect(m.tlb_maintenance_cycles_per_unmapped_page).toBe((4870 + 1815) / 10);
  });
  it('prices a multicast round: sends to the groups, then the largest group forwarded behind one more interrupt', () => {
    // 1000 + 3 x 100 + (300 + 7 x 100) + 300 + 200 + 50 = 2850; serial to the same 19 targets: 1000 + 1900 + 300 + 200 + 50 = 3450.
    expect(roundCycles(HAND, { targets: 19, pages: 1, groups: 3, maxGroup: 8 })).toBe(2850);
    expect(roundCycles(HAND, { targets: 19, pages: 1 })).toBe(3450);
    // A context-reset round (pages -2) asks for no flush instruction.
    expect(roundCycles(HAND, { targets: 2, pages: -2 })).toBe(1000 + 200 + 300 + 200);
  });
});

describe('cost-model arithmetic of arm64 broadcast TLBIs', () => {
  // CPU 0 issues 5 TLBIs and waits in 2 DSBs; each of the 2 CPUs' MMUs applies all 5.
  const perCpu = [counters({ tlbi_broadcast: 5, dsb_waits: 2, tlbi_applied: 5, pages_unmapped: 5 }), counters({ tlbi_applied: 5 })];
  const m = modelRun(HAND, { perCpu, rounds: [[], []] });
  it('prices TLBIs, their applications and DSB waits by their own keys, as TLB maintenance', () => {
    expect(m.events.tlbi).toEqual({ count: 5, cycles: 200 });
    expect(m.events.tlbi_apply).toEqual({ count: 10, cycles: 70 });
    expect(m.events.dsb).toEqual({ count: 2, cycles: 1300 });
    // CPU 0: 200 + 35 + 1300; CPU 1: 35. No IPI round.
    expect(m.tlb_maintenance_cycles_per_cpu).toEqual([1535, 35]);
    expect(m.shootdown_latency_cycles.rounds).toBe(0);
  });
  it('a real arm64 batched reclaim (8 pages, batches of 4, 3 CPUs): 8 TLBIs, 24 applications, 2 DSBs priced', async () => {
    const r = await simulate(resolveConfig({ cpus: 3, pages: 8, batch: 4, protocol: 'batched', arch: 'arm64', sched: 'seeded', ops: 20, seed: 5 }));
    expect(r.status).toBe('ok');
    const d = COST_MODEL_DEFAULTS;
    expect(r.modeled.events.tlbi).toEqual({ count: 8, cycles: 8 * d.tlbi_broadcast });
    expect(r.modeled.events.tlbi_apply).toEqual({ count: 24, cycles: 24 * d.hw_apply });
    expect(r.modeled.events.dsb).toEqual({ count: 2, cycles: 2 * d.dsb_wait });
    expect(r.modeled.events.ipi_round.count).toBe(0);
  });
});

describe('cost-model arithmetic on a hand-computed run', () => {
  // CPU 0 (kswapd) sends two rounds to CPUs 1 and 2: one flushing 3 pages page by page, one full flush.
  // CPUs 1 and 2 each handle both: 3 invlpg + 1 full flush each; CPU 1 refills 4 entries after them.
  const perCpu = [
    counters({ tlb_flush_calls: 2, nr_tlb_local_flush_one: 0, pages_unmapped: 8, ipis_sent: 4, nr_tlb_remote_flush: 2 }),
    counters({ nr_tlb_remote_flush_received: 2, remote_flush_pages: 3, remote_flush_full: 1, tlb_flush_refills: 4, tlb_misses: 10, page_faults: 2, context_switches: 1, asid_flushes: 1 }),
    counters({ nr_tlb_remote_flush_received: 2, remote_flush_pages: 3, remote_flush_full: 1, tlb_misses: 6, context_switches: 1, asid_flushes: 1, lazy_tlb_flushes: 1 }),
  ];
  const rounds = [[{ targets: 2, pages: 3 }, { targets: 2, pages: -1 }], [], []];
  const m = modelRun(HAND, { perCpu, rounds });

  it('prices each round: base + per-target x targets + irq + handler + the flush', () => {
    // 1000 + 2x100 + 300 + 200 + 3x50 = 1850; with a full flush: 1000 + 200 + 300 + 200 + 700 = 2400.
    expect(roundCycles(HAND, rounds[0][0])).toBe(1850);
    expect(roundCycles(HAND, rounds[0][1])).toBe(2400);
    // Quantiles interpolate between the sorted rounds: p99 = 1850 + 0.99 x (2400 - 1850) = 2394.5.
    expect(m.shootdown_latency_cycles).toEqual({ median: 2125, p99: 2394.5, max: 2400, rounds: 2 });
    expect(m.shootdown_latency_ns).toEqual({ median: 1062.5, p99: 1197.25, max: 1200 });
    expect(m.targets_per_round).toBe(2);
  });

  it('sums TLB maintenance per CPU, in total and per unmapped page', () => {
    // CPU 0: rounds 1850 + 2400 = 4250, 2 calls x 400 = 800: 5050.
    // CPU 1: 2 IPIs x (300 + 200) = 1000, 3 x 50 = 150, 1 full x 700, 4 refills x 10 = 40: 1890.
    // CPU 2: 1000 + 150 + (1 full + 1 lazy) x 700 = 2550.
    expect(m.tlb_maintenance_cycles_per_cpu).toEqual([5050, 1890, 2550]);
    expect(m.tlb_maintenance_cycles).toBe(9490);
    expect(m.tlb_maintenance_cycles_per_unmapped_page).toBe(9490 / 8);
    expect(m.events.ipi_round).toEqual({ count: 2, cycles: 4250 });
    expect(m.events.remote_full_flush).toEqual({ count: 3, cycles: 2100 });
    expect(m.events.flush_refill).toEqual({ count: 4, cycles: 40 });
  });

  it('prices the events outside TLB maintenance too, counting refills once', () => {
    // Walks 16 x 10 = 160, faults 2 x 5000 = 10000, switches 2 x 900 = 1800, ASID flushes 2 x 700 = 1400.
    expect(m.events.page_walk).toEqual({ count: 16, cycles: 160 });
    expect(m.events.page_fault).toEqual({ count: 2, cycles: 10_000 });
    expect(m.events.context_switch).toEqual({ count: 2, cycles: 1800 });
    expect(m.events.asid_flush).toEqual({ count: 2, cycles: 1400 });
    // The 4 refills are among the 16 misses: their 40 cycles are in both flush_refill and page_walk, and counted once.
    expect(m.all_events_cycles).toBe(9490 - 40 + 160 + 10_000 + 1800 + 1400);
  });

  it('leaves per-page null when nothing was unmapped, and latencies 0 without rounds', () => {
    const none = modelRun(HAND, { perCpu: [counters({})], rounds: [[]] });
    expect(none.tlb_maintenance_cycles_per_unmapped_page).toBeNull();
    expect(none.shootdown_latency_cycles).toEqual({ median: 0, p99: 0, max: 0, rounds: 0 });
  });
});

describe('defaults follow their sources', () => {
  const d = COST_MODEL_DEFAULTS;
  it('one target, one page: 775 ns (Amit); each further target 70 ns', () => {
    expect(roundCycles(d, { targets: 1, pages: 1 }) / d.ghz).toBeCloseTo(775, 0);
    expect((roundCycles(d, { targets: 9, pages: 1 }) - roundCycles(d, { targets: 8, pages: 1 })) / d.ghz).toBe(70);
  });
  it('invlpg 100 ns; flush_tlb_mm_range of 1 page = 1276 cycles, full = 2283 (Hansen)', () => {
    expect(d.invlpg / d.ghz).toBe(100);
    expect(d.flush_call_base + d.invlpg).toBe(1276);
    expect(d.flush_call_base + d.full_flush).toBe(2283);
  });
});

describe('a real seeded run', () => {
  // Batched reclaim of 4 pages in batches of 2 on 3 CPUs: exactly 2 rounds of 2 targets, each a full flush.
  const config = resolveConfig({ cpus: 3, pages: 4, batch: 2, protocol: 'batched', sched: 'seeded', ops: 30, seed: 11 });

  it('models exactly the rounds its counters say, and the same section twice', async () => {
    const a = await simulate(config);
    const b = await simulate(config);
    expect(a.status).toBe('ok');
    expect(a.counters.nr_tlb_remote_flush).toBe(2);
    expect(a.counters.ipis_sent).toBe(4);
    const d = COST_MODEL_DEFAULTS;
    const round = d.ipi_send_base + 2 * d.ipi_send_per_target + d.irq_entry + d.flush_handler + d.full_flush;
    expect(round).toBe(3120);
    expect(a.modeled.shootdown_latency_cycles).toEqual({ median: 3120, p99: 3120, max: 3120, rounds: 2 });
    expect(a.modeled.events.ipi_received.count).toBe(4);
    expect(a.modeled.events.flush_call.count).toBe(a.counters.tlb_flush_calls);
    expect(a.modeled.events.flush_refill.count).toBe(a.counters.tlb_flush_refills);
    expect(a.modeled.tlb_maintenance_cycles_per_unmapped_page).toBe(Math.round((a.modeled.tlb_maintenance_cycles / 4) * 1000) / 1000);
    // Host timings differ between the two runs; the modeled section does not.
    expect(b.modeled).toEqual(a.modeled);
    expect(b.counters).toEqual(a.counters);
  });
});

describe('--cost-model FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tlbsim-cost-'));
  const write = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('overrides only the keys it names', async () => {
    const f = write('ok.json', JSON.stringify({ ipi_send_per_target: 1000, ghz: 1 }));
    expect(loadCostModel(f)).toEqual({ ...COST_MODEL_DEFAULTS, ipi_send_per_target: 1000, ghz: 1 });
    const r = await runCli(['run', '--cpus', '3', '--pages', '4', '--batch', '2', '--sched', 'seeded', '--ops', '30', '--cost-model', f, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const res = parseOneJsonObject<RunResult>(r.stdout);
    const d = COST_MODEL_DEFAULTS;
    expect(res.modeled.shootdown_latency_cycles.median).toBe(d.ipi_send_base + 2 * 1000 + d.irq_entry + d.flush_handler + d.full_flush);
    expect(res.modeled.cost_model.ghz).toBe(1);
  });

  it.each([
    ['unknown.json', JSON.stringify({ invlpg: 1, ipi_per_targt: 70 }), "'ipi_per_targt'"],
    ['negative.json', JSON.stringify({ full_flush: -5 }), "'full_flush'"],
    ['string.json', JSON.stringify({ page_walk: '30' }), "'page_walk'"],
    ['zero-ghz.json', JSON.stringify({ ghz: 0 }), "'ghz'"],
    ['array.json', '[1, 2]', 'JSON object'],
    ['broken.json', '{ "invlpg": ', 'not JSON'],
  ])('%s: one line naming the problem, exit 2', async (name, text, expected) => {
    const f = write(name, text);
    expect(() => loadCostModel(f)).toThrow(expected);
    const r = await runCliInProcess(['run', '--cost-model', f]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^tlbsim: error: --cost-model/);
    expect(r.stderr).toContain(expected);
  });

  it('resolveCostModel rejects a non-object', () => {
    expect(() => resolveCostModel(null)).toThrow('JSON object');
  });
});
