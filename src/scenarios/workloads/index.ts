/**
 * Workload registry: name -> implementation. Add a workload by implementing
 * `Workload` and listing it here (and its name in config.ts WORKLOADS).
 */
import type { WorkloadName } from '../../config/config.js';
import { mprotectWorkload } from './mprotect.js';
import { pendingFlushWorkload } from './pendingFlush.js';
import { migrateWorkload } from './migrate.js';
import { munmapWorkload } from './munmap.js';
import { tlbFlushWorkload } from './tlbFlush.js';
import { reclaimWorkload } from './reclaim.js';
import { toyWorkload } from './toy.js';
import { RACE_WORKLOADS } from '../races/index.js';
import type { Workload } from './types.js';

export const WORKLOAD_REGISTRY: { readonly [N in WorkloadName]: Workload } = {
  reclaim: reclaimWorkload,
  mprotect: mprotectWorkload,
  'pending-flush': pendingFlushWorkload,
  'tlb-flush': tlbFlushWorkload,
  munmap: munmapWorkload,
  migrate: migrateWorkload,
  toy: toyWorkload,
  ...RACE_WORKLOADS,
};

export function getWorkload(name: WorkloadName): Workload {
  return WORKLOAD_REGISTRY[name];
}
export type { Workload } from './types.js';
