/**
 * Lazy TLB (`--lazy-cpus K`): the last K thread CPUs run a kernel thread with
 * the process's mm still loaded. Which flushes reach them is decided by the
 * caller's freed_tables (native_flush_tlb_multi, Linux 6.x): flush_tlb_mm()
 * and flush_tlb_range() pass true, flush_tlb_page() false, mmu_gather's
 * tlb_flush() tlb->freed_tables (true only when free_pgtables freed a
 * table); arch_tlbbatch_flush has no mm and skips lazy CPUs
 * (should_flush_tlb). A lazy CPU that a flush reaches switches to init_mm
 * (flush_tlb_func); the next flush that reaches it clears its mm_cpumask bit
 * (TLB_REMOTE_WRONG_CPU). On switching back, a CPU whose TLB is behind the
 * mm's tlb_gen does one full flush.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig, type SimConfig } from '../src/config/config.js';
import { simulate } from '../src/api.js';
import { Machine } from '../src/engine/coordinator.js';
import { Cpu } from '../src/engine/cpu.js';
import { incMmTlbGen, mmCpumask } from '../src/kernel/mm.js';
import { flushTlbFunc } from '../src/kernel/tlbFlush.js';
import { loadedMmOf } from '../src/engine/state/cpuControl.js';
import { freesPageTables } from '../src/kernel/syscalls.js';
import { scenarioConfig } from '../src/campaigns/stress.js';
import { NO_RACES } from './helpers.js';
import { allocateMachine } from '../src/engine/state/machineViews.js';

/** One run of a freshly booted machine (the library's `simulate`). */
const runOnce = (overrides: Partial<SimConfig>) => simulate(overrides);

describe('reclaim with lazy CPUs: exact counts', () => {
  // N = 8 CPUs (kswapd + 7 threads), P = 64 pages, B = 16: R = 4 rounds.
  for (const sched of ['free', 'seeded'] as const) {
    for (const k of [0, 2, 4, 7]) {
      it(`${sched}, K = ${k}: R x (N-1-K) = ${4 * (7 - k)} IPIs, one flush on task switch per lazy CPU`, async () => {
        const r = await runOnce({ cpus: 8, pages: 64, batch: 16, ops: sched === 'seeded' ? 40 : 500, lazyCpus: k, sched });
        expect(r.status).toBe('ok');
        // arch_tlbbatch_flush (info->mm NULL): should_flush_tlb skips lazy CPUs.
        expect(r.counters.ipis_sent).toBe(4 * (7 - k));
        // flush_tlb_multi runs for each of the R = 4 batches (the batch mask names other CPUs, lazy or not), and
        // native_flush_tlb_multi counts NR_TLB_REMOTE_FLUSH before filtering: 4 even when all 7 are lazy.
        expect(r.counters.nr_tlb_remote_flush).toBe(4);
        expect(r.counters.remote_flush_rounds).toBe(k === 7 ? 0 : 4);
        for (let c = 1; c < 8; c++) {
          const lazy = c >= 8 - k;
          expect(r.per_cpu[c].nr_tlb_remote_flush_received, `CPU ${c}`).toBe(lazy ? 0 : 4);
          // Reclaim bumped tlb_gen while it was lazy: behind, so exactly one full flush on the way back.
          expect(r.per_cpu[c].lazy_tlb_switch_back_flushes, `CPU ${c}`).toBe(lazy ? 1 : 0);
        }
        expect(r.counters.lazy_tlb_flushes).toBe(0);
        expect(r.races).toEqual(NO_RACES);
      });
    }
  }
});

