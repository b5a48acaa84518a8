/**
 * `--protocol invlpgb` (AMD INVLPGB + TLBSYNC, src/hwInval.ts, src/tlbFlush.ts):
 * a batched reclaim of P pages in batches of B sends exactly ceil(P/B)
 * broadcasts (invlpgb_flush_all_nonglobals) and TLBSYNCs and 0 IPIs; every
 * other CPU applies each broadcast once, with no interrupt (also CPUs outside
 * mm_cpumask, and lazy CPUs); the oracle sees no race in free and seeded mode.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../src/api.js';
import { resolveConfig, type SimConfig } from '../src/config.js';
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

describe('invlpgb flush_tlb_mm_range: broadcast only for an mm active on more than 3 CPUs', () => {
  it(
    'munmap on 6 CPUs (5 running the mm) broadcasts; on 3 CPUs it sends IPIs',
    async () => {
      const big = await simulate(resolveConfig({ workload: 'munmap', protocol: 'invlpgb', cpus: 6, pages: 64, range: '8', ops: 200, sched: 'seeded' }));
      expect(big.status).toBe('ok');
      expect(big.counters.ipis_sent).toBe(0);
      expect(big.counters.invlpgb_sent).toBeGreaterThan(0);
      expect(big.counters.invlpgb_applied).toBe(big.counters.invlpgb_sent * 5);
      expect(big.races).toEqual(NO_RACES);
      const small = await simulate(resolveConfig({ workload: 'munmap', protocol: 'invlpgb', cpus: 3, pages: 64, range: '8', ops: 200, sched: 'seeded' }));
      expect(small.status).toBe('ok');
      expect(small.counters.invlpgb_sent).toBe(0);
      expect(small.counters.ipis_sent).toBeGreaterThan(0);
      expect(small.races).toEqual(NO_RACES);
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
