/**
 * The explorer (src/campaigns/explore.ts) and schedule-driven runs (src/engine/forcedSchedule.ts):
 * it visits exactly every schedule of a hand-countable scenario, its counts
 * are deterministic, and a schedule it prints replays exactly.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../src/config/config.js';
import { explore, exploreScenario } from '../src/campaigns/explore.js';
import { mixCpuState } from '../src/engine/state/cpuControl.js';
import { usedRaceLogWords } from '../src/engine/oracle.js';
import { formatSchedule, hashSharedState, parseSchedule } from '../src/engine/forcedSchedule.js';
import { runStress, scenarioConfig } from '../src/campaigns/stress.js';
import { Machine } from '../src/engine/coordinator.js';
import { allocateMachine, type MachineViews, viewMachine } from '../src/engine/state/machineViews.js';
import { claimRaceRecord, mixGlobalState } from '../src/engine/state/globalBlock.js';
import { E_VPN, TLB_ENTRY_WORDS, TLB_INVALID } from '../src/engine/tlb.js';

/** The toy workload: 2 CPUs, 3 stores each, no interaction. */
const toy = resolveConfig({ workload: 'toy', cpus: 2, pages: 2, ops: 3, sched: 'seeded', tlbSets: 2, tlbWays: 1, runTokens: 1 });

describe('explore on the toy scenario (2 CPUs x 3 stores)', () => {
  // Each CPU yields before each of its 3 stores and once when it retires;
  // the first CPU is a free choice (2 ways). A preemption can happen at the
  // yield before store 1, 2 or 3 of the running CPU (3 places), and a
  // switch at a retirement is free. So, with k preemptions exactly:
  //   k = 0: X runs to the end, then Y:                        2
  //   k = 1: X runs i < 3 segments, Y runs to the end, X:      2 x 3 = 6
  //   k = 2: X i segments, Y j < 3 segments, X to the end, Y:  2 x 3 x 3 = 18
  it.each([
    [0, [2]],
    [1, [2, 6]],
    [2, [2, 6, 18]],
  ])('bound %i visits exactly the hand-counted schedules', async (bound, perBound) => {
    const r = await explore({ config: toy, bound });
    expect(r.per_preemptions.map((b) => b.schedules)).toEqual(perBound);
    expect(r.schedules).toBe(perBound.reduce((a, b) => a + b, 0));
    expect(r.racy_schedules).toBe(0);
    expect(r.shortest_racy).toBeNull();
    expect(r.complete).toBe(true);
  });

  it('stops early (not exhaustive) at --max-schedules', async () => {
    const r = await explore({ config: toy, bound: 2, maxSchedules: 5 });
    expect(r.schedules).toBe(5);
    expect(r.complete).toBe(false);
  });

  it('refuses free scheduling and bounds out of range', async () => {
    await expect(explore({ config: { ...toy, sched: 'free' }, bound: 1 })).rejects.toThrow(ConfigError);
    await expect(explore({ config: toy, bound: 7 })).rejects.toThrow(/--preemption-bound/);
  });
});

describe('explore counts are deterministic', () => {
  it('two explorations of reclaim-dirty (buggy, bound 2) agree on every count and the shortest racy schedule', async () => {
    const a = await exploreScenario({ scenario: 'reclaim-dirty', kernel: 'buggy', bound: 2 });
    const b = await exploreScenario({ scenario: 'reclaim-dirty', kernel: 'buggy', bound: 2 });
    expect(b.per_preemptions).toEqual(a.per_preemptions);
    expect(b.distinct_states).toBe(a.distinct_states);
    expect(b.racy_schedules).toBe(a.racy_schedules);
    expect(b.shortest_racy).toEqual(a.shortest_racy);
    expect(b.reproduce).toBe(a.reproduce);
  });

  it('two explorations of arm64-dsb-pending (buggy, bound 0: CPUs and MMU agents) agree exactly: 592 schedules, 93 states', async () => {
    const a = await exploreScenario({ scenario: 'arm64-dsb-pending', kernel: 'buggy', bound: 0 });
    const b = await exploreScenario({ scenario: 'arm64-dsb-pending', kernel: 'buggy', bound: 0 });
    expect([a.schedules, a.distinct_states, a.racy_schedules]).toEqual([592, 93, 0]);
    expect([b.schedules, b.distinct_states, b.racy_schedules]).toEqual([592, 93, 0]);
  });
});

