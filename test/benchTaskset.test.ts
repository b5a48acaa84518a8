/**
 * Every host core used, and only those: under `taskset -c <one CPU>` the
 * engine sees one core. `tlbsim bench --quick --json --max-cpus 4` (small machines: the sizing is what is checked) reports 1 core (and the
 * one-CPU affinity list), measures the access rate with one run token only,
 * stress with one piscina thread only, and the engine's defaults on that host
 * are one run token and one stress thread; `tlbsim run` defaults to one run
 * token there. Skipped, with the reason, where `taskset` (util-linux) is
 * missing.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HostProfile } from '../src/campaigns/bench/profile.js';
import type { RunResult } from '../src/output/result.js';
import { expectProfileShape } from './benchProfileShape.js';
import { CLI_PATH, parseOneJsonObject } from './helpers.js';

function tasksetPath(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** The first CPU this process may run on (so the test works whatever the runner's own mask is). */
function firstAllowedCpu(): string {
  const m = /^Cpus_allowed_list:\s*(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? m[1] : '0';
}

const TASKSET = tasksetPath();
const CPU = TASKSET ? firstAllowedCpu() : '0';

/** Run the CLI pinned to one CPU; returns stdout (throws on a non-zero exit). */
function pinned(args: string[], timeoutMs: number): string {
  return execFileSync(TASKSET!, ['-c', CPU, process.execPath, CLI_PATH, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}

const suite = TASKSET === null ? describe.skip : describe;
const title = TASKSET === null ? 'under taskset: skipped, this host has no taskset binary (install util-linux)' : `under taskset -c ${CPU}`;

suite(title, () => {
  it('tlbsim bench --quick --json reports 1 core and runs one token, one stress thread', () => {
    const p = parseOneJsonObject<HostProfile>(pinned(['bench', '--quick', '--json', '--max-cpus', '4'], 180_000));
    expectProfileShape(p);
    expect(p.host.cores).toBe(1);
    expect(p.host.cpus_allowed).toBe(CPU);
    expect(p.host.engine).toEqual({ run_tokens: 1, stress_threads: 1 });
    expect(p.access_scaling.points.map((x) => x.tokens)).toEqual([1]);
    expect(p.stress.points.map((x) => [x.sched, x.threads])).toEqual([
      ['seeded', 1],
      ['free', 1],
    ]);
    // 1, cores-1 (= 0, dropped) and 2 x cores.
    expect(p.ipi_round.map((e) => e.targets)).toEqual([1, 2]);
  }, 190_000);

  it('tlbsim run defaults to one run token', () => {
    const r = parseOneJsonObject<RunResult>(pinned(['run', '--cpus', '3', '--pages', '16', '--ops', '200', '--json'], 60_000));
    expect(r.status).toBe('ok');
    expect(r.config.runTokens).toBe(1);
  });
});
