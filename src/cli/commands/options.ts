/**
 * What every `tlbsim` command shares: the simulation options of `run`,
 * `stress`, `explore` and `config`, their mapping onto a partial SimConfig
 * (only the options the user gave), `--config FILE` under the flags, exit
 * codes, and writing to stdout.
 *
 * Invariants:
 * - A flag the user did not give never reaches the configuration: defaults
 *   come from src/config/config.ts (then the scenario's, then --config FILE).
 * - Bad input raises UsageError or ConfigError: src/cli.ts prints it as one
 *   line and exits 2.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ARCHES, ARM64_PENDING_MODES, ARM64_TLBI_RANGE_MODES, CPU_FAULTS, INJECTED_BUGS, MPROTECT_FLUSH_MODES, PENDING_FLUSH_MODES, PROTOCOLS, SCHED_MODES, SYSCALLS, TRANSPORTS, WORKLOADS, type SimConfig } from '../../config/config.js';
import { writeFileAtomic } from '../../output/atomicWrite.js';
import { LOG_LEVELS, type LogLevel } from '../../output/log.js';
import { TRACE_EVENTS_DEFAULT } from '../../output/trace.js';
import { loadConfigFile, simOptionsOf, type ConfigFileCommand } from '../../config/configFile.js';
import { KERNEL_VERSIONS } from '../../config/kernelProfiles.js';

/** Exit code for bad input. */
export const EXIT_USAGE = 2;
/** Exit code for a simulation that failed (crashed or stuck CPU). */
export const EXIT_SIM_FAILED = 1;

/** Bad input a command finds itself (not commander, not the config checks): one line, exit 2. */
export class UsageError extends Error {}

/** Commander's parser for a numeric flag: anything but a finite number is bad input. */
export function num(flag: string): (v: string) => number {
  return (v: string) => {
    if (v.trim() === '' || !Number.isFinite(Number(v))) throw new InvalidArgumentError(`${flag} takes a number`);
    return Number(v);
  };
}

/**
 * Options shared by `run` and `stress`. Every boolean has both forms, `--x`
 * and `--no-x` (the positive one first, so commander sets no default): a
 * switch a kernel profile or a scenario turned off can be turned on again
 * from the command line. The value comes from resolveConfig's layers unless
 * the flag was given (overridesFrom reads only values whose source is the CLI).
 */
