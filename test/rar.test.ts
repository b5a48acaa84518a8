/**
 * `--protocol rar` (Intel Remote Action Request, src/engine/hwInval.ts): a batched
 * reclaim of P pages in batches of B sends ceil(P/B) RAR actions, each to the
 * batch's whole cpumask, lazy CPUs included (N-1 targets: the RAR series'
 * arch_tlbbatch_flush -> rar_full_flush(&batch->cpumask), v3 of 2025-06-05,
 * does not filter with should_flush_tlb), applied by the targets' hardware
 * with no interrupt: 0 IPIs sent or received; no race.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../src/api.js';
import { resolveConfig, type SimConfig } from '../src/config/config.js';
import { NO_RACES } from './helpers.js';

const TIMEOUT = 60_000;

function cfg(over: Partial<SimConfig>): SimConfig {
  return resolveConfig({ workload: 'reclaim', protocol: 'rar', arch: 'x86', ops: 400, tlbSets: 16, tlbWays: 4, ...over });
}

describe('rar reclaim: ceil(P/B) actions to all N-1 CPUs of the batch mask (lazy ones too), no interrupt', () => {
  for (const [N, P, B, K] of [
    [4, 64, 32, 0],
    [8, 40, 8, 0],
    [8, 64, 32, 3],
  ] as const) {
    for (const sched of ['free', 'seeded'] as const) {
      it(
        `N=${N} P=${P} B=${B} lazy=${K} ${sched}`,
        async () => {
          const r = await simulate(cfg({ cpus: N, pages: P, batch: B, lazyCpus: K, sched }));
          const ctx = JSON.stringify({ N, P, B, K, sched, failure: r.failure });
          expect(r.status, ctx).toBe('ok');
          const k = r.counters;
          const batches = Math.ceil(P / B);
          // rar_full_flush(&batch->cpumask): every other CPU of the batch mask, the K lazy ones included.
          const targets = N - 1;
          expect(k.ipis_sent, ctx).toBe(0);
          expect(k.nr_tlb_remote_flush_received, ctx).toBe(0);
          expect(k.rar_sent, ctx).toBe(batches);
          expect(k.rar_targets, ctx).toBe(batches * targets);
          expect(k.rar_applied, ctx).toBe(batches * targets);
          for (let c = 1; c < N; c++) expect(r.per_cpu[c].rar_applied, `${ctx} cpu ${c}`).toBe(batches);
          expect(k.invlpgb_sent, ctx).toBe(0);
          expect(k.pages_freed, ctx).toBe(P);
          expect(r.races, ctx).toEqual(NO_RACES);
          expect(r.modeled.events.rar_send.count).toBe(batches);
          expect(r.modeled.events.ipi_received.count).toBe(0);
        },
        TIMEOUT,
      );
    }
  }
});

describe('rar with interrupts disabled (--irq-off)', () => {
  it(
    'RAR actions are applied while the target has interrupts off; flush IPIs wait for local_irq_enable',
    async () => {
      const base = { cpus: 4, pages: 256, batch: 8, ops: 2000, sched: 'seeded' as const, irqOffAccesses: 4 };
      const rar = await simulate(cfg(base));
      const ipi = await simulate(cfg({ ...base, protocol: 'batched' }));
      for (const r of [rar, ipi]) {
        expect(r.status, JSON.stringify(r.failure)).toBe('ok');
        expect(r.races).toEqual(NO_RACES);
      }
      // Same exact counts as with interrupts always on: 32 batches to 3 targets.
      expect(rar.counters.rar_sent).toBe(32);
      expect(rar.counters.rar_applied).toBe(32 * 3);
      expect(ipi.counters.ipis_sent).toBe(32 * 3);
      // Hardware applied some while interrupts were off, and no RAR ever waited for them to come back on ...
      expect(rar.counters.hw_applied_irqs_off).toBeGreaterThan(0);
      expect(rar.counters.irq_off_ipi_delays).toBe(0);
      // ... while flush IPIs did wait.
      expect(ipi.counters.irq_off_ipi_delays).toBeGreaterThan(0);
      expect(ipi.counters.hw_applied_irqs_off).toBe(0);
    },
    TIMEOUT,
  );
});

/**
 * flush_tlb_mm_range under the RAR series (Rik van Riel, "[RFC PATCH v3 7/7] x86/mm: userspace & pageout flushing
 * using Intel RAR", 2025-06-05, <20250605163544.3852565-8-riel@surriel.com>): RAR only for an mm with a global ASID
 * (the global ASIDs of `--protocol invlpgb`: consider_global_asid, use_global_asid, finish_asid_transition), to the
 * unfiltered mm_cpumask; IPIs for the others. `cpumaskTrimMs: 3_600_000` keeps should_trim_cpumask from firing
 * (the first flush arms it an hour ahead), except in the trim test.
 */