describe('switching back from lazy TLB mode', () => {
  function lazyCpu(): Cpu {
    const config = resolveConfig({ cpus: 3, pages: 8, lazyCpus: 1 });
    const cpu = new Cpu({ id: 2, config, buffers: allocateMachine(config), inPorts: [], outPorts: [] });
    cpu.tlb.reset();
    cpu.switchMm(0);
    for (let p = 0; p < 8; p++) cpu.tlb.fill(p, cpu.tlbState.loadedTag, p, true, false, 0);
    return cpu;
  }

  it('a CPU whose TLB is not behind does no flush', () => {
    const cpu = lazyCpu();
    cpu.enterLazyTlb();
    expect(cpu.isLazy()).toBe(true);
    cpu.leaveLazyTlb();
    expect(cpu.isLazy()).toBe(false);
    expect(cpu.stats().counters.lazy_tlb_switch_back_flushes).toBe(0);
    expect(cpu.tlb.occupancy()).toBe(8);
  });

  it('a flush that reaches a lazy CPU switches it to init_mm; the next clears its mm_cpumask bit; the switch back flushes', () => {
    const cpu = lazyCpu();
    const cpus = cpu.config.cpus;
    cpu.enterLazyTlb();
    // flush_tlb_func on a lazy CPU: switch_mm_irqs_off(NULL, &init_mm, NULL), no flush.
    flushTlbFunc(cpu, { kind: 'flush-all', mm: 0, tlbGen: incMmTlbGen(cpu.v.mm, cpus, 0) }, false);
    expect(cpu.stats().counters.lazy_tlb_flushes).toBe(1);
    expect(cpu.isLazy()).toBe(false);
    expect(cpu.loadedMm).toBe(-1);
    expect(loadedMmOf(cpu.v.cpuCtl, 2)).toBe(-1);
    expect(cpu.tlb.occupancy()).toBe(8); // the mm's entries stay under its ASID
    expect(mmCpumask(cpu.v.mm, cpus, 0)).toContain(2); // 6.x clears no bit on a switch
    // The next flush of mm 0 that reaches it finds init_mm loaded: cpumask_clear_cpu, TLB_REMOTE_WRONG_CPU.
    flushTlbFunc(cpu, { kind: 'flush-all', mm: 0, tlbGen: incMmTlbGen(cpu.v.mm, cpus, 0) }, false);
    expect(cpu.stats().counters.tlb_remote_wrong_cpu).toBe(1);
    expect(mmCpumask(cpu.v.mm, cpus, 0)).not.toContain(2);
    // The task comes back: a full switch_mm_irqs_off from init_mm; choose_new_asid finds the ASID behind (gen 0 < 2): one flush.
    const before = cpu.stats().counters;
    cpu.leaveLazyTlb();
    const after = cpu.stats().counters;
    expect(cpu.loadedMm).toBe(0);
    expect(after.context_switches - before.context_switches).toBe(1);
    expect(after.asid_flushes - before.asid_flushes).toBe(1);
    expect(after.lazy_tlb_switch_back_flushes).toBe(0);
    expect(cpu.tlb.occupancy()).toBe(0);
    expect(cpu.localTlbGen(0)).toBe(2);
    expect(mmCpumask(cpu.v.mm, cpus, 0)).toContain(2);
  });

  it('a CPU behind does one full flush, however many generations it missed', () => {
    const cpu = lazyCpu();
    cpu.enterLazyTlb();
    for (let i = 0; i < 3; i++) incMmTlbGen(cpu.v.mm, cpu.config.cpus, 0);
    cpu.leaveLazyTlb();
    expect(cpu.stats().counters.lazy_tlb_switch_back_flushes).toBe(1);
    expect(cpu.tlb.occupancy()).toBe(0);
    expect(cpu.localTlbGen(0)).toBe(3);
  });
});

