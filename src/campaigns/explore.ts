/**
 * `tlbsim explore`: check every schedule of a small scenario with at most K
 * preemptions (iterative context bounding, as in CHESS: Musuvathi and
 * Qadeer, PLDI 2007), instead of sampling schedules with the PRNG.
 *
 * A schedule is the list of choice points where it departs from the default
 * (src/engine/forcedSchedule.ts: the default never preempts). Each schedule is one run of
 * a booted machine (reused across runs), which records every choice point:
 * the yielding CPU, whether it yielded from a wait, the enabled CPUs, the
 * choice and a hash of the machine state. From a run whose last forced
 * choice is at point f, the explorer derives one child schedule per
 * alternative at every later point s > f: the run's choices up to s, the
 * alternative at s, defaults after. Every schedule is thus derived exactly
 * once (from the run that agrees with it up to its last forced choice).
 *
 * Invariants:
 * - Bounds are explored in order: every schedule with k preemptions runs
 *   before any with k + 1 (iterative context bounding), so the first racy
 *   bound found is the smallest one that has a race.
 * - A preemption is a switch away from a CPU that could go on (it did not
 *   yield from a wait, did not retire, did not just finish an interrupt
 *   with `--ipi-step`, and is enabled). Free switches do not
 *   count, and at a free switch every enabled CPU is tried.
 * - The order of exploration, and so every count and the shortest racy
 *   schedule, is a pure function of (config, seed, bound).
 * - Distinct states are counted (hash of shared memory and each CPU's
 *   progress at every choice point), not used to prune: pruning on a hash
 *   that leaves out a CPU's private state could skip a schedule.
 * - `shard` K/N (src/campaigns/shard.ts, ownsSchedule) splits the schedule
 *   tree below the root: every shard runs the root, only shard 1 counts it,
 *   and each subtree below it runs and is counted on one shard. Everything a
 *   result holds is then a sum (schedules, racy, per bound), a union (the
 *   state hashes) or a minimum in an order that does not depend on which
 *   shard found it (the shortest racy schedule: fewest preemptions, then
 *   fewest choice points, then the forced choices in order), so `tlbsim
 *   merge` rebuilds the unsharded result exactly.
 */
import { ConfigError, isPluginPath, type SimConfig } from '../config/config.js';
import { loadScenarioPlugin, pluginFailure } from '../plugin/load.js';
import { Machine } from '../engine/coordinator.js';
import { totalRaceCount, type RaceCounts } from '../engine/oracle.js';
import type { KernelSide } from '../scenarios/races/index.js';
import { getPreset, resolvePreset } from '../scenarios/preset.js';
import { formatSchedule, parseSchedule, schedAgents, SCHED_MAX_CPUS, SCHED_RECORD_MAX, type ChoicePoint, type ForcedChoice } from '../engine/forcedSchedule.js';
import { ablationSide, stressReproduceCommand } from './stress.js';
import { ownsSchedule, SHARD_SPLIT_DEPTH, type Shard } from './shard.js';

/** Largest preemption bound accepted: every bound multiplies the schedules by roughly the number of choice points. */
export const MAX_PREEMPTION_BOUND = 6;
/** Default cap on schedules per exploration: a scenario that needs more is too big to explore here. */
export const DEFAULT_MAX_SCHEDULES = 200_000;

/** One schedule waiting to run. */
interface Work {
  forced: ForcedChoice[];
  /** Preemptions the forced choices make. */
  preemptions: number;
  /** First choice point a child may change (after the last forced one). */
  from: number;
}

/** Counts at one exact preemption count. */
export interface BoundCount {
  preemptions: number;
  schedules: number;
  racy: number;
}

/** The shortest racy schedule found. */
export interface RacySchedule {
  /** `--replay` text. */
  schedule: string;
  preemptions: number;
  /** Choice points the run took. */
  steps: number;
  races: RaceCounts;
}

export interface ExploreResult {
  bound: number;
  /** Schedules run (with at most `bound` preemptions). */
  schedules: number;
  /** Distinct machine states seen over all schedules. */
  distinct_states: number;
  /** The `distinct_states` hashes, ascending (what `tlbsim merge` unions across shards). */
  state_hashes: number[];
  racy_schedules: number;
  /** Schedules per exact preemption count 0..bound. */
  per_preemptions: BoundCount[];
  /** The smallest preemption count with a racy schedule (null: none up to `bound`). */
  smallest_racy_bound: number | null;
  /** The first racy schedule in racyOrder: fewest preemptions, then fewest steps, then forced choices. */
  shortest_racy: RacySchedule | null;
  /** False when `maxSchedules` stopped the exploration before it was exhaustive. */
  complete: boolean;
  /** The slice explored (`--shard K/N`), null for the whole exploration. */
  shard: Shard | null;
  wall_ms: number;
}

