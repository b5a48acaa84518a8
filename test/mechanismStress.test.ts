/**
 * Seeded (and free) stress of every mechanism of the INVLPGB issue on the
 * `frame-reuse` scenario: zero races as specified, races for each planted
 * bug (`--inject luf-writable`: lost writes in seeded stress;
 * `--inject no-tlbsync`: stale accesses in free stress, since a seeded step
 * applies pending invalidations before its access), and the reproduce
 * command replays a seeded race exactly.
 */
import { describe, expect, it } from 'vitest';
import { runStress } from '../src/campaigns/stress.js';
import { NO_RACES, expectReplayShows, parseStressCommand, totalRaces } from './helpers.js';

const TIMEOUT = 120_000;

describe('frame-reuse stress: zero races for every mechanism', () => {
  for (const protocol of ['invlpgb', 'rar', 'luf', 'context-reset'] as const) {
    it(
      `${protocol}: 150 seeded iterations and 60 free ones, no race`,
      async () => {
        const seeded = await runStress({ scenario: 'frame-reuse', overrides: { protocol }, iterations: 150, seed: 1, stopOnRace: false, threads: 2 });
        expect(seeded.failures).toEqual([]);
        expect(seeded.races).toEqual(NO_RACES);
        const free = await runStress({ scenario: 'frame-reuse', overrides: { protocol, sched: 'free' }, iterations: 60, seed: 1, stopOnRace: false, threads: 2 });
        expect(free.failures).toEqual([]);
        expect(free.races).toEqual(NO_RACES);
      },
      TIMEOUT,
    );
  }
});

describe('frame-reuse stress: planted bugs are found', () => {
  it(
    '--inject luf-writable: lost writes in seeded stress, and the reproduce command replays the first',
    async () => {
      const s = await runStress({ scenario: 'frame-reuse', overrides: { protocol: 'luf', inject: 'luf-writable' }, iterations: 100, seed: 1, stopOnRace: true, threads: 1 });
      expect(s.racy_iterations).toBeGreaterThan(0);
      expect(s.races.lost_writes + s.races.stale_accesses).toBeGreaterThan(0);
      expect(s.first_race).not.toBeNull();
      expect(s.reproduce).toMatch(/--protocol luf .*--inject luf-writable/);
      const cmd = parseStressCommand(s.reproduce!);
      const again = await runStress({ scenario: cmd.scenario, overrides: cmd.overrides, iterations: 1, seed: cmd.seed, stopOnRace: false, threads: 1 });
      expectReplayShows(again, s.first_race!);
    },
    TIMEOUT,
  );

  for (const protocol of ['invlpgb', 'rar'] as const) {
    it(
      `--inject no-tlbsync (${protocol}): stale accesses in free stress`,
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
  }
});