describe('freed page tables reach lazy CPUs', () => {
  // 4 CPUs, CPU 3 lazy; CPU 1 munmaps (or MADV_DONTNEEDs) all 512 pages (one whole page table)
  // at a seeded point of the reclaim pass: munmap frees the page table, madvise does not.
  async function lazyFlushes(syscall: 'munmap' | 'madvise' | 'mprotect', extra: Partial<SimConfig> = {}, seeds = 6): Promise<number[]> {
    const m = await Machine.boot(resolveConfig({ workload: 'mprotect', syscall, cpus: 4, pages: 512, batch: 128, lazyCpus: 1, sched: 'seeded', ops: 4, tlbSets: 128, tlbWays: 4, ...extra }));
    const n: number[] = [];
    try {
      for (let seed = 1; seed <= seeds; seed++) {
        const r = await m.run(seed);
        expect(r.status).toBe('ok');
        if (extra.batchedPendingFlush !== false) expect(r.races).toEqual(NO_RACES);
        n.push(r.per_cpu[3].lazy_tlb_flushes);
      }
    } finally {
      await m.shutdown();
    }
    return n;
  }

  it('freesPageTables: only a range covering all 512 PTEs of a table frees it', () => {
    expect(freesPageTables(Array.from({ length: 512 }, (_, p) => p))).toBe(true);
    expect(freesPageTables(Array.from({ length: 511 }, (_, p) => p))).toBe(false);
    expect(freesPageTables(Array.from({ length: 64 }, (_, p) => p))).toBe(false);
    expect(freesPageTables(Array.from({ length: 512 }, (_, p) => 600 + p))).toBe(false); // two tables, neither whole
  });

  it('munmap of a whole page table: exactly one flush per run switches the lazy CPU to init_mm', async () => {
    // CPU 1's munmap makes at most two flushes: flush_tlb_batched_pending's flush_tlb_mm (freed_tables, if reclaim
    // left one owed) and tlb_finish_mmu's (freed_tables: the table is freed). Either way the first one that runs
    // reaches CPU 3 while lazy and switches it to init_mm (1); a second one finds init_mm loaded (wrong CPU, not lazy).
    expect(await lazyFlushes('munmap')).toEqual([1, 1, 1, 1, 1, 1]);
  });

  for (const syscall of ['madvise', 'mprotect'] as const) {
    it(`${syscall} frees no page table: only the pending flush_tlb_mm can reach the lazy CPU`, async () => {
      // Without flush_tlb_batched_pending, the call's only flush is tlb_flush() with tlb->freed_tables false: never.
      expect(await lazyFlushes(syscall, { batchedPendingFlush: false }, 3)).toEqual([0, 0, 0]);
      // With it, flush_tlb_mm (freed_tables true) reaches CPU 3 in the runs where reclaim had left a flush owed: at most once.
      const withPending = await lazyFlushes(syscall);
      expect(withPending.every((x) => x === 0 || x === 1)).toBe(true);
      expect(withPending.some((x) => x === 1)).toBe(true);
    });
  }
});

