/**
 * Workload `migrate` (mm/migrate.c): every page moves to a new frame:
 * unmap, flush, copy, remap. Per-page flushes each page before its copy;
 * batched sends one round per batch. `--inject copy-before-flush` copies
 * while stale writable entries can still store to the old frame: the oracle
 * must find the stores lost with it.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig, type SimConfig } from '../src/config/config.js';
import { Machine } from '../src/engine/coordinator.js';
import { simulate } from '../src/api.js';
import { NO_RACES } from './helpers.js';

const SMALL: Partial<SimConfig> = { workload: 'migrate', cpus: 3, pages: 8, batch: 8, ops: 40, writeRatio: 0.5, tlbSets: 8, tlbWays: 2 };

async function racesOver(overrides: Partial<SimConfig>, seeds: number): Promise<{ racy: number; lost: number }> {
  const m = await Machine.boot(resolveConfig({ ...SMALL, ...overrides }));
  let racy = 0;
  let lost = 0;
  try {
    for (let seed = 1; seed <= seeds; seed++) {
      const r = await m.run(seed);
      expect(r.status).toBe('ok');
      if (r.races.lost_writes + r.races.stale_accesses > 0) racy++;
      lost += r.races.lost_writes;
    }
  } finally {
    await m.shutdown();
  }
  return { racy, lost };
}

describe('migrate workload', () => {
  for (const sched of ['free', 'seeded'] as const) {
    it(`${sched}: per-page migration of P = 48 pages on N = 5 CPUs: 48 rounds of 4 IPIs, every page moved, no race`, async () => {
      const r = await simulate(resolveConfig({ workload: 'migrate', cpus: 5, pages: 48, ops: 100, protocol: 'per-page', sched }));
      expect(r.status).toBe('ok');
      expect(r.counters.nr_tlb_remote_flush).toBe(48);
      expect(r.counters.ipis_sent).toBe(192);
      expect(r.counters.workload_ops).toBe(48);
      expect(r.counters.pages_freed).toBe(48);
      expect(r.races).toEqual(NO_RACES);
    });

    it(`${sched}: batched migration (B = 16): ceil(48/16) = 3 rounds of 4 IPIs`, async () => {
      const r = await simulate(resolveConfig({ workload: 'migrate', cpus: 5, pages: 48, batch: 16, ops: 100, protocol: 'batched', sched }));
      expect(r.status).toBe('ok');
      expect(r.counters.nr_tlb_remote_flush).toBe(3);
      expect(r.counters.ipis_sent).toBe(12);
      expect(r.counters.workload_ops).toBe(48);
      expect(r.races).toEqual(NO_RACES);
    });
  }

  for (const protocol of ['per-page', 'batched'] as const) {
    it(`${protocol}, --lazy-cpus 2 of N = 5: lazy CPUs get no flush (flush_tlb_page / arch_tlbbatch_flush skip them)`, async () => {
      // per-page: try_to_migrate_one's ptep_clear_flush() -> flush_tlb_page(), freed_tables false, so should_flush_tlb
      // skips the K = 2 lazy CPUs: P = 48 rounds of N-1-K = 2 IPIs. batched: arch_tlbbatch_flush (no mm) skips them
      // too: ceil(48/16) = 3 rounds of 2. nr_tlb_remote_flush counts every flush_tlb_multi call: 48 or 3.
      const r = await simulate(resolveConfig({ workload: 'migrate', cpus: 5, pages: 48, batch: 16, ops: 100, protocol, lazyCpus: 2, sched: 'seeded' }));
      expect(r.status).toBe('ok');
      expect(r.races).toEqual(NO_RACES);
      const rounds = protocol === 'per-page' ? 48 : 3;
      expect(r.counters.nr_tlb_remote_flush).toBe(rounds);
      expect(r.counters.ipis_sent).toBe(rounds * 2);
      for (const c of [3, 4]) {
        expect(r.per_cpu[c].nr_tlb_remote_flush_received, `CPU ${c}`).toBe(0);
        expect(r.per_cpu[c].lazy_tlb_flushes, `CPU ${c}`).toBe(0);
        // tlb_gen moved while it was lazy: one full flush on the switch back.
        expect(r.per_cpu[c].lazy_tlb_switch_back_flushes, `CPU ${c}`).toBe(1);
      }
    });

    it(`${protocol}, seeded: copying after the flush never loses a store; copy-before-flush does`, async () => {
      expect(await racesOver({ protocol, sched: 'seeded' }, 100)).toEqual({ racy: 0, lost: 0 });
      const bug = await racesOver({ protocol, sched: 'seeded', inject: 'copy-before-flush' }, 100);
      expect(bug.racy).toBeGreaterThan(0);
      expect(bug.lost).toBeGreaterThan(0);
    });
  }

  it('refuses rik, and copy-before-flush outside migrate', () => {
    expect(() => resolveConfig({ workload: 'migrate', protocol: 'rik' })).toThrow(ConfigError);
    expect(() => resolveConfig({ workload: 'reclaim', inject: 'copy-before-flush' })).toThrow(/applies to --workload migrate/);
  });
});
