/**
 * The race catalogue: every known Linux TLB-coherence race tlbsim models,
 * each a small scenario with the buggy and the fixed kernel behaviour
 * (`tlbsim races`, `tlbsim stress --scenario NAME --kernel buggy|fixed`,
 * `tlbsim explore --scenario NAME`).
 *
 * Invariants:
 * - The two sides of a scenario differ only in the entry's `buggy` knobs;
 *   the fixed side is the engine's default behaviour.
 * - Every entry cites the fixing commit in torvalds/linux (id, title,
 *   author, release) and the commit that introduced the bug, or says
 *   `ablation: never shipped` when no release had the buggy side; its file
 *   opens with the interleaving the fix's changelog draws.
 */
import type { SimConfig, SyscallName } from '../../config/config.js';
import { arm64DsbPending, arm64DsbPendingWorkload } from './arm64DsbPending.js';
import { collapsePmdFlush, collapsePmdFlushWorkload } from './collapsePmdFlush.js';
import { lazyPgtableFree, lazyPgtableFreeWorkload } from './lazyPgtableFree.js';
import { migrateVmaPtl, migrateVmaPtlWorkload } from './migrateVmaPtl.js';
import { mprotectReclaim, mprotectReclaimWorkload } from './mprotectReclaim.js';
import { mremapPtl, mremapPtlWorkload } from './mremapPtl.js';
import { nestedZap, nestedZapWorkload } from './nestedZap.js';
import { pendingFlushLost, pendingFlushLostWorkload } from './pendingFlushLost.js';
import { reclaimDirty, reclaimDirtyWorkload } from './reclaimDirty.js';
import type { RaceEntry, RaceVariant } from './types.js';
import type { Preset } from '../preset.js';

export { isAblation, KERNEL_SIDES, type KernelSide, type RaceEntry, type RaceEffect, type RaceVariant } from './types.js';

/** Catalogue names, in the order `tlbsim races` lists them (by year). */
export type RaceName = 'reclaim-dirty' | 'mprotect-reclaim' | 'nested-zap' | 'mremap-ptl' | 'lazy-pgtable-free' | 'pending-flush-lost' | 'migrate-vma-ptl' | 'arm64-dsb-pending' | 'collapse-pmd-flush';
export const RACE_NAMES: readonly RaceName[] = ['reclaim-dirty', 'mprotect-reclaim', 'nested-zap', 'mremap-ptl', 'lazy-pgtable-free', 'pending-flush-lost', 'migrate-vma-ptl', 'arm64-dsb-pending', 'collapse-pmd-flush'];

export const RACES: { readonly [N in RaceName]: RaceEntry } = {
  'reclaim-dirty': reclaimDirty,
  'mprotect-reclaim': mprotectReclaim,
  'nested-zap': nestedZap,
  'mremap-ptl': mremapPtl,
  'lazy-pgtable-free': lazyPgtableFree,
  'pending-flush-lost': pendingFlushLost,
  'migrate-vma-ptl': migrateVmaPtl,
  'arm64-dsb-pending': arm64DsbPending,
  'collapse-pmd-flush': collapsePmdFlush,
};

/** The workloads that play the catalogue's interleavings (registered in src/scenarios/workloads/index.ts). */
export const RACE_WORKLOADS = {
  'reclaim-dirty': reclaimDirtyWorkload,
  'mprotect-reclaim': mprotectReclaimWorkload,
  'nested-zap': nestedZapWorkload,
  'mremap-ptl': mremapPtlWorkload,
  'lazy-pgtable-free': lazyPgtableFreeWorkload,
  'pending-flush-lost': pendingFlushLostWorkload,
  'migrate-vma-ptl': migrateVmaPtlWorkload,
  'arm64-dsb-pending': arm64DsbPendingWorkload,
  'collapse-pmd-flush': collapsePmdFlushWorkload,
} as const;

/** A catalogue entry as a preset (registered by src/scenarios/preset.ts): its two sides, its `--syscall` variants, its fix. */
function racePreset(e: RaceEntry): Preset {
  const variants: { [S in SyscallName]?: Partial<SimConfig> } = {};
  for (const [s, v] of Object.entries(e.variants ?? {}) as [SyscallName, RaceVariant][]) if (v.defaults !== undefined) variants[s] = v.defaults;
  return {
    name: e.name,
    kind: 'race',
    summary: e.summary,
    defaults: e.defaults,
    sides: { buggy: e.buggy, fixed: {} },
    variants,
    provenance: { commit: e.commit, title: e.title, release: e.release, introduced: e.introduced },
  };
}

/** The catalogue as presets, in RACE_NAMES order. */
export const RACE_PRESETS: readonly Preset[] = RACE_NAMES.map((n) => racePreset(RACES[n]));
