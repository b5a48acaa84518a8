/**
 * Shared checks of a host profile's documented shape (used by the
 * `tlbsim bench` tests): every documented key is present, and every figure
 * anywhere in it is a positive number with its spread.
 */
import { expect } from 'vitest';
import { namedFigures, type HostProfile } from '../src/campaigns/bench/profile.js';

/** Top-level keys the README documents. */
export const PROFILE_KEYS = [
  'tlbsim_profile',
  'tlbsim_version',
  'created_at',
  'tier',
  'max_cpus',
  'duration_s',
  'host',
  'other_processes_pct',
  'limits',
  'ipi_round',
  'access_scaling',
  'tlb_lookup',
  'startup',
  'stress',
] as const;
/** Keys of `host`. */
export const HOST_KEYS = ['cpu_model', 'cores', 'logical_cpus', 'cpus_allowed', 'memory_mb', 'node', 'v8', 'os', 'engine'] as const;
/** Keys of `limits` (all figures). */
export const LIMIT_KEYS = ['post_message_rt', 'atomics_wait_notify_rt', 'doorbell_rt'] as const;

function isFigureLike(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && ('unit' in v || 'spread' in v);
}

/** Every object with a `unit` or `spread` key anywhere in `v` (a figure), with its JSON path. */
export function findFigures(v: unknown, path = '$'): [string, Record<string, unknown>][] {
  if (isFigureLike(v)) return [[path, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => findFigures(x, `${path}[${i}]`));
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => findFigures(x, `${path}.${k}`));
  return [];
}

/** Assert `f` (at `path`) is a positive figure with a consistent spread. */
export function expectPositiveFigure(path: string, f: Record<string, unknown>): void {
  expect(Object.keys(f).sort(), `${path} keys`).toEqual(['better', 'median', 'samples', 'spread', 'unit']);
  const median = f.median as number;
  const s = f.spread as Record<string, number>;
  expect(typeof median, `${path}.median`).toBe('number');
  expect(median, `${path}.median`).toBeGreaterThan(0);
  expect(Number.isFinite(median), `${path}.median finite`).toBe(true);
  expect(Object.keys(s).sort(), `${path}.spread keys`).toEqual(['max', 'min', 'p25', 'p75']);
  expect(s.min, `${path}.spread.min`).toBeGreaterThan(0);
  expect(s.min, `${path} min <= p25`).toBeLessThanOrEqual(s.p25);
  expect(s.p25, `${path} p25 <= median`).toBeLessThanOrEqual(median);
  expect(median, `${path} median <= p75`).toBeLessThanOrEqual(s.p75);
  expect(s.p75, `${path} p75 <= max`).toBeLessThanOrEqual(s.max);
  expect(Number.isInteger(f.samples) && (f.samples as number) >= 1, `${path}.samples is a count`).toBe(true);
  expect(['us', 'ms', 'MB', 'lookups/s', 'accesses/s', 'iterations/s', 'IPIs/s', 'steps/s'], `${path}.unit`).toContain(f.unit);
  expect(['lower', 'higher'], `${path}.better`).toContain(f.better);
}

/**
 * Assert the whole documented shape of a profile. `written`: 'now' (a profile
 * this build measured: every key, the seeded step and the after-start-up
 * stress rates included) or 'before-seeded-step' (a saved profile from before
 * issue 19 added them: they must then be absent, not half there).
 */
export function expectProfileShape(p: HostProfile, written: 'now' | 'before-seeded-step' = 'now'): void {
  for (const k of PROFILE_KEYS) expect(p, `profile key ${k}`).toHaveProperty(k);
  const now = written === 'now';
  expect(p.seeded_step !== undefined, 'seeded_step present').toBe(now);
  expect(p.tlbsim_profile).toBe(1);
  for (const k of HOST_KEYS) expect(p.host, `host key ${k}`).toHaveProperty(k);
  expect(Number.isInteger(p.host.cores) && p.host.cores >= 1).toBe(true);
  for (const k of LIMIT_KEYS) expect(p.limits, `limits key ${k}`).toHaveProperty(k);
  expect(p.ipi_round.length).toBeGreaterThan(0);
  for (const e of p.ipi_round) {
    expect(Object.keys(e).sort()).toEqual(['engine', 'ratio', 'raw', 'targets']);
    for (const side of [e.engine, e.raw]) {
      expect(Object.keys(side).sort()).toEqual(['median', 'p99', 'rounds']);
      expect(side.rounds).toBeGreaterThan(0);
    }
    expect(e.ratio.median).toBeGreaterThan(0);
    expect(e.ratio.p99).toBeGreaterThan(0);
  }
  const st = p.seeded_step;
  if (st) {
    expect(Object.keys(st).sort()).toEqual(['handoff_floor_us', 'handoff_spin_us', 'ratio', 'scenario', 'step_us', 'steps_per_run', 'steps_per_s']);
    expect(st.scenario).toBe('unmap-window');
    expect(st.steps_per_run).toBeGreaterThan(0);
    // The engine and the floor are measured in the same run; the ratio is theirs.
    expect(st.ratio).toBeCloseTo(st.step_us.median / st.handoff_floor_us.median, 2);
  }
  // `ipi_rate` is absent from profiles measured before it existed (the saved fixtures).
  if (p.ipi_rate) {
    expect(Object.keys(p.ipi_rate).sort()).toEqual(['cpus', 'engine', 'ratio', 'raw']);
    expect(p.ipi_rate.cpus).toBeGreaterThanOrEqual(2);
  }
  expect(p.access_scaling.points.length).toBeGreaterThan(0);
  for (const pt of p.access_scaling.points) {
    expect(Object.keys(pt).sort()).toEqual(['accesses_per_s', 'efficiency', 'speedup', 'tokens']);
    expect(pt.efficiency).toBeGreaterThan(0);
  }
  expect(p.access_scaling.points[0]).toMatchObject({ tokens: 1, speedup: 1, efficiency: 1 });
  expect(Object.keys(p.tlb_lookup).sort()).toEqual(['engine', 'ratio', 'raw']);
  expect(p.startup.length).toBeGreaterThan(0);
  for (const s of p.startup) expect(Object.keys(s).sort()).toEqual(['cpus', 'mb_per_cpu', 'peak_rss_mb', 'startup_ms']);
  expect(p.stress.points.length).toBeGreaterThan(0);
  const stressKeys = ['iterations', 'iterations_per_s', 'sched', 'speedup', 'threads', ...(now ? ['after_startup_per_s', 'after_startup_speedup'] : [])].sort();
  for (const s of p.stress.points) expect(Object.keys(s).sort()).toEqual(stressKeys);

  // Every figure, wherever it is, is positive with its spread; and the named list misses none.
  const found = findFigures(p);
  for (const [path, f] of found) expectPositiveFigure(path, f);
  expect(found.length).toBe(namedFigures(p).length);
}
