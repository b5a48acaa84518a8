/**
 * tlbsim's library API. Everything the CLI does is available here (`tlbsim bench` too:
 * `runHostBench`, `compareProfiles`):
 *
 * ```ts
 * import { simulate, runStress } from 'tlbsim';
 * const result = await simulate({ cpus: 16, protocol: 'per-page' });
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
  TRANSPORTS,
  WORKLOADS,
  configToFlags,
  parseReclaimPages,
  resolveConfig,
  type Arch,
  type InjectedBug,
  type PendingFlushMode,
  type ProtocolName,
  type ReclaimProtocolName,
  type SchedMode,
  type SimConfig,
  type TransportName,
  type WorkloadName,
} from './config/config.js';
// Plug-ins written outside src/ (docs/extending.md): import these as types; the helpers are identity functions.
export {
  defineProtocol,
  defineScenario,
  type ProtocolPlugin,
  type ReclaimBatch,
  type ReclaimKernel,
  type ReclaimRun,
  type ScenarioContext,
  type ScenarioPlugin,
  type UnmappedPage,
} from './plugin/api.js';
export { loadProtocolPlugin, loadScenarioPlugin } from './plugin/load.js';
export { Machine, MachineInterrupted, HostMemoryError, estimateHostMemoryMb } from './engine/coordinator.js';
export { simulate, type SimulateOptions } from './api.js';
export { writeTrace, toChromeTrace, TRACE_EVENTS_DEFAULT, type CpuTrace, type TraceEvent, type TraceSummary, type ChromeTrace } from './output/trace.js';
export { writeReport, renderReport, readReportInput, type ReportInput } from './output/htmlReport.js';
export { loadConfigFile, simOptionsSchema } from './config/configFile.js';
export type { Counters, HostStats, PartialReason, RunFailure, RunResult } from './output/result.js';
export { describeRace, type AccessOp, type RaceCounts, type RaceKind, type RaceReport } from './engine/oracle.js';
export { runStress, scenarioConfig, stressReproduceCommand, type StressOptions, type StressResult } from './campaigns/stress.js';
export { SCENARIOS, type Scenario, type ScenarioName } from './scenarios/lab.js';
export { getPreset, presetNames, registerPreset, resolvePreset, type Preset, type PresetChoice, type PresetKind, type PresetProvenance, type ResolvedPreset } from './scenarios/preset.js';
export { PROTOCOL_REGISTRY, getProtocol, type UnmapProtocol } from './kernel/protocols/index.js';
export type { FlushTransport, FlushTransportName, GlobalAsidMode } from './kernel/transports/types.js';
export { WORKLOAD_REGISTRY, getWorkload, type Workload } from './scenarios/workloads/index.js';
export { formatExplore, formatRaces, formatRun, formatStress } from './output/report.js';
export {
  explore,
  exploreScenario,
  isPreemption,
  MAX_PREEMPTION_BOUND,
  racyOrder,
  type BoundCount,
  type ExploreOptions,
  type ExploreResult,
  type RacySchedule,
  type ScenarioExploreOptions,
  type ScenarioExploreResult,
} from './campaigns/explore.js';
export { formatSchedule, parseSchedule, SCHEDULE_DEFAULT_ONLY, type ChoicePoint, type ForcedChoice, type ScheduleRecord } from './engine/forcedSchedule.js';
export { KERNEL_SIDES, RACE_NAMES, RACES, type KernelSide, type RaceEffect, type RaceEntry, type RaceName } from './scenarios/races/index.js';
export { createLogger, type LogLevel } from './output/log.js';
export { COUNTER_NAMES, type CounterName } from './engine/layout.js';
export {
  COST_MODEL_DEFAULTS,
  COST_MODEL_KEYS,
  MODELED_EVENTS,
  loadCostModel,
  modelRun,
  resolveCostModel,
  roundCycles,
  type CostModel,
  type Modeled,
  type ModeledEvent,
  type ModelInput,
  type ModelRound,
} from './output/costModel.js';
export { CSV_COLUMNS, expandGrid, parseGridList, runSweep, toCsv, writeSweepDir, type Grid, type SweepOptions, type SweepResult, type SweepRow } from './campaigns/sweep.js';
export { ownsSchedule, parseShard, shardIterationRange, shardPointIndices, type Shard } from './campaigns/shard.js';
export { mergeDirs, mergeExplores, mergeStress, mergeSweeps } from './campaigns/merge.js';
export { formatValidate, runValidate, type ValidateResult, type ValidateRow } from './campaigns/validate.js';
export { runHostBench, TIERS, type HostBenchOptions, type HostBenchRun } from './campaigns/bench/run.js';
export { compareProfiles, formatComparison, type CompareRow, type ProfileComparison } from './campaigns/bench/compare.js';
export { formatProfile } from './campaigns/bench/format.js';
export { parseProfile, namedFigures, PROFILE_VERSION, ProfileError, type BenchTier, type HostProfile } from './campaigns/bench/profile.js';
export { figureOf, type Figure, type FigureUnit } from './campaigns/bench/figure.js';
