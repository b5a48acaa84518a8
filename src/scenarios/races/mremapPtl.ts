/**
 * Race `mremap-ptl` (2018, CVE-2018-18281): "mremap: properly flush TLB
 * before releasing the page" (eb66ae030829, Linus Torvalds, 12 Oct 2018,
 * Linux 4.19; reported by Jann Horn). Introduced by: not identified (the
 * changelog names no commit). mremap() moves a page from one page-table slot to another; it does
 * not own the page, whose lifetime is guarded only by the page-table lock.
 * move_ptes() flushed the old address only after dropping that lock, so
 * another CPU could take the lock, unmap the page at its new address (flushing
 * only that address, e.g. a truncate of the file), and free it, while a stale
 * entry for the old address still reached the freed and reused frame.
 *
 *   CPU 0 (truncate)              CPU 1 (mremap)                 CPU 2 (thread)
 *   ----------------------        ---------------------------    ------------------
 *                                                                load OLD: entry cached
 *                                 move_ptes(): under the PTE
 *                                 lock, PTE OLD -> NEW
 *                                 pte_unmap_unlock()
 *   under the PTE lock: clear
 *   NEW, flush NEW, unlock;
 *   free the page
 *                                                                load OLD through the
 *                                                                stale entry: the freed
 *                                                                frame (use after free)
 *                                 flush_tlb_range(OLD)
 *
 * Buggy side: `--no-flush-under-ptl` (flush after pte_unmap_unlock). Fixed:
 * the flush under the PTE lock.
 *
 * The scenario runs with `--ipi-step` on both sides: CPU 1 takes CPU 0's
 * flush IPI between its unlock and its own flush, and only an interrupt that
 * is a scheduling step of its own lets CPU 0 free the page before CPU 1 goes on.
 *
 * Invariants: OLD and NEW are pages 0 and 1 of one page table; CPU 0 unmaps
 * NEW once with ptep_clear_flush (flush under the PTE lock) and frees it;
 * CPU 1 loads OLD, enters the system call (a scheduling point) and calls
 * mremap(OLD -> NEW); CPU 2 loads OLD, then loads it `--ops` times. Every
 * access is a load, so no write can be lost with the page.
 *
 * `--lazy-cpus K` (not part of the race): the last K threads load OLD, go
 * lazy and stay lazy until the truncate and the mremap are both done; CPU 1
 * waits for every thread to be warm (lazy ones lazy) before its mremap. Its
 * flush is move_ptes' flush_tlb_range(), which passes freed_tables (since
 * 3ef938c35035): it reaches the lazy CPUs and switches them to init_mm;
 * with `--no-flush-range-freed-tables` it skips them.
 */
import type { Cpu } from '../../engine/cpu.js';
import { perPageProtocol } from '../../kernel/protocols/perPage.js';
import { sysMremap } from '../../kernel/syscalls.js';
import { isLazyThread, kswapdAndThreads, loadRepeatedly, warmUp } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import type { RaceEntry } from './types.js';
import { loadUnmappedAt } from '../../engine/state/pageState.js';

const OLD = 0;
const NEW = 1;

export const mremapPtlWorkload: Workload = {
  name: 'mremap-ptl',
  summary: 'CPU 1 mremaps a page that CPU 2 caches while CPU 0 truncates the page at its new address (CVE-2018-18281)',
  initiators: () => [0, 1],
  minCpus: 3,
  run(cpu, protocol) {
    const c = cpu.config;
    // unmap_mapping_range() + truncate: ptep_clear_flush of NEW under its PTE lock, then free the page.
    const truncate = { ...protocol, shrinkPageList: (x: Cpu, mm: number) => perPageProtocol.shrinkPageList(x, mm, [NEW]) };
    const program = cpu.program;
    kswapdAndThreads(cpu, truncate, [NEW], (mm) => {
      warmUp(cpu, mm, [OLD], false);
      if (cpu.id === 1) {
        // `--lazy-cpus`: every thread warm, so the lazy ones are lazy when the flush goes out (polled: once per run).
        if (c.lazyCpus > 0) cpu.blockUntil(() => program.warmArrivals() >= c.cpus - 1);
        cpu.schedPoint(); // syscall entry
        sysMremap(cpu, mm, OLD, NEW);
        return;
      }
      if (isLazyThread(cpu)) {
        // The kernel thread runs until the truncate is done and mremap has returned (OLD's "unmapped at" published).
        const oldSlot = cpu.pageIdx(mm, OLD);
        cpu.blockUntil(() => program.reclaimDone() && loadUnmappedAt(cpu.v.pageState, oldSlot) !== 0);
        cpu.leaveLazyTlb();
        return;
      }
      loadRepeatedly(cpu, mm, OLD, c.ops);
    });
  },
};

export const mremapPtl: RaceEntry = {
  name: 'mremap-ptl',
  year: 2018,
  commit: 'eb66ae030829',
  title: 'mremap: properly flush TLB before releasing the page',
  author: 'Linus Torvalds',
  release: '4.19',
  introduced: 'not identified (the changelog names none)',
  arch: 'any',
  effect: 'use after free',
  summary: "mremap flushed the old address after dropping the PTE lock; the page could be unmapped at its new address and freed while a stale entry still reached it",
  workload: 'mremap-ptl',
  defaults: { workload: 'mremap-ptl', cpus: 3, pages: 2, batch: 1, ops: 2, writeRatio: 0, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'per-page', ipiStep: true },
  buggy: { flushUnderPtl: false },
};
