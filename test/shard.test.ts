/**
 * Shards and merge (src/campaigns/shard.ts, src/campaigns/merge.ts): K/N slices are disjoint and
 * cover the campaign; a seeded sweep run as 3 shards and merged equals the
 * unsharded sweep row for row (same results.csv, same rows in results.json);
 * a stress campaign run as 3 shards and merged has the unsharded run's
 * counters, race totals and earliest race; an exploration run as 3 shards and
 * merged has the unsharded exploration's schedules and racy schedules per
 * bound, distinct states and shortest racy schedule; incomplete or mixed
 * shard sets are one-line errors.
 *
 * The sweeps and stress campaigns run the real CLI; `tlbsim merge` (files in,
 * files out, no worker, no log) runs through main() in this process
 * (test/cliInProcess.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownsSchedule, parseShard, shardIterationRange, shardPointIndices } from '../src/campaigns/shard.js';
import { racyOrder, type RacySchedule, type ScenarioExploreResult } from '../src/campaigns/explore.js';
import { zeroRaces } from '../src/engine/oracle.js';
import type { StressResult } from '../src/campaigns/stress.js';
import type { SweepResult } from '../src/campaigns/sweep.js';
import { runCliInProcess } from './cliInProcess.js';
import { lines, runCli } from './helpers.js';

describe('K/N slices', () => {
  it('parses K/N with 1 <= K <= N', () => {
    expect(parseShard('2/3')).toEqual({ k: 2, n: 3 });
    expect(parseShard(' 1 / 1 ')).toEqual({ k: 1, n: 1 });
    for (const bad of ['4/3', '0/3', '1/0', '3', 'a/b', '-1/3', '1/3/4']) expect(() => parseShard(bad), bad).toThrow('--shard');
  });

  it('deals sweep points round-robin: disjoint, covering, host-independent', () => {
    const shards = [1, 2, 3].map((k) => shardPointIndices(10, { k, n: 3 }));
    expect(shards).toEqual([
      [0, 3, 6, 9],
      [1, 4, 7],
      [2, 5, 8],
    ]);
    expect(shardPointIndices(4, null)).toEqual([0, 1, 2, 3]);
    expect(shardPointIndices(2, { k: 3, n: 3 })).toEqual([]);
  });

  it('cuts iterations into contiguous ranges that cover the campaign', () => {
    expect([1, 2, 3].map((k) => shardIterationRange(100, { k, n: 3 }))).toEqual([
      { first: 0, end: 33 },
      { first: 33, end: 66 },
      { first: 66, end: 100 },
    ]);
    expect(shardIterationRange(7, null)).toEqual({ first: 0, end: 7 });
  });

  it('gives each explored subtree to exactly one shard; the root to shard 1 only; a subtree stays with its root child', () => {
    for (const n of [1, 2, 3, 5]) {
      expect([1, 2, 3, 4, 5].filter((k) => k <= n && ownsSchedule([], { k, n }))).toEqual([1]);
      for (let step = 0; step < 64; step++) {
        for (let cpu = 0; cpu < 16; cpu++) {
          const owners = Array.from({ length: n }, (_, i) => i + 1).filter((k) => ownsSchedule([{ step, cpu }], { k, n }));
          expect(owners, `${step}:${cpu} of ${n}`).toHaveLength(1);
          // Every schedule below it (its forced choices extended) belongs to the same shard.
          expect(ownsSchedule([{ step, cpu }, { step: step + 3, cpu: (cpu + 1) % 16 }], { k: owners[0], n })).toBe(true);
        }
      }
    }
    expect(ownsSchedule([{ step: 4, cpu: 1 }], null)).toBe(true);
  });
});

describe('the shortest racy schedule is the first in one order, whoever found it', () => {
  const racy = (schedule: string, preemptions: number, steps: number): RacySchedule => ({ schedule, preemptions, steps, races: zeroRaces() });

  it('fewest preemptions, then fewest choice points, then the forced choices one by one (earlier point, then lower CPU, prefix first)', () => {
    const order = [racy('9:1,12:0', 1, 30), racy('0:1,5:0', 2, 12), racy('0:1,2:0,4:1', 2, 14), racy('0:1,4:0', 2, 14), racy('0:1,4:0,6:1', 2, 14), racy('0:1,4:1', 2, 14), racy('1:0', 2, 14)];
    for (let i = 0; i < order.length; i++) {
      for (let j = 0; j < order.length; j++) expect(Math.sign(racyOrder(order[i], order[j])), `${order[i].schedule} vs ${order[j].schedule}`).toBe(Math.sign(i - j));
    }
  });
});

/** The rows without host timings (which differ from any run to the next). */
function rowsWithoutHost(r: SweepResult): unknown[] {
  return r.points.map((p) => ({ ...p, host: null }));
}

