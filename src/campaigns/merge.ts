/**
 * `tlbsim merge DIR... --out DIR`: put the folders of a sharded campaign back
 * together into what the unsharded run would have written.
 *
 * Invariants:
 * - Every input folder holds one result of one campaign: a sweep
 *   (results.json), a stress campaign (stress.json) or an exploration
 *   (explore.json). Mixed kinds, different
 *   campaigns, a missing or repeated shard, or a folder that is not a shard are
 *   bad input (ConfigError, one line), never a partial merge.
 * - Sweep: the rows of every shard, sorted by point, form the unsharded
 *   sweep's rows; results.csv, results.json and the plots are rewritten from
 *   them (only the `host` timing fields differ from an unsharded run).
 * - Stress: counters, race totals, racy iterations and failures are sums and
 *   unions; the first race is the one with the lowest iteration; the reproduce
 *   command is recomputed from it.
 * - Explore: the shards own disjoint subtrees of one schedule tree
 *   (src/campaigns/shard.ts, ownsSchedule), so schedules and racy schedules
 *   (per preemption count) are sums, the distinct states are the union of the
 *   shards' state hashes, the shortest racy schedule is the first of the
 *   shards' in racyOrder (with its reproduce command), and the result is
 *   complete when every shard is. Every other field (scenario, side, config,
 *   bound, and any field a later explorer adds) must agree.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../output/atomicWrite.js';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { ConfigError } from '../config/config.js';
import { addRaces, zeroRaces } from '../engine/oracle.js';
import { addCounters, zeroCounters } from '../output/result.js';
import { formatShard, type Shard } from './shard.js';
import { stressResultOf, type FoundRace, type StressResult } from './stress.js';
import { SWEEP_FILES, writeSweepDir, type SweepResult } from './sweep.js';
import { racyOrder, type ScenarioExploreResult } from './explore.js';

/** File a stress campaign writes into its `--out` folder. */
const STRESS_FILE = 'stress.json';

/** Write a stress result into `dir` (created if missing). Returns the file written. */
export function writeStressDir(dir: string, r: StressResult): string {
  mkdirSync(dir, { recursive: true });
  const f = join(dir, STRESS_FILE);
  writeFileAtomic(f, `${JSON.stringify(r, null, 2)}\n`);
  return f;
}

/** File an exploration writes into its `--out` folder. */
const EXPLORE_FILE = 'explore.json';

/** Write an explore result (with its state hashes, which merge unions) into `dir` (created if missing). Returns the file written. */
export function writeExploreDir(dir: string, r: ScenarioExploreResult): string {
  mkdirSync(dir, { recursive: true });
  const f = join(dir, EXPLORE_FILE);
  writeFileAtomic(f, `${JSON.stringify(r, null, 2)}\n`);
  return f;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
}

/** Check the shards are exactly 1..N of one N. */
function checkShards(shards: (Shard | null)[], dirs: readonly string[]): void {
  const n = shards[0]?.n;
  shards.forEach((s, i) => {
    if (s === null) throw new ConfigError(`${dirs[i]} is not a shard (it was run without --shard): nothing to merge it with`);
    if (s.n !== n) throw new ConfigError(`${dirs[i]} is shard ${formatShard(s)}, but ${dirs[0]} is of ${n} shards`);
  });
  const seen = new Map<number, string>();
  shards.forEach((s, i) => {
    const prev = seen.get(s!.k);
    if (prev !== undefined) throw new ConfigError(`shard ${formatShard(s)} is given twice (${prev} and ${dirs[i]})`);
    seen.set(s!.k, dirs[i]);
  });
  const missing: number[] = [];
  for (let k = 1; k <= n!; k++) if (!seen.has(k)) missing.push(k);
  if (missing.length > 0) throw new ConfigError(`shard${missing.length > 1 ? 's' : ''} ${missing.map((k) => `${k}/${n}`).join(', ')} missing: give every shard's folder`);
}

/** Merge sweep shards into the unsharded sweep's result. @throws ConfigError on shards that do not form one campaign. */
export function mergeSweeps(parts: readonly SweepResult[], dirs: readonly string[]): SweepResult {
  checkShards(
    parts.map((p) => p.shard),
    dirs,
  );
  parts.forEach((p, i) => {
    if (!isDeepStrictEqual(p.campaign, parts[0].campaign)) {
      throw new ConfigError(`${dirs[i]} belongs to another sweep than ${dirs[0]} (different grid, options or cost model)`);
    }
  });
  const points = parts.flatMap((p) => p.points).sort((a, b) => a.index - b.index);
  points.forEach((p, i) => {
    if (p.index !== i) throw new ConfigError(`the shards do not hold point ${i} exactly once (found point ${p.index} there)`);
  });
  if (points.length !== parts[0].campaign.total_points) {
    throw new ConfigError(`the shards hold ${points.length} points, the sweep has ${parts[0].campaign.total_points}`);
  }
  return {
    campaign: parts[0].campaign,
    shard: null,
    points,
    host: { wall_ms: parts.reduce((a, p) => a + p.host.wall_ms, 0), parallel: Math.max(...parts.map((p) => p.host.parallel)) },
  };
}

