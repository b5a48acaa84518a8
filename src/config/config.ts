/**
 * Simulation options: every tunable the engine has, its default, and why.
 *
 * Invariants:
 * - `resolveConfig()` is the only way a `SimConfig` is made; it validates every
 *   field and throws `ConfigError` (one line: which option, what it accepts)
 *   instead of silently falling back to a default.
 * - A `SimConfig` is plain data (structured-clone safe): the coordinator sends
 *   it to every CPU worker unchanged, so all CPUs agree on it.
 */
import { availableParallelism } from 'node:os';
import { PTRS_PER_PTE, SCHED_MAX_CPUS, pageSlots } from '../engine/layout.js';
import { machineBytes, type MachineShape } from '../engine/state/machineViews.js';
import { parseSchedule } from '../engine/forcedSchedule.js';
import { KERNEL_VERSIONS, profileSwitches, protocolRefusal, type KernelVersion } from './kernelProfiles.js';

/**
 * Largest machine for `--workload tlb-flush`: every CPU initiates flushes, so
 * each needs a MessagePort to every other (N^2 ports). Measured here at 256:
 * 65,280 channels made in 0.6 s (388 MB), boot 4.3 s, a 20-loop run 83 s at
 * 2.7 GB peak; 512 would be 261,632 channels.
 */
export const TLB_FLUSH_MAX_CPUS = 256;

/**
 * tlb_single_page_flush_ceiling's default: a range flush of more pages than
 * this becomes a full flush. Above it, invlpg for every page costs more than a
 * CR3 write plus the refills it causes (Dave Hansen's 2014 measurements,
 * flush_tlb_mm_range 1 page 1276 cycles, 32 pages 9350, full 2283).
 */
export const TLB_SINGLE_PAGE_FLUSH_CEILING = 33;

/** Hardware semantics of a store through a TLB entry cached writable but clean (docs/design.md, "Hardware semantics"). */
export type Arch = 'x86' | 'weak' | 'arm64';
export const ARCHES: readonly Arch[] = ['x86', 'weak', 'arm64'];

/**
 * `--arch arm64`: what arch_flush_tlb_batched_pending() does
 * (arch/arm64/include/asm/tlbflush.h): `flush-mm`, flush_tlb_mm() (a
 * broadcast TLBI of the mm's ASID, then this CPU's DSB: since 4b634918384c),
 * or `dsb`, only dsb(ish) on the calling CPU (before it: it does not wait
 * for the TLBIs another CPU issued).
 */
export type Arm64PendingMode = 'flush-mm' | 'dsb';
export const ARM64_PENDING_MODES: readonly Arm64PendingMode[] = ['flush-mm', 'dsb'];
/** `--arm64-tlbi-range`: whether the CPUs have FEAT_TLBIRANGE (system_supports_tlb_range()). */
export type Arm64TlbiRange = 'on' | 'off';
export const ARM64_TLBI_RANGE_MODES: readonly Arm64TlbiRange[] = ['off', 'on'];
/** The protocols `--arch arm64` runs (the others are x86 transports or need x86's lazy-TLB IPIs). */
export const ARM64_PROTOCOLS: readonly string[] = ['batched', 'per-page', 'rik'];

/**
 * The reclaim protocols (src/kernel/protocols/): how reclaim unmaps and when
 * it flushes. `luf` defers the flush of read-only-mapped pages to the frame's
 * next allocation.
 */
export type ReclaimProtocolName = 'per-page' | 'batched' | 'rik' | 'luf';

/**
 * `--transport`: how a flush reaches the other x86 CPUs (src/kernel/transports/):
 * IPIs (`--ipi-fanout`), AMD INVLPGB + TLBSYNC broadcasts, Intel Remote
 * Action Requests, or IPIs that give the mm a new context above
 * `--context-reset-cutoff` pages instead of flushing page by page (PowerPC
 * VSIDs, seed 004). `--arch arm64` has its own (broadcast TLBI).
 */
export type TransportName = 'ipi' | 'invlpgb' | 'rar' | 'context-reset';
export const TRANSPORTS: readonly TransportName[] = ['ipi', 'invlpgb', 'rar', 'context-reset'];

/**
 * `--protocol` (docs/design.md, "Protocols"): a reclaim protocol, or one of
 * the aliases `invlpgb`, `rar`, `context-reset` for `--protocol batched
 * --transport X` (Gorman's batching over another transport), which stay the
 * label results report (resolveConfig sets protocol = transport = X).
 */
export type ProtocolName = ReclaimProtocolName | Exclude<TransportName, 'ipi'>;
export const PROTOCOLS: readonly ProtocolName[] = ['per-page', 'batched', 'rik', 'invlpgb', 'rar', 'luf', 'context-reset'];

/** The reclaim protocol `p` runs: an alias (`--protocol invlpgb|rar|context-reset`) is batched reclaim. */
export function reclaimProtocolOf(p: ProtocolName): ReclaimProtocolName {
  return p === 'invlpgb' || p === 'rar' || p === 'context-reset' ? 'batched' : p;
}

/**
 * The PowerPC cutoff of seed 004 ("using 20 pages as the cutoff point mmap()
 * latency dropped to 41 us"): a flush of more pages resets the mm's context.
 */
export const CONTEXT_RESET_CUTOFF = 20;

/** Workload run by the simulated CPUs. */
export type WorkloadName =
  | 'reclaim'
  | 'mprotect'
  | 'pending-flush'
  | 'tlb-flush'
  | 'munmap'
  | 'migrate'
  | 'toy'
  // The race catalogue's scenarios (src/scenarios/races/).
  | 'reclaim-dirty'
  | 'mprotect-reclaim'
  | 'nested-zap'
  | 'mremap-ptl'
  | 'lazy-pgtable-free'
  | 'pending-flush-lost'
  | 'migrate-vma-ptl'
  | 'arm64-dsb-pending'
  | 'collapse-pmd-flush';
export const WORKLOADS: readonly WorkloadName[] = [
  'reclaim',
  'mprotect',
  'pending-flush',
  'tlb-flush',
  'munmap',
  'migrate',
  'toy',
  'reclaim-dirty',
  'mprotect-reclaim',
  'nested-zap',
  'mremap-ptl',
  'lazy-pgtable-free',
  'pending-flush-lost',
  'migrate-vma-ptl',
  'arm64-dsb-pending',
  'collapse-pmd-flush',
];

