/**
 * Resolving a simulation's options: layers (defaults, the workload's, a
 * kernel profile's, what was asked), each field checked by its table row
 * (src/config/params.ts), then the rules that relate fields.
 *
 * Invariants:
 * - `resolveConfig()` is the only way a `SimConfig` is made; it validates every
 *   field and throws `ConfigError` (one line: which option, what it accepts)
 *   instead of silently falling back to a default.
 * - A `SimConfig` is plain data (structured-clone safe): the coordinator sends
 *   it to every CPU worker unchanged, so all CPUs agree on it.
 * - The rules of one workload or race live on its entry (`validate`), which
 *   resolveConfig calls: so this module imports the workload registry, and
 *   the engine, kernel, scenario and output modules must import names from
 *   ./params.js, never from here (an import from here would close a cycle
 *   and a workload module loaded first would meet an uninitialised registry).
 */
import { PTRS_PER_PTE, SCHED_MAX_CPUS, pageSlots } from '../engine/layout.js';
import { machineBytes, type MachineShape } from '../engine/state/machineViews.js';
import { parseSchedule, schedAgents } from '../engine/forcedSchedule.js';
import { getWorkload } from '../scenarios/workloads/index.js';
import { KERNEL_VERSIONS, profileSwitches, protocolRefusal, type KernelVersion } from './kernelProfiles.js';
import { ConfigError, FLAG_NAMES, isPluginPath, MAX_PAGES, PARAM_KEYS, PARAMS, paramOf, parseReclaimPages, reclaimProtocolOf, TLB_FLUSH_MAX_CPUS, WORKLOADS, type PluginPath, type SimConfig, type TransportName, type WorkloadName } from './params.js';

// The table's names, for the modules that import them from here.
export {
  ARCHES,
  ARM64_PENDING_MODES,
  ARM64_TLBI_RANGE_MODES,
  ConfigError,
  CONTEXT_RESET_CUTOFF,
  CPU_FAULTS,
  FLAG_NAMES,
  INJECTED_BUGS,
  isPluginPath,
  IPI_FANOUTS,
  IPI_GROUP_DEFAULT,
  MAX_CPUS,
  MAX_MMS,
  MAX_PAGES,
  MAX_TRACE_EVENTS,
  MPROTECT_FLUSH_MODES,
  parseRangeLengths,
  parseReclaimPages,
  PENDING_FLUSH_MODES,
  PROTOCOLS,
  reclaimProtocolOf,
  SCHED_MODES,
  SWAP_CLUSTER_MAX,
  SYSCALLS,
  TLB_FLUSH_MAX_CPUS,
  TLB_SINGLE_PAGE_FLUSH_CEILING,
  TRANSPORTS,
  WORKLOADS,
  type Arch,
  type Arm64PendingMode,
  type Arm64TlbiRange,
  type CpuFault,
  type InjectedBug,
  type IpiFanout,
  type MprotectFlushMode,
  type PendingFlushMode,
  type PluginPath,
  type ProtocolName,
  type ReclaimProtocolName,
  type SchedMode,
  type SimConfig,
  type SyscallName,
  type TransportName,
  type WorkloadName,
} from './params.js';

/** The protocols `--arch arm64` runs (the others are x86 transports or need x86's lazy-TLB IPIs). */
const ARM64_PROTOCOLS: readonly string[] = ['batched', 'per-page', 'rik'];

/** Defaults, from the parameter table (each entry's reason is next to it in src/config/params.ts). */
export const DEFAULTS: SimConfig = Object.fromEntries(PARAM_KEYS.map((k) => [k, PARAMS[k].default])) as SimConfig;

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
  // 500 loops x 8 CPUs x 7 targets = 28,000 IPIs: under a second at ~45,000 IPIs/s on a 2-core host,
  // and still under 15 s when other work takes most of it: a default that finishes.
  'tlb-flush': { ops: 500 },
  // 1000 munmaps, each one IPI round to 7 busy threads (~1.5-3 ms a round on a 2-core host): ~2-3 s.
  munmap: { ops: 1000 },
  // Its pages must span two page tables of PTRS_PER_PTE (512) each: 1024 fills both exactly.
  'pending-flush': { pages: 2 * PTRS_PER_PTE },
  // Page 512 is the first PTE of the second page table, the one whose deferred flush the 4.13 boolean loses.
  'pending-flush-lost': { pages: PTRS_PER_PTE + 1 },
};