/** The parts of a stress result that must agree between the shards of one campaign. */
function stressIdentity(r: StressResult): unknown {
  // Run tokens follow each host's cores; they change no seeded outcome.
  return { scenario: r.scenario, config: { ...r.config, runTokens: 0 }, requested_iterations: r.requested_iterations };
}

/** Merge stress shards into the unsharded campaign's result. @throws ConfigError on shards that do not form one campaign. */
export function mergeStress(parts: readonly StressResult[], dirs: readonly string[]): StressResult {
  checkShards(
    parts.map((p) => p.shard),
    dirs,
  );
  parts.forEach((p, i) => {
    if (!isDeepStrictEqual(stressIdentity(p), stressIdentity(parts[0]))) {
      throw new ConfigError(`${dirs[i]} belongs to another stress campaign than ${dirs[0]} (different scenario, options or iterations)`);
    }
  });
  const counters = zeroCounters();
  const races = zeroRaces();
  let iterations = 0;
  let racy = 0;
  let steps = 0;
  let wall = 0;
  let threads = 0;
  let first: FoundRace | null = null;
  for (const p of parts) {
    addCounters(counters, p.counters);
    addRaces(races, p.races);
    iterations += p.iterations;
    racy += p.racy_iterations;
    steps += p.host.sched_steps;
    wall += p.host.wall_ms;
    threads += p.host.threads;
    if (p.first_race && (first === null || p.first_race.iteration < first.iteration)) first = p.first_race;
  }
  const base = parts[0];
  const partial = parts.filter((p) => p.status === 'partial');
  return stressResultOf({
    scenario: base.scenario,
    kernel: base.kernel,
    partialReason: partial.length > 0 ? `${partial.length} of ${parts.length} shards were interrupted: ${partial[0].partial?.reason ?? ''}` : null,
    config: base.config,
    iterations,
    requestedIterations: base.requested_iterations,
    counters,
    races,
    racyIterations: racy,
    firstRace: first as FoundRace | null,
    failures: parts.flatMap((p) => p.failures),
    shard: null,
    iterationRange: { first: 0, end: base.requested_iterations },
    host: { wallMs: wall, threads, schedSteps: steps },
  });
}

/** What explore.json must hold for a merge (the fields merge computes with, and the identity's). */
const countSchema = z.number().int().nonnegative();
const exploreFileSchema = z.looseObject({
  scenario: z.string(),
  config: z.looseObject({}),
  bound: z.union([countSchema, z.literal('none')]),
  final_states: z.array(z.string()).optional(),
  schedules: countSchema,
  distinct_states: countSchema,
  state_hashes: z.array(z.number().int()),
  racy_schedules: countSchema,
  per_preemptions: z.array(z.object({ preemptions: countSchema, schedules: countSchema, racy: countSchema })),
  smallest_racy_bound: countSchema.nullable(),
  shortest_racy: z.looseObject({ schedule: z.string().regex(/^(none|\d+:\d+(,\d+:\d+)*)$/), preemptions: countSchema, steps: countSchema }).nullable(),
  complete: z.boolean(),
  shard: z.object({ k: z.number().int().positive(), n: z.number().int().positive() }).nullable(),
  wall_ms: z.number().nonnegative(),
  reproduce: z.string().nullable(),
});