/**
 * How mm->tlb_flush_batched is kept: `gen`, the pending/flushed generation
 * pair of current kernels, or `bool`, the Linux 4.13 flag (set; flush, then
 * clear), which loses a flush made pending while another CPU flushes.
 */
export type PendingFlushMode = 'gen' | 'bool';
/** What mprotect's TLB flush covers (SimConfig.mprotectFlush). */
export type MprotectFlushMode = 'changed' | 'range';
export const MPROTECT_FLUSH_MODES: readonly MprotectFlushMode[] = ['changed', 'range'];
export const PENDING_FLUSH_MODES: readonly PendingFlushMode[] = ['gen', 'bool'];

/**
 * How an IPI round reaches its targets: `serial` unicast, one message per
 * target from the initiator (Linux's default), or a `tree` in the spirit of
 * Barrelfish's NUMA-aware multicast (Baumann et al., SOSP 2009): one message
 * per group of `--ipi-group` CPUs, to the first target of the group, which
 * forwards it to the group's other targets.
 */
export type IpiFanout = 'serial' | 'tree' | 'cluster';
export const IPI_FANOUTS: readonly IpiFanout[] = ['serial', 'tree', 'cluster'];
/**
 * Default CPUs per multicast group: 8, the cores of one L3 domain (an AMD
 * CCX, a Barrelfish "package" of the 8x4 Opteron it measured had 4; the
 * group is what shares a cache and so forwards cheaply). An assumption.
 */
export const IPI_GROUP_DEFAULT = 8;
/** Largest machine with `--ipi-fanout tree` (forwarding keeps one row of pending bits per CPU: cpus^2 bits). */
export const IPI_TREE_MAX_CPUS = 1024;

/** `free`: real parallel threads, the host picks the interleaving. `seeded`: one CPU steps at a time, chosen by a seeded PRNG. */
export type SchedMode = 'free' | 'seeded';
export const SCHED_MODES: readonly SchedMode[] = ['free', 'seeded'];

/** A known protocol bug planted on purpose so tests can prove the oracle catches it. */
export type InjectedBug = 'none' | 'free-before-flush' | 'skip-dirty-flush' | 'no-pending-flush' | 'copy-before-flush' | 'stale-asid' | 'luf-writable' | 'no-tlbsync';
export const INJECTED_BUGS: readonly InjectedBug[] = ['none', 'free-before-flush', 'skip-dirty-flush', 'no-pending-flush', 'copy-before-flush', 'stale-asid', 'luf-writable', 'no-tlbsync'];

/**
 * The system call CPU 1 makes in the `mprotect` workload and the
 * `mprotect-reclaim` scenario (each runs flushTlbBatchedPending first):
 * mprotect(PROT_READ), munmap, madvise(MADV_DONTNEED); `mprotect-none`
 * (mprotect(PROT_NONE), then loads) and `mremap` only in `mprotect-reclaim`.
 */
export type SyscallName = 'mprotect' | 'munmap' | 'madvise' | 'mprotect-none' | 'mremap';
export const SYSCALLS: readonly SyscallName[] = ['mprotect', 'munmap', 'madvise', 'mprotect-none', 'mremap'];

/** Test hook: make one CPU misbehave so the failure paths can be exercised. */
export type CpuFault = 'none' | 'stop-acking' | 'crash' | 'crash-in-ipi';
export const CPU_FAULTS: readonly CpuFault[] = ['none', 'stop-acking', 'crash', 'crash-in-ipi'];

