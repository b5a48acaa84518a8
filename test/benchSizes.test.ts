/**
 * What `tlbsim bench` measures follows the host's cores and `--max-cpus`
 * (src/campaigns/bench/run.ts `planSizes`): IPI targets 1, cores-1, 2x and 8x cores,
 * run tokens and stress threads 1, 2, 4 ... cores, start-up sizes per tier;
 * nothing above --max-cpus CPUs is booted, and --max-cpus itself is measured
 * when it cut a size. Pure functions: no workers start.
 */
import { describe, expect, it } from 'vitest';
import { scalingThreads } from '../src/campaigns/bench/accessScaling.js';
import { planLabels, planSizes } from '../src/campaigns/bench/run.js';

describe('planSizes', () => {
  it.each([
    [1, [1, 2, 8], [1]],
    [2, [1, 4, 16], [1, 2]],
    [4, [1, 3, 8, 32], [1, 2, 4]],
    [6, [1, 5, 12, 48], [1, 2, 4, 6]],
    [16, [1, 15, 32, 128], [1, 2, 4, 8, 16]],
  ])('%i cores: IPI targets %j, run tokens and stress threads %j', (cores, targets, tokens) => {
    const s = planSizes({ tier: 'default' }, cores);
    expect(s.ipiTargets).toEqual(targets);
    expect(s.tokens).toEqual(tokens);
    expect(s.stressThreads).toEqual(tokens);
    expect(s.startupSizes).toEqual([64, 256]);
  });

  it('quick measures 1, cores-1 and 2x cores; full adds 32x and 128x cores and 512/1024-CPU start-ups', () => {
    expect(planSizes({ tier: 'quick' }, 4).ipiTargets).toEqual([1, 3, 8]);
    expect(planSizes({ tier: 'quick' }, 4).startupSizes).toEqual([16, 64]);
    expect(planSizes({ tier: 'full' }, 4).ipiTargets).toEqual([1, 3, 8, 32, 128, 512]);
    expect(planSizes({ tier: 'full' }, 4).startupSizes).toEqual([64, 256, 512, 1024]);
  });

  it('--max-cpus caps every machine and measures the cap itself', () => {
    const s = planSizes({ tier: 'default', maxCpus: 20 }, 4);
    expect(s.ipiTargets).toEqual([1, 3, 8, 19]); // 32 targets = 33 CPUs > 20
    expect(s.startupSizes).toEqual([20]);
    // The all-to-all machine: 4 CPUs per core, within --max-cpus (4 x 4 = 16 <= 20; 4 x 16 = 64 > 20).
    expect(s.ipiRateCpus).toBe(16);
    expect(planSizes({ tier: 'quick', maxCpus: 20 }, 16).ipiRateCpus).toBe(20);
    expect(planSizes({ tier: 'full', maxCpus: 128 }, 16).ipiTargets).toEqual([1, 15, 32, 127]);
    expect(scalingThreads(16, 8)).toBe(7);
    expect(() => planSizes({ tier: 'quick', maxCpus: 2 }, 2)).toThrow(/--max-cpus must be an integer from 3 to 1024/);
  });

  it('one progress label per measurement step', () => {
    const s = planSizes({ tier: 'default' }, 2);
    const labels = planLabels(s);
    // 3 limits, 2 seeded-step steps (floor, engine step), IPI rounds, the all-to-all IPI rate, run tokens, TLB lookups, start-ups, 2 modes x stress threads.
    expect(labels).toHaveLength(3 + 2 + s.ipiTargets.length + 1 + s.tokens.length + 1 + s.startupSizes.length + 2 * s.stressThreads.length);
    expect(labels.slice(3, 5)).toEqual(['seeded hand-off floor', 'seeded step']);
    expect(labels[5]).toBe('IPI round, 1 target');
    expect(labels[5 + s.ipiTargets.length]).toBe('IPIs/s all-to-all, 8 CPUs');
    expect(labels.at(-1)).toBe('stress free, 2 threads');
  });
});
