/**
 * tlbsim's library API. Everything the CLI does is available here (`tlbsim bench` too:
 * `runHostBench`, `compareProfiles`):
 *
 * ```ts
 * import { resolveConfig, simulate, runStress } from 'tlbsim';
 * const result = await simulate(resolveConfig({ cpus: 16, protocol: 'per-page' }));
 * console.log(result.counters.ipis_sent, result.races);
 * ```
 *
 * Invariant: every number a run produces is in its `RunResult` (or
 * `StressResult`); nothing is only printed.
 */
export {
  ARCHES,
  ConfigError,
  DEFAULTS,
  INJECTED_BUGS,
  PENDING_FLUSH_MODES,
  PROTOCOLS,
  SCHED_MODES,
  SWAP_CLUSTER_MAX,
  SYSCALLS,
  TLB_SINGLE_PAGE_FLUSH_CEILING,
  WORKLOADS,
  configToFlags,
  parseReclaimPages,
  resolveConfig,
  type Arch,
  type InjectedBug,
  type PendingFlushMode,
  type ProtocolName,
  type SchedMode,
  type SimConfig,
  type WorkloadName,
} from './config.js';
export { Machine, simulate } from './coordinator.js';
export type { Counters, HostStats, RunFailure, RunResult } from './result.js';
export { describeRace, type AccessOp, type RaceCounts, type RaceKind, type RaceReport } from './oracle.js';
export { runStress, scenarioConfig, stressReproduceCommand, type StressOptions, type StressResult } from './stress.js';
export { SCENARIOS, SCENARIO_NAMES, type Scenario, type ScenarioName } from './scenarios.js';
export { PROTOCOL_REGISTRY, getProtocol, type UnmapProtocol } from './protocols/index.js';
export { WORKLOAD_REGISTRY, getWorkload, type Workload } from './workloads/index.js';
export { formatRun, formatStress } from './report.js';
export { createLogger, type LogLevel } from './log.js';
export { COUNTER_NAMES, type CounterName } from './layout.js';
export { runHostBench, TIERS, type HostBenchOptions, type HostBenchRun } from './bench/run.js';
export { compareProfiles, formatComparison, type CompareRow, type ProfileComparison } from './bench/compare.js';
export { formatProfile } from './bench/format.js';
export { parseProfile, namedFigures, PROFILE_VERSION, ProfileError, type BenchTier, type HostProfile } from './bench/profile.js';
export { figureOf, type Figure, type FigureUnit } from './bench/figure.js';
