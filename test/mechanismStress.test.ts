/**
 * Seeded (and free) stress of every mechanism of the INVLPGB issue on the
 * `frame-reuse` scenario: zero races as specified, each with proof that the
 * workload ran (exact pages unmapped and mechanism counts), and races for
 * each planted bug, found by seeded stress and replayed exactly by the
 * reproduce command:
 * - `--inject luf-writable`: lost writes;
 * - `--inject no-tlbsync` (invlpgb, rar): stale accesses. The hardware's
 *   application of a broadcast / RAR is a step of the target's MMU agent
 *   (agent cpus + c, src/engine/scheduler.ts), so a schedule can run the
 *   target's accesses between the post and the application, which TLBSYNC
 *   (RAR completion) would have waited for; `explore` finds it too;
 * - `--inject context-reuse` (context-reset): a context id that comes round
 *   again brings its zombie entries back to life.
 *
 * frame-reuse (src/scenarios/lab.ts): N = 4 CPUs (CPU 0 kswapd, 3 threads),
 * P = 16 pages reclaimed in batches of B = 8, the first 8 mapped read-only,
 * `--ops 60` accesses per thread at least.
 */
import { describe, expect, it } from 'vitest';
import { runStress, scenarioConfig, type StressResult } from '../src/campaigns/stress.js';
import { explore } from '../src/campaigns/explore.js';
import { CONTEXT_GENERATIONS } from '../src/kernel/tlbState.js';
import { NO_RACES, expectReplayShows, parseStressCommand, totalRaces } from './helpers.js';

const TIMEOUT = 120_000;
const N = 4;
const P = 16;
const B = 8;
const RO_PAGES = 8;
const OPS = 60;

/**
 * The workload ran: reclaim unmaps each of the P pages once per iteration
 * (after every thread touched all of them: workloads/reclaim.ts), and the
 * N - 1 threads made at least OPS accesses each, some of them stores.
 */
function expectWorkloadRan(s: StressResult): void {
  const k = s.counters;
  expect(k.pages_unmapped).toBe(P * s.iterations);
  expect(k.loads + k.stores).toBeGreaterThanOrEqual((N - 1) * OPS * s.iterations);
  expect(k.stores).toBeGreaterThan(0);
}

/**
 * What each mechanism must have done per iteration (ceil(P/B) = 2 reclaim batches):
 * - invlpgb: arch_tlbbatch_flush is one INVLPGB (invlpgb_flush_all_nonglobals) + TLBSYNC per batch, applied by
 *   every other CPU (N - 1), whatever mm_cpumask says;
 * - rar: one RAR per batch to the batch's cpumask, the N - 1 thread CPUs (kswapd runs no user mm);
 * - luf: the RO_PAGES pages that had no writable mapping are deferred (the writable ones are flushed as batched does);
 * - context-reset: a batch of B = 8 pages is at or below the cutoff (20): flushed page by page, no reset (the
 *   reset path is stressed by the context-reuse test below, with --batch 1 --context-reset-cutoff 0).
 */
function expectMechanismRan(protocol: string, s: StressResult): void {
  const k = s.counters;
  const batches = Math.ceil(P / B) * s.iterations;
  if (protocol === 'invlpgb') {
    expect(k.invlpgb_sent).toBe(batches);
    expect(k.invlpgb_applied).toBe((N - 1) * batches);
  } else if (protocol === 'rar') {
    expect(k.rar_sent).toBe(batches);
    expect(k.rar_applied).toBe((N - 1) * batches);
  } else if (protocol === 'luf') {
    expect(k.luf_deferred).toBe(RO_PAGES * s.iterations);
  } else {
    expect(k.context_resets).toBe(0);
  }
}