/** The defaults a run of `workload` starts from: DEFAULTS, then the workload's own. */
function workloadDefaults(workload: WorkloadName | PluginPath): SimConfig {
  // A scenario plug-in's defaults are laid on by its preset (src/plugin/registry.ts).
  return isPluginPath(workload) ? { ...DEFAULTS } : { ...DEFAULTS, ...WORKLOAD_DEFAULTS[workload] };
}

/**
 * Cap on the simulated machine's shared memory. Frames hold one word per CPU per
 * page (the oracle's ordering trick), twice (data and step), for twice the
 * pages: ~20 bytes x pages x cpus. 4 GiB leaves room for 1,024 workers
 * (~7.5 MB each) on a 24 GiB host.
 */
const MAX_SHARED_MB = 4096;

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
  const workloadBase = WORKLOADS.includes(partial.workload as WorkloadName) || isPluginPath(String(partial.workload)) ? workloadDefaults(partial.workload!) : DEFAULTS;
  const profile = version === undefined || version === '' ? {} : profileSwitches(version as KernelVersion, partial.arch ?? DEFAULTS.arch);
  const base: SimConfig = { ...workloadBase, ...profile };
  const c: SimConfig = { ...base, ...partial };
  for (const [k, v] of Object.entries(partial)) {
    if (!Object.hasOwn(DEFAULTS, k)) throw new ConfigError(`unknown option '${k}'`);
    if (v === undefined) (c as unknown as Record<string, unknown>)[k] = (base as unknown as Record<string, unknown>)[k];
  }
  // Each field alone, in table order (its range or choices: src/config/params.ts).
  for (const key of PARAM_KEYS) {
    const problem = paramOf(key).check(c[key]);
    if (problem !== null) throw new ConfigError(problem);
  }
  // How fields combine.
  if (isPluginPath(c.protocol)) {
    // A protocol plug-in is reclaim; its flushes go over --transport as batched's do.
    if (c.transport !== 'ipi' && c.arch === 'arm64') throw new ConfigError(`--arch arm64 flushes by broadcast TLBI (its own transport): drop --transport ${c.transport} or use --arch x86`);
  } else if (reclaimProtocolOf(c.protocol) !== c.protocol) {
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
  const refusal = c.kernelVersion === '' ? null : protocolRefusal(c.kernelVersion as KernelVersion, c.protocol);
  if (refusal !== null) throw new ConfigError(refusal);
  if (c.arm64Pending !== 'flush-mm' && c.arch !== 'arm64') throw new ConfigError(`--arm64-pending applies to --arch arm64, got --arch ${c.arch}`);
  if (c.arm64TlbiRange !== 'off' && c.arch !== 'arm64') throw new ConfigError(`--arm64-tlbi-range applies to --arch arm64, got --arch ${c.arch}`);
  if (c.arm64MaxDvmOps !== DEFAULTS.arm64MaxDvmOps && c.arch !== 'arm64') throw new ConfigError(`--arm64-max-dvm-ops applies to --arch arm64, got --arch ${c.arch}`);
  if (c.arch === 'arm64' && !ARM64_PROTOCOLS.includes(c.protocol)) {
    throw new ConfigError(`--arch arm64 runs --protocol ${ARM64_PROTOCOLS.join(', ')} (broadcast TLBI + DSB), got --protocol ${c.protocol}`);
  }
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
  if (c.inject === 'context-reuse' && c.transport !== 'context-reset') {
    throw new ConfigError(`--inject context-reuse applies to --transport context-reset, got --transport ${c.transport}`);
  }
  if (c.schedule !== '') {
    if (c.sched !== 'seeded') throw new ConfigError('--replay needs --sched seeded (a schedule picks the seeded scheduler\'s choices)');
    if (c.cpus > SCHED_MAX_CPUS) throw new ConfigError(`--replay needs at most ${SCHED_MAX_CPUS} CPUs, got --cpus ${c.cpus}`);
    try {
      parseSchedule(c.schedule, c.cpus, schedAgents(c));
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  intIn('fault-cpu', c.faultCpu, -1, c.cpus - 1);
  parseReclaimPages(c.reclaimPages, c.pages);
  const sharedMb = sharedMemoryBytes(c) / (1 << 20);
  if (sharedMb > MAX_SHARED_MB) {
    throw new ConfigError(
      `--pages ${c.pages}${c.mms > 1 ? ` x --mms ${c.mms}` : ''} with --cpus ${c.cpus} needs ${Math.round(sharedMb)} MB of shared memory (each page has one word per CPU); keep --pages x --mms x --cpus under ${Math.floor((MAX_SHARED_MB * (1 << 20)) / 20)}`,
    );
  }
  // CPU 0 is kswapd (munmap: the unmapping thread); the mprotect caller (CPU 1) of mprotect/pending-flush never goes lazy; tlb-flush has no reclaim to be lazy through.
  const owner = isPluginPath(c.workload) ? undefined : getWorkload(c.workload);
  intIn('lazy-cpus', c.lazyCpus, 0, Math.max(0, owner?.maxLazyCpus?.(c) ?? c.cpus - 2), ` (thread CPUs in lazy TLB mode during reclaim, for --workload ${c.workload} on ${c.cpus} CPUs)`);
  // The workload's own rules (src/scenarios/workloads/, the race catalogue's in src/scenarios/races/).
  if (owner !== undefined) {
    owner.validate?.(c);
    // A workload in which every CPU may send flush IPIs needs N^2 ports (its initiators are every CPU).
    if (c.cpus > TLB_FLUSH_MAX_CPUS && owner.initiators(c).length === c.cpus) {
      throw new ConfigError(`--cpus must be at most ${TLB_FLUSH_MAX_CPUS} for --workload ${c.workload} (every CPU needs a port to every other), got ${c.cpus}`);
    }
  }
  if (c.inject === 'stale-asid' && c.switchEvery === 0) {
    throw new ConfigError('--inject stale-asid needs context switches: add --switch-every N (and --mms 2 or more)');
  }
  if (c.inject === 'copy-before-flush' && c.workload !== 'migrate') {
    throw new ConfigError(`--inject copy-before-flush applies to --workload migrate, got --workload ${c.workload}`);
  }
  // Every built-in workload has CPU 0 reclaiming; each says what the others do.
  const minCpus = owner?.minCpus ?? 2;
  if (c.cpus < minCpus) {
    const role = owner?.cpuRoles?.(c) ?? 'CPU 1 calls mprotect twice, CPUs 2..N-1 store';
    throw new ConfigError(`--cpus must be at least ${minCpus} for --workload ${c.workload} (CPU 0 reclaims, ${role}), got ${c.cpus}`);
  }
  return c;
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
  for (const key of PARAM_KEYS) {
    const v = c[key];
    const flag = FLAG_NAMES[key];
    const param = paramOf(key);
    // Options that matter only to some workloads are shown only when one of them runs.
    const only = param.onlyFor;
    if (only !== undefined && !(only as readonly string[]).includes(c.workload)) continue;
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
    if (param.reproduce === 'never') continue; // e.g. recording a trace does not change a run
    if (param.reproduce !== 'always' && v === base[key]) continue;
    if (key === 'runTokens' && v === DEFAULTS.runTokens) continue; // the host's default, whatever `given` says
    out.push(flag, String(v));
  }
  return out;
}
