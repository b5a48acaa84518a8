/**
 * The result object: every number a run produces flows through `RunResult`.
 * The CLI prints it (human or `--json`), reports and sweeps read it, tests
 * assert on it. Field names are stable; add fields, never rename.
 */
import type { SimConfig } from '../config/config.js';
import { COUNTER_NAMES, COUNTER_WORDS, type CounterName } from '../engine/layout.js';
import type { RaceCounts, RaceReport } from '../engine/oracle.js';
import type { TraceSummary } from './trace.js';
import type { Modeled } from './costModel.js';

/** Machine-wide counters (summed over CPUs). */
export type Counters = Record<CounterName, number>;

/**
 * Every counter at 0. Built by assignment in COUNTER_NAMES order (so every
 * Counters object shares one hidden class): Object.fromEntries cost ~36 us a
 * row, a tenth of a seeded stress iteration's coordinator time.
 */
export function zeroCounters(): Counters {
  const out = {} as Counters;
  for (const n of COUNTER_NAMES) out[n] = 0;
  return out;
}

/** CPU `cpu`'s row of the shared counters array. */
export function readCpuCounters(counters: Float64Array, cpu: number): Counters {
  const out = {} as Counters;
  const base = cpu * COUNTER_WORDS;
  for (let i = 0; i < COUNTER_NAMES.length; i++) out[COUNTER_NAMES[i]] = counters[base + i];
  return out;
}

/** Add `from` into `into`. */
export function addCounters(into: Counters, from: Counters): void {
  for (const n of COUNTER_NAMES) into[n] += from[n];
}

/** Host-side timing of the run. */
export interface HostStats {
  /** Wall-clock time of the run (workers already started), milliseconds. */
  wall_ms: number;
  /** Time to start and configure every CPU worker, milliseconds. */
  startup_ms: number;
  /** Host latency of an IPI round (send, every target handles, every ack back), microseconds. */
  ipi_round_latency_us: { median: number; p99: number; rounds: number };
  /** Seeded mode: scheduler steps taken. */
  sched_steps: number;
}

/** Why a run failed. */
export interface RunFailure {
  kind: 'ipi-timeout' | 'cpu-crashed' | 'invariant' | 'seeded-step-limit' | 'stopped';
  /** The CPU that failed (did not acknowledge, crashed, or broke the invariant), or -1. */
  cpu: number;
  message: string;
  /** A crashed CPU: the last event it began to handle (an IPI from whom, a fault on which page). */
  last_event?: string;
}

/** Why a run or campaign stopped before its end (Ctrl-C, SIGTERM, an AbortSignal). */
export interface PartialReason {
  /** e.g. "interrupted by SIGINT while running". */
  reason: string;
}

export interface RunResult {
  /** Every effective option. */
  config: SimConfig;
  /**
   * 'ok'; 'failed' with `failure` set; or 'partial' with `partial` set (the
   * run was interrupted). Counters measured before a failure or an
   * interruption are kept.
   */
  status: 'ok' | 'failed' | 'partial';
  failure?: RunFailure;
  partial?: PartialReason;
  counters: Counters;
  /** Counters per CPU, index = CPU id. */
  per_cpu: Counters[];
  races: RaceCounts;
  /** The first races found, in detail. */
  race_reports: RaceReport[];
  /** Modeled cycles of the run's events (src/output/costModel.ts): a function of the events only, never of the host. */
  modeled: Modeled;
  host: HostStats;
  /** A command line that runs this configuration again. */
  reproduce: string;
  /** `--trace FILE`: where the trace went and what it holds. */
  trace?: { file: string } & TraceSummary;
}
