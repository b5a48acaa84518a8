/**
 * Shards and merge (src/campaigns/shard.ts, src/campaigns/merge.ts): K/N slices are disjoint and
 * cover the campaign; a seeded sweep run as 3 shards and merged equals the
 * unsharded sweep row for row (same results.csv, same rows in results.json);
 * a stress campaign run as 3 shards and merged has the unsharded run's
 * counters, race totals and earliest race; incomplete or mixed shard sets are
 * one-line errors.
 *
 * The sweeps and stress campaigns run the real CLI; `tlbsim merge` (files in,
 * files out, no worker, no log) runs through main() in this process
 * (test/cliInProcess.ts).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseShard, shardIterationRange, shardPointIndices } from '../src/campaigns/shard.js';
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