describe('a sweep run as 3 shards and merged equals the unsharded sweep', () => {
  const root = mkdtempSync(join(tmpdir(), 'tlbsim-shard-'));
  const grid = ['--workload', 'reclaim', '--cpus', '2,3,4', '--protocol', 'per-page,batched', '--pages', '8', '--batch', '4', '--ops', '40', '--sched', 'seeded'];

  it('row for row', async () => {
    const whole = await runCli(['sweep', ...grid, '--out', join(root, 'whole'), '--no-progress']);
    expect(whole.status, whole.stderr).toBe(0);
    for (const k of [1, 2, 3]) {
      const r = await runCli(['sweep', ...grid, '--shard', `${k}/3`, '--out', join(root, `s${k}`), '--no-progress']);
      expect(r.status, r.stderr).toBe(0);
      const part = JSON.parse(readFileSync(join(root, `s${k}`, 'results.json'), 'utf8')) as SweepResult;
      expect(part.shard).toEqual({ k, n: 3 });
      expect(part.points.map((p) => p.index)).toEqual([k - 1, k + 2]);
    }
    // Shards given in any order.
    const m = await runCliInProcess(['merge', join(root, 's3'), join(root, 's1'), join(root, 's2'), '--out', join(root, 'merged')]);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout).toContain('3 sweep shards, 6 points');
    const csvWhole = readFileSync(join(root, 'whole', 'results.csv'), 'utf8');
    const csvMerged = readFileSync(join(root, 'merged', 'results.csv'), 'utf8');
    expect(csvMerged.split('\n')).toHaveLength(csvWhole.split('\n').length);
    expect(csvMerged).toBe(csvWhole);
    const jw = JSON.parse(readFileSync(join(root, 'whole', 'results.json'), 'utf8')) as SweepResult;
    const jm = JSON.parse(readFileSync(join(root, 'merged', 'results.json'), 'utf8')) as SweepResult;
    expect(jm.campaign).toEqual(jw.campaign);
    expect(jm.shard).toBeNull();
    expect(rowsWithoutHost(jm)).toEqual(rowsWithoutHost(jw));
    for (const f of ['ipis-per-page.svg', 'tlb-cycles-per-page.svg', 'shootdown-latency.svg', 'flush-refills.svg']) {
      expect(readFileSync(join(root, 'merged', f), 'utf8'), f).toBe(readFileSync(join(root, 'whole', f), 'utf8'));
    }
  });

  it('refuses a missing shard, a repeated one, or shards of another sweep (one line, exit 2)', async () => {
    const cases: [string[], string][] = [
      [[join(root, 's1'), join(root, 's2')], 'shard 3/3 missing'],
      [[join(root, 's1'), join(root, 's1'), join(root, 's2')], 'given twice'],
      [[join(root, 'whole')], 'not a shard'],
    ];
    const other = await runCli(['sweep', '--cpus', '2', '--pages', '8', '--ops', '40', '--sched', 'seeded', '--shard', '1/3', '--out', join(root, 'other'), '--no-progress']);
    expect(other.status, other.stderr).toBe(0);
    cases.push([[join(root, 'other'), join(root, 's2'), join(root, 's3')], 'another sweep']);
    for (const [dirs, msg] of cases) {
      const r = await runCliInProcess(['merge', ...dirs, '--out', join(root, 'never')]);
      expect(r.status, `${dirs.join(' ')}: ${r.stderr}`).toBe(2);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toContain(msg);
    }
  });
});

