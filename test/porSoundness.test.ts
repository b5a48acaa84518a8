/**
 * Partial-order reduction and stateful pruning in `explore`
 * (src/campaigns/explore.ts; footprints and read histories in
 * src/engine/footprint.ts) are checked, not assumed: for the catalogue's
 * scenarios, both sides, an exploration with `--por on`, and one with
 * `--stateful on`, reach the same verdict, the same smallest racy bound and
 * the same set of distinct final states (race kinds + final state hash) as
 * the exhaustive order, at bounds where the exhaustive run takes about a
 * second. `pending-flush-lost` is left out here: its smallest space (bound 0)
 * is 2,432 schedules a side, about 10 s each way on the CI host (its
 * stateful comparison is in test/raceCatalogue.test.ts; `npm run
 * explore:catalogue` compares POR).
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/config.js';
import { explore, exploreScenario, UNBOUNDED } from '../src/campaigns/explore.js';
import { stepsDependent, type StepFootprint } from '../src/engine/footprint.js';
import { Machine } from '../src/engine/coordinator.js';
import { resolvePreset } from '../src/scenarios/preset.js';
import type { ForcedChoice } from '../src/engine/forcedSchedule.js';

/** A 1024-bit signature whose first two words are `w0`, `w1`. */
function sig(w0: number, w1: number): Int32Array {
  const s = new Int32Array(32);
  s[0] = w0;
  s[1] = w1;
  return s;
}

/** A footprint with the given traits; signatures empty unless set. */
function fp(over: Partial<StepFootprint>): StepFootprint {
  return { unknown: false, wrote: false, clock: false, blocked: false, privMask: 0, wShared: new Int32Array(32), wPriv: new Int32Array(32), read: new Int32Array(32), ...over };
}

describe('the dependence relation of two steps', () => {
  const cpus = 2;
  it('steps that write only their own CPU private words commute', () => {
    // CPU 0 stores through a TLB hit (its frame word, its last-store row), CPU 1 likewise on its own words.
    const a = fp({ wrote: true, privMask: 0b01, wPriv: sig(1, 0) });
    const b = fp({ wrote: true, privMask: 0b10, wPriv: sig(2, 0) });
    expect(stepsDependent(a, 0, b, 1, cpus)).toBe(false);
    expect(stepsDependent(b, 1, a, 0, cpus)).toBe(false);
  });
  it('a shared word written by one step and read or written by the other is a conflict; other shared words are not', () => {
    const write = fp({ wrote: true, wShared: sig(1 << 5, 0) });
    expect(stepsDependent(write, 0, fp({ read: sig(1 << 5, 0) }), 1, cpus)).toBe(true);
    expect(stepsDependent(fp({ read: sig(1 << 5, 0) }), 1, write, 0, cpus)).toBe(true);
    expect(stepsDependent(write, 0, fp({ wrote: true, wShared: sig(1 << 5, 0) }), 1, cpus)).toBe(true);
    // Two reads of the same word commute; a write and a read of different words commute.
    expect(stepsDependent(fp({ read: sig(1 << 5, 0) }), 0, fp({ read: sig(1 << 5, 0) }), 1, cpus)).toBe(false);
    expect(stepsDependent(write, 0, fp({ read: sig(1 << 6, 0) }), 1, cpus)).toBe(false);
  });
  it('a step that was not recorded conflicts with everything', () => {
    expect(stepsDependent(fp({ unknown: true }), 0, fp({}), 1, cpus)).toBe(true);
  });
  it("a write to another CPU's private words conflicts with that CPU's steps", () => {
    // CPU 0's step writes a private word of CPU 1 (as a whole-frame copy writes every CPU's word of a frame).
    const a = fp({ wrote: true, privMask: 0b10, wPriv: sig(4, 0) });
    expect(stepsDependent(a, 0, fp({}), 1, cpus)).toBe(true);
    // ...and with a step of CPU 1's MMU agent (agent 3 reads CPU 1's private words).
    expect(stepsDependent(a, 0, fp({}), 3, cpus)).toBe(true);
  });
  it('a read of a frame another step wrote conflicts; disjoint signatures do not', () => {
    const writer = fp({ wrote: true, privMask: 0b01, wPriv: sig(0, 8) });
    expect(stepsDependent(writer, 0, fp({ read: sig(0, 8) }), 1, cpus)).toBe(true);
    expect(stepsDependent(writer, 0, fp({ read: sig(0, 16) }), 1, cpus)).toBe(false);
  });
  it("a blocked re-check conflicts only with writes to what it read (its wait condition)", () => {
    // The engine re-enables a blocked CPU on any change of the state hash, but a re-check whose
    // condition words were not written finds the condition unchanged and leaves the state as it was.
    const spin = fp({ blocked: true, read: sig(0, 1 << 3) });
    expect(stepsDependent(spin, 0, fp({ wrote: true, wShared: sig(0, 1 << 3) }), 1, cpus)).toBe(true);
    expect(stepsDependent(spin, 0, fp({ wrote: true, wShared: sig(0, 1 << 4) }), 1, cpus)).toBe(false);
  });
});

