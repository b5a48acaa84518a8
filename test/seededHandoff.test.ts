/**
 * The seeded hand-off's spins (src/engine/scheduler.ts) are timing only: with
 * runTokens >= cpus the CPU the next PRNG draw would pick spins for its turn
 * and whoever yields rings it awake; with runTokens 2 (fewer than the CPUs)
 * one waiter at a time spins as the machine's standby. Neither takes a draw
 * or writes a shared word a CPU reads, so the same seed gives the same
 * schedule, counters and races whether the waiters spin (runTokens = cpus),
 * keep a standby (runTokens 2) or sleep at once (runTokens 1).
 * A prediction that took the draw, or rang a CPU into taking a step, would
 * change G_SCHED_STEPS or the counters of some seed below.
 *
 * Workers run from dist/: build first (`npm run build`). Nothing here asserts on time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimConfig } from '../src/config/config.js';
import { Machine } from '../src/engine/coordinator.js';
import { scenarioConfig } from '../src/campaigns/stress.js';
import type { RunResult } from '../src/output/result.js';

/** Seeds compared per architecture: enough for hundreds of hand-offs each, a few seconds in all. */
const SEEDS = 25;

/** What a seeded run must reproduce exactly. */
function outcome(r: RunResult): unknown {
  expect(r.status).toBe('ok');
  return { steps: r.host.sched_steps, counters: r.counters, perCpu: r.per_cpu, races: r.races, reports: r.race_reports };
}

for (const arch of ['weak', 'arm64'] as const) {
  describe(`seeded hand-off on unmap-window (${arch}): spinning, standby and sleeping waiters run the same schedules`, () => {
    const base: SimConfig = scenarioConfig('unmap-window', { sched: 'seeded', protocol: 'batched', arch });
    let sleeping: Machine;
    let spinning: Machine;
    let standby: Machine;
    beforeAll(async () => {
      expect(base.cpus).toBeGreaterThan(2); // runTokens 2 is the standby regime only below the CPU count
      sleeping = await Machine.boot({ ...base, runTokens: 1 });
      spinning = await Machine.boot({ ...base, runTokens: base.cpus });
      standby = await Machine.boot({ ...base, runTokens: 2 });
    });
    afterAll(async () => {
      await sleeping?.shutdown();
      await spinning?.shutdown();
      await standby?.shutdown();
    });

    it(`seeds 1..${SEEDS}: the same steps, counters and races`, async () => {
      let totalSteps = 0;
      for (let seed = 1; seed <= SEEDS; seed++) {
        const a = outcome(await sleeping.run(seed));
        const b = outcome(await spinning.run(seed));
        const c = outcome(await standby.run(seed));
        expect(b, `seed ${seed}`).toEqual(a);
        expect(c, `seed ${seed}, standby`).toEqual(a);
        totalSteps += (a as { steps: number }).steps;
      }
      // The runs took choice points at all (unmap-window: kswapd and two threads, about 200 a run).
      expect(totalSteps).toBeGreaterThan(SEEDS * 3);
    });
  });
}