describe('a stress campaign run as 3 shards and merged equals the unsharded one', () => {
  const root = mkdtempSync(join(tmpdir(), 'tlbsim-stress-shard-'));
  const campaign = ['stress', '--scenario', 'unmap-window', '--iterations', '60', '--seed', '3', '--no-progress'];

  it('same counters, race totals and earliest race; iteration seeds unchanged', async () => {
    const whole = await runCli([...campaign, '--out', join(root, 'whole')]);
    expect(whole.status, whole.stderr).toBe(0);
    for (const k of [1, 2, 3]) {
      const r = await runCli([...campaign, '--shard', `${k}/3`, '--out', join(root, `s${k}`)]);
      expect(r.status, r.stderr).toBe(0);
      const part = JSON.parse(readFileSync(join(root, `s${k}`, 'stress.json'), 'utf8')) as StressResult;
      expect(part.iteration_range).toEqual({ first: (k - 1) * 20, end: k * 20 });
      expect(part.iterations).toBe(20);
      if (part.first_race) expect(part.first_race.seed).toBe(3 + part.first_race.iteration);
    }
    const m = await runCliInProcess(['merge', join(root, 's1'), join(root, 's2'), join(root, 's3'), '--out', join(root, 'merged')]);
    expect(m.status, m.stderr).toBe(0);
    const w = JSON.parse(readFileSync(join(root, 'whole', 'stress.json'), 'utf8')) as StressResult;
    const g = JSON.parse(readFileSync(join(root, 'merged', 'stress.json'), 'utf8')) as StressResult;
    expect(w.racy_iterations).toBeGreaterThan(0); // the scenario races on weak + batched: the comparison below means something
    for (const k of ['iterations', 'requested_iterations', 'counters', 'races', 'racy_iterations', 'racy_iterations_per_1000', 'races_total', 'first_race', 'reproduce', 'failures', 'shard', 'iteration_range'] as const) {
      expect(g[k], k).toEqual(w[k]);
    }
    expect(g.host.sched_steps).toBe(w.host.sched_steps);
  });
});

describe('a merged catalogue campaign keeps its kernel side', () => {
  const root = mkdtempSync(join(tmpdir(), 'tlbsim-stress-shard-kernel-'));
  const campaign = ['stress', '--scenario', 'mprotect-reclaim', '--kernel', 'buggy', '--iterations', '40', '--seed', '1', '--no-progress'];

  it('kernel "buggy" and a reproduce command that still says --kernel buggy', async () => {
    for (const k of [1, 2]) {
      const r = await runCli([...campaign, '--shard', `${k}/2`, '--out', join(root, `s${k}`)]);
      expect(r.status, r.stderr).toBe(0);
    }
    const m = await runCliInProcess(['merge', join(root, 's1'), join(root, 's2'), '--out', join(root, 'merged')]);
    expect(m.status, m.stderr).toBe(0);
    const g = JSON.parse(readFileSync(join(root, 'merged', 'stress.json'), 'utf8')) as StressResult;
    expect(g.kernel).toBe('buggy');
    expect(g.racy_iterations).toBeGreaterThan(0);
    expect(g.reproduce).toContain('--kernel buggy');
  });
});