describe('a schedule replays exactly', () => {
  it("stress --replay of the explorer's shortest racy schedule finds the race in its one iteration, the same races", async () => {
    const e = await exploreScenario({ scenario: 'mprotect-reclaim', kernel: 'buggy', bound: 2 });
    expect(e.shortest_racy).not.toBeNull();
    expect(e.reproduce).toContain(`--replay ${e.shortest_racy!.schedule}`);
    const s = await runStress({ scenario: 'mprotect-reclaim', kernel: 'buggy', overrides: { schedule: e.shortest_racy!.schedule }, iterations: 1, seed: e.config.seed, stopOnRace: false, threads: 1 });
    expect(s.racy_iterations).toBe(1);
    expect(s.races).toEqual(e.shortest_racy!.races);
    expect(s.reproduce).toContain(`--replay ${e.shortest_racy!.schedule}`);
  });

  it('the same schedule on the fixed kernel finds nothing', async () => {
    const e = await exploreScenario({ scenario: 'mprotect-reclaim', kernel: 'buggy', bound: 2 });
    const s = await runStress({ scenario: 'mprotect-reclaim', kernel: 'fixed', overrides: { schedule: e.shortest_racy!.schedule }, iterations: 1, seed: e.config.seed, stopOnRace: false, threads: 1 });
    expect(s.racy_iterations).toBe(0);
    // The racing steps ran: reclaim unmapped the page and the store after mprotect(PROT_READ) faulted instead of landing.
    expect(s.counters.pages_unmapped).toBe(1);
    expect(s.counters.segv_stores).toBeGreaterThan(0);
  });
});

describe('schedule text', () => {
  it('parses and formats step:cpu lists, and none', () => {
    expect(parseSchedule('3:1,7:0', 2)).toEqual([
      { step: 3, cpu: 1 },
      { step: 7, cpu: 0 },
    ]);
    expect(parseSchedule('none', 2)).toEqual([]);
    expect(formatSchedule([])).toBe('none');
    expect(formatSchedule([{ step: 3, cpu: 1 }])).toBe('3:1');
  });

  it('rejects bad items in one line', () => {
    expect(() => parseSchedule('3:1,2:0', 2)).toThrow(/must increase/);
    expect(() => parseSchedule('3:5', 2)).toThrow(/not one of the 2 CPUs/);
    expect(() => parseSchedule('x', 2)).toThrow(/choice point:CPU/);
    expect(() => resolveConfig({ schedule: '1:0' })).toThrow(/--replay needs --sched seeded/);
    expect(() => resolveConfig({ schedule: '1:0', sched: 'seeded', cpus: 16 })).toThrow(/at most 8 CPUs/);
  });
});

describe('explore takes catalogue scenarios only', () => {
  it("refuses a lab scenario (its threads loop until reclaim is done, so a schedule that never preempts would not end)", async () => {
    await expect(exploreScenario({ scenario: 'mprotect', bound: 0 })).rejects.toThrow(/race catalogue scenario/);
  });
});

