/**
 * The parameter table: every simulation parameter declared once, with its
 * config key, CLI flag, default (and why), range or choices,
 * one-line doc, the kernel's name for it, and whether a sweep may vary it.
 * Everything else is derived from PARAMS: the `SimConfig` type and
 * `DEFAULTS` (src/config/config.ts), the single-field checks of
 * `resolveConfig`, the config-file schema (src/config/configFile.ts), the
 * commander options of run/stress/explore/config/sweep
 * (src/cli/commands/options.ts, sweep.ts), the reproduce command
 * (`configToFlags`) and the generated flag table of docs/cli.md
 * (`npm run docs:cli`). Adding a parameter is one entry here plus the code
 * that reads it (in the spirit of gem5's `Param.Int(...)` declarations).
 *
 * Invariants:
 * - Entry order is the order of a result's `config`, of the reproduce
 *   command and of a sweep's CSV columns: append new entries, do not reorder.
 * - A boolean's `flag` is its positive form; both `--x` and `--no-x` exist on
 *   the command line, and FLAG_NAMES names the form that changes the default.
 * - `check` is the single-field rule (same range as `min`/`max`/`choices`); rules that
 *   relate two fields belong to their owner (a workload, protocol or race:
 *   its `validate`) or to resolveConfig's machine-wide checks.
 * - This module imports nothing from the engine, kernel or scenarios (they
 *   import it), so the table can be read by the CLI and the workers alike.
 */
import { availableParallelism } from 'node:os';
import { KERNEL_VERSIONS } from './kernelProfiles.js';
import { TRACE_EVENTS_DEFAULT } from '../output/trace.js';

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
 * A plug-in module written outside src/ (`--protocol ./mine.ts`, `--scenario
 * ./race.ts`, docs/extending.md): told from a built-in name by its extension,
 * so no built-in name can be shadowed. Configs, results and reproduce
 * commands record this path, so a plug-in run replays like any other.
 */
export type PluginPath = `${string}.ts` | `${string}.mts` | `${string}.js` | `${string}.mjs`;
export function isPluginPath(s: string): s is PluginPath {
  return /\.(m?ts|m?js)$/.test(s);
}

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
export const PENDING_FLUSH_MODES: readonly PendingFlushMode[] = ['gen', 'bool'];
/** What mprotect's TLB flush covers (SimConfig.mprotectFlush). */
export type MprotectFlushMode = 'changed' | 'range';
export const MPROTECT_FLUSH_MODES: readonly MprotectFlushMode[] = ['changed', 'range'];

/**
 * How an IPI round reaches its targets: `serial` unicast, one message per
 * target from the initiator (Linux's default), or a `tree` in the spirit of
 * Barrelfish's NUMA-aware multicast (Baumann et al., SOSP 2009): one message
 * per group of `--ipi-group` CPUs, to the first target of the group, which
 * forwards it to the group's other targets.
 */
export type IpiFanout = 'serial' | 'tree' | 'cluster';
export const IPI_FANOUTS: readonly IpiFanout[] = ['serial', 'tree', 'cluster'];

/** `free`: real parallel threads, the host picks the interleaving. `seeded`: one CPU steps at a time, chosen by a seeded PRNG. */
export type SchedMode = 'free' | 'seeded';
export const SCHED_MODES: readonly SchedMode[] = ['free', 'seeded'];

/** A known protocol bug planted on purpose so tests can prove the oracle catches it. */
export type InjectedBug = 'none' | 'free-before-flush' | 'skip-dirty-flush' | 'no-pending-flush' | 'copy-before-flush' | 'stale-asid' | 'luf-writable' | 'no-tlbsync' | 'context-reuse';
export const INJECTED_BUGS: readonly InjectedBug[] = ['none', 'free-before-flush', 'skip-dirty-flush', 'no-pending-flush', 'copy-before-flush', 'stale-asid', 'luf-writable', 'no-tlbsync', 'context-reuse'];

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

/** SWAP_CLUSTER_MAX in the kernel: reclaim isolates and unmaps pages 32 at a time. */
export const SWAP_CLUSTER_MAX = 32;

/**
 * tlb_single_page_flush_ceiling's default: a range flush of more pages than
 * this becomes a full flush. Above it, invlpg for every page costs more than a
 * CR3 write plus the refills it causes (Dave Hansen's 2014 measurements,
 * flush_tlb_mm_range 1 page 1276 cycles, 32 pages 9350, full 2283).
 */
export const TLB_SINGLE_PAGE_FLUSH_CEILING = 33;

/**
 * The PowerPC cutoff of seed 004 ("using 20 pages as the cutoff point mmap()
 * latency dropped to 41 us"): a flush of more pages resets the mm's context.
 */
export const CONTEXT_RESET_CUTOFF = 20;

/**
 * Default CPUs per multicast group: 8, the cores of one L3 domain (an AMD
 * CCX, a Barrelfish "package" of the 8x4 Opteron it measured had 4; the
 * group is what shares a cache and so forwards cheaply). An assumption.
 */
export const IPI_GROUP_DEFAULT = 8;

/** Thrown for bad input. The message is one line: the option, what was given, what it accepts. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Largest machine for `--workload tlb-flush`: every CPU initiates flushes, so
 * each needs a MessagePort to every other (N^2 ports). Measured here at 256:
 * 65,280 channels made in 0.6 s (388 MB), boot 4.3 s, a 20-loop run 83 s at
 * 2.7 GB peak; 512 would be 261,632 channels.
 */
export const TLB_FLUSH_MAX_CPUS = 256;

/** What a parameter's value is: the kinds the CLI, the config file and a sweep know how to parse. */
type ParamKind = 'int' | 'number' | 'choice' | 'boolean' | 'string';

