/**
 * Workload `migrate`: pages move to new frames (NUMA balancing, compaction),
 * as mm/migrate.c does it. CPU 0 is the migrating kernel thread (no user mm);
 * CPUs 1..N-1 are threads that touch every page (warm-up) and keep loading
 * and storing while every page is migrated once, in batches of `--batch`.
 *
 * For each page: lock it; clear its PTE (try_to_migrate_one: the PTE becomes
 * a migration entry, so a fault waits on the page lock); flush; copy the old
 * frame to a new one; install a PTE to the new frame with the old
 * permissions and dirty bit (remove_migration_ptes); unlock; free the old
 * frame. `--protocol per-page` flushes each page under its PTE lock before
 * its copy (ptep_clear_flush); `--protocol batched` defers the flushes of a
 * whole batch and sends one round before copying any (migrate_pages_batch:
 * one try_to_unmap_flush per batch). Exact counts: per-page P rounds of N-1
 * IPIs, batched ceil(P/B) rounds.
 *
 * The copy must come after the flush: a CPU holding a stale writable entry
 * could store to the old frame after the copy, and that store would be lost
 * with the old frame. `--inject copy-before-flush` plants exactly that bug;
 * the oracle compares the old frame with the copy after the flush, before
 * the copy is mapped (checkMigrationDrop), and at the end of the run.
 */
import type { Cpu } from '../../engine/cpu.js';
import { checkMigrationDrop } from '../../engine/oracle.js';
import { mkPte, PTE_ACCESSED, PTE_DIRTY, PTE_WRITE, pteDirty, pteWrite } from '../../engine/pageTable.js';
import { newTlbflushUnmapBatch, setTlbUbcFlushPending, tryToUnmapFlush } from '../../kernel/protocols/batched.js';
import { lockPageForReclaim, setPageStep, tryToUnmapOne, type UnmappedPage } from '../../kernel/protocols/common.js';
import { flushTlbPage } from '../../kernel/tlbFlush.js';
import { accessLoop, allPages, kswapdAndThreads, warmUp } from './common.js';
import { lufDefer, lufDeferrable, newLufGeneration } from '../../kernel/protocols/luf.js';
import type { Workload } from './types.js';
import { ConfigError, type SimConfig } from '../../config/params.js';
import { PAGE_STEP_FLUSHED, PAGE_STEP_MAPPED, PAGE_STEP_UNMAPPED, storePageStep } from '../../engine/state/pageState.js';
import { exchangeShared } from '../../engine/footprint.js';

/** remove_migration_ptes(): map the page to its new frame with the old PTE's permissions and dirty bit. */
function remapToNewFrame(cpu: Cpu, mm: number, u: UnmappedPage, newFrame: number): void {
  const flags = PTE_ACCESSED | (pteWrite(u.oldPte) ? PTE_WRITE : 0) | (pteDirty(u.oldPte) ? PTE_DIRTY : 0);
  cpu.lockPtl(mm, u.page);
  exchangeShared(cpu.v.pte, cpu.pageIdx(mm, u.page), mkPte(newFrame, flags));
  cpu.unlockPtl(mm, u.page);
  storePageStep(cpu.v.pageState, cpu.pageIdx(mm, u.page), PAGE_STEP_MAPPED);
}

/** Allocate the destination frame and copy the page into it (migrate_folio). */
function copyToNewFrame(cpu: Cpu, u: UnmappedPage): number {
  const f = cpu.mem.allocFrame(u.page);
  if (f < 0) throw new Error(`CPU ${cpu.id}: out of frames migrating page ${u.page}`);
  cpu.mem.copyFrame(u.frame, f);
  return f;
}

/**
 * After the flush: check that nothing landed in the old frame after the copy
 * (the copy is not mapped yet, so nobody can have written it), map the new
 * frame, free the old one.
 */
function finishMigration(cpu: Cpu, mm: number, u: UnmappedPage, newFrame: number, lufGen = 0): void {
  checkMigrationDrop(cpu.v, cpu.W, cpu.pageIdx(mm, u.page), u.frame, newFrame);
  remapToNewFrame(cpu, mm, u, newFrame);
  // `--protocol luf`: a read-only page's old frame is freed with its flush deferred to its next allocation.
  cpu.mem.freeFrame(u.frame, undefined, lufGen);
  cpu.count('pages_freed');
}

