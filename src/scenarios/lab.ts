/**
 * The lab's race scenarios (presets of src/scenarios/preset.ts): small
 * machines tuned so that one iteration opens the race window a few times.
 * Each is a workload plus defaults; every option can still be overridden on
 * the command line, and they take no `--kernel` (their knobs are flags).
 *
 * Invariant: a scenario's defaults are applied under the user's flags, never
 * over them (src/scenarios/preset.ts resolves them).
 */
import type { SimConfig } from '../config/params.js';
import { PTRS_PER_PTE } from '../engine/layout.js';
import { WORKING_SET_PER_TABLE } from './workloads/pendingFlush.js';
import type { RaceName } from './races/index.js';
import type { Preset } from './preset.js';

/** The lab's original scenarios (knobs chosen by flags). */
type LabScenarioName = 'unmap-window' | 'mprotect' | 'wp-recheck' | 'pending-flush' | 'frame-reuse';
/** Every stress scenario: the lab's and the race catalogue's (src/scenarios/races/, with `--kernel buggy|fixed`). */
export type ScenarioName = LabScenarioName | RaceName;

export interface Scenario {
  readonly name: LabScenarioName;
  readonly summary: string;
  /** Defaults laid over the global ones (the user's flags go over these). */
  readonly defaults: Partial<SimConfig>;
}

export const SCENARIOS: { readonly [N in LabScenarioName]: Scenario } = {
  'unmap-window': {
    name: 'unmap-window',
    summary: "stores racing reclaim's unmap window (Rik van Riel's case against batching): lost writes on weak hardware unless the protocol closes it",
    // 2 threads x 8 pages in one batch: the whole batch is one unmap window;
    // half the accesses are stores so clean-to-dirty transitions happen inside it.
    defaults: { workload: 'reclaim', cpus: 3, pages: 8, batch: 8, ops: 40, writeRatio: 0.5, tlbSets: 8, tlbWays: 2, arch: 'weak', protocol: 'batched' },
  },
  mprotect: {
    name: 'mprotect',
    summary: 'mprotect(PROT_READ) racing a deferred reclaim flush (the 2017 race flush_tlb_batched_pending fixed)',
    // CPU 1 makes the call, CPU 2 keeps storing: the pending flush must reach CPU 2 as well as the caller.
    defaults: { workload: 'mprotect', cpus: 3, pages: 8, batch: 8, ops: 8, writeRatio: 0.5, tlbSets: 8, tlbWays: 2, arch: 'x86', protocol: 'batched' },
  },
  'wp-recheck': {
    name: 'wp-recheck',
    summary: "write-protect faults between Rik's steps 2 and 4: step 4 must re-read dirty from the PTE",
    defaults: { workload: 'reclaim', cpus: 3, pages: 8, batch: 8, ops: 40, writeRatio: 0.75, tlbSets: 8, tlbWays: 2, arch: 'weak', protocol: 'rik' },
  },
  'frame-reuse': {
    name: 'frame-reuse',
    summary: 'loads and stores racing reclaim while its freed frames are faulted back in (reused): the scenario for INVLPGB, RAR, LUF and context reset',
    // 3 threads, 16 pages in two batches of 8, the first 8 mapped read-only (what LUF defers), x86 (where batching is
    // safe): refaults reuse the frames reclaim just freed (LIFO), so a flush that has not reached every TLB by then
    // shows as a stale access, and a store landing after a page's write-back as a lost write.
    defaults: { workload: 'reclaim', cpus: 4, pages: 16, batch: 8, roPages: 8, ops: 60, writeRatio: 0.5, tlbSets: 8, tlbWays: 2, arch: 'x86', protocol: 'invlpgb' },
  },
  'pending-flush': {
    name: 'pending-flush',
    summary: "two mprotect calls racing reclaim's deferred flushes: the 4.13 boolean tlb_flush_batched loses one (--pending-flush bool), the generation pair does not",
    // The smallest address space with two page tables; one reclaim batch per table, so the first
    // table's batch leaves a flush owed while the second's clears PTEs; the storing CPU only stores.
    defaults: {
      workload: 'pending-flush',
      cpus: 3,
      pages: PTRS_PER_PTE + WORKING_SET_PER_TABLE,
      batch: WORKING_SET_PER_TABLE,
      ops: 1,
      writeRatio: 1,
      tlbSets: 8,
      tlbWays: 2,
      arch: 'x86',
      protocol: 'batched',
    },
  },
};

/** The lab's scenarios as presets (registered by src/scenarios/preset.ts). */
export const LAB_PRESETS: readonly Preset[] = Object.values(SCENARIOS).map((s) => ({ name: s.name, kind: 'lab', summary: s.summary, defaults: s.defaults }));
