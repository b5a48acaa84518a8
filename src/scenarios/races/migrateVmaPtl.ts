/**
 * Race `migrate-vma-ptl` (2022): "mm/migrate_device.c: flush TLB while
 * holding PTL" (60bae7370896, Alistair Popple, Linux 6.0; reported by Nadav
 * Amit). Introduced by 8c3328f1f36a ("mm/migrate: migrate_vma() unmap page
 * from vma while collecting pages", Linux 4.14), its Fixes: tag.
 * migrate_vma_collect_pmd() replaced PTEs with migration entries, dropped
 * the PTE lock and only then flushed the TLB. A concurrent
 * madvise(MADV_DONTNEED) that took the lock in between found no present PTE,
 * flushed nothing and returned, while the page was still reachable through
 * the stale entry. The fix moves the flush before pte_unmap_unlock().
 *
 *   CPU 0 (migrate_vma)                     CPU 1 (thread)
 *   ---------------------------------       ------------------------------
 *                                           load from P: entry cached
 *   migrate_vma_collect_pmd():
 *     PTE -> migration entry
 *     pte_unmap_unlock()
 *                                           madvise(P, MADV_DONTNEED)
 *                                             zap_pte_range(): PTE not
 *                                             present, TLB not flushed
 *                                           load from P through the stale
 *                                           entry after madvise returned
 *   flush_tlb_range()
 *
 * Buggy side: `--no-migrate-vma-flush-under-ptl` (flush after pte_unmap_unlock). Fixed:
 * the flush under the PTE lock.
 *
 * Invariants:
 * - CPU 0 migrates P once: lock the page, clear the PTE under the PTE lock
 *   (the migration entry is a non-present PTE here), flush (under or after
 *   the lock), copy to a new frame, then, under the PTE lock again, map the
 *   new frame, unless a zap looked at the page meanwhile (it bumped the
 *   mapping generation: the kernel's zap clears the migration entry and
 *   remove_migration_ptes() finds none). Then the new frame is written back
 *   and freed, as the zap would have done with the page.
 * - CPU 1 loads P, enters the system call (a scheduling point), calls
 *   madvise(MADV_DONTNEED) on P, then loads P `--ops` times (a refault after
 *   MADV_DONTNEED is legitimate; only a hit on the old entry is a race).
 */
import type { Cpu } from '../../engine/cpu.js';
import { mkPte, PTE_ACCESSED, PTE_DIRTY, PTE_WRITE, pteDirty, pteWrite } from '../../engine/pageTable.js';
import { clearPte, lockPageForReclaim, setPageStep } from '../../kernel/protocols/common.js';
import { sysMadviseDontneed } from '../../kernel/syscalls.js';
import { flushTlbRange } from '../../kernel/tlbFlush.js';
import { everyCpuInitiates, kswapdAndThreads, loadRepeatedly, warmUp } from '../workloads/common.js';
import type { Workload } from '../workloads/types.js';
import type { RaceEntry } from './types.js';
import { PAGE_STEP_FLUSHED, PAGE_STEP_MAPPED, PAGE_STEP_UNMAPPED, loadMapGen, storePageStep } from '../../engine/state/pageState.js';
import { exchangeShared } from '../../engine/footprint.js';

const PAGE = 0;

/** migrate_vma_setup() + migrate_vma_pages() + migrate_vma_finalize() of one page. */
function migrateVmaPage(cpu: Cpu, mm: number, p: number): void {
  const idx = cpu.pageIdx(mm, p);
  lockPageForReclaim(cpu, mm, p);
  cpu.lockPtl(mm, p);
  const u = clearPte(cpu, mm, p);
  const gen = loadMapGen(cpu.v.pageState, idx);
  try {
    if (u) {
      setPageStep(cpu, mm, p, PAGE_STEP_UNMAPPED);
      if (cpu.config.migrateVmaFlushUnderPtl) flushTlbRange(cpu, mm, [p]);
    }
  } finally {
    cpu.unlockPtl(mm, p);
  }
  cpu.schedPoint(); // the PTE lock is free: another CPU may take it now
  if (!u) {
    cpu.mem.unlockPage(idx);
    return;
  }
  if (!cpu.config.migrateVmaFlushUnderPtl) flushTlbRange(cpu, mm, [p]);
  cpu.mem.markFlushed(u.frame);
  setPageStep(cpu, mm, p, PAGE_STEP_FLUSHED);
  const f = cpu.mem.allocFrame(idx);
  if (f < 0) throw new Error(`CPU ${cpu.id}: out of frames migrating page ${p}`);
  cpu.mem.copyFrame(u.frame, f);
  cpu.lockPtl(mm, p);
  const zapped = loadMapGen(cpu.v.pageState, idx) !== gen;
  if (!zapped) {
    const flags = PTE_ACCESSED | (pteWrite(u.oldPte) ? PTE_WRITE : 0) | (pteDirty(u.oldPte) ? PTE_DIRTY : 0);
    exchangeShared(cpu.v.pte, idx, mkPte(f, flags));
    storePageStep(cpu.v.pageState, idx, PAGE_STEP_MAPPED);
  }
  cpu.unlockPtl(mm, p);
  if (zapped) {
    // The zap took the page: keep its data where a refault finds it, drop the new frame too.
    cpu.mem.writeBack(idx, f);
    cpu.mem.freeFrame(f);
  }
  // The old frame's data lives on in the new frame (or the backing store): no drop check, as in migrate.ts.
  cpu.mem.freeFrame(u.frame);
  cpu.count('pages_freed');
  cpu.mem.unlockPage(idx);
}

export const migrateVmaPtlWorkload: Workload = {
  name: 'migrate-vma-ptl',
  summary: 'CPU 0 migrates a page with migrate_vma while CPU 1, which caches it, calls madvise(MADV_DONTNEED) and loads it again (the 2022 race)',
  // kswapdAndThreads runs the thread part on every CPU but 0, so every thread CPU makes the madvise(MADV_DONTNEED) call and
  // may flush the others (CPU 1 is only the caller of the 2-CPU scenario): each needs a port to every CPU.
  initiators: everyCpuInitiates,
  run(cpu, protocol) {
    const c = cpu.config;
    const migrator = { ...protocol, shrinkPageList: (x: Cpu, mm: number, pages: readonly number[]) => {
      for (const p of pages) migrateVmaPage(x, mm, p);
    } };
    kswapdAndThreads(cpu, migrator, [PAGE], (mm) => {
      warmUp(cpu, mm, [PAGE], false);
      cpu.schedPoint(); // syscall entry
      sysMadviseDontneed(cpu, mm, [PAGE]);
      loadRepeatedly(cpu, mm, PAGE, c.ops);
    });
  },
};

export const migrateVmaPtl: RaceEntry = {
  name: 'migrate-vma-ptl',
  year: 2022,
  commit: '60bae7370896',
  title: 'mm/migrate_device.c: flush TLB while holding PTL',
  author: 'Alistair Popple',
  release: '6.0',
  introduced: '8c3328f1f36a ("mm/migrate: migrate_vma() unmap page from vma while collecting pages")',
  arch: 'any',
  effect: 'access after unmap',
  summary: 'migrate_vma cleared the PTE and dropped the PTE lock before flushing; a concurrent MADV_DONTNEED saw no PTE, flushed nothing and returned with the page still reachable',
  workload: 'migrate-vma-ptl',
  defaults: { workload: 'migrate-vma-ptl', cpus: 2, pages: 1, batch: 1, ops: 2, writeRatio: 0, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'batched' },
  buggy: { migrateVmaFlushUnderPtl: false },
};