/** One row of the parameter table. */
interface Param<T extends string | number | boolean> {
  readonly kind: ParamKind;
  /** CLI flag; for a boolean its positive form (`--x`; `--no-x` exists too). */
  readonly flag: `--${string}`;
  /** Placeholder of the flag's value in help (`<n>`); none for booleans. */
  readonly arg: string;
  readonly default: T;
  /** Numbers: the range (the config-file schema, src/config/configFile.ts, is built from it and `choices`). */
  readonly min?: number;
  readonly max?: number;
  /** Choices, for commander and the docs (choice parameters). */
  readonly choices?: readonly string[];
  /** A choice that also takes a plug-in module's path (docs/extending.md). */
  readonly plugin?: boolean;
  /** One line: the help text of the flag (of `--x` for a boolean). */
  readonly doc: string;
  /** Booleans: the help text of the other form (`--no-x`). */
  readonly docOff?: string;
  /** The kernel's name for it (sysctl, constant, field), where one exists. */
  readonly kernel?: string;
  /** The longer story for docs/cli.md: what each value does, the commits behind it. */
  readonly details?: string;
  /** A sweep may vary it (a grid axis and a CSV column). */
  readonly sweep: boolean;
  /** `stress` takes the scenario's value unless given: its help says so. */
  readonly perScenario: boolean;
  /** Test hooks stay out of `--help` and the docs table. */
  readonly hidden: boolean;
  /** Reproduce command: `always` spelled out, `never` (recording only), or only when it differs from the base. */
  readonly reproduce: 'always' | 'never' | 'changed';
  /** Matters only to these workloads: left out of a reproduce command of any other. */
  readonly onlyFor?: readonly WorkloadName[];
  /** The default as the docs table shows it, when the value depends on the host. */
  readonly defaultDoc?: string;
  /** The single-field rule: the one-line error for a bad value, or null. */
  check(v: unknown): string | null;
}

/** What every builder takes besides the value's shape. */
interface Meta {
  doc: string;
  kernel?: string;
  details?: string;
  /** Default true. */
  sweep?: boolean;
  perScenario?: boolean;
  hidden?: boolean;
  reproduce?: 'always' | 'never' | 'changed';
  onlyFor?: readonly WorkloadName[];
  arg?: string;
  /** The default as the docs table shows it, when the value depends on the host. */
  defaultDoc?: string;
}

function meta(m: Meta): Omit<Param<never>, 'kind' | 'flag' | 'arg' | 'default' | 'min' | 'max' | 'check' | 'choices' | 'docOff'> {
  return { doc: m.doc, kernel: m.kernel, details: m.details, sweep: m.sweep ?? true, perScenario: m.perScenario ?? false, hidden: m.hidden ?? false, reproduce: m.reproduce ?? 'changed', onlyFor: m.onlyFor, defaultDoc: m.defaultDoc };
}

/** An integer in [min, max]; `hint` ends the range message; `extra` is a further rule on the value alone. */
function int(flag: `--${string}`, dflt: number, min: number, max: number, m: Meta & { hint?: string; extra?: (v: number) => string | null }): Param<number> {
  return {
    ...meta(m),
    kind: 'int',
    flag,
    arg: m.arg ?? '<n>',
    default: dflt,
    min,
    max,
    check: (v) =>
      typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max
        ? `${flag} must be an integer from ${min} to ${max}${m.hint ?? ''}, got ${String(v)}`
        : (m.extra?.(v) ?? null),
  };
}

function choice<T extends string>(flag: `--${string}`, values: readonly T[], dflt: T, m: Meta): Param<T> {
  return {
    ...meta(m),
    kind: 'choice',
    flag,
    arg: m.arg ?? '<name>',
    default: dflt,
    choices: values,
    check: (v) => ((values as readonly unknown[]).includes(v) ? null : `${flag} must be one of ${values.join(', ')}, got '${String(v)}'`),
  };
}

/** A built-in name or a plug-in module's path (checked when the machine boots, src/plugin/load.ts). */
function choiceOrPlugin<T extends string>(flag: `--${string}`, values: readonly T[], dflt: T, m: Meta): Param<T | PluginPath> {
  const c = choice(flag, values, dflt, m);
  return {
    ...c,
    plugin: true,
    check: (v) => (typeof v === 'string' && isPluginPath(v) ? null : c.check(v) === null ? null : `${c.check(v)!.replace(/, got/, ', or a plug-in path ending in .ts or .js (docs/extending.md), got')}`),
  };
}

function bool(flag: `--${string}`, dflt: boolean, docOff: string, m: Meta): Param<boolean> {
  const named = dflt ? `--no-${flag.slice(2)}` : flag;
  return {
    ...meta(m),
    kind: 'boolean',
    flag,
    arg: '',
    default: dflt,
    docOff,
    check: (v) => (typeof v === 'boolean' ? null : `${keyOfFlag(flag)} (flag ${named}) must be true or false, got ${String(v)}`),
  };
}

/** Free text parsed by its reader (lists, schedules); `wrongType` is the message for a non-string. */
function text(flag: `--${string}`, dflt: string, wrongType: string, m: Meta): Param<string> {
  return {
    ...meta(m),
    kind: 'string',
    flag,
    arg: m.arg ?? '<list>',
    default: dflt,
    check: (v) => (typeof v === 'string' ? null : `${flag} ${wrongType}, got ${String(v)}`),
  };
}