/** Everything one simulation run needs. Field names are stable: they appear in the JSON result's `config`. */
export interface SimConfig {
  cpus: number;
  workload: WorkloadName;
  protocol: ProtocolName;
  /** `--transport`: how flushes reach other x86 CPUs (set to X by the alias `--protocol X`). */
  transport: TransportName;
  pages: number;
  batch: number;
  writeRatio: number;
  seed: number;
  arch: Arch;
  sched: SchedMode;
  /** Accesses every thread CPU makes after warm-up, at the least (it also keeps going until reclaim is done). */
  ops: number;
  tlbSets: number;
  tlbWays: number;
  /** Rik's step 4 re-reads dirty from the PTE it clears (true) or trusts step 1 (false: `--no-wp-recheck`). */
  wpRecheck: boolean;
  /** `mprotect` workload: which call CPU 1 makes on the pages reclaim is unmapping. */
  syscall: SyscallName;
  /**
   * `reclaim` and `mprotect` workloads: the pages kswapd reclaims, in the order
   * it finds them on its LRU list: comma-separated pages and ranges (`3`,
   * `4-7,0-3`, `7-0`); empty = every page, lowest first.
   */
  reclaimPages: string;
  /** `munmap` workload: length(s) of the ranges CPU 0 maps, touches and unmaps, e.g. `16` or `1,8,64` (cycled: the mixed mode). */
  range: string;
  /** mprotect/munmap/madvise flush an mm with `tlb_flush_batched` set first (Linux 4.13). */
  batchedPendingFlush: boolean;
  /**
   * mremap's move_ptes flushes the TLB before dropping the PTE lock (true:
   * eb66ae030829, Linux 4.19); false (`--no-flush-under-ptl`): after, as
   * before that fix. (migrate_vma's is `migrateVmaFlushUnderPtl`.)
   */
  flushUnderPtl: boolean;
  /**
   * A per-CPU page-walk (paging-structure) cache: walks cache their page
   * table, munmap frees whole page tables, a walk through a freed one is a
   * race (src/engine/pageWalkCache.ts). Off by default (`lazy-pgtable-free` turns
   * it on).
   */
  pageWalkCache: boolean;
  /**
   * A flush that frees page tables (freed_tables) reaches lazy-TLB CPUs too
   * (true: today, since 2018); false (`--no-lazy-flush-on-table-free`): it
   * skips them like any other flush, as before "x86/mm/tlb: Leave lazy TLB
   * mode at page table free time".
   */
  lazyFlushOnTableFree: boolean;
  /**
   * x86 flush_tlb_range() passes freed_tables = true (arch/x86/include/asm/tlbflush.h),
   * so mremap's move_ptes, migrate_vma's collect step and khugepaged's
   * pmdp_collapse_flush reach lazy-TLB CPUs too (true: since Jann Horn's
   * 3ef938c35035 "x86/mm: Fix flush_tlb_range() when used for zapping normal
   * PMDs", CVE-2025-22045, Linux 6.15 and stable); false
   * (`--no-flush-range-freed-tables`): it passed false, as from 016c4d92cd16
   * (which added freed_tables) until that fix. flush_tlb_mm() passes true either way.
   */
  flushRangeFreedTables: boolean;
  /**
   * mm_tlb_flush_nested() (99baac21e458, Linux 4.13): tlb_finish_mmu of a zap
   * (munmap, madvise) that finds another zap of the mm still between
   * tlb_gather_mmu and tlb_finish_mmu (mm->tlb_flush_pending > 1) flushes the
   * whole mm, freed_tables set (as since 7a30df49f63a), even if it cleared no
   * PTE itself. false (`--no-nested-flush`): it flushes only what it cleared.
   */
  nestedFlush: boolean;
  /**
   * What mprotect flushes: `changed`, the mmu_gather span of the PTEs it
   * changed (since 4a18419f71cd, "mm/mprotect: use mmu_gather", Linux 5.19),
   * or `range`, the whole [start, end) of the call whenever it changed any
   * present PTE (change_protection_range's flush_tlb_range before that).
   */
  mprotectFlush: MprotectFlushMode;
  /**
   * migrate_vma's collect step flushes the TLB before dropping the PTE lock
   * (true: 60bae7370896, Linux 6.0); false (`--no-migrate-vma-flush-under-ptl`): after.
   */
  migrateVmaFlushUnderPtl: boolean;
  /**
   * Flushes skip lazy-TLB CPUs (true: 145f573b89a6, "x86/mm/tlb: Make lazy
   * TLB mode lazier", Linux 4.20; freed_tables flushes still reach them);
   * false (`--no-lazy-tlb-skip`): every flush IPIs the whole mm_cpumask,
   * lazy CPUs included, as native_flush_tlb_others did up to 4.19.
   */
  lazyTlbSkip: boolean;
  /**
   * `--kernel-version V`: the kernel profile whose switches this run took
   * (src/config/kernelProfiles.ts; explicit flags override them); '' for none.
   */
  kernelVersion: string;
  /** Encoding of mm->tlb_flush_batched: the generation pair (today) or the 4.13 boolean. */
  pendingFlush: PendingFlushMode;
  /** `--arch arm64`: arch_flush_tlb_batched_pending() as flush_tlb_mm() (today) or a lone dsb(ish) (before 4b634918384c). */
  arm64Pending: Arm64PendingMode;
  /** `--arch arm64`: FEAT_TLBIRANGE (range TLBIs in __flush_tlb_range_op) present (`on`) or not (`off`). */
  arm64TlbiRange: Arm64TlbiRange;
  inject: InjectedBug;
  /** How many simulated CPUs may run accesses at once (run tokens). */
  runTokens: number;
  /** flush_tlb_func compares tlb_gen generations (elides covered flushes, turns a range into a full flush when behind); false: it does exactly what each request asks. */
  tlbGen: boolean;
  /** Thread CPUs (the last K) that run a kernel thread, in lazy TLB mode, from before reclaim starts until it ends. */
  lazyCpus: number;
  /** tlb_single_page_flush_ceiling: a range flush spanning more pages than this is a full flush. */
  tlbSinglePageFlushCeiling: number;
  /** Processes (mm_structs) the thread CPUs are shared among; thread CPU i starts in mm (i - 1) mod mms. */
  mms: number;
  /** A thread CPU switches to the next process every this many accesses (0: never); with switching a thread makes exactly `ops` accesses. */
  switchEvery: number;
  /** should_trim_cpumask: at most once per this many ms (seeded mode: scheduler steps) a flush also IPIs mm_cpumask CPUs that no longer run the mm, so they leave the mask; 0: every flush. */
  cpumaskTrimMs: number;
  /** `--protocol context-reset`: a flush of more pages than this gives the mm a new context instead of flushing page by page. */
  contextResetCutoff: number;
  /** The first N pages of every process are mapped read-only (a read-only file mapping: threads only load them). */
  roPages: number;
  /**
   * Thread CPUs run with interrupts disabled for this many accesses out of
   * every 2 x this many (0: never): a flush IPI waits until they are enabled
   * again; INVLPGB and RAR are applied by hardware meanwhile.
   */
  irqOffAccesses: number;
  /** How an IPI round reaches its targets: serial unicast or a multicast tree. */
  ipiFanout: IpiFanout;
  /** `--ipi-fanout tree`: CPUs per group (CPU c is in group floor(c / ipiGroup)). */
  ipiGroup: number;
  /** Accesses a CPU runs per run token before handing it on. */
  quantum: number;
  /** Free mode: an IPI initiator that sleeps for acknowledgements lends its run token to a waiting CPU. */
  tokenLending: boolean;
  /** A running CPU looks at its doorbell every this many accesses. */
  doorbellPollInterval: number;
  ipiTimeoutMs: number;
  /** Check engine invariants (no frame freed before its flush is acknowledged) and fail loudly. */
  debug: boolean;
  /** Events each CPU keeps for `--trace` (a ring of the last N); 0: no trace is recorded. */
  traceEvents: number;
  /**
   * Seeded mode: a CPU that handles IPIs when it gets the turn yields again
   * before it goes on (handling an interrupt is a step of its own, so the
   * CPU can be descheduled right after it). Off: IPIs are handled at the
   * start of the CPU's next step.
   */
  ipiStep: boolean;
  /** Upper bound on scheduler steps in seeded mode (a livelock guard). */
  maxSeededSteps: number;
  /** Test hook: `{cpu, kind}` makes that CPU misbehave. */
  faultCpu: number;
  faultKind: CpuFault;
  /**
   * Seeded mode: follow this schedule instead of the PRNG (`step:cpu,...`,
   * src/engine/forcedSchedule.ts; `--replay`); empty: the PRNG picks every step.
   */
  schedule: string;
}

