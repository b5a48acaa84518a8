/**
 * `--protocol invlpgb` (AMD INVLPGB + TLBSYNC, src/engine/hwInval.ts, src/kernel/tlbFlush.ts):
 * a batched reclaim of P pages in batches of B sends exactly ceil(P/B)
 * broadcasts (invlpgb_flush_all_nonglobals) and TLBSYNCs and 0 IPIs; every
 * other CPU applies each broadcast once, with no interrupt (also CPUs outside
 * mm_cpumask, and lazy CPUs); the oracle sees no race in free and seeded mode.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../src/api.js';
import { resolveConfig, type SimConfig } from '../src/config/config.js';
import { NO_RACES } from './helpers.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TIMEOUT = 60_000;

function cfg(over: Partial<SimConfig>): SimConfig {
  return resolveConfig({ workload: 'reclaim', protocol: 'invlpgb', arch: 'x86', ops: 400, tlbSets: 16, tlbWays: 4, ...over });
}

describe('invlpgb reclaim: ceil(P/B) broadcasts, 0 IPIs', () => {
  for (const [N, P, B] of [
    [4, 64, 32],
    [8, 40, 8],
    [16, 33, 32],
  ] as const) {
    for (const sched of ['free', 'seeded'] as const) {
      it(
        `N=${N} P=${P} B=${B} ${sched}`,
        async () => {
          const r = await simulate(cfg({ cpus: N, pages: P, batch: B, sched }));
          const ctx = JSON.stringify({ N, P, B, sched, failure: r.failure });
          expect(r.status, ctx).toBe('ok');
          const k = r.counters;
          const batches = Math.ceil(P / B);
          expect(k.ipis_sent, ctx).toBe(0);
          expect(k.nr_tlb_remote_flush, ctx).toBe(0);
          expect(k.nr_tlb_remote_flush_received, ctx).toBe(0);
          expect(k.invlpgb_sent, ctx).toBe(batches);
          expect(k.tlbsync_waits, ctx).toBe(batches);
          expect(r.per_cpu[0].invlpgb_sent, ctx).toBe(batches);
          // Every other CPU's MMU applied every broadcast, kswapd's own CPU excepted (it issued them).
          expect(k.invlpgb_applied, ctx).toBe(batches * (N - 1));
          expect(r.per_cpu[0].invlpgb_applied, ctx).toBe(0);
          for (let c = 1; c < N; c++) expect(r.per_cpu[c].invlpgb_applied, `${ctx} cpu ${c}`).toBe(batches);
          expect(k.hw_flush_full, ctx).toBe(batches * (N - 1));
          expect(k.pages_unmapped, ctx).toBe(P);
          expect(k.pages_freed, ctx).toBe(P);
          expect(r.races, ctx).toEqual(NO_RACES);
          // Cost model: one broadcast and one TLBSYNC priced per batch, no IPI round.
          expect(r.modeled.events.invlpgb.count).toBe(batches);
          expect(r.modeled.events.tlbsync.count).toBe(batches);
          expect(r.modeled.events.hw_apply.count).toBe(batches * (N - 1));
          expect(r.modeled.events.ipi_round.count).toBe(0);
          expect(r.modeled.events.ipi_received.count).toBe(0);
        },
        TIMEOUT,
      );
    }
  }

  it(
    'reaches lazy CPUs too (INVLPGB ignores mm_cpumask and is_lazy)',
    async () => {
      const r = await simulate(cfg({ cpus: 6, pages: 64, batch: 32, lazyCpus: 2, sched: 'seeded', ops: 200 }));
      expect(r.status).toBe('ok');
      expect(r.counters.ipis_sent).toBe(0);
      expect(r.counters.invlpgb_sent).toBe(2);
      expect(r.per_cpu[4].invlpgb_applied).toBe(2);
      expect(r.per_cpu[5].invlpgb_applied).toBe(2);
      expect(r.races).toEqual(NO_RACES);
    },
    TIMEOUT,
  );

  it(
    'a batched reclaim costs fewer modeled cycles per page than batched IPIs at 16 CPUs',
    async () => {
      const base = { cpus: 16, pages: 64, batch: 32, sched: 'seeded' as const, ops: 100 };
      const inv = await simulate(cfg(base));
      const ipi = await simulate(cfg({ ...base, protocol: 'batched' }));
      expect(ipi.counters.ipis_sent).toBe(2 * 15);
      expect(inv.modeled.tlb_maintenance_cycles_per_unmapped_page!).toBeLessThan(ipi.modeled.tlb_maintenance_cycles_per_unmapped_page!);
    },
    TIMEOUT,
  );
});

describe('invlpgb flush_tlb_mm_range as Linux 6.15: IPIs until the mm has a global ASID, then INVLPGB', () => {
  for (const sched of ['free', 'seeded'] as const) {
    it(
      `${sched}: munmap x 40 on 6 CPUs (all running the mm): 32 IPI rounds, the global ASID, one transition round, then broadcasts`,
      async () => {
        // flush_tlb_mm_range without a global ASID: flush_tlb_multi to the N-1 = 5 others, then consider_global_asid.
        // tlbsim checks on every 32nd IPI-path flush (GLOBAL_ASID_CHECK_EVERY, the kernel's pid/jiffies sampling):
        // at munmap 32, 6 CPUs run the mm (> 3): use_global_asid; it is the run's first, so reset_global_asid_space
        // issues invlpgb_flush_all_nonglobals (1 INVLPGB + TLBSYNC). Munmap 33: broadcast_tlb_flush (1 INVLPGB), and
        // finish_asid_transition finds CPUs still on their dynamic ASID: one flush_tlb_multi to the whole
        // mm_cpumask (5 IPIs), whose flush_tlb_func moves each CPU to the global ASID (6 reloads, CPU 0's own
        // included). Munmap 34: every CPU on the global ASID, the transition ends; 34..40: INVLPGB only.
        // IPIs: 32 x 5 + 5 = 165; INVLPGBs: 1 + 8 = 9; nr_tlb_remote_flush: 32 + 1. CPU 0 counts 8 local
        // single-page flushes for each of munmaps 1..32 (256) and none for the broadcasts.
        const r = await simulate(resolveConfig({ workload: 'munmap', protocol: 'invlpgb', cpus: 6, pages: 64, range: '8', ops: 40, sched }));
        expect(r.status).toBe('ok');
        const k = r.counters;
        expect(k.ipis_sent).toBe(165);
        expect(k.nr_tlb_remote_flush).toBe(33);
        expect(k.invlpgb_sent).toBe(9);
        expect(k.tlbsync_waits).toBe(9);
        expect(k.invlpgb_applied).toBe(9 * 5);
        expect(k.global_asids_assigned).toBe(1);
        expect(k.global_asid_reloads).toBe(6);
        for (let c = 0; c < 6; c++) expect(r.per_cpu[c].global_asid_reloads, `CPU ${c}`).toBe(1);
        expect(r.per_cpu[0].nr_tlb_local_flush_one).toBe(32 * 8);
        expect(r.per_cpu[0].nr_tlb_local_flush_all).toBe(0);
        expect(r.races).toEqual(NO_RACES);
      },
      TIMEOUT,
    );
  }

  it(
    'munmap on 3 CPUs: never more than 3 running the mm, no global ASID, only IPIs',
    async () => {
      const r = await simulate(resolveConfig({ workload: 'munmap', protocol: 'invlpgb', cpus: 3, pages: 64, range: '8', ops: 40, sched: 'seeded' }));
      expect(r.status).toBe('ok');
      expect(r.counters.invlpgb_sent).toBe(0);
      expect(r.counters.global_asids_assigned).toBe(0);
      expect(r.counters.ipis_sent).toBe(40 * 2);
      expect(r.races).toEqual(NO_RACES);
    },
    TIMEOUT,
  );

  it(
    'mprotect on 6 CPUs: one IPI-path flush (no global ASID yet): 4 IPIs, no INVLPGB from the caller',
    async () => {
      // CPU 1's mprotect of every page: tlb_flush() to the 4 other threads running the mm (kswapd, CPU 0, runs no
      // user mm); without flush_tlb_batched_pending that is its only flush, far below the 32 before a check.
      // Reclaim's 2 batches are arch_tlbbatch_flush: invlpgb_flush_all_nonglobals each (CPU 0's INVLPGBs).
      const r = await simulate(resolveConfig({ workload: 'mprotect', protocol: 'invlpgb', cpus: 6, pages: 64, batch: 32, ops: 100, sched: 'seeded', batchedPendingFlush: false }));
      expect(r.status).toBe('ok');
      expect(r.per_cpu[1].ipis_sent).toBe(4);
      expect(r.per_cpu[1].nr_tlb_remote_flush).toBe(1);
      expect(r.per_cpu[1].invlpgb_sent).toBe(0);
      expect(r.per_cpu[0].invlpgb_sent).toBe(2);
      expect(r.counters.global_asids_assigned).toBe(0);
    },
    TIMEOUT,
  );
});

describe('invlpgb and rar in the trace', () => {
  it(
    'one INVLPGB + TLBSYNC slice per batch on kswapd, one application instant per CPU per batch, no IPI slice',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tlbsim-invlpgb-'));
      const file = join(dir, 'run.trace.json');
      const r = await simulate({ cpus: 5, pages: 64, batch: 32, protocol: 'invlpgb', sched: 'seeded', ops: 100 }, { trace: file });
      expect(r.status).toBe('ok');
      const t = (r as unknown as { trace: { by_kind: Record<string, number> } }).trace;
      expect(t.by_kind.hw_send).toBe(2);
      expect(t.by_kind.hw_apply).toBe(2 * 4);
      expect(t.by_kind.ipi_send).toBe(0);
      expect(t.by_kind.ipi_handle).toBe(0);
      const chrome = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: { name: string; tid: number }[] };
      expect(chrome.traceEvents.filter((e) => e.name === 'INVLPGB + TLBSYNC').map((e) => e.tid)).toEqual([0, 0]);
      expect(chrome.traceEvents.filter((e) => e.name === 'invlpgb applied (from CPU 0)')).toHaveLength(8);
    },
    TIMEOUT,
  );
});
