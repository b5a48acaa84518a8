/**
 * `tlbsim stress` through the compiled CLI: it finds races, prints one JSON
 * object with --json, and the `reproduce` command it prints shows the same race
 * again when executed.
 *
 * Campaigns that stop early (--stop-on-race, a failing iteration) pass
 * `--threads 1` where a test asserts exactly where the campaign stopped; the
 * last test covers early stop on two threads.
 */
import { describe, expect, it } from 'vitest';
import { runStress, type StressResult } from '../src/campaigns/stress.js';
import { expectReplayShows, lines, parseOneJsonObject, runCli, splitCommand, totalRaces } from './helpers.js';

const STRESS_KEYS = [
  'scenario',
  'config',
  'iterations',
  'requested_iterations',
  'counters',
  'races',
  'racy_iterations',
  'racy_iterations_per_1000',
  'races_per_1000',
  'races_total',
  'first_race',
  'reproduce',
  'failures',
  'host',
] as const;

async function stressJson(args: string[], expectedStatus = 0): Promise<StressResult> {
  const r = await runCli(['stress', ...args, '--json']);
  expect(r.status, `exit code of tlbsim stress ${args.join(' ')}; stderr: ${r.stderr}`).toBe(expectedStatus);
  return parseOneJsonObject<StressResult>(r.stdout);
}

/** Run a `tlbsim stress ...` reproduce command with the compiled CLI, adding --json. */
async function replay(reproduce: string): Promise<StressResult> {
  const words = splitCommand(reproduce);
  expect(words.slice(0, 2)).toEqual(['tlbsim', 'stress']);
  return stressJson(words.slice(2));
}