/** Thrown for bad input. The message is one line: the option, what was given, what it accepts. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** SWAP_CLUSTER_MAX in the kernel: reclaim isolates and unmaps pages 32 at a time. */
export const SWAP_CLUSTER_MAX = 32;

/**
 * Defaults, each with its reason.
 */
export const DEFAULTS: SimConfig = {
  // 8 CPUs: enough remote targets that batching is visible, small enough to start in ~0.2 s.
  cpus: 8,
  workload: 'reclaim',
  // Mel Gorman's batching is what Linux has shipped since 4.3.
  protocol: 'batched',
  // IPIs: what Linux does without INVLPGB (and every x86 release before 6.15).
  transport: 'ipi',
  // 256 pages fill a 64x4 TLB exactly, so every thread caches every page after warm-up.
  pages: 256,
  batch: SWAP_CLUSTER_MAX,
  // A quarter stores: enough clean-to-dirty transitions to open the unmap race on `weak`.
  writeRatio: 0.25,
  seed: 1,
  // x86 traps a write through a clean entry whose PTE is gone: the architecture batching relies on.
  arch: 'x86',
  sched: 'free',
  // 20k accesses per thread CPU keep threads busy across the whole reclaim pass on a 2-core host.
  ops: 20_000,
  // 64 sets x 4 ways = 256 entries, the size of a typical x86 L1 dTLB (64 entries) scaled to hold the default working set.
  tlbSets: 64,
  tlbWays: 4,
  wpRecheck: true,
  // mprotect(PROT_READ): the call of the 2017 bug report.
  syscall: 'mprotect',
  // Every page, in address order: the simplest LRU list.
  reclaimPages: '',
  // 16 pages: a typical small munmap, under the 33-page ceiling (flushed page by page).
  range: '16',
  batchedPendingFlush: true,
  // What Linux does since the 2018 mremap fix (eb66ae030829).
  flushUnderPtl: true,
  pageWalkCache: false,
  // What x86 does since 2018 (freed_tables in flush_tlb_info).
  lazyFlushOnTableFree: true,
  // What x86 does since the CVE-2025-22045 fix (3ef938c35035): flush_tlb_range() passes freed_tables.
  flushRangeFreedTables: true,
  // What mm/mmu_gather.c does since 4.13 (99baac21e458).
  nestedFlush: true,
  // What mprotect does since 5.19 (4a18419f71cd: an mmu_gather over the changed PTEs).
  mprotectFlush: 'changed',
  // What migrate_vma does since 6.0 (60bae7370896).
  migrateVmaFlushUnderPtl: true,
  // What x86 does since 4.20 (145f573b89a6): lazy CPUs catch up at the switch back.
  lazyTlbSkip: true,
  // No profile: today's kernel, switch by switch (the defaults above).
  kernelVersion: '',
  // What mm/rmap.c does today; `bool` is kept to show the race it fixed.
  pendingFlush: 'gen',
  // What arm64 does since 4b634918384c; `dsb` is kept to show the race it fixed.
  arm64Pending: 'flush-mm',
  // Off: FEAT_TLBIRANGE is optional (Armv8.4); without it every arm64 CPU flushes page by page, so off is what any arm64 machine does.
  arm64TlbiRange: 'off',
  inject: 'none',
  // One running CPU per host core: more makes every synchronous IPI wait for OS time slices (docs/design.md, "Host scheduling").
  runTokens: Math.max(1, availableParallelism()),
  // 4096 accesses take ~50-100 us: short enough that a parked CPU gets a turn quickly, long enough to amortise the hand-off (~10 us).
  // The kernel's default (arch/x86/mm/tlb.c): ~100 ns per invlpg caps a partial flush at ~3 us,
  // about what a full flush plus its refills costs.
  tlbSinglePageFlushCeiling: TLB_SINGLE_PAGE_FLUSH_CEILING,
  // What x86 has done since Linux 4.14 (Andy Lutomirski's PCID work).
  tlbGen: true,
  // Every thread runs the process: the simplest machine, and today's exact counts.
  lazyCpus: 0,
  // One process: every thread CPU is in its mm_cpumask, the engine issue's exact counts.
  mms: 1,
  // No context switches: a thread CPU runs one process for the whole run.
  switchEvery: 0,
  // The kernel's HZ: should_trim_cpumask trims at most once a second (Rik van Riel, 6.14).
  cpumaskTrimMs: 1000,
  // Seed 004 (PowerPC 603/604 Linux): 20 pages was the cutoff that took mmap() latency from 3.2 ms to 41 us.
  contextResetCutoff: CONTEXT_RESET_CUTOFF,
  // Every page writable: the workloads of the engine issue. LUF defers only read-only-mapped pages.
  roPages: 0,
  // Interrupts always enabled between accesses: the engine issue's exact latencies.
  irqOffAccesses: 0,
  // Linux sends one IPI per target (smp_call_function_many); the tree is the alternative to compare.
  ipiFanout: 'serial',
  ipiGroup: IPI_GROUP_DEFAULT,
  quantum: 4096,
  // On real hardware the other CPUs run while an initiator spins; without a loan, one host core sits idle instead.
  tokenLending: true,
  // Polling every 128 accesses bounds IPI latency to a few us at ~1-2% of the access rate.
  doorbellPollInterval: 128,
  // 10 s: a 256-target round takes ~2-5 ms here; anything near 10 s is a stuck CPU, not a slow host.
  ipiTimeoutMs: 10_000,
  debug: true,
  maxSeededSteps: 5_000_000,
  // Off: the seeded interleavings (and every seed's result) stay what they were before the catalogue.
  ipiStep: false,
  // Recording costs a little on every slow path: only when a trace is asked for (--trace).
  traceEvents: 0,
  faultCpu: -1,
  faultKind: 'none',
  // The PRNG picks: what stress has always done.
  schedule: '',
};

/**
 * Defaults that differ by workload, each with its reason: what one `--ops`
 * means differs (an access per thread for reclaim, mprotect and migrate; a
 * write+madvise loop of every CPU, an IPI round each, for tlb-flush; a whole
 * mmap+touch+munmap, an IPI round, for munmap), and every default run must
 * finish in seconds on a 2-core host (`tlbsim run --workload W`). An option
 * the user gives always wins; a reproduce command spells out any value that
 * differs from its workload's default (configToFlags).
 */
