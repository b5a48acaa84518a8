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
 * With `--por on` (src/engine/footprint.ts records what each step read and
 * wrote), it runs one schedule per class of schedules that differ only in
 * the order of steps that commute: bounded DPOR (Flanagan and Godefroid,
 * POPL 2005; with a preemption bound, the conservative points of Coons,
 * Musuvathi and McKinley's BPOR, OOPSLA 2013, as tokio-rs/loom and dejafu
 * do). Each queued schedule is still a forced prefix (Work), and children
 * still come from a finished run: DPOR only chooses which.
 *
 * Invariants:
 * - `--por off`: bounds are explored in order: every schedule with k
 *   preemptions runs before any with k + 1 (iterative context bounding), so
 *   the first racy bound found is the smallest one that has a race; the
 *   counts are today's exhaustive counts.
 * - `--por on`: one pass at the bound; if it found a race, passes at bound
 *   0, 1, ... until one finds a race: that is the smallest racy bound (a pass
 *   at bound k runs a representative of every class some schedule with at
 *   most k preemptions belongs to, and a class's final state is the same for
 *   all its schedules). `--preemption-bound none` runs plain DPOR, and a
 *   finished run reports "verified: every schedule".
 * - A preemption is a switch away from a CPU that could go on (it did not
 *   yield from a wait, did not retire, did not just finish an interrupt
 *   with `--ipi-step`, and is enabled). Free switches do not
 *   count, and at a free switch every enabled CPU is tried.
 * - The order of exploration, and so every count and the shortest racy
 *   schedule, is a pure function of (config, seed, bound, por).
 * - Distinct states are counted (hash of shared memory and each CPU's
 *   progress at every choice point), never used to prune: that hash leaves
 *   out each CPU's program position, which lives on its JS stack, so
 *   pruning on it could skip a schedule (it did: measured, it lost final
 *   states).
 * - `--stateful on` (the CLI's default with `--por off`) prunes on a
 *   different key (ChoicePoint.key, src/engine/forcedSchedule.ts): shared
 *   memory in two independent 32-bit hashes, the second over every buffer
 *   the program can read, and each CPU thread's read history (every value
 *   it obtained while holding the turn, src/engine/footprint.ts), which
 *   fixes its program position because its code is deterministic. A run
 *   expands only the points after its last forced choice; at the first such
 *   point whose key was already expanded with no more preemptions spent, it
 *   stops branching (the state's whole future within the bound is explored
 *   from the first visit), and the run is counted in `revisits_pruned`. The
 *   run itself still runs to the end, so its races and final state count.
 *   Bounds are still explored in order, so the first racy bound is the
 *   smallest; verdicts and final states equal the full exploration's
 *   (test/porSoundness.test.ts), schedule counts do not. Not with `--por on`
 *   (a DPOR pass would need the pruned state's backtrack sets) or `--shard`
 *   (each shard would prune on its own states).
 * - `shard` K/N (src/campaigns/shard.ts, ownsSchedule) splits the schedule
 *   tree below the root: every shard runs the root, only shard 1 counts it,
 *   and each subtree below it runs and is counted on one shard. Everything a
 *   result holds is then a sum (schedules, racy, per bound), a union (the
 *   state hashes, the final states) or a minimum in an order that does not
 *   depend on which shard found it (the shortest racy schedule: fewest
 *   preemptions, then fewest choice points, then the forced choices in
 *   order), so `tlbsim merge` rebuilds the unsharded result exactly. Shards
 *   take `--por off` only for now: a DPOR pass's backtrack points cross subtrees.
 */
import { ConfigError, isPluginPath, type SimConfig } from '../config/config.js';
import { loadScenarioPlugin, pluginFailure } from '../plugin/load.js';
import { Machine } from '../engine/coordinator.js';
import { totalRaceCount, type RaceCounts } from '../engine/oracle.js';
import type { KernelSide } from '../scenarios/races/index.js';
import { getPreset, resolvePreset } from '../scenarios/preset.js';
import { formatSchedule, parseSchedule, schedAgents, SCHED_MAX_CPUS, SCHED_RECORD_MAX, type ChoicePoint, type ForcedChoice } from '../engine/forcedSchedule.js';
import { stepsDependent, type StepFootprint } from '../engine/footprint.js';
import { ablationSide, stressReproduceCommand } from './stress.js';
import { ownsSchedule, SHARD_SPLIT_DEPTH, type Shard } from './shard.js';

/** Largest preemption bound accepted: every bound multiplies the schedules by roughly the number of choice points. */
export const MAX_PREEMPTION_BOUND = 6;
/** Default cap on schedules per exploration: a scenario that needs more is too big to explore here. */
export const DEFAULT_MAX_SCHEDULES = 200_000;
/** `--preemption-bound none`: no bound (with POR: every equivalence class of every schedule). */
export const UNBOUNDED = Number.POSITIVE_INFINITY;

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

/** One bounded-DPOR pass (`--por on`): the pass at the bound, then, if it found a race, passes at 0, 1, ... */
interface PorPass {
  bound: number | 'none';
  schedules: number;
  racy: number;
}

export interface ExploreResult {
  /** The preemption bound, or 'none'. */
  bound: number | 'none';
  /** Partial-order reduction: on (one schedule per equivalence class, src/engine/footprint.ts) or off (every schedule). */
  por: 'on' | 'off';
  /** Schedules run (with at most `bound` preemptions), over every pass. */
  schedules: number;
  /**
   * With POR: alternatives at the choice points of the runs (within the bound) that the reduction did
   * not run (each would have been at least one schedule of the exhaustive order); 0 with --por off.
   */
  schedules_pruned: number;
  /** With POR: the passes run. */
  por_passes?: PorPass[];
  /**
   * Whether revisited states were pruned (`--stateful on`): a state is its
   * shared memory and every CPU thread's read history (src/engine/footprint.ts),
   * which fixes its program position; the recorded `distinct_states` hash
   * leaves the histories out and never prunes.
   */
  stateful_pruning: boolean;
  /** With `--stateful on`: runs whose expansion stopped at a state expanded before (each stands for a subtree not run again). */
  revisits_pruned?: number;
  /** Distinct final states: race kinds and the last choice point's state hash. */
  distinct_final_states: number;
  /** `--preemption-bound none` and complete: the reduced space was explored to the end. */
  verified?: 'every schedule';
  /** The distinct final states themselves (option `finalStates`; the soundness test compares them). */
  final_states?: string[];
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
  /** Partial-order reduction (default off until reads are recorded precisely: see src/engine/footprint.ts); off = the exhaustive order, every schedule. */
  por?: boolean;
  /**
   * Run every alternative of the root run's choice points within the bound (no reduction there) and
   * reduce only below them, so each child subtree can be explored on its own (`explore --shard`).
   */
  expandRoot?: boolean;
  /** Return the distinct final states (`final_states`). */
  finalStates?: boolean;
  /**
   * Stateful exploration (`--stateful on`, with `--por off`): stop expanding
   * a run at a state already expanded with no more preemptions (the state
   * key: shared memory and every CPU thread's read history).
   */
  stateful?: boolean;
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

/** Validate the common options; returns the agent count. */
function checkExplore(opts: ExploreOptions): number {
  const c = opts.config;
  if (c.sched !== 'seeded') throw new ConfigError('explore needs --sched seeded');
  if (c.cpus > SCHED_MAX_CPUS) throw new ConfigError(`explore needs at most ${SCHED_MAX_CPUS} CPUs, got --cpus ${c.cpus}`);
  const b = opts.bound;
  if (b !== UNBOUNDED && (!Number.isInteger(b) || b < 0 || b > MAX_PREEMPTION_BOUND)) {
    throw new ConfigError(`--preemption-bound must be an integer from 0 to ${MAX_PREEMPTION_BOUND} or none, got ${String(b)}`);
  }
  if (opts.stateful === true && opts.por === true) {
    throw new ConfigError('explore --stateful on takes --por off for now (pruning revisited states inside a DPOR pass would need its backtrack sets carried over)');
  }
  if (opts.stateful === true && (opts.shard ?? null) !== null) {
    throw new ConfigError('explore --shard takes --stateful off (each shard would prune on the states it saw, so the merged counts would not be one run\'s)');
  }
  if ((opts.shard ?? null) !== null && opts.por === true) {
    throw new ConfigError('explore --shard takes --por off for now (a DPOR pass adds backtrack points across the shards\' subtrees)');
  }
  return schedAgents(c);
}

/** Tallies of one exploration pass, merged into the result. */
interface Tally {
  schedules: number;
  racy: number;
  per: BoundCount[];
  shortest: RacySchedule | null;
  states: Set<number>;
  finals: Set<string>;
  complete: boolean;
  /** --stateful: runs whose expansion stopped at a state already expanded. */
  revisits: number;
}

function newTally(): Tally {
  return { schedules: 0, racy: 0, per: [], shortest: null, states: new Set(), finals: new Set(), complete: true, revisits: 0 };
}

function perBound(t: Tally, k: number): BoundCount {
  while (t.per.length <= k) t.per.push({ preemptions: t.per.length, schedules: 0, racy: 0 });
  return t.per[k];
}

/** What one finished run gives the explorer. */
interface RunOutcome {
  points: ChoicePoint[];
  racy: boolean;
}

/** Run schedule `forced` on the booted machine, check it, and count it in `t` at `preemptions`. */
async function runSchedule(machine: Machine, opts: ExploreOptions, t: Tally, forced: ForcedChoice[], preemptions: number, footprints: boolean, counted = true, stateful = false): Promise<RunOutcome> {
  const c = opts.config;
  const r = await machine.run(c.seed, { schedule: forced, footprints, stateful });
  if (r.status === 'failed') {
    // A plug-in that throws inside a worker is bad input (one line naming its file, exit 2), not an engine failure.
    const fault = pluginFailure(r.failure?.message);
    if (fault !== null) throw fault;
    throw new Error(`schedule ${formatSchedule(forced)} failed: ${r.failure?.message ?? 'unknown failure'}`);
  }
  const rec = machine.scheduleRecord();
  if (rec === null) throw new Error('the machine did not record its choice points');
  if (rec.truncated) throw new Error(`schedule ${formatSchedule(forced)} took more choice points than can be recorded: the scenario is too big to explore`);
  if (rec.invalidForced > 0) throw new Error(`schedule ${formatSchedule(forced)} forced a CPU that was not enabled: the run is not deterministic`);
  const racy = totalRaceCount(r.races) > 0;
  // --shard: a schedule above the split runs on every shard (its children are dealt out) but counts on shard 1 only.
  if (!counted) return { points: rec.points, racy };
  t.schedules++;
  const b = perBound(t, preemptions);
  b.schedules++;
  for (const p of rec.points) t.states.add(p.hash);
  // The final state: race kinds found and the last choice point's hash (shared memory and every agent's progress at the end).
  const last = rec.points[rec.points.length - 1];
  const kinds = (Object.keys(r.races) as (keyof RaceCounts)[]).filter((k) => r.races[k] > 0).join('+');
  t.finals.add(`${kinds === '' ? 'clean' : kinds}:${(last?.hash ?? 0).toString(16)}`);
  if (racy) {
    t.racy++;
    b.racy++;
    const found: RacySchedule = { schedule: formatSchedule(forced), preemptions, steps: rec.points.length, races: r.races };
    if (t.shortest === null || racyOrder(found, t.shortest) < 0) t.shortest = found;
  }
  opts.onProgress?.(t.schedules, t.racy, preemptions);
  return { points: rec.points, racy };
}

/** Today's exhaustive order (`--por off`): every schedule with at most `bound` preemptions, bound by bound. */
async function exploreExhaustive(machine: Machine, opts: ExploreOptions, agents: number, t: Tally, maxSchedules: number): Promise<void> {
  const bound = opts.bound;
  /** --stateful: each state key expanded so far, with the preemptions spent to reach it. */
  const visited = opts.stateful === true ? new Map<string, number>() : null;
  const levels: Work[][] = [[{ forced: [], preemptions: 0, from: 0 }]];
  for (let k = 0; k < levels.length && k <= bound && t.complete; k++) {
    const stack = levels[k];
    while (stack.length > 0) {
      if (t.schedules >= maxSchedules || opts.signal?.aborted) {
        t.complete = false;
        break;
      }
      const w = stack.pop()!;
      // --shard: below the split only the owner runs a subtree (ownsSchedule).
      const counted = ownsSchedule(w.forced, opts.shard ?? null);
      if (!counted && w.forced.length >= SHARD_SPLIT_DEPTH) continue;
      const { points } = await runSchedule(machine, opts, t, w.forced, k, false, counted, visited !== null);
      // Children, pushed so the stack pops them in choice-point order (earliest first).
      const children: Work[] = [];
      for (let s = w.from; s < points.length; s++) {
        const p = points[s];
        if (visited !== null) {
          // --stateful: a state already expanded with no more preemptions spent has had its whole future explored
          // (within the bound) from there: nothing from here on is new. Only points after the last forced choice
          // are this run's to expand; earlier ones were its ancestors'.
          // With a bound, who yielded and how decides what each alternative costs: part of the key. With none,
          // every enabled agent is tried from here whoever yielded, so the machine state alone is the key.
          const key = bound === UNBOUNDED ? (p.key ?? '') : `${p.key ?? ''}.${p.cur}.${p.blocked ? 1 : 0}${p.afterIrq ? 1 : 0}`;
          const seen = visited.get(key);
          if (seen !== undefined && seen <= w.preemptions) {
            t.revisits++;
            break;
          }
          visited.set(key, w.preemptions);
        }
        if (p.chosen < 0) continue;
        // With --arch arm64 the agents include each CPU's MMU (cpus + c): when it applies its TLBIs is a choice too.
        for (let cpu = 0; cpu < agents; cpu++) {
          if (cpu === p.chosen || (p.enabled & (1 << cpu)) === 0) continue;
          const cost = w.preemptions + (isPreemption(p, cpu) ? 1 : 0);
          if (cost > bound) continue;
          children.push({ forced: [...w.forced, { step: s, cpu }], preemptions: cost, from: s + 1 });
        }
      }
      for (let i = children.length - 1; i >= 0; i--) {
        const k2 = children[i].preemptions;
        while (levels.length <= k2) levels.push([]);
        levels[k2].push(children[i]);
      }
    }
  }
}

/**
 * A choice point of the DPOR tree: the state after a prefix of choices. Kept
 * only while a schedule below it waits (parents are reached through `up`).
 */
interface PorNode {
  up: PorNode | null;
  depth: number;
  point: ChoicePoint;
  /** Preemptions of the prefix before this point. */
  cost: number;
  /** Agents already run (or queued) from here: bit a. */
  done: number;
  /** The forced choices of the run that first reached this point (all before it). */
  forced: ForcedChoice[];
}

/** A schedule DPOR queued: from `node`, run `agent`, then the default. */
interface PorWork extends Work {
  node: PorNode | null;
}

/**
 * One bounded-DPOR pass (Flanagan and Godefroid, POPL 2005; with a preemption
 * bound, Coons, Musuvathi and McKinley's BPOR, OOPSLA 2013): run a schedule,
 * find its races (two steps of different agents that do not commute, the
 * later not already ordered after the earlier through other steps), and at
 * the state before the earlier step queue the later step's agent (every
 * enabled agent if it was not enabled there). With a bound, the same agent is
 * also queued at the last context switch before that state (BPOR's
 * conservative point: reaching the race by switching earlier may cost fewer
 * preemptions), and a queued choice that would exceed the bound is dropped.
 * With `expandRoot` (sharding), every alternative of the root run's choice
 * points within the bound is queued, as the exhaustive order does, and the
 * reduction applies below them only.
 */
async function explorePor(machine: Machine, opts: ExploreOptions, agents: number, bound: number, t: Tally, maxSchedules: number, expandRoot: boolean): Promise<{ pruned: number }> {
  const cpus = opts.config.cpus;
  const stack: PorWork[] = [{ forced: [], preemptions: 0, from: 0, node: null }];
  let candidates = 0;
  let explored = 0;
  while (stack.length > 0) {
    if (t.schedules >= maxSchedules || opts.signal?.aborted) {
      t.complete = false;
      break;
    }
    const w = stack.pop()!;
    const { points } = await runSchedule(machine, opts, t, w.forced, w.preemptions, true);
    const fps = machine.stepFootprints(points.length - 1);
    if (fps === null) throw new Error('the machine did not record step footprints');
    // The path of tree nodes this run went through: the queued node's ancestors, then new nodes.
    const s = w.node === null ? -1 : w.node.depth;
    const path: PorNode[] = new Array<PorNode>(points.length);
    for (let n: PorNode | null = w.node; n !== null; n = n.up) path[n.depth] = n;
    let cost = w.node === null ? 0 : w.node.cost + (isPreemption(w.node.point, points[s].chosen) ? 1 : 0);
    for (let d = s + 1; d < points.length; d++) {
      const p = points[d];
      const node: PorNode = { up: d === 0 ? null : path[d - 1], depth: d, point: p, cost, done: p.chosen >= 0 ? 1 << p.chosen : 0, forced: w.forced };
      path[d] = node;
      if (p.chosen >= 0) {
        for (let a = 0; a < agents; a++) if (a !== p.chosen && (p.enabled & (1 << a)) !== 0 && cost + (isPreemption(p, a) ? 1 : 0) <= bound) candidates++;
        cost += isPreemption(p, p.chosen) ? 1 : 0;
      }
    }
    const queue = (d: number, agent: number): void => {
      const node = path[d];
      const p = node.point;
      if (p.chosen < 0) return;
      const targets = (p.enabled & (1 << agent)) !== 0 ? 1 << agent : p.enabled;
      for (let a = 0; a < agents; a++) {
        if ((targets & (1 << a)) === 0 || (node.done & (1 << a)) !== 0) continue;
        const c = node.cost + (isPreemption(p, a) ? 1 : 0);
        if (c > bound) continue;
        node.done |= 1 << a;
        explored++;
        stack.push({ forced: [...node.forced.filter((f) => f.step < d), { step: d, cpu: a }], preemptions: c, from: d + 1, node });
      }
    };
    if (expandRoot && w.node === null) {
      for (let d = 0; d < points.length; d++) for (let a = 0; a < agents; a++) queue(d, a);
    }
    for (const [i, j] of races(points, fps, agents, cpus)) {
      const q = points[j].chosen;
      queue(i, q);
      if (bound !== UNBOUNDED) {
        // BPOR's conservative point: the last context switch before i.
        for (let k = i - 1; k >= 1; k--) {
          if (points[k - 1].chosen !== points[k].chosen) {
            queue(k, q);
            break;
          }
        }
      }
    }
  }
  return { pruned: Math.max(0, candidates - explored) };
}

/**
 * The races of one run: pairs (i, j), i < j, of steps of different agents
 * that may not commute (src/engine/footprint.ts) where step i does not
 * happen before the step of j's agent that precedes j. For each j, as in
 * Flanagan and Godefroid's algorithm run at every prefix of the run: every
 * such i after j's agent's previous step, and the last one before it.
 * Happens-before is tracked with vector clocks over the agents.
 */
function races(points: ChoicePoint[], fps: StepFootprint[], agents: number, cpus: number): [number, number][] {
  const n = Math.min(fps.length, points.length - 1);
  const clocks: Int32Array[] = [];
  const lastOf = new Int32Array(agents).fill(-1);
  const out: [number, number][] = [];
  for (let j = 0; j < n; j++) {
    const q = points[j].chosen;
    if (q < 0) {
      clocks.push(new Int32Array(agents).fill(-1));
      continue;
    }
    const prev = lastOf[q];
    const base = prev >= 0 ? clocks[prev] : new Int32Array(agents).fill(-1);
    const vc = base.slice();
    let lastBeforePrev = false;
    for (let i = j - 1; i >= 0; i--) {
      const a = points[i].chosen;
      // Steps that happen before q's previous step are ordered before j whatever the order of the rest.
      if (a < 0 || a === q || i <= base[a]) continue;
      if (i < prev && lastBeforePrev && i <= vc[a]) continue;
      if (!stepsDependent(fps[i], a, fps[j], q, cpus)) continue;
      if (i > prev || !lastBeforePrev) {
        out.push([i, j]);
        if (i < prev) lastBeforePrev = true;
      }
      if (i > vc[a]) {
        const ci = clocks[i];
        for (let x = 0; x < agents; x++) if (ci[x] > vc[x]) vc[x] = ci[x];
      }
    }
    vc[q] = j;
    clocks.push(vc);
    lastOf[q] = j;
  }
  return out;
}

/** Explore every schedule of `config` with at most `bound` preemptions (one per equivalence class with POR). */
export async function explore(opts: ExploreOptions): Promise<ExploreResult> {
  const agents = checkExplore(opts);
  const c = opts.config;
  const por = opts.por ?? false;
  const stateful = opts.stateful === true;
  const maxSchedules = opts.maxSchedules ?? DEFAULT_MAX_SCHEDULES;
  const shard = opts.shard ?? null;
  const t0 = performance.now();
  // A schedule longer than the recorder holds cannot be explored: stop such a run there, not at the livelock guard.
  const machine = await Machine.boot({ ...c, schedule: '', maxSeededSteps: Math.min(c.maxSeededSteps, SCHED_RECORD_MAX) });
  const t = newTally();
  const passes: PorPass[] = [];
  let pruned = 0;
  let smallest: number | null = null;
  try {
    if (!por) {
      await exploreExhaustive(machine, opts, agents, t, maxSchedules);
      smallest = t.per.find((b) => b.racy > 0)?.preemptions ?? null;
    } else {
      // One pass at the bound; if it found a race, passes at 0, 1, ... find the smallest bound with one
      // (a pass at bound k runs a representative of every class a schedule with at most k preemptions reaches).
      const main = await explorePor(machine, opts, agents, opts.bound, t, maxSchedules, opts.expandRoot === true);
      pruned += main.pruned;
      passes.push({ bound: opts.bound === UNBOUNDED ? 'none' : opts.bound, schedules: t.schedules, racy: t.racy });
      if (t.racy > 0 && opts.bound !== UNBOUNDED) {
        smallest = opts.bound;
        for (let k = 0; k < opts.bound && t.complete; k++) {
          const sub = newTally();
          const r = await explorePor(machine, opts, agents, k, sub, Math.max(0, maxSchedules - t.schedules), opts.expandRoot === true);
          passes.push({ bound: k, schedules: sub.schedules, racy: sub.racy });
          pruned += r.pruned;
          t.schedules += sub.schedules;
          if (!sub.complete) t.complete = false;
          if (sub.racy > 0) {
            smallest = k;
            t.shortest = sub.shortest;
            break;
          }
        }
      } else if (t.racy > 0) {
        // Unbounded: no pass by bound; the fewest preemptions among the racy schedules run.
        smallest = t.per.find((b) => b.racy > 0)?.preemptions ?? null;
      }
    }
  } finally {
    await machine.shutdown();
  }
  const bound = opts.bound === UNBOUNDED ? Math.max(0, t.per.length - 1) : opts.bound;
  const per = Array.from({ length: bound + 1 }, (_, k) => t.per[k] ?? { preemptions: k, schedules: 0, racy: 0 });
  return {
    bound: opts.bound === UNBOUNDED ? 'none' : opts.bound,
    por: por ? 'on' : 'off',
    schedules: t.schedules,
    schedules_pruned: pruned,
    ...(por ? { por_passes: passes } : {}),
    stateful_pruning: stateful,
    ...(stateful ? { revisits_pruned: t.revisits } : {}),
    distinct_states: t.states.size,
    state_hashes: [...t.states].sort((a, b) => a - b),
    distinct_final_states: t.finals.size,
    racy_schedules: t.racy,
    per_preemptions: per,
    smallest_racy_bound: smallest,
    shortest_racy: t.shortest,
    complete: t.complete,
    shard,
    ...(opts.bound === UNBOUNDED && t.complete ? { verified: 'every schedule' as const } : {}),
    wall_ms: Math.round(performance.now() - t0),
    ...(opts.finalStates || shard !== null ? { final_states: [...t.finals].sort() } : {}),
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
  por?: boolean;
  stateful?: boolean;
  expandRoot?: boolean;
  finalStates?: boolean;
}

/** Explore a stress scenario (as `tlbsim stress --scenario` configures it) and name the replay of its shortest racy schedule. */
export async function exploreScenario(opts: ScenarioExploreOptions): Promise<ScenarioExploreResult> {
  if (isPluginPath(opts.scenario)) await loadScenarioPlugin(opts.scenario);
  if (getPreset(opts.scenario).sides === undefined) {
    // The lab's scenarios loop until reclaim is done: a schedule that never preempts would spin forever.
    throw new ConfigError(`explore takes a race catalogue scenario (tlbsim races), got '${opts.scenario}'`);
  }
  const { config, kernel } = resolvePreset({ scenario: opts.scenario, kernel: opts.kernel }, { ...(opts.overrides ?? {}), schedule: '' });
  const r = await explore({ config, bound: opts.bound, maxSchedules: opts.maxSchedules, shard: opts.shard, onProgress: opts.onProgress, signal: opts.signal, por: opts.por, stateful: opts.stateful, expandRoot: opts.expandRoot, finalStates: opts.finalStates });
  const reproduce = r.shortest_racy ? stressReproduceCommand(opts.scenario, { ...config, schedule: r.shortest_racy.schedule }, config.seed, kernel) : null;
  return { scenario: opts.scenario, ...(kernel === undefined ? {} : { kernel }), ...(ablationSide(opts.scenario, kernel) ? { ablation: true as const } : {}), config, ...r, reproduce };
}
