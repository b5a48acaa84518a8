/**
 * Defaults that finish, and the estimate a run makes before it boots
 * (src/scenarios/workEstimate.ts): per-workload defaults, the IPI counts the estimate
 * derives from the workload rules, the warning above ~30 s with how to
 * shrink the run, and progress logged through pino when stderr is not a
 * terminal. The long runs are started for real and killed as soon as the
 * line under test appears (they would take minutes to hours).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { configToFlags, DEFAULTS, resolveConfig, WORKLOADS } from '../src/config/config.js';
import { simulate } from '../src/api.js';
import { estimateWork, workWarning, WORK_WARN_SECONDS } from '../src/scenarios/workEstimate.js';
import { CLI_PATH } from './helpers.js';

describe('per-workload defaults', () => {
  it('tlb-flush defaults to 500 operations, munmap to 1000, pending-flush to 1024 pages; the rest keep DEFAULTS; a given value wins', () => {
    expect(resolveConfig({ workload: 'tlb-flush' }).ops).toBe(500);
    expect(resolveConfig({ workload: 'munmap' }).ops).toBe(1000);
    expect(resolveConfig({ workload: 'pending-flush' }).pages).toBe(1024);
    expect(resolveConfig({ workload: 'migrate' }).ops).toBe(DEFAULTS.ops);
    expect(resolveConfig({ workload: 'reclaim' }).ops).toBe(20_000);
    expect(resolveConfig({ workload: 'tlb-flush', ops: 20_000 }).ops).toBe(20_000);
  });

  it('a reproduce command spells out a value that differs from its workload default, and leaves out one that does not', () => {
    expect(configToFlags(resolveConfig({ workload: 'tlb-flush', ops: 20_000 })).join(' ')).toContain('--ops 20000');
    expect(configToFlags(resolveConfig({ workload: 'tlb-flush' })).join(' ')).not.toContain('--ops');
    expect(configToFlags(resolveConfig({ workload: 'reclaim', ops: 1000 })).join(' ')).toContain('--ops 1000');
  });

  it('every workload at its defaults is estimated under the warning threshold', () => {
    for (const w of WORKLOADS) expect(estimateWork(resolveConfig({ workload: w })).seconds, w).toBeLessThan(WORK_WARN_SECONDS);
  });
});

describe('the estimate', () => {
  it('counts the IPIs the workload rules give', () => {
    // tlb-flush: each of N CPUs, ops times, zaps its chunk and sends one round to the N-1 others: 500 x 8 x 7.
    const t = estimateWork(resolveConfig({ workload: 'tlb-flush' }));
    expect(t.rounds).toBe(4000);
    expect(t.ipis).toBe(28_000);
    // The run: 20,000 x 200 x 199.
    expect(estimateWork(resolveConfig({ workload: 'tlb-flush', cpus: 200, ops: 20_000 })).ipis).toBe(796_000_000);
    // munmap: one round to the N-1 threads per munmap: 1000 x 7.
    expect(estimateWork(resolveConfig({ workload: 'munmap' })).ipis).toBe(7000);
    // batched reclaim: ceil(256 / 32) = 8 rounds to the 7 thread CPUs; per-page: one round per page.
    expect(estimateWork(resolveConfig({})).ipis).toBe(56);
    expect(estimateWork(resolveConfig({ protocol: 'per-page' })).ipis).toBe(256 * 7);
  });

  it('matches what a tlb-flush run counts', async () => {
    const c = resolveConfig({ workload: 'tlb-flush', cpus: 4, pages: 16, ops: 5, sched: 'seeded' });
    const r = await simulate(c);
    expect(r.counters.ipis_sent).toBe(estimateWork(c).ipis);
    expect(r.counters.nr_tlb_remote_flush).toBe(estimateWork(c).rounds);
  });

  it('warns above the threshold with the estimate and how to shrink it; a default run gets no warning', () => {
    const w = workWarning(resolveConfig({ workload: 'tlb-flush', cpus: 200 }));
    // 500 x 200 x 199 IPIs in 500 x 200 rounds.
    expect(w).toMatch(/^tlbsim: warning: this run is estimated at 19,900,000 IPIs in 100,000 rounds .*; to shrink it: --ops \d+ \(now 500\), or fewer --cpus \(now 200/);
    expect(w).not.toContain('\n');
    // The smaller --ops it suggests is itself under the threshold.
    const ops = Number(/--ops (\d+)/.exec(w!)![1]);
    expect(workWarning(resolveConfig({ workload: 'tlb-flush', cpus: 200, ops }))).toBeNull();
    expect(workWarning(resolveConfig({}))).toBeNull();
  });
});

/** Start the CLI with stderr a pipe (not a terminal); resolve with stderr once `until` matches it, then kill the run. */
function stderrUntil(args: readonly string[], until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ${String(until)} on stderr within 60 s: ${err}`));
    }, 60_000);
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (until.test(err)) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve(err);
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      if (!until.test(err)) reject(new Error(`exited without ${String(until)}: ${err}`));
    });
  });
}

describe('tlbsim run before and during a long run', () => {
  it('--workload tlb-flush --cpus 200 warns on stderr before it boots', async () => {
    const err = await stderrUntil(['run', '--workload', 'tlb-flush', '--cpus', '200'], /\n/);
    expect(err.split('\n')[0]).toMatch(/^tlbsim: warning: this run is estimated at 19,900,000 IPIs .* about \d+ min .*--ops \d+/);
  }, 70_000);

  it('without a terminal, a long run logs its progress as pino JSON lines', async () => {
    // munmap with 4 CPUs and 20,000 munmaps: 20,000 rounds with busy targets, estimated well over 30 s.
    const err = await stderrUntil(['run', '--workload', 'munmap', '--cpus', '4', '--ops', '20000'], /"msg":"run progress"[^\n]*\n/);
    const lines = err.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^tlbsim: warning: this run is estimated at 60,000 IPIs in 20,000 rounds/);
    const progress = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
    expect(progress).toMatchObject({ msg: 'run progress', total: 20_000, unit: 'munmaps', level: 30 });
    expect(typeof progress.done).toBe('number');
  }, 70_000);
});
