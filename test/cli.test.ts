/**
 * `tlbsim run` and the CLI's contract (src/cli.ts): --json prints exactly one
 * JSON object with the documented fields; IPI counts are exact; the human
 * summary ends with a command that reproduces the run; bad input is one
 * `tlbsim: error:` line on stderr naming the flag, exit 2, nothing on stdout;
 * a failed simulation exits 1 and names the CPU.
 *
 * Runs the compiled CLI (build first: `npm run build`); the table of bad-input
 * cases runs through main() in this process (test/cliInProcess.ts), a sample of
 * them through the real process too.
 */
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../src/output/result.js';
import { runCliInProcess } from './cliInProcess.js';
import { lines, parseOneJsonObject, runCli, splitCommand, type CliResult } from './helpers.js';

const DOCUMENTED_COUNTERS = [
  'ipis_sent',
  'nr_tlb_remote_flush',
  'nr_tlb_remote_flush_received',
  'nr_tlb_local_flush_all',
  'nr_tlb_local_flush_one',
  'tlb_hits',
  'tlb_misses',
  'page_faults',
  'pages_unmapped',
  'pages_written_back',
] as const;

async function runJson(args: string[], expectedStatus = 0): Promise<{ result: RunResult; stderr: string }> {
  const r = await runCli(['run', ...args, '--json']);
  expect(r.status, `exit code of tlbsim run ${args.join(' ')}; stderr: ${r.stderr}`).toBe(expectedStatus);
  return { result: parseOneJsonObject<RunResult>(r.stdout), stderr: r.stderr };
}

describe('tlbsim run --json', () => {
  it('--cpus 4 --pages 64 --ops 500: one JSON object, documented fields, exact IPI counts (batched, batch 32)', async () => {
    const { result: r, stderr } = await runJson(['--cpus', '4', '--pages', '64', '--ops', '500']);
    expect(stderr).toBe(''); // logs are silent by default
    expect(r.status).toBe('ok');
    expect(r.failure).toBeUndefined();
    expect(r.config).toMatchObject({ cpus: 4, pages: 64, ops: 500, protocol: 'batched', batch: 32, workload: 'reclaim', arch: 'x86', sched: 'free', seed: 1 });
    for (const k of DOCUMENTED_COUNTERS) {
      expect(r.counters, `counter ${k}`).toHaveProperty(k);
      expect(Number.isInteger(r.counters[k]), `counter ${k} is an integer`).toBe(true);
      expect(r.counters[k]).toBeGreaterThanOrEqual(0);
    }
    // ceil(64 / 32) = 2 batches, one full-flush round each to the 3 thread CPUs.
    expect(r.counters.nr_tlb_remote_flush).toBe(2);
    expect(r.counters.ipis_sent).toBe(6);
    expect(r.counters.nr_tlb_remote_flush_received).toBe(6);
    // kswapd (CPU 0) has no user mm loaded: it is not in the batch's cpumask, no local flush.
    expect(r.counters.nr_tlb_local_flush_all).toBe(0);
    expect(r.counters.pages_unmapped).toBe(64);
    expect(r.counters.pages_freed).toBe(64);
    expect(r.counters.pages_written_back).toBeLessThanOrEqual(64);
    // Every thread CPU warms up (64 loads) and then makes at least --ops accesses.
    expect(r.counters.loads + r.counters.stores).toBeGreaterThanOrEqual(3 * (64 + 500));
    expect(r.counters.tlb_hits).toBeGreaterThan(0);
    expect(r.counters.tlb_misses).toBeGreaterThan(0);
    expect(r.counters.page_faults).toBeGreaterThanOrEqual(64); // warm-up faults every page in (once: the PTE is shared)
    expect(r.races).toEqual({ lost_writes: 0, stale_accesses: 0, writes_after_protect: 0, accesses_after_unmap: 0, reads_after_protect: 0 });
    expect(r.race_reports).toEqual([]);

    // Per-CPU counters: CPU 0 sent every IPI, each thread CPU handled one per round; they sum to the totals.
    expect(r.per_cpu).toHaveLength(4);
    expect(r.per_cpu[0].ipis_sent).toBe(6);
    for (let cpu = 1; cpu < 4; cpu++) {
      expect(r.per_cpu[cpu].nr_tlb_remote_flush_received).toBe(2);
      expect(r.per_cpu[cpu].ipis_sent).toBe(0);
    }
    for (const k of Object.keys(r.counters) as (keyof RunResult['counters'])[]) {
      expect(r.per_cpu.reduce((s, c) => s + c[k], 0), `sum of per_cpu.${k}`).toBe(r.counters[k]);
    }

    expect(r.host.wall_ms).toBeGreaterThan(0);
    const lat = r.host.ipi_round_latency_us;
    expect(lat.rounds).toBe(2);
    expect(lat.median).toBeGreaterThan(0);
    expect(lat.p99).toBeGreaterThanOrEqual(lat.median);
    expect(r.reproduce).toMatch(/^tlbsim run /);
    expect(r.reproduce).toContain('--cpus 4');
    expect(r.reproduce).toContain('--pages 64');
    expect(r.reproduce).toContain('--ops 500');
  });

  it('per-page: one round per page (64 pages x 3 thread CPUs = 192 IPIs)', async () => {
    const { result: r } = await runJson(['--cpus', '4', '--pages', '64', '--ops', '200', '--protocol', 'per-page']);
    expect(r.status).toBe('ok');
    expect(r.counters.nr_tlb_remote_flush).toBe(64);
    expect(r.counters.ipis_sent).toBe(192);
    expect(r.host.ipi_round_latency_us.rounds).toBe(64);
  });

  it('--log-level info: JSON logs go to stderr, stdout stays one JSON object', async () => {
    const { result: r, stderr } = await runJson(['--cpus', '3', '--pages', '16', '--ops', '100', '--log-level', 'info']);
    expect(r.status).toBe('ok');
    const logLines = lines(stderr);
    expect(logLines.length).toBeGreaterThan(0);
    for (const l of logLines) expect(() => JSON.parse(l) as unknown, `stderr line is JSON: ${l}`).not.toThrow();
  });
});

