/**
 * Workload `tlb-flush`: will-it-scale's tlb_flush2 (threads mode). Every CPU
 * is a thread of one process; each owns a private chunk of the shared
 * mapping (`--pages` / CPUs pages), and `--ops` times it writes every page of
 * its chunk and then madvise(MADV_DONTNEED)s the chunk. The zap clears the
 * chunk's PTEs and flushes them on every other CPU of the mm, so each
 * operation is one IPI round to all the other threads: ops x N x (N-1) IPIs
 * in all, exactly. No kswapd runs. `workload_ops` counts the operations.
 *
 * Invariants: every CPU loads the mm before any CPU starts its loop (a
 * warm-up barrier (`ProgramState.arriveWarm`), rung by the last arrival), so every round reaches all
 * N-1 others; every CPU initiates flushes, so each has a port to every
 * other (N^2 ports: capped at config.ts TLB_FLUSH_MAX_CPUS).
 */
import { sysMadviseDontneed } from '../../kernel/syscalls.js';
import { everyCpuInitiates, loadMmOnEveryCpu, PROCESS_MM, storeEach } from './common.js';
import type { Workload } from './types.js';
import { ConfigError, TLB_FLUSH_MAX_CPUS, type SimConfig } from '../../config/params.js';

/** Pages of CPU `cpu`'s private chunk. */
export function tlbFlushChunk(cpu: number, cpus: number, pages: number): number[] {
  const size = Math.floor(pages / cpus);
  return Array.from({ length: size }, (_, i) => cpu * size + i);
}

export const tlbFlushWorkload: Workload = {
  name: 'tlb-flush',
  summary: 'will-it-scale tlb_flush2: every thread writes its private chunk and madvise(MADV_DONTNEED)s it, ops times',
  validate(c: SimConfig): void {
    if (c.cpus > TLB_FLUSH_MAX_CPUS) {
      throw new ConfigError(`--cpus must be at most ${TLB_FLUSH_MAX_CPUS} for --workload tlb-flush (every CPU needs a port to every other), got ${c.cpus}`);
    }
    if (c.pages < c.cpus) throw new ConfigError(`--pages must be at least --cpus (${c.cpus}) for --workload tlb-flush (each CPU owns pages / CPUs pages), got ${c.pages}`);
    if (c.reclaimPages.trim() !== '') throw new ConfigError('--reclaim-pages does not apply to --workload tlb-flush (no kswapd runs)');
  },
  initiators: everyCpuInitiates,
  cpuRoles: () => 'every CPU writes and madvises its chunk',
  // No reclaim runs, so there is nothing to be lazy through.
  maxLazyCpus: () => 0,
  run(cpu) {
    const c = cpu.config;
    const mm = PROCESS_MM;
    const chunk = tlbFlushChunk(cpu.id, c.cpus, c.pages);
    loadMmOnEveryCpu(cpu, mm);
    for (let op = 0; op < c.ops; op++) {
      storeEach(cpu, mm, chunk);
      sysMadviseDontneed(cpu, mm, chunk);
      cpu.count('workload_ops');
      cpu.schedPoint();
    }
  },
};