describe('an exploration run as 3 shards and merged equals the unsharded one', () => {
  const root = mkdtempSync(join(tmpdir(), 'tlbsim-explore-shard-'));
  // reclaim-dirty's buggy side (an ablation: no try_to_unmap_flush_dirty) at bound 6: a few hundred schedules, racy from
  // bound 2 on, so the per-bound racy counts, the smallest racy bound and the choice among many shortest candidates are compared.
  // --stateful off: shards take it off, and the unsharded run must count the same way.
  const explorationTo = (bound: number): string[] => ['explore', '--scenario', 'reclaim-dirty', '--kernel', 'buggy', '--preemption-bound', String(bound), '--stateful', 'off', '--no-progress'];
  const exploration = explorationTo(6);
  const readExplore = (dir: string): ScenarioExploreResult => JSON.parse(readFileSync(join(root, dir, 'explore.json'), 'utf8')) as ScenarioExploreResult;

  it('same schedules and racy schedules per bound, smallest racy bound, distinct states, shortest racy schedule, complete', async () => {
    const w = await runCli([...exploration, '--out', join(root, 'whole')]);
    expect(w.status, w.stderr).toBe(0);
    const whole = readExplore('whole');
    expect(whole.racy_schedules).toBeGreaterThan(0); // the comparison below covers the racy counts and the shortest racy schedule
    expect(whole.shard).toBeNull();
    expect(whole.state_hashes).toHaveLength(whole.distinct_states);
    for (const k of [1, 2, 3]) {
      const r = await runCli([...exploration, '--shard', `${k}/3`, '--out', join(root, `s${k}`)]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`wrote ${join(root, `s${k}`)}/explore.json`);
      expect(r.stdout).toContain(`shard ${k}/3 (its slice only`); // a shard's counts are not printed as the verdict
    }
    const parts = [1, 2, 3].map((k) => readExplore(`s${k}`));
    parts.forEach((p, i) => {
      expect(p.shard).toEqual({ k: i + 1, n: 3 });
      // No shard explored everything: the root's children were dealt out.
      expect(p.schedules).toBeLessThan(whole.schedules);
    });
    // Every schedule is counted by exactly one shard (the root, which every shard runs, by shard 1 only), so the
    // shards' counts add up to the unsharded count exactly, bound by bound.
    expect(parts.reduce((a, p) => a + p.schedules, 0)).toBe(whole.schedules);
    for (let k = 0; k <= 6; k++) expect(parts.reduce((a, p) => a + p.per_preemptions[k].schedules, 0), `bound ${k}`).toBe(whole.per_preemptions[k].schedules);

    const m = await runCliInProcess(['merge', join(root, 's2'), join(root, 's3'), join(root, 's1'), '--out', join(root, 'merged')]);
    expect(m.status, m.stderr).toBe(0);
    // The human output gives the unsharded verdict: the same schedule count and racy line.
    expect(m.stdout).toContain(`schedules explored    ${whole.schedules.toLocaleString('en-US')} (every schedule up to the bound)`);
    expect(m.stdout).toContain(`the smallest bound with a race is ${whole.smallest_racy_bound}`);
    expect(m.stdout).toContain(`reproduce: ${whole.reproduce}`);
    const g = readExplore('merged');
    for (const k of ['scenario', 'kernel', 'ablation', 'bound', 'schedules', 'per_preemptions', 'racy_schedules', 'smallest_racy_bound', 'distinct_states', 'state_hashes', 'shortest_racy', 'reproduce', 'complete', 'shard'] as const) {
      expect(g[k], k).toEqual(whole[k]);
    }
    expect({ ...g.config, runTokens: 0 }).toEqual({ ...whole.config, runTokens: 0 });
  });

  it('refuses a missing or repeated shard, a non-shard, another exploration, mixed kinds or a broken file (one line, exit 2)', async () => {
    const otherBound = await runCli([...explorationTo(1), '--shard', '2/3', '--out', join(root, 'bound1')]);
    expect(otherBound.status, otherBound.stderr).toBe(0);
    // Cut short (--max-schedules is no part of the result): only its config differs.
    const otherSeed = await runCli([...exploration, '--seed', '2', '--max-schedules', '3', '--shard', '3/3', '--out', join(root, 'seed2')]);
    expect(otherSeed.status, otherSeed.stderr).toBe(0);
    mkdirSync(join(root, 'stress'));
    writeFileSync(join(root, 'stress', 'stress.json'), '{}\n');
    mkdirSync(join(root, 'broken'));
    const broken: Record<string, unknown> = { ...readExplore('s2') };
    delete broken.state_hashes;
    writeFileSync(join(root, 'broken', 'explore.json'), JSON.stringify(broken));
    const s = (k: number): string => join(root, `s${k}`);
    const cases: [string[], string][] = [
      [[s(1), s(2)], 'shard 3/3 missing'],
      [[s(1), s(2), s(2), s(3)], 'given twice'],
      [[join(root, 'whole')], 'not a shard'],
      [[s(1), join(root, 'bound1'), s(3)], '(bound 1 there, 6 in'],
      [[s(1), s(2), join(root, 'seed2')], 'config.seed 2 there, 1 in'],
      [[s(1), join(root, 'stress'), s(3)], 'mix kinds'],
      [[s(1), join(root, 'broken'), s(3)], "'state_hashes'"],
    ];
    for (const [dirs, msg] of cases) {
      const r = await runCliInProcess(['merge', ...dirs, '--out', join(root, 'never')]);
      expect(r.status, `${dirs.join(' ')}: ${r.stderr}`).toBe(2);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toContain(msg);
    }
    // explore's own flags: a bad K/N, an --out that is a file, or a shard with partial-order reduction
    // (its backtrack points cross the shards' subtrees) is refused before any schedule runs.
    const aFile = join(root, 'stress', 'stress.json');
    for (const [args, msg] of [
      [['--shard', '4/3'], '--shard K/N: K must be from 1 to N (3)'],
      [['--out', aFile], `--out ${aFile}`],
      [['--shard', '1/3', '--por', 'on'], 'explore --shard takes --por off'],
    ] as [string[], string][]) {
      const r = await runCli([...exploration, ...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toContain(msg);
    }
  });
});