/** Read one shard's explore.json. @throws ConfigError (one line) when it is not an explore result. */
function readExploreFile(file: string): ScenarioExploreResult {
  const parsed = exploreFileSchema.safeParse(readJson(file));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${file}: '${issue.path.map(String).join('.')}': ${issue.message} (not what tlbsim explore --out writes; run the exploration again)`);
  }
  const r = parsed.data as unknown as ScenarioExploreResult;
  if (r.bound !== 'none' && r.per_preemptions.length !== r.bound + 1) throw new ConfigError(`${file}: per_preemptions has ${r.per_preemptions.length} rows, bound ${r.bound} needs ${r.bound + 1} (run the exploration again)`);
  return r;
}

/** Fields merge computes from the shards; every other field of the shards' results must agree. */
const EXPLORE_MERGED_FIELDS = ['schedules', 'distinct_states', 'state_hashes', 'distinct_final_states', 'final_states', 'racy_schedules', 'per_preemptions', 'smallest_racy_bound', 'shortest_racy', 'complete', 'shard', 'wall_ms', 'reproduce'] as const satisfies readonly (keyof ScenarioExploreResult)[];

/** What must agree between the shards of one exploration, field by field. */
function exploreIdentity(r: ScenarioExploreResult): Record<string, unknown> {
  // Run tokens follow each host's cores; they change no seeded outcome.
  const id: Record<string, unknown> = { ...r, config: { ...r.config, runTokens: 0 } };
  for (const f of EXPLORE_MERGED_FIELDS) delete id[f];
  return id;
}

/** The first field where two identities differ (a config field as config.NAME), with both values. */
function firstDifference(a: Record<string, unknown>, b: Record<string, unknown>, prefix = ''): { field: string; a: unknown; b: unknown } {
  const key = [...new Set([...Object.keys(a), ...Object.keys(b)])].find((k) => !isDeepStrictEqual(a[k], b[k])) ?? '';
  if (key === 'config' && prefix === '') return firstDifference(a.config as Record<string, unknown>, b.config as Record<string, unknown>, 'config.');
  return { field: `${prefix}${key}`, a: a[key], b: b[key] };
}

/** Merge explore shards into the unsharded exploration's result. @throws ConfigError on shards that do not form one exploration. */
export function mergeExplores(parts: readonly ScenarioExploreResult[], dirs: readonly string[]): ScenarioExploreResult {
  checkShards(
    parts.map((p) => p.shard),
    dirs,
  );
  const base = exploreIdentity(parts[0]);
  parts.forEach((p, i) => {
    const id = exploreIdentity(p);
    if (!isDeepStrictEqual(id, base)) {
      const d = firstDifference(id, base);
      throw new ConfigError(`${dirs[i]} belongs to another exploration than ${dirs[0]} (${d.field} ${JSON.stringify(d.a) ?? 'absent'} there, ${JSON.stringify(d.b) ?? 'absent'} in ${dirs[0]})`);
    }
  });
  const per = parts[0].per_preemptions.map((b) => ({ preemptions: b.preemptions, schedules: 0, racy: 0 }));
  const states = new Set<number>();
  const finals = new Set<string>();
  let schedules = 0;
  let racy = 0;
  let wall = 0;
  // The shard whose shortest racy schedule comes first in racyOrder (its reproduce command goes with it).
  let first: ScenarioExploreResult | null = null;
  for (const p of parts) {
    p.per_preemptions.forEach((b, k) => {
      per[k].schedules += b.schedules;
      per[k].racy += b.racy;
    });
    for (const h of p.state_hashes) states.add(h);
    for (const f of p.final_states ?? []) finals.add(f);
    schedules += p.schedules;
    racy += p.racy_schedules;
    wall += p.wall_ms;
    if (p.shortest_racy !== null && (first === null || racyOrder(p.shortest_racy, first.shortest_racy!) < 0)) first = p;
  }
  return {
    ...parts[0],
    schedules,
    distinct_states: states.size,
    state_hashes: [...states].sort((a, b) => a - b),
    distinct_final_states: finals.size,
    final_states: [...finals].sort(),
    racy_schedules: racy,
    per_preemptions: per,
    smallest_racy_bound: per.find((b) => b.racy > 0)?.preemptions ?? null,
    shortest_racy: first?.shortest_racy ?? null,
    complete: parts.every((p) => p.complete),
    shard: null,
    wall_ms: wall,
    reproduce: first?.reproduce ?? null,
  };
}

/** What a merge wrote. */
interface MergeOutcome {
  kind: 'sweep' | 'stress' | 'explore';
  shards: number;
  files: string[];
  sweep?: SweepResult;
  stress?: StressResult;
  explore?: ScenarioExploreResult;
}

/** What each kind of campaign writes into its folder, and what to call it in a message. */
const KIND_FILES = [
  { kind: 'sweep', file: SWEEP_FILES.json, name: 'a sweep' },
  { kind: 'stress', file: STRESS_FILE, name: 'a stress campaign' },
  { kind: 'explore', file: EXPLORE_FILE, name: 'an exploration' },
] as const;

/** Merge the shard folders `dirs` into `out`. @throws ConfigError (one line) on anything that is not one complete sharded campaign. */
export async function mergeDirs(dirs: readonly string[], out: string): Promise<MergeOutcome> {
  if (dirs.length === 0) throw new ConfigError('merge needs the folders of every shard: tlbsim merge DIR... --out DIR');
  const kinds = dirs.map((d) => {
    const found = KIND_FILES.find((k) => existsSync(join(d, k.file)));
    if (found === undefined) throw new ConfigError(`${d} holds none of ${KIND_FILES.map((k) => `${k.file} (${k.name})`).join(', ')}`);
    return found;
  });
  const other = kinds.findIndex((k) => k !== kinds[0]);
  if (other >= 0) throw new ConfigError(`merge: the folders mix kinds (${dirs[0]} holds ${kinds[0].name}, ${dirs[other]} ${kinds[other].name}): merge each campaign's shards on their own`);
  if (kinds[0].kind === 'explore') {
    const merged = mergeExplores(
      dirs.map((d) => readExploreFile(join(d, EXPLORE_FILE))),
      dirs,
    );
    return { kind: 'explore', shards: dirs.length, files: [writeExploreDir(out, merged)], explore: merged };
  }
  if (kinds[0].kind === 'sweep') {
    const merged = mergeSweeps(
      dirs.map((d) => readJson(join(d, SWEEP_FILES.json)) as SweepResult),
      dirs,
    );
    return { kind: 'sweep', shards: dirs.length, files: await writeSweepDir(out, merged), sweep: merged };
  }
  const merged = mergeStress(
    dirs.map((d) => readJson(join(d, STRESS_FILE)) as StressResult),
    dirs,
  );
  return { kind: 'stress', shards: dirs.length, files: [writeStressDir(out, merged)], stress: merged };
}