export function addSimOptions(cmd: Command, forStress: boolean): Command {
  const d = (text: string): string => (forStress ? `${text} (default: the scenario's)` : text);
  return cmd
    .addOption(new Option('--config <file>', 'JSON file with any of these options (keys as in a result\'s "config"); flags given here override it'))
    .addOption(new Option('--cpus <n>', d('simulated CPUs (one worker thread each)')).argParser(num('--cpus')))
    .addOption(new Option('--workload <name>', d('workload')).choices(WORKLOADS))
    .addOption(new Option('--protocol <name>', d('reclaim protocol (per-page, batched, rik, luf); invlpgb, rar, context-reset are aliases of batched --transport X')).choices(PROTOCOLS))
    .addOption(new Option('--transport <name>', d('how flushes reach other x86 CPUs: ipi, invlpgb, rar, context-reset (--arch arm64: broadcast TLBI)')).choices(TRANSPORTS))
    .addOption(new Option('--pages <n>', d('shared pages of the process')).argParser(num('--pages')))
    .addOption(new Option('--batch <n>', d('pages per tryToUnmapFlush (SWAP_CLUSTER_MAX = 32)')).argParser(num('--batch')))
    .addOption(new Option('--write-ratio <x>', d('fraction of accesses that are stores, 0..1')).argParser(num('--write-ratio')))
    .addOption(new Option('--seed <n>', 'seed of every PRNG (workloads, seeded scheduler)').argParser(num('--seed')))
    .addOption(new Option('--arch <name>', d('hardware: clean-to-dirty semantics (x86, weak); arm64 adds broadcast TLBI + per-CPU DSB')).choices(ARCHES))
    .addOption(new Option('--sched <mode>', forStress ? 'free or seeded (default: seeded, so races replay)' : 'free (host interleaves) or seeded (replayable)').choices(SCHED_MODES))
    .addOption(new Option('--ops <n>', d('accesses per thread CPU, at least; tlb-flush: write+madvise loops per CPU; munmap: munmaps (default 20000; tlb-flush 500, munmap 1000)')).argParser(num('--ops')))
    .addOption(new Option('--tlb-sets <n>', d('TLB sets per CPU (power of two)')).argParser(num('--tlb-sets')))
    .addOption(new Option('--tlb-ways <n>', d('TLB ways per set')).argParser(num('--tlb-ways')))
    .addOption(new Option('--wp-recheck', 'rik step 4 re-checks the PTE (the default)'))
    .addOption(new Option('--no-wp-recheck', "rik step 4 trusts step 1's clean/dirty state (shows the race the re-check guards)"))
    .addOption(new Option('--syscall <name>', d('mprotect workload and mprotect-reclaim scenario: the call CPU 1 makes (mprotect-none and mremap: the scenario only)')).choices(SYSCALLS))
    .addOption(new Option('--range <lengths>', d("munmap workload: pages per mapped-and-unmapped range, e.g. 16 or 1,8,64 (cycled)")))
    .addOption(new Option('--reclaim-pages <list>', d("pages kswapd reclaims, in LRU order: '3', '4-7,0-3', '7-0' (default: all, lowest first)")))
    .addOption(new Option('--kernel-version <v>', 'the engine\'s switches as this Linux release had them (docs/kernels.md); flags given override them').choices(KERNEL_VERSIONS))
    .addOption(new Option('--batched-pending-flush', 'mprotect/munmap/madvise/mremap call flushTlbBatchedPending (since 3ea277194daa, 4.13; the default unless a --kernel-version before 4.13 turns it off)'))
    .addOption(new Option('--no-batched-pending-flush', 'mprotect/munmap/madvise/mremap skip flushTlbBatchedPending (before 3ea277194daa, 4.13; with --mprotect-flush range: the 4.12 kernel)'))
    .addOption(new Option('--mprotect-flush <mode>', "what mprotect flushes: the span of the PTEs it changed (changed, since 5.19) or the call's whole range whenever it changed one (range, before)").choices(MPROTECT_FLUSH_MODES))
    .addOption(new Option('--nested-flush', 'tlb_finish_mmu forces a flush when mm_tlb_flush_nested (since 99baac21e458, 4.13; the default unless a --kernel-version turns it off)'))
    .addOption(new Option('--no-nested-flush', 'tlb_finish_mmu ignores mm_tlb_flush_nested: a zap that found PTEs already cleared by a concurrent zap flushes nothing (before 99baac21e458, 4.13)'))
    .addOption(new Option('--migrate-vma-flush-under-ptl', 'migrate_vma flushes the TLB before dropping the PTE lock (since 60bae7370896, 6.0; the default unless a --kernel-version turns it off)'))
    .addOption(new Option('--no-migrate-vma-flush-under-ptl', 'migrate_vma flushes the TLB after dropping the PTE lock (before 60bae7370896, 6.0)'))
    .addOption(new Option('--lazy-tlb-skip', 'flushes skip lazy-TLB CPUs unless they free page tables (since 145f573b89a6, 4.20; the default unless a --kernel-version turns it off)'))
    .addOption(new Option('--no-lazy-tlb-skip', 'every flush IPIs lazy-TLB CPUs too, as up to 4.19 (before 145f573b89a6)'))
    .addOption(new Option('--page-walk-cache', 'a per-CPU page-walk cache: munmap frees whole page tables and a walk through a freed one is a race (lazy-pgtable-free)'))
    .addOption(new Option('--no-page-walk-cache', 'no page-walk cache (the default outside the lazy-pgtable-free and collapse-pmd-flush scenarios)'))
    .addOption(new Option('--lazy-flush-on-table-free', 'a flush that frees page tables reaches lazy-TLB CPUs (every release; the default)'))
    .addOption(new Option('--no-lazy-flush-on-table-free', 'a flush that frees page tables skips lazy-TLB CPUs like any other (before 2ff6ddf19c0e)'))
    .addOption(new Option('--flush-range-freed-tables', 'x86 flush_tlb_range() passes freed_tables=true (since 3ef938c35035, 6.15; the default unless a --kernel-version turns it off)'))
    .addOption(new Option('--no-flush-range-freed-tables', 'x86 flush_tlb_range() passes freed_tables=false, so mremap/migrate_vma/collapse flushes skip lazy-TLB CPUs (before 3ef938c35035, CVE-2025-22045)'))
    .addOption(new Option('--flush-under-ptl', 'mremap flushes the TLB before dropping the PTE lock (since eb66ae030829, 4.19; the default unless a --kernel-version turns it off)'))
    .addOption(new Option('--no-flush-under-ptl', 'mremap flushes the TLB after dropping the PTE lock (before eb66ae030829, 4.19)'))
    .addOption(new Option('--pending-flush <mode>', 'mm->tlb_flush_batched as the generation pair (gen, today) or the 4.13 boolean (bool)').choices(PENDING_FLUSH_MODES))
    .addOption(new Option('--arm64-pending <mode>', "--arch arm64: arch_flush_tlb_batched_pending as flush_tlb_mm (flush-mm, today) or a lone DSB on the calling CPU (dsb, before 4b634918384c)").choices(ARM64_PENDING_MODES))
    .addOption(new Option('--arm64-tlbi-range <mode>', '--arch arm64: FEAT_TLBIRANGE: range TLBIs in __flush_tlb_range_op (on) or one TLBI per page below MAX_DVM_OPS (off, default)').choices(ARM64_TLBI_RANGE_MODES))
    .addOption(new Option('--inject <bug>', 'plant a known protocol bug to check the oracle').choices(INJECTED_BUGS))
    .addOption(new Option('--run-tokens <n>', 'CPUs running accesses at once (default: host cores)').argParser(num('--run-tokens')))
    .addOption(new Option('--lazy-cpus <n>', d('thread CPUs (the last K) in lazy TLB mode while reclaim runs')).argParser(num('--lazy-cpus')))
    .addOption(new Option('--tlb-gen', 'flush_tlb_func compares tlb_gen (since b0579ade7cd8, 4.14; the default unless a --kernel-version turns it off)'))
    .addOption(new Option('--no-tlb-gen', 'flush_tlb_func ignores tlb_gen: every flush does exactly what it asks (before Linux 4.14)'))
    .addOption(new Option('--mms <n>', d('processes (mm_structs) sharing the thread CPUs; thread CPU i starts in process (i-1) mod M')).argParser(num('--mms')))
    .addOption(new Option('--switch-every <n>', d('context-switch a thread CPU to the next process every N accesses (0: never); when switching, each thread makes exactly --ops accesses')).argParser(num('--switch-every')))
    .addOption(new Option('--cpumask-trim-ms <n>', d('should_trim_cpumask: at most once per N ms (seeded: steps) a flush also reaches mm_cpumask CPUs that switched away; 0: every flush')).argParser(num('--cpumask-trim-ms')))
    .addOption(new Option('--context-reset-cutoff <n>', d('--protocol context-reset: a flush of more pages gives the mm a new context instead (PowerPC, seed 004: 20)')).argParser(num('--context-reset-cutoff')))
    .addOption(new Option('--ro-pages <n>', d('the first N pages of every process are mapped read-only (threads only load them; what --protocol luf defers)')).argParser(num('--ro-pages')))
    .addOption(new Option('--irq-off <n>', d('thread CPUs run N accesses of every 2N with interrupts disabled: flush IPIs wait, INVLPGB/RAR do not (0: never)')).argParser(num('--irq-off')))
    .addOption(new Option('--ipi-fanout <mode>', d('IPI rounds: serial unicast (xAPIC / x2APIC physical mode: one ICR write per target), cluster (x2APIC cluster mode: one ICR write per 16-CPU cluster), or a multicast tree (Barrelfish): one message per group, forwarded by its first target')).choices(['serial', 'tree', 'cluster']))
    .addOption(new Option('--ipi-group <n>', d('--ipi-fanout tree: CPUs per group (CPU c in group c / N; default 8)')).argParser(num('--ipi-group')))
    .addOption(new Option('--trace-events <n>', `events each CPU keeps for --trace (a ring of the last N; default ${TRACE_EVENTS_DEFAULT})`).argParser(num('--trace-events')))
    .addOption(new Option('--ceiling <n>', d('tlb_single_page_flush_ceiling: a range flush of more pages is a full flush')).argParser(num('--ceiling')))
    .addOption(new Option('--quantum <n>', 'accesses per run-token turn').argParser(num('--quantum')))
    .addOption(new Option('--token-lending', 'free mode: an IPI initiator lends its run token while it waits (the default)'))
    .addOption(new Option('--no-token-lending', 'free mode: an IPI initiator keeps its run token while it sleeps for acknowledgements'))
    .addOption(new Option('--doorbell-poll <n>', 'accesses between doorbell polls').argParser(num('--doorbell-poll')))
    .addOption(new Option('--ipi-timeout-ms <n>', 'a CPU that does not acknowledge an IPI within this is reported').argParser(num('--ipi-timeout-ms')))
    .addOption(new Option('--debug', 'check engine invariants (the default, except with --inject)'))
    .addOption(new Option('--no-debug', 'skip engine invariant checks'))
    .addOption(new Option('--max-seeded-steps <n>', 'livelock guard for seeded runs').argParser(num('--max-seeded-steps')))
    .addOption(new Option('--ipi-step', 'seeded: handling an IPI is a scheduling step of its own (the CPU may be descheduled right after its interrupt)'))
    .addOption(new Option('--no-ipi-step', 'seeded: an IPI is handled within the step that polled it (the default)'))
    .addOption(new Option('--replay <schedule>', "seeded: follow this schedule (choice point:CPU list, as tlbsim explore prints it) instead of the PRNG"))
    .addOption(new Option('--fault-cpu <n>', 'test hook: CPU to misbehave').argParser(num('--fault-cpu')).hideHelp())
    .addOption(new Option('--fault-kind <kind>', 'test hook: stop-acking, crash, or crash-in-ipi').choices(CPU_FAULTS).hideHelp())
    .addOption(new Option('--cost-model <file>', 'JSON file overriding cost-model cycles (keys: see docs/results.md, "The cost model")'))
    .addOption(new Option('--json', 'print one JSON object on stdout'))
    .addOption(new Option('--log-level <level>', 'logs on stderr (pretty on a terminal, JSON lines otherwise)').choices(LOG_LEVELS).default('silent'))
    .addOption(new Option('--log-file <file>', 'also write JSON-line logs to FILE (at info unless --log-level says otherwise)'));
}