describe('frame-reuse stress: zero races for every mechanism', () => {
  for (const protocol of ['invlpgb', 'rar', 'luf', 'context-reset'] as const) {
    it(
      `${protocol}: 150 seeded iterations and 60 free ones, no race, and the workload ran`,
      async () => {
        const seeded = await runStress({ scenario: 'frame-reuse', overrides: { protocol }, iterations: 150, seed: 1, stopOnRace: false, threads: 2 });
        expect(seeded.failures).toEqual([]);
        expect(seeded.races).toEqual(NO_RACES);
        expectWorkloadRan(seeded);
        expectMechanismRan(protocol, seeded);
        const free = await runStress({ scenario: 'frame-reuse', overrides: { protocol, sched: 'free' }, iterations: 60, seed: 1, stopOnRace: false, threads: 2 });
        expect(free.failures).toEqual([]);
        expect(free.races).toEqual(NO_RACES);
        expectWorkloadRan(free);
        expectMechanismRan(protocol, free);
      },
      TIMEOUT,
    );
  }
});

/** Stress `overrides` on frame-reuse; expect races, and that the reproduce command shows the first one again exactly. */
async function expectFoundAndReplayed(overrides: Parameters<typeof runStress>[0]['overrides'], iterations: number): Promise<StressResult> {
  const s = await runStress({ scenario: 'frame-reuse', overrides, iterations, seed: 1, stopOnRace: false, threads: 2 });
  expect(s.failures).toEqual([]);
  expect(s.racy_iterations).toBeGreaterThan(0);
  expect(s.first_race).not.toBeNull();
  const cmd = parseStressCommand(s.reproduce!);
  const again = await runStress({ scenario: cmd.scenario, overrides: cmd.overrides, iterations: 1, seed: cmd.seed, stopOnRace: false, threads: 1 });
  expectReplayShows(again, s.first_race!);
  return s;
}