describe('--preemption-bound none on the toy scenario', () => {
  // 2 CPUs, 3 stores each and a retirement: each CPU takes 4 steps, and with
  // no bound every interleaving of the two 4-step sequences is a schedule:
  // C(8, 4) = 70. With POR: the toy's CPUs share only their first two steps'
  // words (the run's start and the first store's fault: the frame list, the
  // page's words), so there are 4 classes: which CPU's first step comes
  // first, times which CPU's second step comes first (each combination is a
  // valid interleaving). DPOR without sleep sets may run a class more than
  // once, so POR runs between 4 and 70 schedules; both modes end in the same
  // final states.
  const toy = resolveConfig({ workload: 'toy', cpus: 2, pages: 2, ops: 3, sched: 'seeded', tlbSets: 2, tlbWays: 1, runTokens: 1 });
  it('explores every schedule, says so, and POR reaches the same final states', async () => {
    const off = await explore({ config: toy, bound: UNBOUNDED, por: false, finalStates: true });
    expect([off.bound, off.schedules, off.complete, off.verified]).toEqual(['none', 70, true, 'every schedule']);
    const on = await explore({ config: toy, bound: UNBOUNDED, por: true, finalStates: true });
    expect(on.verified).toBe('every schedule');
    expect(on.schedules).toBeGreaterThanOrEqual(4);
    expect(on.schedules).toBeLessThan(70);
    expect(on.final_states).toEqual(off.final_states);
    expect(on.stateful_pruning).toBe(false);
  }, 60_000);
});

/**
 * Scenario and bound: the 2-CPU scenarios with no bound (both orders finish:
 * every schedule, and every class, in about a second); the others at bound 0,
 * the largest whose exhaustive run takes about a second here.
 */
const PLAN: [string, number][] = [
  ['reclaim-dirty', UNBOUNDED],
  ['mprotect-reclaim', UNBOUNDED],
  ['nested-zap', UNBOUNDED],
  ['lazy-pgtable-free', UNBOUNDED],
  ['migrate-vma-ptl', UNBOUNDED],
  ['collapse-pmd-flush', UNBOUNDED],
  ['mremap-ptl', 0],
  ['arm64-dsb-pending', 0],
];

