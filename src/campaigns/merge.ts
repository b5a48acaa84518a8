/**
 * `tlbsim merge DIR... --out DIR`: put the folders of a sharded campaign back
 * together into what the unsharded run would have written.
 *
 * Invariants:
 * - Every input folder holds one result of one campaign: a sweep
 *   (results.json) or a stress campaign (stress.json). Mixed kinds, different
 *   campaigns, a missing or repeated shard, or a folder that is not a shard are
 *   bad input (ConfigError, one line), never a partial merge.
 * - Sweep: the rows of every shard, sorted by point, form the unsharded
 *   sweep's rows; results.csv, results.json and the plots are rewritten from
 *   them (only the `host` timing fields differ from an unsharded run).
 * - Stress: counters, race totals, racy iterations and failures are sums and
 *   unions; the first race is the one with the lowest iteration; the reproduce
 *   command is recomputed from it.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../output/atomicWrite.js';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ConfigError } from '../config/config.js';
import { addRaces, zeroRaces } from '../engine/oracle.js';
import { addCounters, zeroCounters } from '../output/result.js';
import { formatShard, type Shard } from './shard.js';
import { stressResultOf, type FoundRace, type StressResult } from './stress.js';
import { SWEEP_FILES, writeSweepDir, type SweepResult } from './sweep.js';

/** File a stress campaign writes into its `--out` folder. */
const STRESS_FILE = 'stress.json';

/** Write a stress result into `dir` (created if missing). Returns the file written. */
export function writeStressDir(dir: string, r: StressResult): string {
  mkdirSync(dir, { recursive: true });
  const f = join(dir, STRESS_FILE);
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

/** What a merge wrote. */
interface MergeOutcome {
  kind: 'sweep' | 'stress';
  shards: number;
  files: string[];
  sweep?: SweepResult;
  stress?: StressResult;
}

/** Merge the shard folders `dirs` into `out`. @throws ConfigError (one line) on anything that is not one complete sharded campaign. */
export async function mergeDirs(dirs: readonly string[], out: string): Promise<MergeOutcome> {
  if (dirs.length === 0) throw new ConfigError('merge needs the folders of every shard: tlbsim merge DIR... --out DIR');
  const kinds = dirs.map((d) => {
    if (existsSync(join(d, SWEEP_FILES.json))) return 'sweep' as const;
    if (existsSync(join(d, STRESS_FILE))) return 'stress' as const;
    throw new ConfigError(`${d} holds neither ${SWEEP_FILES.json} (a sweep) nor ${STRESS_FILE} (a stress campaign)`);
  });
  if (kinds.some((k) => k !== kinds[0])) throw new ConfigError('merge: the folders mix sweeps and stress campaigns');
  if (kinds[0] === 'sweep') {
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