describe('tlbsim stress --stop-on-race', () => {
  it('finds a lost write on unmap-window and prints a reproduce command that shows the same race again', async () => {
    const bound = 200;
    const s = await stressJson(['--stop-on-race', '--iterations', String(bound), '--threads', '1']);
    expect(s.scenario).toBe('unmap-window');
    expect(s.config.arch).toBe('weak');
    expect(s.config.protocol).toBe('batched');
    expect(s.config.sched).toBe('seeded');
    expect(s.failures).toEqual([]);
    expect(s.first_race, `no race in ${bound} iterations`).not.toBeNull();
    const first = s.first_race!;
    expect(s.iterations).toBe(first.iteration + 1); // stopped at the first racy iteration
    expect(s.requested_iterations).toBe(bound);
    expect(s.races.lost_writes).toBeGreaterThan(0);
    expect(first.reports[0].kind).toBe('lost_write');
    // Seen at the frame drop: the dirty bit went into a cleared PTE, so the page was dropped unwritten with the store.
    expect(first.reports[0].detectedAt).toBe('frame-drop');
    expect(first.reports[0].step).toMatch(/unmap window/);
    expect(s.reproduce).toMatch(/^tlbsim stress /);
    expect(s.reproduce).toContain('--scenario unmap-window');
    expect(s.reproduce).toContain(`--seed ${first.seed}`);
    expect(s.reproduce).toMatch(/--iterations 1$/);

    const again = await replay(s.reproduce!);
    expectReplayShows(again, first);
    expect(again.reproduce).toBe(s.reproduce);
  });

  it('human output names the first race and prints the reproduce line', async () => {
    const r = await runCli(['stress', '--stop-on-race', '--iterations', '200', '--threads', '1', '--no-progress']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^tlbsim stress: scenario unmap-window/);
    expect(r.stdout).toMatch(/races\s+FOUND: lost writes [1-9]/);
    expect(r.stdout).toMatch(/first race\s+iteration \d+ \(seed \d+\)/);
    expect(r.stdout).toMatch(/lost write: CPU \d's store #\d+ to page \d+/);
    const rep = lines(r.stdout).filter((l) => l.trim().startsWith('reproduce: '));
    expect(rep).toHaveLength(1);
    expect(rep[0].trim()).toMatch(/^reproduce: tlbsim stress --scenario unmap-window .*--iterations 1$/);
  });

  it('boolean flags survive the round trip: mprotect --no-batched-pending-flush replays the same write after protect', async () => {
    const s = await stressJson(['--scenario', 'mprotect', '--no-batched-pending-flush', '--stop-on-race', '--iterations', '300', '--threads', '1']);
    expect(s.config.batchedPendingFlush).toBe(false);
    expect(s.races.writes_after_protect).toBeGreaterThan(0);
    expect(s.first_race!.reports[0].kind).toBe('write_after_protect');
    expect(s.reproduce).toContain('--scenario mprotect');
    expect(s.reproduce).toContain('--no-batched-pending-flush');
    const again = await replay(s.reproduce!);
    expect(again.config.batchedPendingFlush).toBe(false);
    expect(again.races).toEqual(s.first_race!.races);
    expect(again.first_race!.reports).toEqual(s.first_race!.reports);
  });
});

describe('tlbsim stress --json', () => {
  it('--iterations 30: one JSON object with the documented keys and consistent numbers', async () => {
    const r = await runCli(['stress', '--iterations', '30', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const s = parseOneJsonObject<StressResult>(r.stdout);
    for (const k of STRESS_KEYS) expect(s, `key ${k}`).toHaveProperty(k);
    expect(s.scenario).toBe('unmap-window');
    expect(s.iterations).toBe(30);
    expect(s.requested_iterations).toBe(30);
    expect(s.failures).toEqual([]);
    expect(s.config.seed).toBe(1);
    // One batch of 8 pages per iteration, 2 thread CPUs: one round of 2 IPIs each.
    expect(s.counters.nr_tlb_remote_flush).toBe(30);
    expect(s.counters.ipis_sent).toBe(60);
    expect(s.counters.nr_tlb_remote_flush_received).toBe(60);
    expect(s.counters.pages_unmapped).toBe(30 * 8);
    expect(s.racy_iterations).toBeGreaterThanOrEqual(0);
    expect(s.racy_iterations).toBeLessThanOrEqual(s.iterations);
    expect(s.racy_iterations_per_1000).toBeCloseTo((s.racy_iterations / s.iterations) * 1000, 2);
    expect(s.races_per_1000).toBe(s.racy_iterations_per_1000); // the deprecated alias
    expect(s.races_total).toBe(totalRaces(s.races));
    expect(s.races_total).toBeGreaterThanOrEqual(s.racy_iterations);
    // weak + batched on this scenario races in most iterations.
    expect(s.racy_iterations).toBeGreaterThan(0);
    expect(s.first_race).not.toBeNull();
    expect(s.first_race!.seed).toBe(1 + s.first_race!.iteration);
    expect(s.reproduce).toMatch(/^tlbsim stress /);
    expect(s.reproduce).toContain(`--seed ${s.first_race!.seed}`);
    expect(s.host.threads).toBeGreaterThanOrEqual(1);
    expect(s.host.sched_steps).toBeGreaterThan(0);
  });

  it('a safe configuration (x86): zero races, first_race and reproduce are null, exit 0', async () => {
    const s = await stressJson(['--arch', 'x86', '--iterations', '60']);
    expect(s.config.arch).toBe('x86');
    expect(s.iterations).toBe(60);
    expect(s.races).toEqual({ lost_writes: 0, stale_accesses: 0, writes_after_protect: 0, accesses_after_unmap: 0, reads_after_protect: 0 });
    expect(s.racy_iterations).toBe(0);
    expect(s.racy_iterations_per_1000).toBe(0);
    expect(s.races_total).toBe(0);
    // The workload ran: unmap-window reclaims its 8 pages once per iteration while the threads store.
    expect(s.counters.pages_unmapped).toBe(60 * 8);
    expect(s.counters.stores).toBeGreaterThan(0);
    expect(s.first_race).toBeNull();
    expect(s.reproduce).toBeNull();
  });

  it('a CPU that stops acknowledging: exit 1, the failure names CPU 2', async () => {
    const s = await stressJson(['--fault-cpu', '2', '--fault-kind', 'stop-acking', '--ipi-timeout-ms', '500', '--iterations', '4', '--threads', '1'], 1);
    expect(s.failures.length).toBeGreaterThan(0);
    expect(s.failures[0].kind).toBe('ipi-timeout');
    expect(s.failures[0].cpu).toBe(2);
    expect(s.failures[0].message).toMatch(/CPU 2/);
    expect(s.iterations).toBeLessThan(4);
  });
});

describe('--stop-on-race on several piscina threads', () => {
  // Early stop is cooperative (a shared stop index read between iterations),
  // so every iteration below the earliest racy one still runs: first_race is
  // the same on 2 threads as on 1, and no running task is ever killed.
  it('finds the same earliest race on 2 threads as on 1, and exits cleanly', async () => {
    const overrides = { arch: 'x86' as const, inject: 'skip-dirty-flush' as const, debug: false };
    const one = await runStress({ scenario: 'unmap-window', overrides, iterations: 200, seed: 1, stopOnRace: true, threads: 1 });
    expect(one.first_race).not.toBeNull();
    for (let i = 0; i < 2; i++) {
      const two = await runStress({ scenario: 'unmap-window', overrides, iterations: 200, seed: 1, stopOnRace: true, threads: 2 });
      expect(two.first_race?.iteration).toBe(one.first_race!.iteration);
      expect(two.first_race?.reports).toEqual(one.first_race!.reports);
      expect(two.iterations).toBeLessThan(200);
    }
    for (let i = 0; i < 3; i++) {
      const r = await runCli(['stress', '--json', '--stop-on-race', '--iterations', '200', '--threads', '2']);
      expect(r.status, `run ${i}: ${r.stderr.slice(0, 300)}`).toBe(0);
      expect(parseOneJsonObject<StressResult>(r.stdout).first_race?.iteration).toBe(0);
    }
  }, 300_000);
});
