/**
 * One preset system (issue 18 §4): lab scenarios, catalogue races and
 * mechanism presets in one registry, resolved by one function for `run`,
 * `stress`, `explore` and `sweep`; `run --scenario X` boots the machine
 * `stress --scenario X` boots; race workloads in which every thread CPU makes
 * the flushing call give every CPU IPI ports.
 *
 * Invariant: expected values come from the kernel's rules or from a second,
 * independent path through the engine (stress vs run), never from a copy of
 * the engine's output.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../src/config/config.js';
import { runStress } from '../src/campaigns/stress.js';
import { simulate } from '../src/api.js';
import { resolvePoints } from '../src/campaigns/sweep.js';
import { getPreset, presetNames, registerPreset, resolvePreset } from '../src/scenarios/preset.js';
import { RACE_NAMES, RACES } from '../src/scenarios/races/index.js';
import { SCENARIOS } from '../src/scenarios/lab.js';
import { COMPARED_MECHANISMS, mechanismPresetName } from '../src/scenarios/mechanismPresets.js';
import type { RunResult } from '../src/output/result.js';
import type { StressResult } from '../src/campaigns/stress.js';
import { parseOneJsonObject, runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tlbsim-presets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the preset registry', () => {
  it('holds the lab scenarios, the whole race catalogue and one preset per compared mechanism, each once', () => {
    const names = presetNames();
    expect(names).toEqual([...Object.keys(SCENARIOS), ...RACE_NAMES, ...COMPARED_MECHANISMS.map(mechanismPresetName)]);
    expect(new Set(names).size).toBe(names.length);
    // A catalogue race carries both sides (buggy = the entry's knobs, fixed = the engine's defaults) and its fix.
    const m = getPreset('mremap-ptl');
    expect(m.sides).toEqual({ buggy: { flushUnderPtl: false }, fixed: {} });
    expect(m.provenance?.commit).toBe(RACES['mremap-ptl'].commit);
    expect(getPreset('mprotect').sides).toBeUndefined();
  });

  it('refuses an unknown name, a duplicate, and --kernel where it does not apply, each with a one-line ConfigError', () => {
    expect(() => getPreset('nope')).toThrow(ConfigError);
    expect(() => getPreset('nope')).toThrow(/--scenario must be one of .*mremap-ptl.*, got 'nope'/);
    expect(() => registerPreset({ name: 'mremap-ptl', kind: 'plugin', summary: 'x', defaults: {} })).toThrow(/already registered/);
    expect(() => resolvePreset({ scenario: 'mprotect', kernel: 'buggy' }, {})).toThrow(/--kernel applies to the race catalogue/);
    expect(() => resolvePreset({ kernel: 'buggy' }, {})).toThrow(/--kernel needs --scenario/);
    expect(() => resolvePreset({ scenario: 'mremap-ptl', kernel: 'buggy' }, { kernelVersion: '4.19' })).toThrow(/do not combine/);
  });

  it('lays a preset registered at run time under the flags, over DEFAULTS, with its sides', () => {
    registerPreset({ name: 'test-plugin-race', kind: 'plugin', summary: 'a plug-in', defaults: { workload: 'mremap-ptl', cpus: 3, pages: 2, ops: 4 }, sides: { buggy: { flushUnderPtl: false }, fixed: {} } });
    const buggy = resolvePreset({ scenario: 'test-plugin-race', kernel: 'buggy' }, { ops: 9 });
    // preset over DEFAULTS (cpus, pages), the flag over the preset (ops), the side's knob, seeded by default.
    expect([buggy.config.cpus, buggy.config.pages, buggy.config.ops, buggy.config.flushUnderPtl, buggy.config.sched]).toEqual([3, 2, 9, false, 'seeded']);
    const plain = resolvePreset({ scenario: 'test-plugin-race' }, {});
    expect([plain.kernel, plain.config.flushUnderPtl]).toEqual(['fixed', true]);
  });
});

describe('sweep --scenario', () => {
  it('lays the preset and its side under every grid point, as run and stress do', () => {
    const choice = { scenario: 'mremap-ptl', kernel: 'buggy' } as const;
    const points = resolvePoints({ cpus: [3, 4] }, {}, choice);
    expect(points.map((p) => p.error)).toEqual([null, null]);
    // A sweep point runs on one token unless told otherwise; everything else is the preset under the grid value.
    expect(points.map((p) => p.config)).toEqual([3, 4].map((cpus) => resolvePreset(choice, { cpus, runTokens: 1 }).config));
    expect(points.map((p) => [p.config.flushUnderPtl, p.config.ipiStep, p.config.sched])).toEqual([[false, true, 'seeded'], [false, true, 'seeded']]);
  });
});

describe('run --scenario boots the machine stress boots', () => {
  it('a racy seed found by a seeded stress of mremap-ptl (buggy) races again under run, with the same races, and writes a trace', async () => {
    // mremap-ptl buggy races in about 1 of 300 seeded iterations (test/raceCatalogue.test.ts): 400 almost always find one.
    const st = await runStress({ scenario: 'mremap-ptl', kernel: 'buggy', iterations: 400, seed: 1, stopOnRace: true, threads: 2 });
    expect(st.first_race).not.toBeNull();
    const seed = st.first_race!.seed;
    const trace = join(dir, 'mremap.json');
    const r = await runCli(['run', '--scenario', 'mremap-ptl', '--kernel', 'buggy', '--sched', 'seeded', '--seed', String(seed), '--trace', trace, '--json', '--no-progress']);
    expect(r.status).toBe(0);
    const run = parseOneJsonObject<RunResult>(r.stdout);
    // Seeded mode is exact: iteration `seed - 1` of the campaign and this run are the same machine on the same seed.
    expect(run.races).toEqual(st.first_race!.races);
    expect(run.races.stale_accesses).toBeGreaterThan(0); // the entry's effect: use after free (a stale load of a freed frame)
    expect(existsSync(trace)).toBe(true);
    // The reproduce command names the preset and the side, then only what differs from them: the seed.
    expect(run.reproduce).toBe(`tlbsim run --scenario mremap-ptl --kernel buggy --seed ${seed}`);
  });

  it("explore's shortest racy schedule replays under run --replay as a use after free", async () => {
    // The schedule test/raceCatalogue.test.ts replays with stress (explore --preemption-bound 2 of mremap-ptl buggy; clean on the fixed side there).
    const RACY = '0:2,2:1,5:0,7:2,8:1,9:0,12:2';
    const r = await runCli(['run', '--scenario', 'mremap-ptl', '--kernel', 'buggy', '--replay', RACY, '--json', '--no-progress']);
    expect(r.status).toBe(0);
    expect(parseOneJsonObject<RunResult>(r.stdout).races.stale_accesses).toBeGreaterThan(0);
  });

  it('run --scenario mprotect --ops 5 and stress --scenario mprotect --ops 5 --iterations 1 report the same counters', async () => {
    const [scenario, extra, seed] = ['mprotect', ['--ops', '5'], '7'];
    const [r, s] = await Promise.all([
      runCli(['run', '--scenario', scenario, ...extra, '--seed', seed, '--json', '--no-progress']),
      runCli(['stress', '--scenario', scenario, ...extra, '--seed', seed, '--iterations', '1', '--threads', '1', '--json', '--no-progress']),
    ]);
    expect([r.status, s.status]).toEqual([0, 0]);
    const run = parseOneJsonObject<RunResult>(r.stdout);
    const stress = parseOneJsonObject<StressResult>(s.stdout);
    // One seeded iteration with seed 7 of the same resolved machine: every counter and race equal.
    expect(run.counters).toEqual(stress.counters);
    expect(run.races).toEqual(stress.races);
    expect({ ...run.config, runTokens: 0 }).toEqual({ ...stress.config, runTokens: 0 }); // run tokens do not change a seeded run
    // Neither reproduce command repeats what the preset already says (its machine size, workload, protocol).
    expect(run.reproduce).toBe(`tlbsim run --scenario ${scenario} --seed ${seed} --ops 5`);
    expect(run.reproduce).not.toContain('--cpus');
    expect(run.reproduce).not.toContain('--workload');
  });
});

describe('race workloads under run at 8 CPUs (every thread CPU makes the flushing call)', () => {
  // kswapdAndThreads runs the thread part on CPUs 1..7: each calls mprotect (mprotect-reclaim) or
  // madvise (migrate-vma-ptl) and flushes the other CPUs in mm_cpumask. Before the fix only CPUs 0
  // and 1 had IPI ports, and the first thread CPU above 1 to flush a remote CPU failed with
  // "CPU k has no IPI port to CPU t (not an initiator)" (seeded seeds 1-6 all failed at the default size).
  it.each(['mprotect-reclaim', 'migrate-vma-ptl'] as const)('%s runs to the end, and thread CPUs above 1 send flush IPIs', async (workload) => {
    // One page, a few accesses: old code failed on seeds 1-3 with these options too.
    const run = await simulate({ workload, cpus: 8, pages: 2, ops: 20, sched: 'seeded', seed: 1 });
    expect(run.status).toBe('ok');
    expect(run.per_cpu.slice(2).reduce((n, c) => n + c.ipis_sent, 0)).toBeGreaterThan(0);
  });

  it('more CPUs than every-CPU ports allow is bad input, not a boot of 65,536+ channels', () => {
    expect(() => resolveConfig({ workload: 'mprotect-reclaim', cpus: 300 })).toThrow(/--cpus must be at most 256 for --workload mprotect-reclaim/);
  });
});
