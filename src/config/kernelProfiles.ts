/**
 * Kernel profiles (`--kernel-version V`): the engine's switches as a Linux
 * release had them. docs/kernels.md cites every change with its commit.
 *
 * Invariants:
 * - The table is data, one entry per switch (a SimConfig field): its value
 *   before the first change listed, then each change (release, value,
 *   commit). A profile is, for every switch, the value of the last change at
 *   or before its release. A new switch is one more entry.
 * - A profile sits between the scenario's defaults and the flags: explicit
 *   flags override it (resolveConfig layers DEFAULTS < profile < partial).
 * - Every commit id here was read in a changelog or a commit list (see
 *   docs/kernels.md, "How each id was verified"); a release is the mainline
 *   x.y that first shipped the change (x.y.0: stable backports not counted).
 * - `--protocol invlpgb|rar` is not a profile switch (a profile picks only
 *   per-page or batched): PROTOCOL_ARRIVALS says from which release an
 *   explicit choice is allowed (resolveConfig refuses it before that).
 * - Switches that depend on the architecture say so (`arch`): the profile
 *   of `--arch arm64` takes the arm64 entry of a field, every other arch the
 *   generic one.
 */
import type { Arch, SimConfig } from './config.js';

/** The releases `--kernel-version` takes, oldest first. */
export type KernelVersion = '4.2' | '4.3' | '4.12' | '4.13' | '4.14' | '4.19' | '4.20' | '5.10' | '5.15' | '5.19' | '6.1' | '6.5' | '6.6' | '6.15' | '6.16';
/** Releases where a switch changed (and the one before each), plus the long-term ones (4.19, 5.10, 5.15, 6.1, 6.6). */
export const KERNEL_VERSIONS: readonly KernelVersion[] = ['4.2', '4.3', '4.12', '4.13', '4.14', '4.19', '4.20', '5.10', '5.15', '5.19', '6.1', '6.5', '6.6', '6.15', '6.16'];

/** The SimConfig fields a profile sets. */
type ProfileField =
  | 'protocol'
  | 'batchedPendingFlush'
  | 'pendingFlush'
  | 'arm64Pending'
  | 'nestedFlush'
  | 'mprotectFlush'
  | 'tlbGen'
  | 'lazyTlbSkip'
  | 'lazyFlushOnTableFree'
  | 'flushRangeFreedTables'
  | 'flushUnderPtl'
  | 'migrateVmaFlushUnderPtl';

/** One change of a switch in mainline. */
interface SwitchChange<F extends ProfileField> {
  /** First mainline release with the new value (x.y). */
  readonly release: string;
  readonly value: SimConfig[F];
  /** The commit (12 hex digits) and its title. */
  readonly commit: string;
  readonly title: string;
}

/** The history of one switch. */
interface SwitchHistory<F extends ProfileField> {
  readonly field: F;
  /** Only for this architecture (`arm64`), or for every other one (`generic`). */
  readonly arch: 'generic' | 'arm64';
  /** The value before the first change. */
  readonly before: SimConfig[F];
  /** Why `before` is what it was (one line). */
  readonly beforeNote: string;
  readonly changes: readonly SwitchChange<F>[];
}

type AnyHistory = { readonly [F in ProfileField]: SwitchHistory<F> }[ProfileField];

