/**
 * The host profile `tlbsim bench --json` prints (and `--out FILE` writes):
 * every figure of one benchmark run on one host, in a form two hosts can be
 * compared by (`tlbsim bench --compare A.json B.json`).
 *
 * Invariants:
 * - Every measured number is a `Figure` (median, spread {p25, p75, min, max},
 *   samples, unit, better); the only plain numbers are settings, counts and
 *   ratios derived from medians (`ratio`, `speedup`, `efficiency`).
 * - `tlbsim_profile` is the schema version; keys are stable (new ones may
 *   appear, existing ones do not change meaning), so profiles from older
 *   runs stay comparable.
 * - `parseProfile` rejects anything that is not such a profile with a
 *   one-line `ProfileError` naming the file and what is wrong.
 */
import type { AccessScaling } from './accessScaling.js';
import type { Figure } from './figure.js';
import type { HostInfo } from './host.js';
import type { IpiRate } from './ipiRate.js';
import type { IpiRoundEntry } from './ipiRound.js';
import type { MessagingLimits } from './limits.js';
import type { SeededStepFigures } from './seededStep.js';
import type { StartupEntry } from './startup.js';
import type { StressRate } from './stressRate.js';
import type { TlbLookupFigures } from './tlbLookup.js';

/** Schema version of the profile (the value of its `tlbsim_profile` key). */
export const PROFILE_VERSION = 1;

/** How long a bench runs: `quick` (~20 s), `default` (~2 min), `full` (longer: more targets, bigger machines). */
export type BenchTier = 'quick' | 'default' | 'full';

/** A host profile. */
export interface HostProfile {
  /** Schema version: PROFILE_VERSION. */
  tlbsim_profile: typeof PROFILE_VERSION;
  /** tlbsim version that measured it. */
  tlbsim_version: string;
  /** When the run finished (ISO 8601, UTC). */
  created_at: string;
  /** Which tier ran. */
  tier: BenchTier;
  /** Largest simulated machine the run was allowed to boot (`--max-cpus`). */
  max_cpus: number;
  /** Wall time of the whole run, seconds. */
  duration_s: number;
  /** The host. */
  host: HostInfo;
  /** CPU time other processes took during the run, percent of all host CPUs (null: unknown). Noise in every figure. */
  other_processes_pct: number | null;
  /** Physical limits of message passing, microseconds per round trip. */
  limits: MessagingLimits;
  /** A seeded step of the engine against the raw hand-off floor (absent from profiles written before it was measured). */
  seeded_step?: SeededStepFigures;
  /** IPI round latency, engine against raw, per target count. */
  ipi_round: IpiRoundEntry[];
  /** Simulated IPIs per host second, all-to-all (tlb-flush), engine against raw. Absent in profiles measured before it existed. */
  ipi_rate?: IpiRate;
  /** Simulated accesses per second against run tokens. */
  access_scaling: AccessScaling;
  /** TLB hit-path lookups per second, engine against raw. */
  tlb_lookup: TlbLookupFigures;
  /** Start-up time and memory per machine size. */
  startup: StartupEntry[];
  /** Stress iterations per second against piscina threads. */
  stress: StressRate;
}

/** A profile that cannot be read or compared. */
export class ProfileError extends Error {}

/** True if `v` has the shape of a Figure with a positive median and finite spread. */
function isFigure(v: unknown): v is Figure {
  if (v === null || typeof v !== 'object') return false;
  const f = v as Record<string, unknown>;
  const s = f.spread as Record<string, unknown> | undefined;
  const num = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
  return (
    num(f.median) &&
    typeof f.unit === 'string' &&
    (f.better === 'lower' || f.better === 'higher') &&
    num(f.samples) &&
    s !== undefined &&
    s !== null &&
    typeof s === 'object' &&
    num(s.p25) &&
    num(s.p75) &&
    num(s.min) &&
    num(s.max)
  );
}

/**
 * Every figure of a profile with a stable, readable name ("ipi round, 4
 * targets, engine median"), in profile order. `--compare` matches figures
 * of two profiles by these names.
 */
