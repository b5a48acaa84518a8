/**
 * Lazy TLB (`--lazy-cpus K`): the last K thread CPUs run a kernel thread with
 * the process's mm still loaded from before reclaim starts until it ends.
 * Flushes that free no page tables skip them (should_flush_tlb); on switching
 * back, a CPU whose TLB is behind the mm's tlb_gen does one full flush
 * (TLB_FLUSH_ON_TASK_SWITCH). munmap of a whole page table's range frees it,
 * and that flush reaches lazy CPUs too.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig, type SimConfig } from '../src/config.js';
import { simulate } from '../src/api.js';
import { Machine } from '../src/coordinator.js';
import { Cpu } from '../src/cpu.js';
import { allocateMachine } from '../src/layout.js';
import { incMmTlbGen } from '../src/mm.js';
import { freesPageTables } from '../src/syscalls.js';
import { NO_RACES } from './helpers.js';

/** One run of a freshly booted machine (the library's `simulate`). */
const runOnce = (overrides: Partial<SimConfig>) => simulate(overrides);

describe('reclaim with lazy CPUs: exact counts', () => {
  // N = 8 CPUs (kswapd + 7 threads), P = 64 pages, B = 16: R = 4 rounds.
  for (const sched of ['free', 'seeded'] as const) {
    for (const k of [0, 2, 4, 7]) {
      it(`${sched}, K = ${k}: R x (N-1-K) = ${4 * (7 - k)} IPIs, one flush on task switch per lazy CPU`, async () => {
        const r = await runOnce({ cpus: 8, pages: 64, batch: 16, ops: sched === 'seeded' ? 40 : 500, lazyCpus: k, sched });
        expect(r.status).toBe('ok');
        expect(r.counters.ipis_sent).toBe(4 * (7 - k));
        expect(r.counters.nr_tlb_remote_flush).toBe(k === 7 ? 0 : 4);
        for (let c = 1; c < 8; c++) {
          const lazy = c >= 8 - k;
          expect(r.per_cpu[c].nr_tlb_remote_flush_received, `CPU ${c}`).toBe(lazy ? 0 : 4);
          // Reclaim bumped tlb_gen while it was lazy: behind, so exactly one full flush on the way back.
          expect(r.per_cpu[c].nr_tlb_flush_on_task_switch, `CPU ${c}`).toBe(lazy ? 1 : 0);
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
    expect(cpu.stats().counters.nr_tlb_flush_on_task_switch).toBe(0);
    expect(cpu.tlb.occupancy()).toBe(8);
  });

  it('a CPU behind does one full flush, however many generations it missed', () => {
    const cpu = lazyCpu();
    cpu.enterLazyTlb();
    for (let i = 0; i < 3; i++) incMmTlbGen(cpu.v.mm, cpu.config.cpus, 0);
    cpu.leaveLazyTlb();
    expect(cpu.stats().counters.nr_tlb_flush_on_task_switch).toBe(1);
    expect(cpu.tlb.occupancy()).toBe(0);
    expect(cpu.localTlbGen(0)).toBe(3);
  });
});

describe('freed page tables reach lazy CPUs', () => {
  // 4 CPUs, CPU 3 lazy; CPU 1 munmaps (or MADV_DONTNEEDs) all 512 pages (one whole page table)
  // at a seeded point of the reclaim pass: munmap frees the page table, madvise does not.
  async function lazyFlushes(syscall: 'munmap' | 'madvise'): Promise<number> {
    const m = await Machine.boot(resolveConfig({ workload: 'mprotect', syscall, cpus: 4, pages: 512, batch: 128, lazyCpus: 1, sched: 'seeded', ops: 4, tlbSets: 128, tlbWays: 4 }));
    let n = 0;
    try {
      for (let seed = 1; seed <= 6; seed++) {
        const r = await m.run(seed);
        expect(r.status).toBe('ok');
        expect(r.races).toEqual(NO_RACES);
        n += r.per_cpu[3].lazy_tlb_flushes;
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

  it('munmap of a whole page table: its flush reaches the lazy CPU', async () => {
    expect(await lazyFlushes('munmap')).toBeGreaterThan(0);
  });

  it('madvise(MADV_DONTNEED) frees no page table: no flush ever reaches a lazy CPU', async () => {
    expect(await lazyFlushes('madvise')).toBe(0);
  });
});