describe('the state hash', () => {
  /** The hash word by word, as it was first written: FNV-1a over every hashed word, no shortcut. */
  function referenceHash(v: MachineViews, cpus: number): number {
    let h = 0x811c9dc5;
    const mix = (x: number): void => {
      h = Math.imul(h ^ x, 0x01000193);
    };
    // The global words but the scheduler's, in their owner's order (src/engine/state/globalBlock.ts keeps the offsets).
    mixGlobalState(v.global, 0, (_, x) => {
      mix(x);
      return 0;
    });
    // The per-CPU state words, in their owner's order (src/engine/state/cpuControl.ts keeps the offsets).
    for (let c = 0; c < cpus; c++)
      mixCpuState(v.cpuCtl, c, 0, (_, x) => {
        mix(x);
        return 0;
      });
    for (const a of [v.ackBits, v.mm, v.pte, v.pageState, v.ptl, v.frameData, v.frameGen, v.frameMeta, v.freeList, v.backing, v.lastStore, v.raceLog]) for (const x of a) mix(x);
    for (let e = 0; e < v.tlb.length; e += TLB_ENTRY_WORDS) {
      if (v.tlb[e + E_VPN] === TLB_INVALID) mix(TLB_INVALID);
      else for (let w = 0; w < TLB_ENTRY_WORDS; w++) mix(v.tlb[e + w]);
    }
    return h | 0;
  }

  it('skipping runs of zeros and the unused race log gives exactly the word-by-word hash', () => {
    const c = resolveConfig({ workload: 'pending-flush-lost', cpus: 3, pages: 513, sched: 'seeded', tlbSets: 2, tlbWays: 1 });
    const v = viewMachine(allocateMachine(c));
    expect(hashSharedState(v, 3)).toBe(referenceHash(v, 3));
    // Scattered non-zero words (zero runs of every length between them), a used race log record, a valid TLB entry.
    let x = 12345;
    for (const a of [v.pte, v.pageState, v.frameData, v.frameMeta, v.backing, v.lastStore]) {
      for (let i = 0; i < a.length; i += 1 + (x % 97)) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 1;
        a[i] = x | 0;
      }
    }
    claimRaceRecord(v.global);
    claimRaceRecord(v.global); // two race records in use
    const used = usedRaceLogWords(v);
    for (let i = 0; i < used; i++) v.raceLog[i] = i % 3 === 0 ? 0 : i + 1;
    v.tlb[E_VPN] = 5;
    v.tlb[1] = -7;
    expect(hashSharedState(v, 3)).toBe(referenceHash(v, 3));
    v.raceLog[used - 1] = 0; // the last word of a used record is zero: still hashed as zero
    expect(hashSharedState(v, 3)).toBe(referenceHash(v, 3));
  });
});

describe('a run of the reused machine depends on its schedule only', () => {
  // The explorer (and a sharded exploration, which runs the schedules in another order on each shard) counts distinct
  // states as a set of hashes, so a schedule must record the same hashes whatever ran on the machine before it: the
  // per-run reset must leave nothing of an earlier run that the hash reads (e.g. an IPI round id kept by a worker).
  it.each([
    ['reclaim-dirty', 'IPIs to the thread CPU'],
    ['mremap-ptl', '3 CPUs, --ipi-step'],
    ['arm64-dsb-pending', 'TLBIs applied by the MMU agents'],
  ])('%s (%s): the default schedule records the same hashes first and after other schedules', async (scenario) => {
    const config = scenarioConfig(scenario, { schedule: '' }, 'buggy');
    const m = await Machine.boot(config);
    try {
      const hashes = async (schedule: string): Promise<number[]> => {
        await m.run(config.seed, { schedule: parseSchedule(schedule, config.cpus, config.arch === 'arm64' ? 2 * config.cpus : config.cpus) });
        return m.scheduleRecord()!.points.map((p) => p.hash);
      };
      const first = await hashes('none');
      // Three other schedules: each departs from the default at the first choice point with another enabled agent.
      const rec = m.scheduleRecord()!;
      const departures = rec.points.flatMap((p, step) => Array.from({ length: 16 }, (_, cpu) => cpu).filter((cpu) => cpu !== p.chosen && (p.enabled & (1 << cpu)) !== 0).map((cpu) => `${step}:${cpu}`)).slice(0, 3);
      expect(departures).toHaveLength(3);
      for (const d of departures) expect(await hashes(d)).not.toEqual(first);
      expect(await hashes('none')).toEqual(first);
    } finally {
      await m.shutdown();
    }
  });
});