export const WORKLOAD_DEFAULTS: { readonly [W in WorkloadName]?: Partial<SimConfig> } = {
  // 500 loops x 8 CPUs x 7 targets = 28,000 IPIs: under a second at the ~45,000 IPIs/s measured here, and
  // under 15 s even on this 2-core host at load average 20 (20,000 took 25 s idle, 38 s loaded; 1000 took 14 s loaded).
  'tlb-flush': { ops: 500 },
  // 1000 munmaps, each one IPI round to 7 busy threads (~1.5-3 ms a round here): ~2-3 s (20,000 took 30 s).
  munmap: { ops: 1000 },
  // Its pages must span two page tables of PTRS_PER_PTE (512) each: 1024 fills both exactly (256 was refused).
  'pending-flush': { pages: 2 * PTRS_PER_PTE },
};

/** The defaults a run of `workload` starts from: DEFAULTS, then the workload's own. */
export function workloadDefaults(workload: WorkloadName): SimConfig {
  return { ...DEFAULTS, ...WORKLOAD_DEFAULTS[workload] };
}

/** Most trace events a CPU may keep: 1024 CPUs x 100,000 events is already ~15 GB of JSON. */
export const MAX_TRACE_EVENTS = 100_000;
/** The largest machine the layouts are sized for (vm.max_map_count allows ~1,650 workers on Linux). */
export const MAX_CPUS = 1024;
/**
 * Most processes a machine may have: each costs every CPU one mm_cpumask bit
 * and `--pages` page slots; 64 is ten times the 6 dynamic ASIDs a CPU has, far
 * into the regime where every switch reassigns an ASID.
 */
export const MAX_MMS = 64;
/** Page-table size cap: the PTE frame field has 23 bits and the frame pool is 2x pages. */
export const MAX_PAGES = 1 << 20;

/**
 * Cap on the simulated machine's shared memory. Frames hold one word per CPU per
 * page (the oracle's ordering trick), twice (data and step), for twice the
 * pages: ~20 bytes x pages x cpus. 4 GiB leaves room for 1,024 workers
 * (~7.5 MB each) on a 24 GiB host.
 */
export const MAX_SHARED_MB = 4096;

/**
 * Bytes of SharedArrayBuffer a machine with config `c` allocates: read from
 * the same buffer table as the allocation (src/engine/state/machineViews.ts),
 * so the limit check counts every buffer (the arm64 TLBI rings included).
 */
export function sharedMemoryBytes(c: MachineShape): number {
  return machineBytes(c);
}

function isInt(v: number): boolean {
  return Number.isInteger(v);
}

function intIn(name: string, v: number, min: number, max: number, hint = ''): number {
  if (!isInt(v) || v < min || v > max) {
    throw new ConfigError(`--${name} must be an integer from ${min} to ${max}${hint}, got ${String(v)}`);
  }
  return v;
}

function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`--${name} must be one of ${allowed.join(', ')}, got '${v}'`);
  }
  return v as T;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/**
 * Merge `partial` over the defaults and validate every field.
 * @throws ConfigError with a one-line message naming the option.
 */