export interface CliOpts {
  cpus?: number;
  workload?: SimConfig['workload'];
  protocol?: SimConfig['protocol'];
  transport?: SimConfig['transport'];
  pages?: number;
  batch?: number;
  writeRatio?: number;
  seed?: number;
  arch?: SimConfig['arch'];
  sched?: SimConfig['sched'];
  ops?: number;
  tlbSets?: number;
  tlbWays?: number;
  wpRecheck: boolean;
  batchedPendingFlush: boolean;
  flushUnderPtl: boolean;
  pageWalkCache?: boolean;
  lazyFlushOnTableFree: boolean;
  flushRangeFreedTables: boolean;
  nestedFlush: boolean;
  migrateVmaFlushUnderPtl: boolean;
  lazyTlbSkip: boolean;
  mprotectFlush?: SimConfig['mprotectFlush'];
  kernelVersion?: string;
  tokenLending: boolean;
  tlbGen: boolean;
  inject?: SimConfig['inject'];
  syscall?: SimConfig['syscall'];
  pendingFlush?: SimConfig['pendingFlush'];
  arm64Pending?: SimConfig['arm64Pending'];
  arm64TlbiRange?: SimConfig['arm64TlbiRange'];
  reclaimPages?: string;
  range?: string;
  runTokens?: number;
  quantum?: number;
  ceiling?: number;
  lazyCpus?: number;
  mms?: number;
  switchEvery?: number;
  cpumaskTrimMs?: number;
  contextResetCutoff?: number;
  roPages?: number;
  irqOff?: number;
  ipiFanout?: 'serial' | 'tree' | 'cluster';
  ipiGroup?: number;
  traceEvents?: number;
  doorbellPoll?: number;
  ipiTimeoutMs?: number;
  debug: boolean;
  maxSeededSteps?: number;
  faultCpu?: number;
  faultKind?: SimConfig['faultKind'];
  replay?: string;
  ipiStep?: boolean;
  json?: boolean;
  costModel?: string;
  logLevel: LogLevel;
  logFile?: string;
  config?: string;
}