export function namedFigures(p: HostProfile): [string, Figure][] {
  const out: [string, Figure][] = [
    ['postMessage round trip', p.limits.post_message_rt],
    ['Atomics.wait/notify round trip', p.limits.atomics_wait_notify_rt],
    ['doorbell + receiveMessageOnPort round trip', p.limits.doorbell_rt],
  ];
  if (p.seeded_step) {
    const st = p.seeded_step;
    out.push(['seeded hand-off floor (sleeping)', st.handoff_floor_us], ['seeded hand-off floor (spinning)', st.handoff_spin_us], ['seeded step', st.step_us], ['seeded steps/s', st.steps_per_s]);
  }
  for (const e of p.ipi_round) {
    const t = `ipi round, ${e.targets} target${e.targets === 1 ? '' : 's'}`;
    out.push([`${t}, engine median`, e.engine.median], [`${t}, raw median`, e.raw.median], [`${t}, engine p99`, e.engine.p99], [`${t}, raw p99`, e.raw.p99]);
  }
  if (p.ipi_rate) {
    const r = p.ipi_rate;
    out.push([`IPIs/s all-to-all, ${r.cpus} CPUs, engine`, r.engine], [`IPIs/s all-to-all, ${r.cpus} CPUs, raw`, r.raw]);
  }
  for (const pt of p.access_scaling.points) out.push([`accesses/s, ${pt.tokens} run token${pt.tokens === 1 ? '' : 's'}`, pt.accesses_per_s]);
  out.push(['TLB lookups/s, engine', p.tlb_lookup.engine], ['TLB lookups/s, raw loop', p.tlb_lookup.raw]);
  for (const s of p.startup) {
    out.push([`start-up, ${s.cpus} CPUs`, s.startup_ms], [`MB per CPU, ${s.cpus} CPUs`, s.mb_per_cpu], [`peak RSS, ${s.cpus} CPUs`, s.peak_rss_mb]);
  }
  for (const s of p.stress.points) {
    const name = `stress ${s.sched}, ${s.threads} thread${s.threads === 1 ? '' : 's'}`;
    out.push([name, s.iterations_per_s]);
    // Absent from profiles written before it was measured.
    if (s.after_startup_per_s) out.push([`${name}, after start-up`, s.after_startup_per_s]);
  }
  return out;
}

/** Parse and check a profile read from `file` (for messages). Throws ProfileError with one line. */
export function parseProfile(text: string, file: string): HostProfile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ProfileError(`${file} is not JSON (${(e instanceof Error ? e.message : String(e)).split('\n')[0]}); pass a file written by 'tlbsim bench --out FILE' or '--json'`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ProfileError(`${file} is not a tlbsim host profile (not a JSON object)`);
  const o = v as Record<string, unknown>;
  if (o.tlbsim_profile !== PROFILE_VERSION) {
    throw new ProfileError(`${file} is not a tlbsim host profile version ${PROFILE_VERSION} (its 'tlbsim_profile' is ${JSON.stringify(o.tlbsim_profile) ?? 'missing'}); write one with 'tlbsim bench --out FILE'`);
  }
  for (const k of ['host', 'limits', 'ipi_round', 'access_scaling', 'tlb_lookup', 'startup', 'stress'] as const) {
    if (o[k] === undefined || o[k] === null || typeof o[k] !== 'object') throw new ProfileError(`${file}: the profile has no '${k}' section`);
  }
  const p = v as HostProfile;
  let figures: [string, Figure][];
  try {
    figures = namedFigures(p);
  } catch {
    throw new ProfileError(`${file}: the profile's sections are malformed (edited by hand?); write a new one with 'tlbsim bench --out FILE'`);
  }
  for (const [name, f] of figures) if (!isFigure(f)) throw new ProfileError(`${file}: figure '${name}' is malformed (needs median, spread {p25, p75, min, max}, samples, unit, better)`);
  return p;
}