/** Every switch's history (docs/kernels.md is this table in words). */
export const KERNEL_SWITCHES: readonly AnyHistory[] = [
  {
    field: 'protocol',
    arch: 'generic',
    before: 'per-page',
    beforeNote: 'try_to_unmap_one() flushed each PTE as it cleared it (ptep_clear_flush)',
    changes: [{ release: '4.3', value: 'batched', commit: '72b252aed506', title: 'mm: send one IPI per CPU to TLB flush all entries after unmapping pages' }],
  },
  {
    field: 'protocol',
    arch: 'arm64',
    before: 'per-page',
    beforeNote: 'arm64 had no ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH: reclaim flushed each PTE with ptep_clear_flush',
    changes: [{ release: '6.5', value: 'batched', commit: '43b3dfdd0455', title: 'arm64: support batched/deferred tlb shootdown during page reclamation/migration' }],
  },
  {
    field: 'batchedPendingFlush',
    arch: 'generic',
    before: false,
    beforeNote: 'mprotect/munmap/madvise/mremap did not look at deferred reclaim flushes',
    changes: [{ release: '4.13', value: true, commit: '3ea277194daa', title: 'mm, mprotect: flush TLB if potentially racing with a parallel reclaim leaving stale TLB entries' }],
  },
  {
    field: 'pendingFlush',
    arch: 'generic',
    before: 'bool',
    beforeNote: "3ea277194daa's mm->tlb_flush_batched was a bool (set; flush, then clear)",
    changes: [{ release: '5.14', value: 'gen', commit: '5ee2fa2f0636', title: 'mm/rmap: fix potential batched TLB flush race' }],
  },
  {
    field: 'arm64Pending',
    arch: 'arm64',
    before: 'dsb',
    beforeNote: "arm64's arch_flush_tlb_batched_pending() was a lone dsb(ish) from the start of its batching",
    changes: [{ release: '6.16', value: 'flush-mm', commit: '4b634918384c', title: 'arm64/mm: Close theoretical race where stale TLB entry remains valid' }],
  },
  {
    field: 'nestedFlush',
    arch: 'generic',
    before: false,
    beforeNote: 'tlb_finish_mmu flushed only the range the zap itself gathered',
    changes: [{ release: '4.13', value: true, commit: '99baac21e458', title: 'mm: fix MADV_[FREE|DONTNEED] TLB flush miss problem' }],
  },
  {
    field: 'mprotectFlush',
    arch: 'generic',
    before: 'range',
    beforeNote: 'change_protection_range() called flush_tlb_range(vma, start, end) whenever it changed any present PTE',
    changes: [{ release: '5.19', value: 'changed', commit: '4a18419f71cd', title: 'mm/mprotect: use mmu_gather' }],
  },
  {
    field: 'tlbGen',
    arch: 'generic',
    before: false,
    beforeNote: 'flush_tlb_func did what each request asked',
    changes: [{ release: '4.14', value: true, commit: 'b0579ade7cd8', title: "x86/mm: Track the TLB's tlb_gen and update the flushing algorithm" }],
  },
  {
    field: 'lazyTlbSkip',
    arch: 'generic',
    before: false,
    beforeNote: 'native_flush_tlb_others() IPIed the whole mm_cpumask, lazy CPUs included (a first skip, ac0315896970, was reverted before 4.19 shipped)',
    changes: [{ release: '4.20', value: true, commit: '145f573b89a6', title: 'x86/mm/tlb: Make lazy TLB mode lazier' }],
  },
  {
    field: 'lazyFlushOnTableFree',
    arch: 'generic',
    before: true,
    beforeNote: 'every flush reached lazy CPUs; from 4.20 on, a flush with freed_tables (016c4d92cd16, same release) still does: no release skipped them',
    changes: [],
  },
  {
    field: 'flushRangeFreedTables',
    arch: 'generic',
    before: true,
    beforeNote: 'no freed_tables argument yet: with lazyTlbSkip off, every flush_tlb_range() reached lazy CPUs',
    changes: [
      { release: '4.20', value: false, commit: '016c4d92cd16', title: 'x86/mm/tlb: Add freed_tables argument to flush_tlb_mm_range' },
      { release: '6.15', value: true, commit: '3ef938c35035', title: 'x86/mm: Fix flush_tlb_range() when used for zapping normal PMDs' },
    ],
  },
  {
    field: 'flushUnderPtl',
    arch: 'generic',
    before: false,
    beforeNote: "move_ptes() flushed the old range after pte_unmap_unlock() (CVE-2018-18281)",
    changes: [{ release: '4.19', value: true, commit: 'eb66ae030829', title: 'mremap: properly flush TLB before releasing the page' }],
  },
  {
    field: 'migrateVmaFlushUnderPtl',
    arch: 'generic',
    before: false,
    beforeNote: 'migrate_vma_collect_pmd() flushed after pte_unmap_unlock()',
    changes: [{ release: '6.0', value: true, commit: '60bae7370896', title: 'mm/migrate_device.c: flush TLB while holding PTL' }],
  },
];