describe('munmap workload with lazy CPUs: exact counts', () => {
  // N = 4 CPUs: CPU 0 maps, touches and munmaps `ops` = 3 ranges; the last K CPUs are lazy throughout.
  // Seeded for K = 1 and 2; free mode once (K = 2), to keep the file's cost down.
  for (const [sched, k] of [
    ['seeded', 1],
    ['seeded', 2],
    ['free', 2],
  ] as const) {
    it(`${sched}, K = ${k}, --range 16 (no table freed): 3 x (N-1-K) = ${3 * (3 - k)} IPIs`, async () => {
      const r = await runOnce({ workload: 'munmap', cpus: 4, pages: 64, range: '16', ops: 3, lazyCpus: k, sched });
      expect(r.status).toBe('ok');
      expect(r.races).toEqual(NO_RACES);
      // tlb_flush() with tlb->freed_tables false: should_flush_tlb skips the lazy CPUs; still one
      // native_flush_tlb_multi (nr_tlb_remote_flush) per munmap.
      expect(r.counters.ipis_sent).toBe(3 * (3 - k));
      expect(r.counters.nr_tlb_remote_flush).toBe(3);
      for (let c = 4 - k; c < 4; c++) {
        expect(r.per_cpu[c].nr_tlb_remote_flush_received, `CPU ${c}`).toBe(0);
        expect(r.per_cpu[c].lazy_tlb_flushes, `CPU ${c}`).toBe(0);
        // tlb_gen moved 3 times while it was lazy: one full flush on the switch back (prev == next).
        expect(r.per_cpu[c].lazy_tlb_switch_back_flushes, `CPU ${c}`).toBe(1);
      }
    });

    it(`${sched}, K = ${k}, --range 512 (a whole page table freed each time): 3(N-1) - K = ${9 - k} IPIs`, async () => {
      const r = await runOnce({ workload: 'munmap', cpus: 4, pages: 1024, range: '512', ops: 3, lazyCpus: k, sched });
      expect(r.status).toBe('ok');
      expect(r.races).toEqual(NO_RACES);
      // Each munmap frees table 0: tlb_flush() passes freed_tables, on_each_cpu_mask to all of mm_cpumask.
      // munmap 1: all N-1 = 3 (each lazy CPU switches to init_mm); munmap 2: all 3 (each lazy CPU, now on
      // init_mm, clears its mm_cpumask bit); munmap 3: the N-1-K still in the mask. 3 + 3 + (3 - K).
      expect(r.counters.ipis_sent).toBe(9 - k);
      expect(r.counters.nr_tlb_remote_flush).toBe(3);
      expect(r.counters.remote_flush_rounds).toBe(3);
      for (let c = 4 - k; c < 4; c++) {
        expect(r.per_cpu[c].nr_tlb_remote_flush_received, `CPU ${c}`).toBe(2);
        expect(r.per_cpu[c].lazy_tlb_flushes, `CPU ${c}`).toBe(1);
        expect(r.per_cpu[c].tlb_remote_wrong_cpu, `CPU ${c}`).toBe(1);
        // Back from init_mm: a full switch (first load + this one), whose reused ASID is behind: flushed.
        expect(r.per_cpu[c].context_switches, `CPU ${c}`).toBe(2);
        expect(r.per_cpu[c].lazy_tlb_switch_back_flushes, `CPU ${c}`).toBe(0);
      }
    });
  }
});

describe('mremap with a lazy CPU (mremap-ptl, fixed side, N = 4, K = 1)', () => {
  // CPU 1 mremaps OLD -> NEW after every thread is warm; CPU 3 is lazy throughout; CPU 0 (kswapd, no mm) truncates
  // NEW with ptep_clear_flush (flush_tlb_page: freed_tables false, lazy CPUs skipped). move_ptes' flush_tlb_range:
  // freed_tables true since 3ef938c35035, so it goes to all of mm_cpumask but CPU 1: {2, 3}, and switches the lazy
  // CPU 3 to init_mm; with the pre-fix flush_tlb_range (false) should_flush_tlb skips CPU 3: {2} only.
  for (const freed of [true, false]) {
    it(`flush_tlb_range freed_tables ${freed}: CPU 1 sends ${freed ? 2 : 1} IPIs; the lazy CPU ${freed ? 'is switched to init_mm' : 'flushes when it switches back'}`, async () => {
      for (const seed of [1, 2, 3]) {
        const r = await simulate({ ...scenarioConfig('mremap-ptl', { cpus: 4, lazyCpus: 1, flushRangeFreedTables: freed, seed }, 'fixed') });
        expect(r.status).toBe('ok');
        expect(r.races).toEqual(NO_RACES);
        expect(r.per_cpu[1].ipis_sent, `seed ${seed}`).toBe(freed ? 2 : 1);
        expect(r.per_cpu[3].lazy_tlb_flushes, `seed ${seed}`).toBe(freed ? 1 : 0);
        // Not reached: the mremap bumped tlb_gen while it was lazy, so one flush on the switch back (prev == next).
        expect(r.per_cpu[3].lazy_tlb_switch_back_flushes, `seed ${seed}`).toBe(freed ? 0 : 1);
      }
    });
  }
});