describe('tlbsim run (human output)', () => {
  it('prints the summary and a reproduce line', async () => {
    const r = await runCli(['run', '--cpus', '4', '--pages', '64', '--ops', '500']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^tlbsim run: workload reclaim, 4 CPUs, 64 pages, protocol batched \(batch 32\)/);
    expect(r.stdout).toMatch(/IPIs sent\s+6 in 2 rounds/);
    expect(r.stdout).toMatch(/races\s+none/);
    const rep = lines(r.stdout).filter((l) => l.trim().startsWith('reproduce: '));
    expect(rep).toHaveLength(1);
    expect(rep[0].trim()).toMatch(/^reproduce: tlbsim run .*--cpus 4 .*--pages 64 /);
    expect(rep[0]).toContain('--ops 500');
  });

  it('executing the printed reproduce command replays a seeded run exactly', async () => {
    const args = ['--sched', 'seeded', '--arch', 'weak', '--protocol', 'per-page', '--cpus', '3', '--pages', '16', '--batch', '4', '--ops', '60', '--write-ratio', '0.5', '--seed', '9', '--tlb-sets', '8', '--tlb-ways', '2', '--no-wp-recheck'];
    const human = await runCli(['run', ...args]);
    expect(human.status, human.stderr).toBe(0);
    const repLine = lines(human.stdout).find((l) => l.trim().startsWith('reproduce: '));
    expect(repLine).toBeDefined();
    const words = splitCommand(repLine!.trim().slice('reproduce: '.length));
    expect(words.slice(0, 2)).toEqual(['tlbsim', 'run']);

    const { result: original } = await runJson(args);
    const { result: replayed } = await runJson(words.slice(2));
    expect(replayed.config).toEqual(original.config);
    expect(replayed.config).toMatchObject({ sched: 'seeded', arch: 'weak', protocol: 'per-page', cpus: 3, pages: 16, batch: 4, ops: 60, writeRatio: 0.5, seed: 9, tlbSets: 8, tlbWays: 2, wpRecheck: false });
    expect(replayed.counters).toEqual(original.counters);
    expect(replayed.per_cpu).toEqual(original.per_cpu);
    expect(replayed.races).toEqual(original.races);
    expect(replayed.race_reports).toEqual(original.race_reports);
    expect(replayed.host.sched_steps).toBe(original.host.sched_steps);
    expect(replayed.reproduce).toBe(original.reproduce);
  });
});