export interface ExploreOptions {
  config: SimConfig;
  bound: number;
  maxSchedules?: number;
  /** Explore only this shard's slice of the schedules (ownsSchedule); null or absent: all. */
  shard?: Shard | null;
  /** Called after every schedule. */
  onProgress?: (schedules: number, racy: number, preemptions: number) => void;
  signal?: AbortSignal;
}

/**
 * The order that picks the shortest racy schedule, the same whichever shard
 * (or an unsharded run) found it: fewest preemptions, then fewest choice
 * points, then the forced choices compared one by one (earlier choice point
 * first, then lower CPU; a prefix before its extensions). Negative: `a` first.
 */
export function racyOrder(a: RacySchedule, b: RacySchedule): number {
  if (a.preemptions !== b.preemptions) return a.preemptions - b.preemptions;
  if (a.steps !== b.steps) return a.steps - b.steps;
  // Explored schedules name at most 2 x SCHED_MAX_CPUS agents (CPUs and, on arm64, their MMUs).
  const fa = parseSchedule(a.schedule, SCHED_MAX_CPUS, 2 * SCHED_MAX_CPUS);
  const fb = parseSchedule(b.schedule, SCHED_MAX_CPUS, 2 * SCHED_MAX_CPUS);
  for (let i = 0; i < Math.min(fa.length, fb.length); i++) {
    if (fa[i].step !== fb[i].step) return fa[i].step - fb[i].step;
    if (fa[i].cpu !== fb[i].cpu) return fa[i].cpu - fb[i].cpu;
  }
  return fa.length - fb.length;
}

/** Is choosing `c` at `p` a preemption? */
export function isPreemption(p: ChoicePoint, c: number): boolean {
  return p.cur >= 0 && !p.blocked && !p.afterIrq && c !== p.cur && (p.enabled & (1 << p.cur)) !== 0;
}

/** Explore every schedule of `config` with at most `bound` preemptions. */
export async function explore(opts: ExploreOptions): Promise<ExploreResult> {
  const c = opts.config;
  if (c.sched !== 'seeded') throw new ConfigError('explore needs --sched seeded');
  if (c.cpus > SCHED_MAX_CPUS) throw new ConfigError(`explore needs at most ${SCHED_MAX_CPUS} CPUs, got --cpus ${c.cpus}`);
  if (!Number.isInteger(opts.bound) || opts.bound < 0 || opts.bound > MAX_PREEMPTION_BOUND) {
    throw new ConfigError(`--preemption-bound must be an integer from 0 to ${MAX_PREEMPTION_BOUND}, got ${String(opts.bound)}`);
  }
  const maxSchedules = opts.maxSchedules ?? DEFAULT_MAX_SCHEDULES;
  const shard = opts.shard ?? null;
  const agents = schedAgents(c);
  const t0 = performance.now();
  // A schedule longer than the recorder holds cannot be explored: stop such a run there, not at the livelock guard.
  const machine = await Machine.boot({ ...c, schedule: '', maxSeededSteps: Math.min(c.maxSeededSteps, SCHED_RECORD_MAX) });
  const levels: Work[][] = Array.from({ length: opts.bound + 1 }, () => []);
  levels[0].push({ forced: [], preemptions: 0, from: 0 });
  const states = new Set<number>();
  const per: BoundCount[] = Array.from({ length: opts.bound + 1 }, (_, k) => ({ preemptions: k, schedules: 0, racy: 0 }));
  let schedules = 0;
  let racy = 0;
  let shortest: RacySchedule | null = null;
  let complete = true;
  try {
    for (let k = 0; k <= opts.bound && complete; k++) {
      const stack = levels[k];
      while (stack.length > 0) {
        if (schedules >= maxSchedules || opts.signal?.aborted) {
          complete = false;
          break;
        }
        const w = stack.pop()!;
        // --shard: a schedule above the split runs everywhere (its children are dealt out) but counts on shard 1; below it, only its owner runs its subtree.
        const counted = ownsSchedule(w.forced, shard);
        if (!counted && w.forced.length >= SHARD_SPLIT_DEPTH) continue;
        const r = await machine.run(c.seed, { schedule: w.forced });
        if (r.status === 'failed') {
          // A plug-in that throws inside a worker is bad input (one line naming its file, exit 2), not an engine failure.
          const fault = pluginFailure(r.failure?.message);
          if (fault !== null) throw fault;
          throw new Error(`schedule ${formatSchedule(w.forced)} failed: ${r.failure?.message ?? 'unknown failure'}`);
        }
        const rec = machine.scheduleRecord();
        if (rec === null) throw new Error('the machine did not record its choice points');
        if (rec.truncated) throw new Error(`schedule ${formatSchedule(w.forced)} took more choice points than can be recorded: the scenario is too big to explore`);
        if (rec.invalidForced > 0) throw new Error(`schedule ${formatSchedule(w.forced)} forced a CPU that was not enabled: the run is not deterministic`);
        if (counted) {
          schedules++;
          per[k].schedules++;
          for (const p of rec.points) states.add(p.hash);
          if (totalRaceCount(r.races) > 0) {
            racy++;
            per[k].racy++;
            const found: RacySchedule = { schedule: formatSchedule(w.forced), preemptions: k, steps: rec.points.length, races: r.races };
            if (shortest === null || racyOrder(found, shortest) < 0) shortest = found;
          }
        }
        // Children, pushed so the stack pops them in choice-point order (earliest first).
        const children: Work[] = [];
        for (let s = w.from; s < rec.points.length; s++) {
          const p = rec.points[s];
          if (p.chosen < 0) continue;
          // With MMU agents (arm64, invlpgb, rar) the agents include each CPU's MMU (cpus + c): when it applies invalidations is a choice too.
          for (let cpu = 0; cpu < agents; cpu++) {
            if (cpu === p.chosen || (p.enabled & (1 << cpu)) === 0) continue;
            const cost = w.preemptions + (isPreemption(p, cpu) ? 1 : 0);
            if (cost > opts.bound) continue;
            children.push({ forced: [...w.forced, { step: s, cpu }], preemptions: cost, from: s + 1 });
          }
        }
        for (let i = children.length - 1; i >= 0; i--) levels[children[i].preemptions].push(children[i]);
        opts.onProgress?.(schedules, racy, k);
      }
    }
  } finally {
    await machine.shutdown();
  }
  const smallest = per.find((b) => b.racy > 0)?.preemptions ?? null;
  return {
    bound: opts.bound,
    schedules,
    distinct_states: states.size,
    state_hashes: [...states].sort((a, b) => a - b),
    racy_schedules: racy,
    per_preemptions: per,
    smallest_racy_bound: smallest,
    shortest_racy: shortest,
    complete,
    shard,
    wall_ms: Math.round(performance.now() - t0),
  };
}