/** camelCase of a flag (`--wp-recheck` -> `wpRecheck`): the config key of a boolean, whose flag is its name. */
function keyOfFlag(flag: string): string {
  return flag.slice(2).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

const sceneD = { perScenario: true } as const;

/**
 * The table. Each default's reason is next to it; change a default only
 * with a measurement or a kernel citation.
 */
export const PARAMS = {
  // 8 CPUs: enough remote targets that batching is visible, small enough to start in ~0.2 s.
  cpus: int('--cpus', 8, 1, MAX_CPUS, { ...sceneD, doc: 'simulated CPUs (one worker thread each)',
    details: "simulated CPUs, one worker thread each (1-1024; the reclaim workload needs 2)", reproduce: 'always', kernel: 'nr_cpu_ids' }),
  workload: choiceOrPlugin('--workload', WORKLOADS, 'reclaim', { ...sceneD, doc: "workload, or a scenario plug-in's path",
    details: "what the CPUs run (below); the race catalogue's scenarios add `reclaim-dirty`, `mprotect-reclaim`, `nested-zap`, `mremap-ptl`, `pending-flush-lost`, `migrate-vma-ptl`, `arm64-dsb-pending`, `collapse-pmd-flush`; `toy` (every CPU stores `--ops` times to its own page, nothing else) is the explorer's hand-countable scenario", reproduce: 'always' }),
  // Mel Gorman's batching is what Linux has shipped since 4.3.
  protocol: choiceOrPlugin('--protocol', PROTOCOLS, 'batched', {
    ...sceneD,
    doc: "reclaim protocol (invlpgb, rar, context-reset are aliases of batched --transport X), or a plug-in's path (./mine.ts, docs/extending.md)",
    details: "how reclaim unmaps and when it flushes (`per-page`, `batched`, `rik`, `luf`); `invlpgb`, `rar` and `context-reset` are aliases of `--protocol batched --transport X`, and stay the label results report (see \"Beyond IPIs\" in docs/design.md)",
    reproduce: 'always',
  }),
  // IPIs: what Linux does without INVLPGB (and every x86 release before 6.15).
  transport: choice('--transport', TRANSPORTS, 'ipi', { ...sceneD, doc: 'how flushes reach other x86 CPUs (--arch arm64: broadcast TLBI)',
    details: "how a flush reaches the other x86 CPUs (`src/kernel/transports/`), chosen once per CPU at boot as Linux picks `flush_tlb_multi`: IPI rounds (`--ipi-fanout`), AMD INVLPGB + TLBSYNC, Intel RAR, or IPIs that reset the mm's context above `--context-reset-cutoff` pages; applies to `--protocol batched` (which then reports the transport's name as its protocol); `--arch arm64` always broadcasts TLBIs", kernel: 'pv_ops.mmu.flush_tlb_multi' }),
  // 256 pages fill a 64x4 TLB exactly, so every thread caches every page after warm-up.
  pages: int('--pages', 256, 1, MAX_PAGES, { ...sceneD, doc: 'shared pages of the process',
    details: "shared pages of the process (`pending-flush` needs more than 512: two page tables)", reproduce: 'always' }),
  batch: int('--batch', SWAP_CLUSTER_MAX, 1, 1 << 20, {
    ...sceneD,
    doc: 'pages per tryToUnmapFlush (SWAP_CLUSTER_MAX = 32)',
    details: "pages per `tryToUnmapFlush` (the kernel's SWAP_CLUSTER_MAX)",
    kernel: 'SWAP_CLUSTER_MAX',
    hint: ' (pages per tryToUnmapFlush)',
    reproduce: 'always',
  }),
  // A quarter stores: enough clean-to-dirty transitions to open the unmap race on `weak`.
  writeRatio: {
    ...meta({ ...sceneD, doc: 'fraction of accesses that are stores, 0..1',
    details: "fraction of thread accesses that are stores", reproduce: 'always' }),
    kind: 'number',
    flag: '--write-ratio',
    arg: '<x>',
    default: 0.25,
    min: 0,
    max: 1,
    check: (v: unknown) => (typeof v === 'number' && v >= 0 && v <= 1 ? null : `--write-ratio must be a number from 0 to 1, got ${String(v)}`),
  } satisfies Param<number>,
  seed: int('--seed', 1, 0, 0xffff_ffff, { doc: 'seed of every PRNG (workloads, seeded scheduler)',
    details: "seed of every PRNG (workload choices, seeded scheduler)", reproduce: 'always' }),
  // x86 traps a write through a clean entry whose PTE is gone: the architecture batching relies on.
  arch: choice('--arch', ARCHES, 'x86', { ...sceneD, doc: 'hardware: clean-to-dirty semantics (x86, weak); arm64 adds broadcast TLBI + per-CPU DSB',
    details: "what a store through a writable-but-clean entry does; `arm64` (x86's clean-to-dirty rule, hardware DBM) also invalidates TLBs with broadcast TLBIs and a per-CPU DSB instead of IPIs (see below; `--protocol batched|per-page|rik`)", reproduce: 'always' }),
  sched: choice('--sched', SCHED_MODES, 'free', { doc: 'free (host interleaves) or seeded (replayable)',
    details: "host interleaving, or one CPU step at a time chosen by a seeded PRNG (replayable)", reproduce: 'always', arg: '<mode>' }),
  // 20k accesses per thread CPU keep threads busy across the whole reclaim pass on a 2-core host.
  ops: int('--ops', 20_000, 0, 1e12, {
    ...sceneD,
    doc: 'accesses per thread CPU, at least; tlb-flush: write+madvise loops per CPU; munmap: munmaps (default 20000; tlb-flush 500, munmap 1000)',
    details: "accesses per thread CPU at least (threads also run until reclaim is done); for `tlb-flush` the write+madvise loops of every CPU (each an IPI round to the N-1 others), for `munmap` the munmaps of CPU 0 (each a round): the smaller defaults keep a default run to seconds",
  }),
  // 64 sets x 4 ways = 256 entries, the size of a typical x86 L1 dTLB (64 entries) scaled to hold the default working set.
  tlbSets: int('--tlb-sets', 64, 1, 1 << 16, {
    ...sceneD,
    doc: 'TLB sets per CPU (power of two)',
    details: "per-CPU TLB geometry",
    extra: (v) => (v > 0 && (v & (v - 1)) === 0 ? null : `--tlb-sets must be a power of two, got ${v}`),
  }),
  tlbWays: int('--tlb-ways', 4, 1, 64, { ...sceneD, doc: 'TLB ways per set' }),
  wpRecheck: bool('--wp-recheck', true, "rik step 4 trusts step 1's clean/dirty state (shows the race the re-check guards)", { doc: 'rik step 4 re-checks the PTE (the default)',
    details: "`rik` step 4 trusts the clean/dirty state seen at step 1 (shows the race the re-check guards)" }),
  // mprotect(PROT_READ): the call of the 2017 bug report.
  syscall: choice('--syscall', SYSCALLS, 'mprotect', {
    ...sceneD,
    doc: 'mprotect workload and mprotect-reclaim scenario: the call CPU 1 makes (mprotect-none and mremap: the scenario only)',
    details: "`mprotect` workload and `mprotect-reclaim` scenario: the call CPU 1 makes (`mprotect` is `mprotect(PROT_READ)`). `mprotect-none` (`mprotect(PROT_NONE)`, then loads) and `mremap` (page 0 to page 1, then loads from page 0; needs `--pages` >= 2, the scenario's default then) are `mprotect-reclaim`'s only: `--workload mprotect` refuses them",
    onlyFor: ['mprotect', 'mprotect-reclaim', 'arm64-dsb-pending'],
  }),
  // Every page, in address order: the simplest LRU list.
  reclaimPages: text('--reclaim-pages', '', 'takes pages and ranges like 3,4-7', { ...sceneD, doc: "pages kswapd reclaims, in LRU order: '3', '4-7,0-3', '7-0' (default: all, lowest first)",
    details: "`reclaim`/`mprotect` workloads: the pages kswapd reclaims, in LRU order (`3`, `4-7,0-3`, `7-0`)" }),
  // 16 pages: a typical small munmap, under the 33-page ceiling (flushed page by page).
  range: text('--range', '16', 'takes page counts like 16 or 1,8,64', {
    ...sceneD,
    doc: 'munmap workload: pages per mapped-and-unmapped range, e.g. 16 or 1,8,64 (cycled)',
    details: "`munmap` workload: pages per mapped, touched and unmapped range; several lengths are cycled (mixed mode)",
    arg: '<lengths>',
    onlyFor: ['munmap'],
  }),
  batchedPendingFlush: bool(
    '--batched-pending-flush',
    true,
    'mprotect/munmap/madvise/mremap skip flushTlbBatchedPending (before 3ea277194daa, 4.13; with --mprotect-flush range: the 4.12 kernel)',
    { doc: 'mprotect/munmap/madvise/mremap call flushTlbBatchedPending (since 3ea277194daa, 4.13; the default unless a --kernel-version before 4.13 turns it off)',
    details: "mprotect/munmap/madvise/mremap skip `flushTlbBatchedPending` (3ea277194daa, 4.13); alone, today's kernel without it. The 4.12 kernel is this plus `--mprotect-flush range` (`--kernel-version 4.12`)", kernel: 'flush_tlb_batched_pending' },
  ),
  // What Linux does since the 2018 mremap fix (eb66ae030829).
  flushUnderPtl: bool('--flush-under-ptl', true, 'mremap flushes the TLB after dropping the PTE lock (before eb66ae030829, 4.19)', {
    doc: 'mremap flushes the TLB before dropping the PTE lock (since eb66ae030829, 4.19; the default unless a --kernel-version turns it off)',
    details: "`mremap` flushes the TLB after dropping the PTE lock (the kernel before eb66ae030829, 4.19)",
    kernel: 'move_ptes',
  }),
  pageWalkCache: bool('--page-walk-cache', false, 'no page-walk cache (the default outside the lazy-pgtable-free and collapse-pmd-flush scenarios)', {
    doc: 'a per-CPU page-walk cache: munmap frees whole page tables and a walk through a freed one is a race (lazy-pgtable-free)',
    details: "x86: each CPU caches its last walk's page-table page (paging-structure cache); a lazy CPU's speculative walk through it after the table was freed is a stale access (`lazy-pgtable-free`)",
    sweep: false,
  }),
  // What x86 does since 2018 (freed_tables in flush_tlb_info).
  lazyFlushOnTableFree: bool('--lazy-flush-on-table-free', true, 'a flush that frees page tables skips lazy-TLB CPUs like any other (before 2ff6ddf19c0e)', {
    doc: 'a flush that frees page tables reaches lazy-TLB CPUs (every release; the default)',
    details: "a flush that frees page tables skips lazy-TLB CPUs like any other flush: an ablation, no release did that (4.19 and before sent every flush to lazy CPUs; since 4.20, 016c4d92cd16, `freed_tables` flushes reach them)",
    kernel: 'flush_tlb_info.freed_tables',
    sweep: false,
  }),
  // What x86 does since the CVE-2025-22045 fix (3ef938c35035): flush_tlb_range() passes freed_tables.
  flushRangeFreedTables: bool(
    '--flush-range-freed-tables',
    true,
    'x86 flush_tlb_range() passes freed_tables=false, so mremap/migrate_vma/collapse flushes skip lazy-TLB CPUs (before 3ef938c35035, CVE-2025-22045)',
    { doc: 'x86 flush_tlb_range() passes freed_tables=true (since 3ef938c35035, 6.15; the default unless a --kernel-version turns it off)',
    details: "x86 `flush_tlb_range()` passes `freed_tables = false` (config key `flushRangeFreedTables: false`), as from 016c4d92cd16 until Jann Horn's CVE-2025-22045 fix 3ef938c35035: the flushes of mremap's `move_ptes`, `migrate_vma` and `MADV_COLLAPSE`/khugepaged's `pmdp_collapse_flush` skip lazy-TLB CPUs (`collapse-pmd-flush`)", kernel: 'flush_tlb_range', sweep: false },
  ),
  // What mm/mmu_gather.c does since 4.13 (99baac21e458).
  nestedFlush: bool(
    '--nested-flush',
    true,
    'tlb_finish_mmu ignores mm_tlb_flush_nested: a zap that found PTEs already cleared by a concurrent zap flushes nothing (before 99baac21e458, 4.13)',
    { doc: 'tlb_finish_mmu forces a flush when mm_tlb_flush_nested (since 99baac21e458, 4.13; the default unless a --kernel-version turns it off)',
    details: "`tlb_finish_mmu` ignores `mm_tlb_flush_nested`: a zap that finds the PTEs already cleared by a concurrent zap flushes nothing (before 99baac21e458, 4.13; catalogue `nested-zap`)", kernel: 'mm_tlb_flush_nested' },
  ),
  // What mprotect does since 5.19 (4a18419f71cd: an mmu_gather over the changed PTEs).
  mprotectFlush: choice('--mprotect-flush', MPROTECT_FLUSH_MODES, 'changed', {
    doc: "what mprotect flushes: the span of the PTEs it changed (changed, since 5.19) or the call's whole range whenever it changed one (range, before)",
    details: "what mprotect flushes: the span of the PTEs it write-protected (an mmu_gather, since 4a18419f71cd, 5.19), or the call's whole range whenever it changed any present PTE (`change_protection_range` before 5.19)",
    kernel: 'change_protection',
    arg: '<mode>',
  }),
  // What migrate_vma does since 6.0 (60bae7370896).
  migrateVmaFlushUnderPtl: bool('--migrate-vma-flush-under-ptl', true, 'migrate_vma flushes the TLB after dropping the PTE lock (before 60bae7370896, 6.0)', {
    doc: 'migrate_vma flushes the TLB before dropping the PTE lock (since 60bae7370896, 6.0; the default unless a --kernel-version turns it off)',
    details: "`migrate_vma` flushes the TLB after dropping the PTE lock (the kernel before 60bae7370896, 6.0)",
    kernel: 'migrate_vma_collect_pmd',
  }),
  // What x86 does since 4.20 (145f573b89a6): lazy CPUs catch up at the switch back.
  lazyTlbSkip: bool('--lazy-tlb-skip', true, 'every flush IPIs lazy-TLB CPUs too, as up to 4.19 (before 145f573b89a6)', {
    doc: 'flushes skip lazy-TLB CPUs unless they free page tables (since 145f573b89a6, 4.20; the default unless a --kernel-version turns it off)',
    details: "every flush IPIs lazy-TLB CPUs too, as `native_flush_tlb_others` did up to 4.19 (before 145f573b89a6)",
    kernel: 'cpu_tlbstate_shared.is_lazy',
  }),
  // No profile: today's kernel, switch by switch (the defaults above).
  kernelVersion: {
    ...choice('--kernel-version', ['', ...KERNEL_VERSIONS], '', {
      doc: "the engine's switches as this Linux release had them (docs/kernels.md); flags given override them",
    details: "the engine's switches as Linux V had them (4.2, 4.3, 4.12, 4.13, 4.14, 4.19, 4.20, 5.10, 5.15, 5.19, 6.1, 6.5, 6.6, 6.15, 6.16; each cited in [docs/kernels.md](kernels.md)); flags given override them (every boolean `--no-x` below also has its positive form `--x`, e.g. `--kernel-version 4.12 --batched-pending-flush`), the result's `config.kernelVersion` and the reproduce command keep it. `--protocol invlpgb` needs 6.15 or later (4afeb0ed1753) and `--protocol rar` (never merged) is refused under every profile: one-line error, exit 2",
      arg: '<v>',
    }),
    // Commander and the docs offer the releases; '' (no profile) is only the default.
    choices: KERNEL_VERSIONS,
    check: (v: unknown) =>
      typeof v !== 'string'
        ? `--kernel-version takes a release like 4.13, got ${String(v)}`
        : v === '' || (KERNEL_VERSIONS as readonly string[]).includes(v)
          ? null
          : `--kernel-version must be one of ${KERNEL_VERSIONS.join(', ')}, got '${v}'`,
  } satisfies Param<string>,
  // What mm/rmap.c does today; `bool` is kept to show the race it fixed.
  pendingFlush: choice('--pending-flush', PENDING_FLUSH_MODES, 'gen', {
    doc: 'mm->tlb_flush_batched as the generation pair (gen, today) or the 4.13 boolean (bool)',
    details: "`mm->tlb_flush_batched` as today's pending/flushed generation pair, or the 4.13 boolean that loses a flush made pending during another CPU's `flushTlbBatchedPending`",
    kernel: 'mm->tlb_flush_batched',
    arg: '<mode>',
  }),
  // What arm64 does since 4b634918384c; `dsb` is kept to show the race it fixed.
  arm64Pending: choice('--arm64-pending', ARM64_PENDING_MODES, 'flush-mm', {
    doc: '--arch arm64: arch_flush_tlb_batched_pending as flush_tlb_mm (flush-mm, today) or a lone DSB on the calling CPU (dsb, before 4b634918384c)',
    details: "`--arch arm64`: `arch_flush_tlb_batched_pending` as `flush_tlb_mm` (today) or a lone DSB on the calling CPU, which does not wait for reclaim's TLBIs (before 4b634918384c)",
    kernel: 'arch_flush_tlb_batched_pending',
    arg: '<mode>',
  }),
  // Off: FEAT_TLBIRANGE is optional (Armv8.4); without it every arm64 CPU flushes page by page, so off is what any arm64 machine does.
  arm64TlbiRange: choice('--arm64-tlbi-range', ARM64_TLBI_RANGE_MODES, 'off', {
    doc: '--arch arm64: FEAT_TLBIRANGE: range TLBIs in __flush_tlb_range_op (on) or one TLBI per page below MAX_DVM_OPS (off, default)',
    details: "`--arch arm64`: FEAT_TLBIRANGE. `__flush_tlb_range` flushes a range page by page (one TLBI VALE1IS each) below `MAX_DVM_OPS` (512) pages and by ASID (`flush_tlb_mm`) from 512 on; with `on`, `__flush_tlb_range_op` range TLBIs: for n < 2048 pages, [n >= 64] + [n mod 64 >= 2] + [n odd] TLBIs (`tlbi_broadcast`; 34 pages: 1, 511: 3). x86's `--ceiling` (33) does not apply to arm64. Off by default: the feature is optional (Armv8.4)",
    kernel: 'system_supports_tlb_range',
    arg: '<mode>',
  }),
  // MAX_DVM_OPS = PTRS_PER_PTE (arch/arm64/include/asm/tlbflush.h), 512 with 4 KB pages: __flush_tlb_range_nosync
  // flushes a range of this many pages or more by ASID, "meant to avoid soft lock-ups on large TLB flushing ranges".
  arm64MaxDvmOps: int('--arm64-max-dvm-ops', 512, 1, MAX_PAGES, {
    ...sceneD,
    doc: '--arch arm64 without FEAT_TLBIRANGE: a range flush of this many pages or more is one TLBI by ASID (flush_tlb_mm), a shorter one a TLBI per page',
    kernel: 'MAX_DVM_OPS',
  }),
  inject: choice('--inject', INJECTED_BUGS, 'none', { doc: 'plant a known protocol bug to check the oracle',
    details: "plant a known protocol bug to check the oracle (turns the engine's own invariant assertion off unless `--debug` is given explicitly); `luf-writable`: `--protocol luf` defers pages that had a writable mapping too; `no-tlbsync`: `invlpgb`/`rar` return without waiting for the targets to apply the invalidation; `context-reuse`: `context-reset` moves an mm to a context id that comes round again (every 8 resets on a CPU) without flushing the entries still tagged with it, as an ASID rollover without arm64's flush_context or x86 choose_new_asid's need_flush would", arg: '<bug>' }),
  // One running CPU per host core: more makes every synchronous IPI wait for OS time slices (docs/design.md, "Host scheduling").
  // The default depends on the host, so a reproduce command leaves it out at this value (configToFlags).
  runTokens: int('--run-tokens', Math.max(1, availableParallelism()), 1, MAX_CPUS, { doc: 'CPUs running accesses at once (default: host cores)',
    details: "simulated CPUs that run accesses at once", defaultDoc: 'host cores' }),
  // The kernel's default (arch/x86/mm/tlb.c): ~100 ns per invlpg caps a partial flush at ~3 us,
  // about what a full flush plus its refills costs.
  tlbSinglePageFlushCeiling: int('--ceiling', TLB_SINGLE_PAGE_FLUSH_CEILING, 0, MAX_PAGES, {
    ...sceneD,
    doc: 'tlb_single_page_flush_ceiling: a range flush of more pages is a full flush',
    details: "`tlb_single_page_flush_ceiling`: a range flush (mprotect/munmap/madvise span) of more pages is one full flush; the initiator counts the span's pages in `nr_tlb_local_flush_one`, or 1 in `nr_tlb_local_flush_all`",
    kernel: 'tlb_single_page_flush_ceiling',
    hint: ' (tlb_single_page_flush_ceiling, pages)',
  }),
  // What x86 has done since Linux 4.14 (Andy Lutomirski's PCID work).
  tlbGen: bool('--tlb-gen', true, 'flush_tlb_func ignores tlb_gen: every flush does exactly what it asks (before Linux 4.14)', {
    doc: 'flush_tlb_func compares tlb_gen (since b0579ade7cd8, 4.14; the default unless a --kernel-version turns it off)',
    details: "`flush_tlb_func` ignores `tlb_gen` and does exactly what each flush asks (the kernel before 4.14); by default a covered flush is elided (`tlb_flushes_elided`) and a range flush reaching a CPU more than one generation behind is a full flush (`tlb_partial_to_full`)",
    kernel: 'mm->context.tlb_gen',
  }),
  // Every thread runs the process: the simplest machine, and today's exact counts.
  lazyCpus: int('--lazy-cpus', 0, 0, MAX_CPUS - 1, { ...sceneD, doc: 'thread CPUs (the last K) in lazy TLB mode while reclaim runs',
    details: "the last K thread CPUs run a kernel thread in lazy TLB mode (`cpu_tlbstate_shared.is_lazy`) from before reclaim starts until it ends (`munmap`: from before CPU 0's first munmap until its last). Which flushes reach them is what the kernel caller passes as `freed_tables` (x86, Linux 6.x): `flush_tlb_mm()` (the pending flush of mprotect/munmap/madvise/mremap) and `flush_tlb_range()` (mremap's `move_ptes`, `migrate_vma`, `MADV_COLLAPSE`) reach them; `flush_tlb_page()` (per-page reclaim and migration), `arch_tlbbatch_flush` (batched reclaim and migration) and mmu_gather's `tlb_flush()` (mprotect, madvise, munmap) skip them, unless munmap freed a whole 512-page page table. So a reclaim of R rounds on N CPUs sends R x (N-1-K) IPIs. A lazy CPU that a flush reaches switches to `init_mm` (`lazy_tlb_flushes`) and stays in `mm_cpumask` until the next flush that reaches it clears its bit (`tlb_remote_wrong_cpu`); on switching back, a CPU behind the mm's `tlb_gen` does one full flush (`lazy_tlb_switch_back_flushes` when it was still lazy, `asid_flushes` when it comes back from `init_mm`)" }),
  // One process: every thread CPU is in its mm_cpumask, the engine issue's exact counts.
  mms: int('--mms', 1, 1, MAX_MMS, {
    ...sceneD,
    doc: 'processes (mm_structs) sharing the thread CPUs; thread CPU i starts in process (i-1) mod M',
    details: "`reclaim` workload: M processes (`mm_struct`s) share the thread CPUs, thread CPU i starting in process (i-1) mod M; kswapd reclaims every process's pages. Each CPU has the kernel's 6 dynamic ASIDs (`TLB_NR_DYN_ASIDS`, `choose_new_asid`): entries of a switched-out process stay cached under its ASID, and flushes reach only the CPUs of the process's `mm_cpumask` that run it (`should_flush_tlb`). With M = 3 on 7 CPUs a batched reclaim sends ceil(P/B) x 6 IPIs in M x ceil(P/B) rounds",
    hint: ' (processes sharing the thread CPUs)',
  }),
  // No context switches: a thread CPU runs one process for the whole run.
  switchEvery: int('--switch-every', 0, 0, 1e12, {
    ...sceneD,
    doc: 'context-switch a thread CPU to the next process every N accesses (0: never); when switching, each thread makes exactly --ops accesses',
    details: "context-switch each thread CPU to the next process every N accesses (`switch_mm_irqs_off`); each thread then makes exactly `--ops` accesses, so 1 + floor((ops-1)/N) switches (`context_switches`, the first load included). A process whose ASID the CPU still holds reuses it (`asid_reuses`), flushed only if its generation fell behind `tlb_gen`; otherwise the next ASID round-robin, flushed (`asid_flushes` counts both kinds of flush)",
    hint: ' (accesses between context switches; 0: never)',
  }),
  // The kernel's HZ: should_trim_cpumask trims at most once a second (Rik van Riel, 6.14).
  cpumaskTrimMs: int('--cpumask-trim-ms', 1000, 0, 3_600_000, {
    ...sceneD,
    doc: 'should_trim_cpumask: at most once per N ms (seeded: steps) a flush also reaches mm_cpumask CPUs that switched away; 0: every flush',
    details: "`should_trim_cpumask`: at most once per N ms per mm (the kernel's once per `HZ`; seeded mode counts scheduler steps), a flush also reaches the `mm_cpumask` CPUs that switched away, and they leave the mask (`tlb_remote_wrong_cpu`, `TLB_REMOTE_WRONG_CPU`); 0 trims on every flush",
    kernel: 'should_trim_cpumask',
    hint: ' (should_trim_cpumask interval; 0: every flush)',
  }),
  // Seed 004 (PowerPC 603/604 Linux): 20 pages was the cutoff that took mmap() latency from 3.2 ms to 41 us.
  contextResetCutoff: int('--context-reset-cutoff', CONTEXT_RESET_CUTOFF, 0, MAX_PAGES, {
    ...sceneD,
    doc: '--protocol context-reset: a flush of more pages gives the mm a new context instead (PowerPC, seed 004: 20)',
    details: "`--protocol context-reset`: a flush of more pages gives the mm a new context (ASID/VSID) instead of flushing page by page (seed 004's PowerPC cutoff)",
    hint: ' (pages; a longer flush resets the context)',
  }),
  // Every page writable: the workloads of the engine issue. LUF defers only read-only-mapped pages.
  roPages: int('--ro-pages', 0, 0, MAX_PAGES, {
    ...sceneD,
    doc: 'the first N pages of every process are mapped read-only (threads only load them; what --protocol luf defers)',
    details: "the first N pages of every process are a read-only mapping (threads only load them): what `--protocol luf` defers",
    hint: ' (read-only-mapped pages of every process)',
  }),
  // Interrupts always enabled between accesses: the engine issue's exact latencies.
  irqOffAccesses: int('--irq-off', 0, 0, 1 << 20, {
    ...sceneD,
    doc: 'thread CPUs run N accesses of every 2N with interrupts disabled: flush IPIs wait, INVLPGB/RAR do not (0: never)',
    details: "thread CPUs run N accesses of every 2N with interrupts disabled: a flush IPI waits until they are enabled again (`irq_off_ipi_delays`), INVLPGB and RAR are applied by hardware meanwhile (`hw_applied_irqs_off`); blocking waits always take interrupts",
    hint: ' (accesses per interrupts-disabled window of the thread CPUs; 0: none)',
  }),
  // Linux sends one IPI per target (smp_call_function_many); the tree is the alternative to compare.
  ipiFanout: choice('--ipi-fanout', IPI_FANOUTS, 'serial', {
    ...sceneD,
    doc: 'IPI rounds: serial unicast (xAPIC / x2APIC physical mode: one ICR write per target), cluster (x2APIC cluster mode: one ICR write per 16-CPU cluster), or a multicast tree (Barrelfish): one message per group, forwarded by its first target',
    details: "how an IPI round reaches its targets: `serial` is xAPIC or x2APIC physical mode, what the default counts: one ICR write (`apic_icr_writes`) and one message per target from the initiator; `cluster` is x2APIC cluster mode (`__x2apic_send_IPI_mask`, arch/x86/kernel/apic/x2apic_cluster.c): one ICR write per cluster of 16 logical CPUs that holds a target, every target still taking its own interrupt (`ipis_sent` unchanged), priced by the cost model as sends to the clusters; or a multicast tree in the spirit of Barrelfish's NUMA-aware multicast: one message per group to the group's first target, which forwards it to the rest of its group (`ipis_forwarded`)",
    kernel: 'smp_call_function_many',
    arg: '<mode>',
  }),
  ipiGroup: int('--ipi-group', IPI_GROUP_DEFAULT, 1, MAX_CPUS, { ...sceneD, doc: '--ipi-fanout tree: CPUs per group (CPU c in group c / N; default 8)',
    details: "`--ipi-fanout tree`: CPUs per group (CPU c is in group c / N; 8, one L3 domain, is an assumption)", hint: ' (CPUs per multicast group)' }),
  // 4096 accesses take ~50-100 us: short enough that a parked CPU gets a turn quickly, long enough to amortise the hand-off (~10 us).
  quantum: int('--quantum', 4096, 1, 1 << 30, { doc: 'accesses per run-token turn',
    details: "accesses per run-token turn" }),
  // On real hardware the other CPUs run while an initiator spins; without a loan, one host core sits idle instead.
  tokenLending: bool('--token-lending', true, 'free mode: an IPI initiator keeps its run token while it sleeps for acknowledgements', {
    doc: 'free mode: an IPI initiator lends its run token while it waits (the default)',
    details: "free mode: an IPI initiator keeps its run token while it sleeps for acknowledgements (no CPU runs in its place)",
  }),
  // Polling every 128 accesses bounds IPI latency to a few us at ~1-2% of the access rate.
  doorbellPollInterval: int('--doorbell-poll', 128, 1, 1 << 20, { doc: 'accesses between doorbell polls',
    details: "accesses between doorbell polls" }),
  // 10 s: a 256-target round takes ~2-5 ms here; anything near 10 s is a stuck CPU, not a slow host.
  ipiTimeoutMs: int('--ipi-timeout-ms', 10_000, 1, 3_600_000, { doc: 'a CPU that does not acknowledge an IPI within this is reported',
    details: "a CPU that has not acknowledged an IPI by then is reported and the run fails" }),
  debug: bool('--debug', true, 'skip engine invariant checks', { doc: 'check engine invariants (the default, except with --inject)',
    details: "skip the engine's invariant checks (frames freed before their flush)" }),
  maxSeededSteps: int('--max-seeded-steps', 5_000_000, 1, 1e12, { doc: 'livelock guard for seeded runs' }),
  // Off: the seeded interleavings (and every seed's result) stay what they were before the catalogue.
  ipiStep: bool('--ipi-step', false, 'seeded: an IPI is handled within the step that polled it (the default)', {
    doc: 'seeded: handling an IPI is a scheduling step of its own (the CPU may be descheduled right after its interrupt)',
    details: "seeded: handling an IPI is a scheduling step of its own",
    sweep: false,
  }),
  // Recording costs a little on every slow path: only when a trace is asked for (--trace).
  traceEvents: int('--trace-events', 0, 0, MAX_TRACE_EVENTS, {
    doc: `events each CPU keeps for --trace (a ring of the last N; default ${TRACE_EVENTS_DEFAULT})`,
    details: "events each CPU keeps for `--trace`: a ring of the last N (sized so a 256-CPU trace stays under 100 MB)",
    hint: ' (events each CPU keeps for --trace)',
    reproduce: 'never',
  }),
  faultCpu: int('--fault-cpu', -1, -1, MAX_CPUS - 1, { doc: 'test hook: CPU to misbehave', hidden: true }),
  faultKind: choice('--fault-kind', CPU_FAULTS, 'none', { doc: 'test hook: stop-acking, crash, or crash-in-ipi', hidden: true, arg: '<kind>' }),
  // Empty: the seeded scheduler's PRNG picks every choice.
  schedule: text('--replay', '', 'takes choices like 12:1,40:0', {
    doc: 'seeded: follow this schedule (choice point:CPU list, as tlbsim explore prints it) instead of the PRNG',
    details: "seeded: follow this schedule instead of the PRNG (what `tlbsim explore` prints)",
    arg: '<schedule>',
    sweep: false,
  }),
};

/** The value type of a table row. */
type ValueOf<P> = P extends Param<infer T> ? T : never;

/** Everything one simulation run needs, one field per PARAMS entry. Field names are stable: they appear in the JSON result's `config`. */
export type SimConfig = { [K in keyof typeof PARAMS]: ValueOf<(typeof PARAMS)[K]> };

/** Every parameter key, in table order. */
export const PARAM_KEYS = Object.keys(PARAMS) as (keyof SimConfig)[];

/** The row of `key`, typed loosely (for code that walks the table). */
export function paramOf(key: keyof SimConfig): Param<string | number | boolean> {
  return PARAMS[key] as Param<string | number | boolean>;
}

/** CLI flag of every option as the run command names it (`--no-x` for booleans that default to true). */
export const FLAG_NAMES = Object.fromEntries(
  PARAM_KEYS.map((k) => {
    const p = paramOf(k);
    return [k, p.kind === 'boolean' && p.default === true ? `--no-${p.flag.slice(2)}` : p.flag];
  }),
) as { readonly [F in keyof SimConfig]: string };

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