describe('rar flush_tlb_mm_range as the RAR series: IPIs until the mm has a global ASID, then RAR to mm_cpumask', () => {
  const NO_TRIM = 3_600_000;
  for (const sched of ['free', 'seeded'] as const) {
    it(
      `${sched}: munmap x 40 on 6 CPUs (all running the mm): 32 IPI rounds, the global ASID, one transition round, then RAR`,
      async () => {
        // Munmaps 1..32: no global ASID: flush_tlb_multi to the 5 others (should_flush_tlb: all run the mm), then
        // consider_global_asid; at the 32nd (GLOBAL_ASID_CHECK_EVERY) 6 CPUs run the mm (> 3): use_global_asid, the
        // run's first, so reset_global_asid_space -> flush_tlb_all(): NR_TLB_REMOTE_FLUSH + rar_flush_all = one RAR
        // to the 5 other online CPUs. Munmap 33: global ASID, no trim: rar_tlb_flush: one RAR to mm_cpumask minus
        // CPU 0 (5 targets), then CPU 0's flush_tlb_func: mm_needs_global_asid -> reload (choose_new_asid(.., true):
        // need_flush under RAR, 1 asid flush), then a full flush (local_tlb_gen is 0 for a global ASID);
        // finish_asid_transition finds CPUs 1..5 on dynamic ASIDs: one flush_tlb_multi to the whole mask (5 IPIs;
        // CPU 0's part is one more full flush), each target reloads (+1 asid flush) and flushes in full.
        // Munmaps 34..40 (7): one RAR to 5 targets and one local full flush each; at 34 the transition ends.
        // IPIs 32 x 5 + 5 = 165; nr_tlb_remote_flush 32 + 1 (flush_tlb_all) + 1 (transition) = 34;
        // RAR actions 1 + 8 = 9, targets 9 x 5 = 45; CPU 0: 32 x 8 = 256 single-page and 1 + 1 + 7 = 9 full local
        // flushes; asid flushes per CPU: 1 at its first switch to the mm + 1 at the reload = 2; no INVLPGB.
        const r = await simulate(resolveConfig({ workload: 'munmap', protocol: 'rar', cpus: 6, pages: 64, range: '8', ops: 40, sched, cpumaskTrimMs: NO_TRIM }));
        expect(r.status, JSON.stringify(r.failure)).toBe('ok');
        const k = r.counters;
        expect(k.ipis_sent).toBe(165);
        expect(k.nr_tlb_remote_flush).toBe(34);
        expect(k.rar_sent).toBe(9);
        expect(k.rar_targets).toBe(45);
        expect(k.rar_applied).toBe(45);
        expect(k.invlpgb_sent).toBe(0);
        expect(k.global_asids_assigned).toBe(1);
        expect(k.global_asid_reloads).toBe(6);
        for (let c = 0; c < 6; c++) {
          expect(r.per_cpu[c].global_asid_reloads, `CPU ${c}`).toBe(1);
          expect(r.per_cpu[c].asid_flushes, `CPU ${c}`).toBe(2);
        }
        expect(r.per_cpu[0].nr_tlb_local_flush_one).toBe(32 * 8);
        expect(r.per_cpu[0].nr_tlb_local_flush_all).toBe(9);
        expect(r.races).toEqual(NO_RACES);
      },
      TIMEOUT,
    );
  }

  it(
    'seeded: munmap x 40 on 6 CPUs, 2 lazy: RAR reaches the lazy CPUs until an IPI moves them out of mm_cpumask',
    async () => {
      // CPUs 4, 5 are lazy from before the first munmap to after the last. Munmaps 1..32: should_flush_tlb skips
      // them: 3 IPIs each (no table freed). At 32, 4 CPUs run the mm non-lazily (> 3): global ASID; flush_tlb_all
      // sends one RAR to the 5 other online CPUs. Munmap 33: RAR to the unfiltered mm_cpumask minus CPU 0: 5 targets,
      // lazy ones included; finish_asid_transition: CPUs 1..5 have the mm loaded under dynamic ASIDs (a lazy CPU keeps
      // loaded_mm): 5 IPIs; CPUs 1..3 reload, CPUs 4, 5 are lazy: the series' flush_tlb_func clears their
      // mm_cpumask bit and switches them to init_mm (lazy_tlb_flushes). Munmaps 34..40: RAR to {1, 2, 3}.
      // IPIs 32 x 3 + 5 = 101; nr_tlb_remote_flush 34; RAR actions 1 + 8 = 9, targets 5 + 5 + 7 x 3 = 31.
      // At the end CPUs 4, 5 switch back: new to mm_cpumask, so choose_new_asid(.., new_cpu) flushes the global
      // ASID: their asid flushes are 1 (first switch) + 1 = 2; they applied 2 RARs each.
      const r = await simulate(resolveConfig({ workload: 'munmap', protocol: 'rar', cpus: 6, pages: 64, range: '8', ops: 40, lazyCpus: 2, sched: 'seeded', cpumaskTrimMs: NO_TRIM }));
      expect(r.status, JSON.stringify(r.failure)).toBe('ok');
      const k = r.counters;
      expect(k.ipis_sent).toBe(101);
      expect(k.nr_tlb_remote_flush).toBe(34);
      expect(k.rar_sent).toBe(9);
      expect(k.rar_targets).toBe(31);
      expect(k.global_asid_reloads).toBe(4);
      for (const c of [4, 5]) {
        expect(r.per_cpu[c].lazy_tlb_flushes, `CPU ${c}`).toBe(1);
        expect(r.per_cpu[c].rar_applied, `CPU ${c}`).toBe(2);
        expect(r.per_cpu[c].global_asid_reloads, `CPU ${c}`).toBe(0);
        expect(r.per_cpu[c].asid_flushes, `CPU ${c}`).toBe(2);
      }
      for (const c of [1, 2, 3]) expect(r.per_cpu[c].rar_applied, `CPU ${c}`).toBe(9);
      expect(r.races).toEqual(NO_RACES);
    },
    TIMEOUT,
  );

  it(
    'seeded: with should_trim_cpumask due on every flush (--cpumask-trim-ms 0) the global-ASID mm is flushed by IPIs only',
    async () => {
      // trim_cpumask on every flush: `mm_global_asid(mm) && !info->trim_cpumask` never holds, so every munmap takes
      // flush_tlb_multi, and should_flush_all (trim_cpumask) sends to all 5 others: 40 x 5 = 200 IPIs. The global
      // ASID still comes at munmap 32, so the only RAR is flush_tlb_all's in reset_global_asid_space (5 targets).
      // nr_tlb_remote_flush 40 + 1.
      const r = await simulate(resolveConfig({ workload: 'munmap', protocol: 'rar', cpus: 6, pages: 64, range: '8', ops: 40, sched: 'seeded', cpumaskTrimMs: 0 }));
      expect(r.status, JSON.stringify(r.failure)).toBe('ok');
      expect(r.counters.ipis_sent).toBe(200);
      expect(r.counters.nr_tlb_remote_flush).toBe(41);
      expect(r.counters.rar_sent).toBe(1);
      expect(r.counters.rar_targets).toBe(5);
      expect(r.counters.global_asids_assigned).toBe(1);
      expect(r.races).toEqual(NO_RACES);
    },
    TIMEOUT,
  );

  it(
    'mprotect on 6 CPUs: one IPI-path flush (no global ASID yet): 4 IPIs, no RAR from the caller; reclaim by RAR',
    async () => {
      // CPU 1's mprotect: tlb_flush() to the 4 other threads running the mm (kswapd, CPU 0, runs no user mm); far
      // below the 32 IPI-path flushes before consider_global_asid looks. Reclaim's 2 batches: arch_tlbbatch_flush ->
      // rar_full_flush(&batch->cpumask), CPU 0's 2 RAR actions.
      const r = await simulate(resolveConfig({ workload: 'mprotect', protocol: 'rar', cpus: 6, pages: 64, batch: 32, ops: 100, sched: 'seeded', batchedPendingFlush: false, cpumaskTrimMs: NO_TRIM }));
      expect(r.status, JSON.stringify(r.failure)).toBe('ok');
      expect(r.per_cpu[1].ipis_sent).toBe(4);
      expect(r.per_cpu[1].nr_tlb_remote_flush).toBe(1);
      expect(r.per_cpu[1].rar_sent).toBe(0);
      expect(r.per_cpu[0].rar_sent).toBe(2);
      expect(r.counters.global_asids_assigned).toBe(0);
    },
    TIMEOUT,
  );
});