/**
 * Flush transports that arrived in (or never reached) mainline x86: `--protocol
 * V` under `--kernel-version` older than `release` is refused, as that kernel
 * could not flush that way (a profile never picks these itself; the flag does).
 * `release` null: never merged, refused under every profile.
 */
interface ProtocolArrival {
  readonly protocol: 'invlpgb' | 'rar';
  readonly release: string | null;
  /** The commit (12 hex digits) and its title, or the unmerged series. */
  readonly source: string;
}

export const PROTOCOL_ARRIVALS: readonly ProtocolArrival[] = [
  {
    protocol: 'invlpgb',
    release: '6.15',
    source: '4afeb0ed1753 "x86/mm: Enable broadcast TLB invalidation for multi-threaded processes" (with 767ae437a32d "x86/mm: Add INVLPGB feature and Kconfig entry")',
  },
  {
    protocol: 'rar',
    release: null,
    source: 'Rik van Riel\'s RFC series "x86/mm: userspace & pageout flushing using Intel RAR" (v3, 2025-06-05)',
  },
];

/** Why `--protocol protocol` cannot run under `--kernel-version version` (one line), or null if it can. */
export function protocolRefusal(version: KernelVersion, protocol: string): string | null {
  const a = PROTOCOL_ARRIVALS.find((x) => x.protocol === protocol);
  if (!a) return null;
  if (a.release === null) {
    return `--protocol ${protocol} models a series that was never merged (${a.source}): no --kernel-version release has it; drop --kernel-version to run it`;
  }
  if (releaseAtLeast(version, a.release)) return null;
  return `--protocol ${protocol} needs Linux ${a.release} or later (${a.source}), got --kernel-version ${version}: use --kernel-version ${a.release} or later, or drop --protocol ${protocol}`;
}

/** `a` as a number pair, for ordering releases. */
function releaseKey(v: string): number {
  const [major, minor] = v.split('.').map(Number);
  return major * 1000 + minor;
}

/** True if release `a` is `b` or later. */
export function releaseAtLeast(a: string, b: string): boolean {
  return releaseKey(a) >= releaseKey(b);
}

/** The value `h` has in `version`. */
function valueIn<F extends ProfileField>(h: SwitchHistory<F>, version: KernelVersion): SimConfig[F] {
  let v = h.before;
  for (const c of h.changes) if (releaseAtLeast(version, c.release)) v = c.value;
  return v;
}

/** The switches of `version` for `arch` (the arm64 entry of a field on arm64, the generic one elsewhere). */
export function profileSwitches(version: KernelVersion, arch: Arch): Partial<SimConfig> {
  const out: Partial<Record<ProfileField, unknown>> = {};
  const wanted = arch === 'arm64' ? 'arm64' : 'generic';
  for (const h of KERNEL_SWITCHES) {
    const hasArm64 = KERNEL_SWITCHES.some((o) => o.field === h.field && o.arch === 'arm64');
    if (h.arch === wanted || (h.arch === 'generic' && wanted === 'arm64' && !hasArm64)) out[h.field] = valueIn(h as SwitchHistory<typeof h.field>, version);
  }
  return out as Partial<SimConfig>;
}

/** The fields a profile sets (so a scenario's defaults can give way to them). */
export const PROFILE_FIELDS: readonly ProfileField[] = [...new Set(KERNEL_SWITCHES.map((h) => h.field))];