/** migrate_pages() of `pages`, flushing per page or per batch. */
function migratePages(cpu: Cpu, mm: number, pages: readonly number[]): void {
  const plantedBug = cpu.config.inject === 'copy-before-flush';
  if (cpu.config.protocol === 'per-page') {
    for (const p of pages) {
      lockPageForReclaim(cpu, mm, p);
      let newFrame = -1;
      const u = tryToUnmapOne(cpu, mm, p, (x) => {
        setPageStep(cpu, mm, p, PAGE_STEP_UNMAPPED);
        if (plantedBug) newFrame = copyToNewFrame(cpu, x);
        cpu.schedPoint(); // the window: stale entries may still store to the old frame
        flushTlbPage(cpu, mm, p); // ptep_clear_flush(): flush_tlb_page, freed_tables false: lazy CPUs skipped
      });
      if (u) {
        cpu.mem.markFlushed(u.frame);
        setPageStep(cpu, mm, p, PAGE_STEP_FLUSHED);
        if (newFrame < 0) newFrame = copyToNewFrame(cpu, u);
        finishMigration(cpu, mm, u, newFrame);
      }
      cpu.mem.unlockPage(cpu.pageIdx(mm, p));
      cpu.count('workload_ops');
      cpu.schedPoint();
    }
    return;
  }
  for (const p of pages) lockPageForReclaim(cpu, mm, p);
  const batch = newTlbflushUnmapBatch(cpu.config.cpus);
  const moved: { u: UnmappedPage; newFrame: number }[] = [];
  // `--protocol luf`: pages whose mapping was read-only are migrated without a flush (no CPU can write the old frame).
  const luf = cpu.config.protocol === 'luf';
  const deferred = new Set<number>();
  for (const p of pages) {
    const u = tryToUnmapOne(cpu, mm, p, (x) => {
      if (luf && lufDeferrable(cpu, x)) {
        lufDefer(cpu, mm);
        deferred.add(x.page);
      } else setTlbUbcFlushPending(cpu, batch, mm, x, pteDirty(x.oldPte));
    });
    if (u) {
      setPageStep(cpu, mm, p, PAGE_STEP_UNMAPPED);
      moved.push({ u, newFrame: plantedBug ? copyToNewFrame(cpu, u) : -1 });
    }
    cpu.schedPoint(); // the window is open for the whole batch
  }
  tryToUnmapFlush(cpu, batch);
  const lufGen = deferred.size > 0 ? newLufGeneration(cpu) : 0;
  for (const m of moved) {
    const lazy = deferred.has(m.u.page);
    if (!lazy) setPageStep(cpu, mm, m.u.page, PAGE_STEP_FLUSHED);
    if (m.newFrame < 0) m.newFrame = copyToNewFrame(cpu, m.u);
    finishMigration(cpu, mm, m.u, m.newFrame, lazy ? lufGen : 0);
    cpu.count('workload_ops');
    cpu.schedPoint();
  }
  for (const p of pages) cpu.mem.unlockPage(cpu.pageIdx(mm, p));
}

export const migrateWorkload: Workload = {
  name: 'migrate',
  summary: 'CPU 0 migrates every page to a new frame (unmap, flush, copy, remap) while CPUs 1..N-1 load and store',
  validate(c: SimConfig): void {
    if (c.protocol === 'rik') {
      throw new ConfigError('--protocol rik does not apply to --workload migrate: use per-page (flush each page before its copy) or batched (one flush per batch)');
    }
  },
  initiators: () => [0],
  cpuRoles: () => 'CPUs 1..N-1 run the process',
  maxLazyCpus: (c) => c.cpus - 1,
  run(cpu, protocol) {
    const c = cpu.config;
    const pages = allPages(c.pages);
    // kswapd's slot runs the migration thread instead of reclaim.
    const migrator = { ...protocol, shrinkPageList: (x: Cpu, mm: number, batch: readonly number[]) => migratePages(x, mm, batch) };
    kswapdAndThreads(cpu, migrator, pages, (mm) => {
      warmUp(cpu, mm, pages, true);
      accessLoop(cpu, mm, pages, c.ops, c.writeRatio);
    });
  },
};