export function resolveConfig(partial: Partial<SimConfig> = {}): SimConfig {
  const version = partial.kernelVersion;
  if (version !== undefined && version !== '' && !(KERNEL_VERSIONS as readonly unknown[]).includes(version)) {
    throw new ConfigError(`--kernel-version must be one of ${KERNEL_VERSIONS.join(', ')}, got '${String(version)}'`);
  }
  // Layers: the workload's own defaults (an unknown workload is refused below, with the list), then the
  // kernel profile's switches, then what was asked for explicitly.
  const workloadBase = WORKLOADS.includes(partial.workload as WorkloadName) ? workloadDefaults(partial.workload!) : DEFAULTS;
  const profile = version === undefined || version === '' ? {} : profileSwitches(version as KernelVersion, partial.arch ?? DEFAULTS.arch);
  const base: SimConfig = { ...workloadBase, ...profile };
  const c: SimConfig = { ...base, ...partial };
  for (const [k, v] of Object.entries(partial)) {
    if (!Object.hasOwn(DEFAULTS, k)) throw new ConfigError(`unknown option '${k}'`);
    if (v === undefined) (c as unknown as Record<string, unknown>)[k] = (base as unknown as Record<string, unknown>)[k];
  }
  intIn('cpus', c.cpus, 1, MAX_CPUS);
  oneOf('workload', c.workload, WORKLOADS);
  oneOf('protocol', c.protocol, PROTOCOLS);
  oneOf('transport', c.transport, TRANSPORTS);
  if (reclaimProtocolOf(c.protocol) !== c.protocol) {
    // The alias `--protocol X` is `--protocol batched --transport X`; the label stays X.
    if (c.transport !== 'ipi' && c.transport !== c.protocol) {
      throw new ConfigError(`--protocol ${c.protocol} is batched reclaim over --transport ${c.protocol}; for --transport ${c.transport} use --protocol batched --transport ${c.transport}`);
    }
    c.transport = c.protocol as TransportName;
  } else if (c.transport !== 'ipi') {
    if (c.arch === 'arm64') throw new ConfigError(`--arch arm64 flushes by broadcast TLBI (its own transport): drop --transport ${c.transport} or use --arch x86`);
    if (c.protocol !== 'batched') throw new ConfigError(`--transport ${c.transport} applies to --protocol batched (per-page, rik and luf flush by IPI), got --protocol ${c.protocol}`);
    c.protocol = c.transport;
  }
  oneOf('arch', c.arch, ARCHES);
  oneOf('sched', c.sched, SCHED_MODES);
  oneOf('inject', c.inject, INJECTED_BUGS);
  oneOf('syscall', c.syscall, SYSCALLS);
  oneOf('pending-flush', c.pendingFlush, PENDING_FLUSH_MODES);
  oneOf('mprotect-flush', c.mprotectFlush, MPROTECT_FLUSH_MODES);
  if (typeof c.kernelVersion !== 'string') throw new ConfigError(`--kernel-version takes a release like 4.13, got ${String(c.kernelVersion)}`);
  if (c.kernelVersion !== '') oneOf('kernel-version', c.kernelVersion, KERNEL_VERSIONS);
  const refusal = c.kernelVersion === '' ? null : protocolRefusal(c.kernelVersion as KernelVersion, c.protocol);
  if (refusal !== null) throw new ConfigError(refusal);
  oneOf('arm64-pending', c.arm64Pending, ARM64_PENDING_MODES);
  if (c.arm64Pending !== 'flush-mm' && c.arch !== 'arm64') throw new ConfigError(`--arm64-pending applies to --arch arm64, got --arch ${c.arch}`);
  oneOf('arm64-tlbi-range', c.arm64TlbiRange, ARM64_TLBI_RANGE_MODES);
  if (c.arm64TlbiRange !== 'off' && c.arch !== 'arm64') throw new ConfigError(`--arm64-tlbi-range applies to --arch arm64, got --arch ${c.arch}`);
  if (c.arch === 'arm64' && !ARM64_PROTOCOLS.includes(c.protocol)) {
    throw new ConfigError(`--arch arm64 runs --protocol ${ARM64_PROTOCOLS.join(', ')} (broadcast TLBI + DSB), got --protocol ${c.protocol}`);
  }
  if (typeof c.reclaimPages !== 'string') throw new ConfigError(`--reclaim-pages takes pages and ranges like 3,4-7, got ${String(c.reclaimPages)}`);
  intIn('pages', c.pages, 1, MAX_PAGES);
  intIn('batch', c.batch, 1, 1 << 20, ' (pages per tryToUnmapFlush)');
  if (typeof c.writeRatio !== 'number' || !(c.writeRatio >= 0 && c.writeRatio <= 1)) {
    throw new ConfigError(`--write-ratio must be a number from 0 to 1, got ${String(c.writeRatio)}`);
  }
  intIn('seed', c.seed, 0, 0xffff_ffff);
  intIn('ops', c.ops, 0, 1e12);
  intIn('tlb-sets', c.tlbSets, 1, 1 << 16);
  if (!isPowerOfTwo(c.tlbSets)) throw new ConfigError(`--tlb-sets must be a power of two, got ${c.tlbSets}`);
  intIn('tlb-ways', c.tlbWays, 1, 64);
  intIn('run-tokens', c.runTokens, 1, MAX_CPUS);
  intIn('quantum', c.quantum, 1, 1 << 30);
  intIn('ceiling', c.tlbSinglePageFlushCeiling, 0, MAX_PAGES, ' (tlb_single_page_flush_ceiling, pages)');
  intIn('mms', c.mms, 1, MAX_MMS, ' (processes sharing the thread CPUs)');
  intIn('switch-every', c.switchEvery, 0, 1e12, ' (accesses between context switches; 0: never)');
  intIn('cpumask-trim-ms', c.cpumaskTrimMs, 0, 3_600_000, ' (should_trim_cpumask interval; 0: every flush)');
  if ((c.mms > 1 || c.switchEvery > 0) && c.workload !== 'reclaim') {
    throw new ConfigError(`--mms and --switch-every apply to --workload reclaim (its thread CPUs are shared among the processes), got --workload ${c.workload}`);
  }
  if (pageSlots(c) > MAX_PAGES) {
    throw new ConfigError(`--pages x --mms must be at most ${MAX_PAGES} (the PTE's frame field), got ${c.pages} x ${c.mms}`);
  }
  if (c.switchEvery > 0 && c.lazyCpus > 0) {
    throw new ConfigError('--switch-every and --lazy-cpus do not combine: a lazy CPU runs a kernel thread, not processes; drop one of them');
  }
  if (c.mms > 1 && c.reclaimPages.trim() !== '') {
    throw new ConfigError('--reclaim-pages applies to one process; with --mms kswapd reclaims every page of every process');
  }
  oneOf('ipi-fanout', c.ipiFanout, IPI_FANOUTS);
  intIn('irq-off', c.irqOffAccesses, 0, 1 << 20, ' (accesses per interrupts-disabled window of the thread CPUs; 0: none)');
  intIn('ipi-group', c.ipiGroup, 1, MAX_CPUS, ' (CPUs per multicast group)');
  intIn('context-reset-cutoff', c.contextResetCutoff, 0, MAX_PAGES, ' (pages; a longer flush resets the context)');
  intIn('ro-pages', c.roPages, 0, c.pages, ' (read-only-mapped pages of every process)');
  if (c.inject === 'luf-writable' && c.protocol !== 'luf') {
    throw new ConfigError(`--inject luf-writable applies to --protocol luf, got --protocol ${c.protocol}`);
  }
  if (c.pageWalkCache === true && c.arch !== 'x86') {
    throw new ConfigError(`--page-walk-cache models x86's paging-structure cache and needs --arch x86, got --arch ${c.arch}`);
  }
  if (c.inject === 'no-tlbsync' && c.transport !== 'invlpgb' && c.transport !== 'rar') {
    throw new ConfigError(`--inject no-tlbsync applies to --transport invlpgb or rar, got --transport ${c.transport}`);
  }
  intIn('doorbell-poll', c.doorbellPollInterval, 1, 1 << 20);
  intIn('ipi-timeout-ms', c.ipiTimeoutMs, 1, 3_600_000);
  intIn('max-seeded-steps', c.maxSeededSteps, 1, 1e12);
  intIn('trace-events', c.traceEvents, 0, MAX_TRACE_EVENTS, ' (events each CPU keeps for --trace)');
  for (const key of ['wpRecheck', 'batchedPendingFlush', 'flushUnderPtl', 'pageWalkCache', 'lazyFlushOnTableFree', 'flushRangeFreedTables', 'nestedFlush', 'migrateVmaFlushUnderPtl', 'lazyTlbSkip', 'debug', 'tokenLending', 'tlbGen', 'ipiStep'] as const) {
    if (typeof c[key] !== 'boolean') {
      throw new ConfigError(`${key} (flag ${FLAG_NAMES[key]}) must be true or false, got ${String(c[key])}`);
    }
  }
  if (typeof c.schedule !== 'string') throw new ConfigError(`--replay takes choices like 12:1,40:0, got ${String(c.schedule)}`);
  if (c.schedule !== '') {
    if (c.sched !== 'seeded') throw new ConfigError('--replay needs --sched seeded (a schedule picks the seeded scheduler\'s choices)');
    if (c.cpus > SCHED_MAX_CPUS) throw new ConfigError(`--replay needs at most ${SCHED_MAX_CPUS} CPUs, got --cpus ${c.cpus}`);
    try {
      parseSchedule(c.schedule, c.cpus, c.arch === 'arm64' ? 2 * c.cpus : c.cpus);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  intIn('fault-cpu', c.faultCpu, -1, c.cpus - 1);
  oneOf('fault-kind', c.faultKind, CPU_FAULTS);
  parseReclaimPages(c.reclaimPages, c.pages);
  if (c.reclaimPages.trim() !== '' && c.workload === 'pending-flush') {
    throw new ConfigError('--reclaim-pages applies to --workload reclaim and mprotect; pending-flush reclaims its own working set');
  }
  const sharedMb = sharedMemoryBytes(c) / (1 << 20);
  if (sharedMb > MAX_SHARED_MB) {
    throw new ConfigError(
      `--pages ${c.pages}${c.mms > 1 ? ` x --mms ${c.mms}` : ''} with --cpus ${c.cpus} needs ${Math.round(sharedMb)} MB of shared memory (each page has one word per CPU); keep --pages x --mms x --cpus under ${Math.floor((MAX_SHARED_MB * (1 << 20)) / 20)}`,
    );
  }
  if (c.workload === 'pending-flush' && c.pages <= PTRS_PER_PTE) {
    throw new ConfigError(`--pages must be more than ${PTRS_PER_PTE} for --workload pending-flush (its pages span two page tables of ${PTRS_PER_PTE}), got ${c.pages}`);
  }
  // CPU 0 is kswapd (munmap: the unmapping thread); the mprotect caller (CPU 1) of mprotect/pending-flush never goes lazy; tlb-flush has no reclaim to be lazy through.
  const lazyMax = c.workload === 'reclaim' || c.workload === 'migrate' || c.workload === 'munmap' ? c.cpus - 1 : c.workload === 'tlb-flush' || c.workload === 'toy' ? 0 : c.cpus - 2;
  intIn('lazy-cpus', c.lazyCpus, 0, Math.max(0, lazyMax), ` (thread CPUs in lazy TLB mode during reclaim, for --workload ${c.workload} on ${c.cpus} CPUs)`);
  if (c.workload === 'tlb-flush') {
    if (c.cpus > TLB_FLUSH_MAX_CPUS) {
      throw new ConfigError(`--cpus must be at most ${TLB_FLUSH_MAX_CPUS} for --workload tlb-flush (every CPU needs a port to every other), got ${c.cpus}`);
    }
    if (c.pages < c.cpus) throw new ConfigError(`--pages must be at least --cpus (${c.cpus}) for --workload tlb-flush (each CPU owns pages / CPUs pages), got ${c.pages}`);
    if (c.reclaimPages.trim() !== '') throw new ConfigError('--reclaim-pages does not apply to --workload tlb-flush (no kswapd runs)');
  }
  if (c.workload === 'migrate' && c.protocol === 'rik') {
    throw new ConfigError("--protocol rik does not apply to --workload migrate: use per-page (flush each page before its copy) or batched (one flush per batch)");
  }
  if (c.inject === 'stale-asid' && c.switchEvery === 0) {
    throw new ConfigError('--inject stale-asid needs context switches: add --switch-every N (and --mms 2 or more)');
  }
  if (c.inject === 'copy-before-flush' && c.workload !== 'migrate') {
    throw new ConfigError(`--inject copy-before-flush applies to --workload migrate, got --workload ${c.workload}`);
  }
  if (typeof c.range !== 'string') throw new ConfigError(`--range takes page counts like 16 or 1,8,64, got ${String(c.range)}`);
  if (c.workload === 'munmap') {
    if (c.pages < 2) throw new ConfigError(`--pages must be at least 2 for --workload munmap (ranges in the first half, the other threads in the second), got ${c.pages}`);
    parseRangeLengths(c.range, Math.floor(c.pages / 2));
    if (c.reclaimPages.trim() !== '') throw new ConfigError('--reclaim-pages does not apply to --workload munmap (no kswapd runs)');
  }
  if (c.workload === 'mprotect' && (c.syscall === 'mprotect-none' || c.syscall === 'mremap')) {
    throw new ConfigError(`--syscall ${c.syscall} applies to the mprotect-reclaim scenario (--workload mprotect takes mprotect, munmap or madvise)`);
  }
  if (c.workload === 'arm64-dsb-pending' && (c.syscall === 'mprotect-none' || c.syscall === 'mremap')) {
    throw new ConfigError(`--syscall ${c.syscall} applies to the mprotect-reclaim scenario (arm64-dsb-pending takes mprotect, munmap or madvise)`);
  }
  if (c.workload === 'mprotect-reclaim' && c.syscall === 'mremap' && c.pages < 2) {
    throw new ConfigError(`--pages must be at least 2 for --syscall mremap (page 0 moves to page 1), got ${c.pages}`);
  }
  const minCpus = c.workload === 'pending-flush' || c.workload === 'pending-flush-lost' || c.workload === 'mremap-ptl' ? 3 : 2;
  if (c.cpus < minCpus) {
    // Every built-in workload has CPU 0 reclaiming and CPU 1 running the process.
    const role =
      c.workload === 'reclaim'
        ? 'CPUs 1..N-1 run the process'
        : c.workload === 'mprotect'
          ? `CPU 1 calls ${c.syscall}`
          : c.workload === 'tlb-flush'
            ? 'every CPU writes and madvises its chunk'
            : c.workload === 'munmap'
              ? 'CPU 0 maps and unmaps, the others run'
              : c.workload === 'migrate'
                ? 'CPUs 1..N-1 run the process'
            : 'CPU 1 calls mprotect twice, CPUs 2..N-1 store';
    throw new ConfigError(`--cpus must be at least ${minCpus} for --workload ${c.workload} (CPU 0 reclaims, ${role}), got ${c.cpus}`);
  }
  return c;
}

/** CLI flag of every option (`--no-x` for booleans that default to true). */
export const FLAG_NAMES: { readonly [F in keyof SimConfig]: string } = {
  cpus: '--cpus',
  workload: '--workload',
  protocol: '--protocol',
  transport: '--transport',
  pages: '--pages',
  batch: '--batch',
  writeRatio: '--write-ratio',
  seed: '--seed',
  arch: '--arch',
  sched: '--sched',
  ops: '--ops',
  tlbSets: '--tlb-sets',
  tlbWays: '--tlb-ways',
  wpRecheck: '--no-wp-recheck',
  syscall: '--syscall',
  reclaimPages: '--reclaim-pages',
  range: '--range',
  batchedPendingFlush: '--no-batched-pending-flush',
  flushUnderPtl: '--no-flush-under-ptl',
  pageWalkCache: '--page-walk-cache',
  lazyFlushOnTableFree: '--no-lazy-flush-on-table-free',
  flushRangeFreedTables: '--no-flush-range-freed-tables',
  nestedFlush: '--no-nested-flush',
  mprotectFlush: '--mprotect-flush',
  migrateVmaFlushUnderPtl: '--no-migrate-vma-flush-under-ptl',
  lazyTlbSkip: '--no-lazy-tlb-skip',
  kernelVersion: '--kernel-version',
  pendingFlush: '--pending-flush',
  arm64Pending: '--arm64-pending',
  arm64TlbiRange: '--arm64-tlbi-range',
  inject: '--inject',
  runTokens: '--run-tokens',
  tlbSinglePageFlushCeiling: '--ceiling',
  tlbGen: '--no-tlb-gen',
  lazyCpus: '--lazy-cpus',
  mms: '--mms',
  switchEvery: '--switch-every',
  cpumaskTrimMs: '--cpumask-trim-ms',
  contextResetCutoff: '--context-reset-cutoff',
  roPages: '--ro-pages',
  irqOffAccesses: '--irq-off',
  ipiFanout: '--ipi-fanout',
  ipiGroup: '--ipi-group',
  quantum: '--quantum',
  tokenLending: '--no-token-lending',
  doorbellPollInterval: '--doorbell-poll',
  ipiTimeoutMs: '--ipi-timeout-ms',
  debug: '--no-debug',
  maxSeededSteps: '--max-seeded-steps',
  ipiStep: '--ipi-step',
  traceEvents: '--trace-events',
  faultCpu: '--fault-cpu',
  faultKind: '--fault-kind',
  schedule: '--replay',
};

/** Options always spelled out in a reproduce command, even at their defaults. */
const ALWAYS_SHOWN: readonly (keyof SimConfig)[] = ['cpus', 'workload', 'protocol', 'pages', 'batch', 'writeRatio', 'arch', 'sched', 'seed'];
/** Options that matter only to one workload: shown only when it runs. */
const WORKLOAD_ONLY: { readonly [F in keyof SimConfig]?: readonly WorkloadName[] } = { syscall: ['mprotect', 'mprotect-reclaim', 'arm64-dsb-pending'], range: ['munmap'] };

/** The range lengths `--range` names, each 1..`max`. @throws ConfigError naming the bad item. */
export function parseRangeLengths(spec: string, max: number): number[] {
  const out: number[] = [];
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    const n = /^\d+$/.test(item) ? Number(item) : NaN;
    if (!(n >= 1 && n <= max)) {
      throw new ConfigError(`--range takes page counts from 1 to ${max} (half of --pages), comma-separated like 16 or 1,8,64, got '${item}' in '${spec}'`);
    }
    out.push(n);
  }
  return out;
}

/**
 * The reclaim list `--reclaim-pages` names (every page, lowest first, when
 * empty). @throws ConfigError naming the bad item.
 */
export function parseReclaimPages(spec: string, pages: number): number[] {
  if (spec.trim() === '') return Array.from({ length: pages }, (_, p) => p);
  const out: number[] = [];
  const seen = new Set<number>();
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    const m = /^(\d+)(?:-(\d+))?$/.exec(item);
    if (!m) throw new ConfigError(`--reclaim-pages takes pages and ranges like 3,4-7 or 7-0, got '${item}' in '${spec}'`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (const p of [a, b]) {
      if (p >= pages) throw new ConfigError(`--reclaim-pages: page ${p} is outside the ${pages} pages of --pages (0 to ${pages - 1})`);
    }
    const step = b >= a ? 1 : -1;
    for (let p = a; ; p += step) {
      if (seen.has(p)) throw new ConfigError(`--reclaim-pages names page ${p} twice ('${spec}')`);
      seen.add(p);
      out.push(p);
      if (p === b) break;
    }
  }
  return out;
}

/**
 * Flags that recreate `c` exactly (the key options always, the rest when they
 * differ from the defaults of `c`'s workload). `base` lets a caller (stress
 * scenarios) supply other defaults.
 */
export function configToFlags(c: SimConfig, given: SimConfig = workloadDefaults(c.workload)): string[] {
  // Under a kernel profile, its switches are the base the flags depart from.
  const base: SimConfig = c.kernelVersion === '' ? given : { ...given, ...profileSwitches(c.kernelVersion as KernelVersion, c.arch) };
  const out: string[] = [];
  for (const key of Object.keys(FLAG_NAMES) as (keyof SimConfig)[]) {
    const v = c[key];
    const flag = FLAG_NAMES[key];
    const only = WORKLOAD_ONLY[key];
    if (only !== undefined && !only.includes(c.workload)) continue;
    // The alias `--protocol X` already says `--transport X`: old reproduce commands stay as they were.
    if (key === 'transport' && v === c.protocol) continue;
    if (typeof v === 'boolean') {
      // Every boolean has `--x` and `--no-x` (src/cli/commands/options.ts): name the form that gives v.
      if (v !== base[key]) out.push(flag.startsWith('--no-') === !v ? flag : flag.startsWith('--no-') ? `--${flag.slice(5)}` : `--no-${flag.slice(2)}`);
      continue;
    }
    // A kernel profile is always named: the switches it sets are left out below when they match it.
    if (key === 'kernelVersion') {
      if (v !== '') out.push(flag, String(v));
      continue;
    }
    if (!ALWAYS_SHOWN.includes(key) && v === base[key]) continue;
    if (key === 'runTokens' && v === DEFAULTS.runTokens) continue;
    if (key === 'traceEvents') continue; // recording a trace does not change a run: not part of a reproduce command
    out.push(flag, String(v));
  }
  return out;
}