describe('large results', () => {
  it('a JSON result over 64 KiB reaches a pipe whole (the CLI waits for stdout before it exits)', async () => {
    // 64 CPUs: each per_cpu entry is ~1.5 KB of JSON, so the result is ~100 KB, well over a pipe's 64 KiB buffer.
    const r = await runCli(['run', '--cpus', '64', '--pages', '16', '--ops', '50', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(64 * 1024);
    const j = parseOneJsonObject<{ per_cpu: unknown[]; counters: { ipis_sent: number } }>(r.stdout);
    expect(j.per_cpu).toHaveLength(64);
    // batched, 16 pages in one batch of 32: one round to the 63 thread CPUs (CPU 0 is kswapd, with no user mm loaded).
    expect(j.counters.ipis_sent).toBe(63);
  }, 120_000);
});

describe('bad input: one `tlbsim: error:` line naming the flag, exit 2, empty stdout', () => {
  const cases: [string[], string][] = [
    [['run', '--cpus', '0'], '--cpus'],
    [['run', '--batch', '-1'], '--batch'],
    [['run', '--protocol', 'nonsense'], '--protocol'],
    [['run', '--write-ratio', '1.5'], '--write-ratio'],
    [['run', '--bogus-flag'], '--bogus-flag'],
    [['run', '--cpus', '1'], '--cpus'],
    [['stress', '--iterations', '0'], '--iterations'],
    [['stress', '--scenario', 'nope'], '--scenario'],
    // A few more of the same contract.
    [['run', '--cpus', 'abc'], '--cpus'],
    [['run', '--cpus'], '--cpus'],
    [['run', '--cpu', '4'], '--cpu'],
    [['run', '--tlb-sets', '3'], '--tlb-sets'],
    [['run', '--arch', 'arm'], '--arch'],
    [['run', '--seed', '-1'], '--seed'],
    [['run', '--cpus', '4', '--fault-cpu', '9'], '--fault-cpu'],
    [['stress', '--threads', '0'], '--threads'],
    [['stress', '--write-ratio', '-0.1'], '--write-ratio'],
    // Options of the fidelity work.
    [['run', '--pending-flush', 'maybe'], '--pending-flush'],
    [['run', '--ceiling', '-1'], '--ceiling'],
    [['run', '--lazy-cpus', '-1'], '--lazy-cpus'],
    [['run', '--mms', '0'], '--mms'],
    // Options of the traces, logs, mechanisms and race-catalogue work.
    [['run', '--log-file', '/etc/hostname/x.log'], '--log-file'],
    [['run', '--irq-off', '-1'], '--irq-off'],
    [['run', '--ro-pages', 'x'], '--ro-pages'],
    [['run', '--ipi-fanout', 'star'], '--ipi-fanout'],
    [['run', '--ipi-group', '0'], '--ipi-group'],
    [['stress', '--scenario', 'reclaim-dirty', '--kernel', 'maybe'], '--kernel'],
    [['sweep', '--cpus', '2', '--out', '/tmp/tlbsim-never', '--parallel', '0'], '--parallel'],
    [['run', '--replay', '1:x'], '--replay'],
    [['explore', '--scenario', 'reclaim-dirty', '--kernel', 'buggy', '--preemption-bound', '-1'], '--preemption-bound'],
    [['explore', '--scenario', 'reclaim-dirty', '--kernel', 'buggy', '--preemption-bound', 'nonee'], '--preemption-bound'],
    [['explore', '--scenario', 'reclaim-dirty', '--kernel', 'buggy', '--por', 'yes'], '--por'],
    [['explore', '--scenario', 'reclaim-dirty', '--kernel', 'buggy', '--stateful', 'yes'], '--stateful'],
    [['explore', '--scenario', 'reclaim-dirty', '--kernel', 'buggy', '--stateful', 'on', '--shard', '1/2'], '--stateful'],
    [['run', '--mms', '65'], '--mms'],
    [['run', '--mms', '2', '--workload', 'mprotect'], '--mms'],
    [['run', '--switch-every', '-1'], '--switch-every'],
    [['run', '--switch-every', '10', '--lazy-cpus', '1'], '--switch-every'],
    [['run', '--cpumask-trim-ms', 'x'], '--cpumask-trim-ms'],
    [['run', '--inject', 'stale-asid'], '--switch-every'],
    [['run', '--cpus', '4', '--lazy-cpus', '4'], '--lazy-cpus'],
    [['run', '--workload', 'munmap', '--range', '0'], '--range'],
    [['run', '--workload', 'munmap', '--range', '8,x'], '--range'],
    [['run', '--inject', 'copy-before-flush'], '--inject'],
    [['run', '--workload', 'migrate', '--protocol', 'rik'], '--protocol'],
    [['run', '--workload', 'tlb-flush', '--cpus', '300', '--pages', '600'], '--cpus'],
    [['run', '--workload', 'tlb-flush', '--cpus', '8', '--pages', '4'], '--pages'],
    [['run', '--workload', 'nonsense'], '--workload'],
    [['run', '--reclaim-pages', '3,x'], '--reclaim-pages'],
    [['run', '--reclaim-pages', '300'], '--reclaim-pages'],
    [['run', '--reclaim-pages', '1,0-2'], '--reclaim-pages'],
    [['run', '--workload', 'pending-flush', '--pages', '64'], '--pages'],
    [['run', '--workload', 'pending-flush', '--cpus', '2', '--pages', '600'], '--cpus'],
    [['stress', '--scenario', 'pending-flush', '--reclaim-pages', '0'], '--reclaim-pages'],
    // Sweep, shards, merge, cost model.
    [['sweep', '--cpus', '2,4', '--out', '/tmp/tlbsim-never', '--shard', '4/3'], '--shard'],
    [['sweep', '--cpus', '2,4', '--out', '/tmp/tlbsim-never', '--shard', '0/3'], '--shard'],
    [['sweep', '--cpus', '2,4', '--out', '/tmp/tlbsim-never', '--shard', 'x'], '--shard'],
    [['sweep', '--cpus', '2,4', '--bogus-dim', '1,2', '--out', '/tmp/tlbsim-never'], '--bogus-dim'],
    [['sweep', '--cpus', '2,x', '--out', '/tmp/tlbsim-never'], '--cpus'],
    [['sweep', '--cpus', '0,1', '--out', '/tmp/tlbsim-never'], '--cpus'],
    [['sweep', '--tlb-gen', 'on,maybe', '--out', '/tmp/tlbsim-never'], '--tlb-gen'],
    [['sweep', '--cpus', '2,4'], '--out'],
    [['stress', '--iterations', '10', '--shard', '4/3'], '--shard'],
    [['stress', '--iterations', '10', '--shard', '1/3', '--stop-on-race'], '--stop-on-race'],
    [['run', '--cost-model', '/tmp/tlbsim-no-such-cost-model.json'], '--cost-model'],
    [['merge', '/tmp/tlbsim-no-such-dir', '--out', '/tmp/tlbsim-never'], '/tmp/tlbsim-no-such-dir'],
  ];
  function expectOneErrorLine(r: CliResult, flag: string): void {
    expect(r.status, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(2);
    expect(r.stdout).toBe('');
    const errLines = lines(r.stderr);
    expect(errLines, `stderr: ${r.stderr}`).toHaveLength(1);
    expect(errLines[0].startsWith('tlbsim: error:'), errLines[0]).toBe(true);
    expect(errLines[0]).toContain(flag);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }

  // Every case through the CLI's main() in this process (each is refused before a logger or a worker starts)...
  it.each(cases)('tlbsim %j -> error naming %s', async (argv, flag) => {
    expectOneErrorLine(await runCliInProcess(argv), flag);
  });

  // ...and one of each kind through the real `node dist/src/cli.js` process (its entry point, exit code and stderr):
  // a commander error, a config range error, an output-path check and a file that cannot be read.
  const REAL_PROCESS_SAMPLE = ['--bogus-flag', '--write-ratio', '--log-file', '/tmp/tlbsim-no-such-dir'];
  const realProcessCases = REAL_PROCESS_SAMPLE.map((flag) => cases.find(([, f]) => f === flag)!);
  it.each(realProcessCases)('real process: tlbsim %j -> error naming %s', async (argv, flag) => {
    expectOneErrorLine(await runCli(argv), flag);
  });

  it('the same with --json: still nothing on stdout', async () => {
    const r = await runCli(['run', '--json', '--cpus', '0']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^tlbsim: error: .*--cpus/);
  });
});

describe('a failing simulation exits 1 and names the CPU', () => {
  const FAULT = ['--fault-cpu', '2', '--fault-kind', 'stop-acking', '--ipi-timeout-ms', '500', '--cpus', '4', '--pages', '32'];

  it('human output: FAILED, ipi-timeout, CPU 2', async () => {
    const r = await runCli(['run', ...FAULT]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/FAILED \(ipi-timeout, CPU 2\)/);
    expect(r.stdout).toMatch(/CPU 2 did not acknowledge/);
    expect(r.stdout).toMatch(/reproduce: tlbsim run .*--fault-cpu 2 --fault-kind stop-acking/);
  });

  it("--json: status 'failed', failure.cpu 2, counters measured before the failure kept", async () => {
    const { result: r } = await runJson(FAULT, 1);
    expect(r.status).toBe('failed');
    expect(r.failure).toBeDefined();
    expect(r.failure!.cpu).toBe(2);
    expect(r.failure!.kind).toBe('ipi-timeout');
    expect(r.failure!.message).toMatch(/CPU 2/);
    // The round that CPU 2 never acknowledged was sent (to CPUs 1, 2, 3).
    expect(r.counters.ipis_sent).toBeGreaterThanOrEqual(3);
    expect(r.per_cpu[2].nr_tlb_remote_flush_received).toBe(0);
  });

  it("a crashing CPU: --json status 'failed', kind cpu-crashed, failure.cpu 2", async () => {
    const { result: r } = await runJson(['--fault-cpu', '2', '--fault-kind', 'crash', '--cpus', '4', '--pages', '32'], 1);
    expect(r.status).toBe('failed');
    expect(r.failure!.kind).toBe('cpu-crashed');
    expect(r.failure!.cpu).toBe(2);
  });

  it('a CPU killed mid-IPI: exit 1, the partial result parses and names the CPU and the IPI it was handling', async () => {
    const { result: r } = await runJson(['--fault-cpu', '3', '--fault-kind', 'crash-in-ipi', '--cpus', '6', '--pages', '32'], 1);
    expect(r.status).toBe('failed');
    expect(r.failure!.kind).toBe('cpu-crashed');
    expect(r.failure!.cpu).toBe(3);
    expect(r.failure!.message).toMatch(/CPU 3 crashed: .*last event: handling CPU 0's TLB-flush IPI/);
    expect(r.counters.ipis_sent).toBeGreaterThanOrEqual(5);
  });
});