/** What `tlbsim explore` reports: the exploration of one side of a scenario. */
export interface ScenarioExploreResult extends ExploreResult {
  scenario: string;
  kernel?: KernelSide;
  /** Present (true) when `kernel` is the buggy side of a planted ablation. */
  ablation?: true;
  config: SimConfig;
  /** `tlbsim stress ... --replay` command that runs the shortest racy schedule exactly (null if none). */
  reproduce: string | null;
}

export interface ScenarioExploreOptions {
  scenario: string;
  /** Side of a catalogue race (default fixed); none for the lab's scenarios. */
  kernel?: KernelSide;
  overrides?: Partial<SimConfig>;
  bound: number;
  maxSchedules?: number;
  shard?: Shard | null;
  onProgress?: ExploreOptions['onProgress'];
  signal?: AbortSignal;
}

/** Explore a stress scenario (as `tlbsim stress --scenario` configures it) and name the replay of its shortest racy schedule. */
export async function exploreScenario(opts: ScenarioExploreOptions): Promise<ScenarioExploreResult> {
  if (isPluginPath(opts.scenario)) await loadScenarioPlugin(opts.scenario);
  if (getPreset(opts.scenario).sides === undefined) {
    // The lab's scenarios loop until reclaim is done: a schedule that never preempts would spin forever.
    throw new ConfigError(`explore takes a race catalogue scenario (tlbsim races), got '${opts.scenario}'`);
  }
  const { config, kernel } = resolvePreset({ scenario: opts.scenario, kernel: opts.kernel }, { ...(opts.overrides ?? {}), schedule: '' });
  const r = await explore({ config, bound: opts.bound, maxSchedules: opts.maxSchedules, shard: opts.shard, onProgress: opts.onProgress, signal: opts.signal });
  const reproduce = r.shortest_racy ? stressReproduceCommand(opts.scenario, { ...config, schedule: r.shortest_racy.schedule }, config.seed, kernel) : null;
  return { scenario: opts.scenario, ...(kernel === undefined ? {} : { kernel }), ...(ablationSide(opts.scenario, kernel) ? { ablation: true as const } : {}), config, ...r, reproduce };
}
