/**
 * Workload `reclaim`: CPU 0 is kswapd (no user mm loaded); CPUs 1..N-1 are
 * threads of one process that all touch every one of P shared pages, then keep
 * loading and storing into them while reclaim unmaps all P pages once (or the
 * pages of `--reclaim-pages`, in that order), writes the dirty ones back and
 * drops them. A thread that touches an unmapped page
 * faults it back in from the backing store.
 *
 * Exact IPI counts (every thread CPU is in mm_cpumask, CPU 0 is not):
 *   per-page: P rounds of N-1 IPIs; batched: ceil(P/B) rounds of N-1.
 */
import { parseReclaimPages } from '../../config/params.js';
import { accessLoop, allPages, kswapdAndThreads, warmUp } from './common.js';
import type { Workload } from './types.js';

export const reclaimWorkload: Workload = {
  name: 'reclaim',
  summary: 'CPU 0 reclaims every page once while CPUs 1..N-1 load and store into them',
  initiators: () => [0],
  cpuRoles: () => 'CPUs 1..N-1 run the process',
  // Every thread CPU may go lazy: kswapd (CPU 0) is the only one that must stay.
  maxLazyCpus: (c) => c.cpus - 1,
  run(cpu, protocol) {
    const c = cpu.config;
    const pages = allPages(c.pages);
    kswapdAndThreads(cpu, protocol, parseReclaimPages(c.reclaimPages, c.pages), (mm) => {
      warmUp(cpu, mm, pages, false);
      accessLoop(cpu, mm, pages, c.ops, c.writeRatio);
    });
  },
};