describe('POR and stateful exploration against the exhaustive order on the catalogue', () => {
  it.each(PLAN.flatMap(([s, b]) => (['buggy', 'fixed'] as const).map((k) => [s, k, b] as const)))('%s, %s side, bound %s', async (scenario, kernel, bound) => {
    const off = await exploreScenario({ scenario, kernel, bound, por: false, finalStates: true });
    const on = await exploreScenario({ scenario, kernel, bound, por: true, finalStates: true });
    const stateful = await exploreScenario({ scenario, kernel, bound, stateful: true, finalStates: true });
    // Stateful pruning (shared memory + every thread's read history): same verdict, smallest racy bound and final states.
    expect(stateful.complete).toBe(true);
    expect(stateful.stateful_pruning).toBe(true);
    expect(stateful.racy_schedules > 0).toBe(off.racy_schedules > 0);
    expect(stateful.smallest_racy_bound).toBe(off.smallest_racy_bound);
    expect(stateful.final_states).toEqual(off.final_states);
    expect(stateful.schedules).toBeLessThanOrEqual(off.schedules);
    expect(off.stateful_pruning).toBe(false);
    expect(off.complete && on.complete).toBe(true);
    expect(on.racy_schedules > 0).toBe(off.racy_schedules > 0);
    expect(on.smallest_racy_bound).toBe(off.smallest_racy_bound);
    expect(on.final_states).toEqual(off.final_states);
    expect(on.por).toBe('on');
    expect(off.por).toBe('off');
    // The exhaustive order prunes nothing.
    expect(off.schedules_pruned).toBe(0);
    if (bound === UNBOUNDED) expect([off.verified, on.verified, stateful.verified]).toEqual(['every schedule', 'every schedule', 'every schedule']);
  }, 60_000);
});

describe('stateful keys are a pure function of the schedule', () => {
  // A thread folds what it reads only while it holds the turn. The turn can come back to a CPU before it goes to
  // sleep (another CPU's step was quick): a key that missed that step's reads differed from run to run (found on
  // pending-flush-lost: the same schedule gave different keys after different schedules ran on the machine).
  // arm64-dsb-pending (2 CPUs and their MMU agents, run tokens >= CPUs on 2 cores): a machine booted PRNG-seeded spun for
  // its turn in schedule-driven runs too, and the spin's predictions read runnable words inside a step.
  it.each([['pending-flush-lost', 3], ['arm64-dsb-pending', 4]] as const)('%s: the same schedule gives the same keys at every choice point, whatever ran on the machine before', async (scenario, agents) => {
    const { config } = resolvePreset({ scenario, kernel: 'fixed' }, { schedule: '' });
    const m = await Machine.boot({ ...config, schedule: '', runTokens: Math.max(config.runTokens, config.cpus) });
    try {
      const keys = async (s: ForcedChoice[]): Promise<string[]> => {
        await m.run(config.seed, { schedule: s, stateful: true });
        return (m.scheduleRecord()?.points ?? []).map((p) => p.key ?? 'none');
      };
      for (const probe of [[{ step: 1, cpu: 0 }], [{ step: 3, cpu: agents - 1 }], [{ step: 4, cpu: agents - 1 }]]) {
        const first = await keys(probe);
        expect(first.length).toBeGreaterThan(15);
        expect(first).not.toContain('none');
        for (const before of [[{ step: 0, cpu: 1 }], [], [{ step: 3, cpu: agents - 2 }]]) {
          await keys(before);
          expect(await keys(probe)).toEqual(first);
        }
      }
      // Keys tell states apart: a run's keys are not all one, and another schedule reaches other states.
      const run = await keys([]);
      expect(new Set(run).size).toBeGreaterThan(run.length / 2);
      expect(await keys([{ step: 0, cpu: 1 }])).not.toEqual(run);
    } finally {
      await m.shutdown();
    }
  }, 60_000);

  it('refuses --stateful with --por on or --shard, in one line', async () => {
    const { config } = resolvePreset({ scenario: 'reclaim-dirty', kernel: 'fixed' }, { schedule: '' });
    await expect(explore({ config, bound: 0, por: true, stateful: true })).rejects.toThrow(/--stateful on takes --por off/);
    await expect(explore({ config, bound: 0, stateful: true, shard: { k: 1, n: 2 } })).rejects.toThrow(/--shard takes --stateful off/);
  });
});