describe('frame-reuse stress: planted bugs are found', () => {
  it(
    '--inject luf-writable: lost writes in seeded stress, and the reproduce command replays the first',
    async () => {
      const s = await runStress({ scenario: 'frame-reuse', overrides: { protocol: 'luf', inject: 'luf-writable' }, iterations: 100, seed: 1, stopOnRace: true, threads: 1 });
      expect(s.racy_iterations).toBeGreaterThan(0);
      expect(s.races.lost_writes + s.races.stale_accesses).toBeGreaterThan(0);
      expect(s.first_race).not.toBeNull();
      expect(s.reproduce).toMatch(/--protocol luf .*--inject luf-writable/);
      // Seen at the frame drop: LUF left the writable entry of a page it deferred, a CPU stored through it after the
      // write-back, and reclaim dropped the frame holding the store (checkFrameDrop: frame word != backing store).
      const lost = s.first_race!.reports.filter((x) => x.kind === 'lost_write');
      expect(lost.every((x) => x.detectedAt === 'frame-drop')).toBe(true);
      const cmd = parseStressCommand(s.reproduce!);
      const again = await runStress({ scenario: cmd.scenario, overrides: cmd.overrides, iterations: 1, seed: cmd.seed, stopOnRace: false, threads: 1 });
      expectReplayShows(again, s.first_race!);
    },
    TIMEOUT,
  );

  for (const protocol of ['invlpgb', 'rar'] as const) {
    it(
      `--inject no-tlbsync (${protocol}): stale accesses in seeded stress, 30 iterations from seed 1 (the safe side: 0 over the same seeds above)`,
      async () => {
        // The race: kswapd's arch_tlbbatch_flush returns without TLBSYNC, frees the batch's frames and refaults reuse
        // them (LIFO) while a thread CPU's MMU agent has not applied the broadcast: the thread's next access through
        // its cached entry reaches the reused frame (stale access). The zero-race test above runs seeds 1..150 of the
        // same scenario without the inject, a superset of these 30.
        const s = await expectFoundAndReplayed({ protocol, inject: 'no-tlbsync' }, 30);
        expect(s.races.stale_accesses).toBeGreaterThan(0);
        expect(s.reproduce).toMatch(/--inject no-tlbsync/);
        expectWorkloadRan(s);
      },
      TIMEOUT,
    );

    it(
      `--inject no-tlbsync (${protocol}): stale accesses in free stress too`,
      async () => {
        const s = await runStress({
          scenario: 'frame-reuse',
          overrides: { protocol, inject: 'no-tlbsync', sched: 'free', doorbellPollInterval: 16 },
          iterations: 300,
          seed: 1,
          stopOnRace: false,
          threads: 2,
        });
        expect(s.failures).toEqual([]);
        expect(totalRaces(s.races)).toBeGreaterThan(0);
        expect(s.races.stale_accesses).toBeGreaterThan(0);
      },
      TIMEOUT,
    );

    it(
      `explore finds --inject no-tlbsync (${protocol}) on reclaim-dirty at one preemption; the safe side is clean at bound 2`,
      async () => {
        // reclaim-dirty: CPU 0 reclaims the one page CPU 1 stores to (3 stores). At bound 0 nothing overlaps: the
        // default never preempts, so CPU 1 runs all its stores before or after the reclaim. With one preemption
        // (switch from CPU 1 to kswapd mid-stores) kswapd posts the INVLPGB/RAR, returns without waiting, writes
        // the page back and frees it; then CPU 1 (next after CPU 0) stores through its entry before its MMU agent
        // (agent 2 + 1 = 3) applies the invalidation. Without the inject the TLBSYNC wait blocks kswapd until the
        // agent ran, at every bound.
        const bug = await explore({ config: scenarioConfig('reclaim-dirty', { protocol, inject: 'no-tlbsync' }), bound: 1 });
        expect(bug.complete).toBe(true);
        expect(bug.smallest_racy_bound).toBe(1);
        expect(bug.per_preemptions[0].racy).toBe(0);
        expect(bug.shortest_racy!.races.stale_accesses + bug.shortest_racy!.races.lost_writes).toBeGreaterThan(0);
        const safe = await explore({ config: scenarioConfig('reclaim-dirty', { protocol }), bound: 2 });
        expect(safe.complete).toBe(true);
        expect(safe.racy_schedules).toBe(0);
        expect(safe.schedules).toBeGreaterThan(bug.per_preemptions[0].schedules);
      },
      TIMEOUT,
    );
  }

  it(
    '--inject context-reuse (context-reset, --batch 1 --context-reset-cutoff 0): stale accesses in seeded stress; clean without it',
    async () => {
      // --batch 1 --context-reset-cutoff 0: each of the P reclaim batches is one page, more than the cutoff, so
      // flush_tlb_mm_range resets the mm's context on each of the N - 1 thread CPUs (all run the mm, none lazy,
      // each behind the bumped tlb_gen): P * (N - 1) resets per iteration, P = 16 per CPU, more than the
      // CONTEXT_GENERATIONS = 8 ids a slot cycles through, so every CPU's ids come round while zombies of the
      // same id may still be cached. The safe kernel flushes them first (context_zombie_flushes); the planted
      // bug does not, and a zombie mapping a page whose frame reclaim freed (and a refault reused) is live again.
      const over = { protocol: 'context-reset', batch: 1, contextResetCutoff: 0 } as const;
      expect(P).toBeGreaterThan(CONTEXT_GENERATIONS);
      const bug = await expectFoundAndReplayed({ ...over, inject: 'context-reuse' }, 30);
      expect(bug.races.stale_accesses).toBeGreaterThan(0);
      expect(bug.counters.context_zombie_flushes).toBe(0);
      const safe = await runStress({ scenario: 'frame-reuse', overrides: over, iterations: 30, seed: 1, stopOnRace: false, threads: 2 });
      expect(safe.failures).toEqual([]);
      expect(safe.races).toEqual(NO_RACES);
      expectWorkloadRan(safe);
      expect(safe.counters.context_resets).toBe(P * (N - 1) * safe.iterations);
      expect(safe.counters.context_zombie_flushes).toBeGreaterThan(0);
    },
    TIMEOUT,
  );
});
