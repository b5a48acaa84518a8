/**
 * Plug-ins written outside src/ (docs/extending.md), run through the compiled
 * CLI: examples/flush-across-passes.ts (`run --protocol`), examples/my-race.ts
 * (`stress --scenario`, `explore --scenario`), and bad plug-ins, each of which
 * must get one line naming its file and exit 2.
 */
import { describe, expect, it, vi } from 'vitest';
import type { RunResult } from '../src/output/result.js';
import type { StressResult } from '../src/campaigns/stress.js';
import type { ScenarioExploreResult } from '../src/campaigns/explore.js';
import { main } from '../src/cli.js';
import { lines, parseOneJsonObject, runCli, splitCommand } from './helpers.js';

const TIMEOUT = 60_000;
const PROTOCOL = 'examples/flush-across-passes.ts';
const RACE = 'examples/my-race.ts';

describe('protocol plug-in: examples/flush-across-passes.ts', () => {
  it(
    'defers each reclaim pass flush into the next, up to 4 passes: exact rounds and IPIs',
    async () => {
      const N = 4;
      const P = 10;
      const r = await runCli(['run', '--protocol', PROTOCOL, '--cpus', String(N), '--pages', String(P), '--batch', '1', '--write-ratio', '0', '--ops', '20', '--sched', 'seeded', '--json']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const res = parseOneJsonObject<RunResult>(r.stdout);
      // The plug-in's rule: --batch 1 makes P = 10 passes; with no dirty page (--write-ratio 0: warm-up and
      // accesses only load) a round goes out every MAX_DEFERRED_PASSES = 4 passes (after passes 4 and 8) and
      // reclaimDone sends one for passes 9-10: ceil(10 / 4) = 3 rounds. Each round goes to mm_cpumask minus
      // kswapd's CPU 0 (it never loads the mm): N - 1 = 3 IPIs, so 9 IPIs (batched would send 10 rounds, 30 IPIs).
      expect(res.status).toBe('ok');
      expect(res.config.protocol).toBe(PROTOCOL);
      expect(res.counters.nr_tlb_remote_flush).toBe(3);
      expect(res.counters.ipis_sent).toBe(3 * (N - 1));
      expect(res.counters.nr_tlb_remote_flush_received).toBe(3 * (N - 1));
      // Every page is unmapped and freed exactly once, none written back (all clean); the oracle sees no race.
      expect(res.counters.pages_unmapped).toBe(P);
      expect(res.counters.pages_freed).toBe(P);
      expect(res.counters.pages_written_back).toBe(0);
      expect(Object.values(res.races).every((n) => n === 0)).toBe(true);
      // The reproduce command names the plug-in's path.
      expect(splitCommand(res.reproduce)).toEqual(expect.arrayContaining(['--protocol', PROTOCOL]));
    },
    TIMEOUT,
  );
});

describe('scenario plug-in: examples/my-race.ts', () => {
  // Per iteration, from the scenario's rule: CPU 0 reclaims P once (1 PTE cleared, 1 frame freed) with one
  // deferred-flush round to mm_cpumask {1, 2} (2 IPIs); CPU 1 calls madvise only after that clear, so it
  // finds P's PTE none: the buggy side (--no-batched-pending-flush) flushes nothing, the fixed side's
  // flush_tlb_batched_pending flushes the mm from CPU 1 to CPU 2 (1 round, 1 IPI). Loads: one warm-up load
  // on CPUs 1 and 2 and --ops 2 on CPU 2 = 4.
  const I = 20;
  const stress = async (kernel: 'buggy' | 'fixed'): Promise<StressResult> => {
    const r = await runCli(['stress', '--scenario', RACE, '--kernel', kernel, '--sched', 'seeded', '--iterations', String(I), '--threads', '2', '--no-progress', '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return parseOneJsonObject<StressResult>(r.stdout);
  };

  it(
    'buggy side: the race is found, with exact counts, and its reproduce command replays it',
    async () => {
      const s = await stress('buggy');
      expect(s.iterations).toBe(I);
      expect(s.counters.nr_tlb_remote_flush).toBe(I);
      expect(s.counters.ipis_sent).toBe(2 * I);
      expect(s.counters.pages_unmapped).toBe(I);
      expect(s.counters.pages_freed).toBe(I);
      expect(s.counters.loads).toBe(4 * I);
      expect(s.racy_iterations).toBeGreaterThan(0);
      // CPU 2 only loads, after madvise returned: the only race it can show is an access after unmap.
      expect(s.races.accesses_after_unmap).toBeGreaterThan(0);
      expect(s.races.lost_writes + s.races.stale_accesses + s.races.writes_after_protect + s.races.reads_after_protect).toBe(0);
      const cmd = s.reproduce ?? '';
      expect(cmd).toContain(`--scenario ${RACE}`);
      const again = await runCli([...splitCommand(cmd).slice(1), '--no-progress', '--json']);
      expect(again.status).toBe(0);
      expect(parseOneJsonObject<StressResult>(again.stdout).races).toEqual(s.first_race?.races);
    },
    TIMEOUT,
  );

  it(
    'fixed side: no race, exact counts',
    async () => {
      const s = await stress('fixed');
      expect(s.iterations).toBe(I);
      expect(s.racy_iterations).toBe(0);
      expect(s.counters.nr_tlb_remote_flush).toBe(2 * I);
      expect(s.counters.ipis_sent).toBe(3 * I);
      expect(s.counters.pages_freed).toBe(I);
      expect(s.counters.loads).toBe(4 * I);
    },
    TIMEOUT,
  );

  it(
    'explore finds the race within one preemption on the buggy side',
    async () => {
      const r = await runCli(['explore', '--scenario', `./${RACE}`, '--kernel', 'buggy', '--preemption-bound', '1', '--no-progress', '--json']);
      expect(r.status).toBe(0);
      const e = parseOneJsonObject<ScenarioExploreResult>(r.stdout);
      // With no preemption CPU 2's loads run only when the scheduler switches to it at a blocking point,
      // after reclaim's flush; one preemption is needed to put them inside the window.
      expect(e.shortest_racy?.preemptions).toBe(1);
      expect(e.reproduce).toContain(`--scenario ./${RACE}`);
    },
    TIMEOUT,
  );
});

describe('bad plug-ins: one line naming the file, exit 2, no worker left behind', () => {
  const cases: [string, string[], RegExp][] = [
    ['missing file', ['run', '--protocol', 'test/fixtures/plugins/missing.ts'], /plug-in test\/fixtures\/plugins\/missing\.ts: no such file/],
    ['no default export', ['run', '--protocol', 'test/fixtures/plugins/no-default.ts'], /plug-in test\/fixtures\/plugins\/no-default\.ts: no default export/],
    ['wrong shape (zod)', ['run', '--protocol', 'test/fixtures/plugins/wrong-shape.ts'], /plug-in test\/fixtures\/plugins\/wrong-shape\.ts: default export is not a protocol plug-in: 'start' must be a function/],
    ['shadows a built-in name', ['run', '--protocol', 'test/fixtures/plugins/shadows-builtin.ts'], /plug-in test\/fixtures\/plugins\/shadows-builtin\.ts: name 'batched' is a built-in's/],
    ['protocol where a scenario is wanted', ['stress', '--scenario', PROTOCOL, '--iterations', '1'], /plug-in examples\/flush-across-passes\.ts: is a protocol plug-in, but --scenario takes a scenario plug-in/],
    ['throws inside a CPU worker (run)', ['run', '--protocol', 'test/fixtures/plugins/throws-in-worker.ts', '--cpus', '3', '--pages', '2', '--sched', 'seeded'], /plug-in test\/fixtures\/plugins\/throws-in-worker\.ts: threw on CPU 0: deliberate failure in shrinkPageList/],
    ['throws inside a CPU worker (explore)', ['explore', '--scenario', 'test/fixtures/plugins/throws-in-scenario.ts', '--preemption-bound', '0', '--no-progress'], /plug-in test\/fixtures\/plugins\/throws-in-scenario\.ts: threw on CPU 1: boom in run/],
    ['throws inside a CPU worker (stress pool)', ['stress', '--scenario', 'test/fixtures/plugins/throws-in-scenario.ts', '--iterations', '1', '--threads', '1', '--no-progress'], /plug-in test\/fixtures\/plugins\/throws-in-scenario\.ts: threw on CPU 1: boom in run/],
  ];
  // In process (src/cli.ts main, no child to exit and end stray workers for us): every CPU worker holds a
  // MessagePort open in this process until it is terminated, so the count must come back to what it was.
  const ports = (): number => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
  for (const [what, args, message] of cases) {
    it(
      what,
      async () => {
        const before = ports();
        let stderr = '';
        let stdout = '';
        const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
          stderr += String(chunk);
          return true;
        });
        const outSpy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
          stdout += String(chunk);
          return true;
        });
        let code: number;
        try {
          code = await main(args);
        } finally {
          errSpy.mockRestore();
          outSpy.mockRestore();
        }
        expect(code).toBe(2);
        expect(stdout).toBe('');
        expect(lines(stderr)).toHaveLength(1);
        expect(stderr).toMatch(message);
        expect(ports()).toBe(before);
      },
      TIMEOUT,
    );
  }
});