/**
 * Apply `--config FILE`: the file's simulation options under the flags
 * given, and its command keys (json, out, iterations, ...) where the flag was
 * not given. Returns the simulation options to resolve.
 */
export function withConfigFile<O extends CliOpts>(o: O, cmd: Command, command: ConfigFileCommand): { opts: O; sim: Partial<SimConfig> } {
  const flags = overridesFrom(o, cmd);
  if (o.config === undefined) return { opts: o, sim: flags };
  const file = command === 'run' ? loadConfigFile(o.config, 'run') : loadConfigFile(o.config, 'stress');
  const fromFile = simOptionsOf(file);
  const opts = { ...o };
  const simKeys = new Set(Object.keys(fromFile));
  for (const [k, v] of Object.entries(file)) {
    if (simKeys.has(k) || v === undefined) continue;
    if (cmd.getOptionValueSource(k) !== 'cli') (opts as Record<string, unknown>)[k] = v;
  }
  const sim: Partial<SimConfig> = { ...fromFile, ...flags };
  // An injected bug from the file turns the engine's assertion off too, unless debug is set somewhere.
  if (sim.inject !== undefined && sim.inject !== 'none' && fromFile.debug === undefined && flags.debug === undefined) sim.debug = false;
  return { opts, sim };
}

/** Options the user actually gave, as a partial config (undefined = not given). */
export function overridesFrom(o: CliOpts, cmd: Command): Partial<SimConfig> {
  const given = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
  const p: Partial<SimConfig> = {
    cpus: o.cpus,
    workload: o.workload,
    protocol: o.protocol,
    transport: o.transport,
    pages: o.pages,
    batch: o.batch,
    writeRatio: o.writeRatio,
    seed: o.seed,
    arch: o.arch,
    sched: o.sched,
    ops: o.ops,
    tlbSets: o.tlbSets,
    tlbWays: o.tlbWays,
    inject: o.inject,
    syscall: o.syscall,
    pendingFlush: o.pendingFlush,
    mprotectFlush: o.mprotectFlush,
    kernelVersion: o.kernelVersion,
    arm64Pending: o.arm64Pending,
    arm64TlbiRange: o.arm64TlbiRange,
    reclaimPages: o.reclaimPages,
    range: o.range,
    runTokens: o.runTokens,
    quantum: o.quantum,
    tlbSinglePageFlushCeiling: o.ceiling,
    lazyCpus: o.lazyCpus,
    mms: o.mms,
    switchEvery: o.switchEvery,
    cpumaskTrimMs: o.cpumaskTrimMs,
    contextResetCutoff: o.contextResetCutoff,
    roPages: o.roPages,
    irqOffAccesses: o.irqOff,
    ipiFanout: o.ipiFanout,
    ipiGroup: o.ipiGroup,
    traceEvents: o.traceEvents,
    doorbellPollInterval: o.doorbellPoll,
    ipiTimeoutMs: o.ipiTimeoutMs,
    maxSeededSteps: o.maxSeededSteps,
    faultCpu: o.faultCpu,
    faultKind: o.faultKind,
    schedule: o.replay,
    ipiStep: o.ipiStep,
  };
  if (given('wpRecheck')) p.wpRecheck = o.wpRecheck;
  if (given('batchedPendingFlush')) p.batchedPendingFlush = o.batchedPendingFlush;
  if (given('flushUnderPtl')) p.flushUnderPtl = o.flushUnderPtl;
  if (given('pageWalkCache')) p.pageWalkCache = o.pageWalkCache === true;
  if (given('lazyFlushOnTableFree')) p.lazyFlushOnTableFree = o.lazyFlushOnTableFree;
  if (given('flushRangeFreedTables')) p.flushRangeFreedTables = o.flushRangeFreedTables;
  if (given('nestedFlush')) p.nestedFlush = o.nestedFlush;
  if (given('migrateVmaFlushUnderPtl')) p.migrateVmaFlushUnderPtl = o.migrateVmaFlushUnderPtl;
  if (given('lazyTlbSkip')) p.lazyTlbSkip = o.lazyTlbSkip;
  if (given('tokenLending')) p.tokenLending = o.tokenLending;
  if (given('tlbGen')) p.tlbGen = o.tlbGen;
  // An injected bug is checked by the oracle; the engine's own assertion would stop the run first.
  if (given('debug')) p.debug = o.debug;
  else if (o.inject !== undefined && o.inject !== 'none') p.debug = false;
  for (const k of Object.keys(p) as (keyof SimConfig)[]) if (p[k] === undefined) delete p[k];
  return p;
}

/**
 * Write to stdout and wait until it is handed to the OS: the CLI ends with
 * process.exit, and a pipe takes writes asynchronously, so a large JSON
 * result (per-CPU counters of 256 CPUs) was cut off at 64 KiB without this.
 */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

/** Print the result (stdout, and `--out FILE` atomically). */
export async function emitResult(o: { json?: boolean; out?: string }, json: string, human: string): Promise<void> {
  if (o.out !== undefined) writeFileAtomic(o.out, `${json}\n`);
  await writeStdout(`${o.json ? json : human}\n`);
}
