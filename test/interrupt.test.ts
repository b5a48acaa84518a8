/**
 * Nothing measured is lost: Ctrl-C (SIGINT) or SIGTERM stops every worker,
 * prints (and writes with --out, atomically) the result gathered so far
 * marked "status": "partial" with the reason, and exits 130 / 143.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_PATH } from './helpers.js';

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Whether the signal was sent (the `ready` line appeared before the process ended). */
  signalled: boolean;
}

/** Start the CLI, wait until stderr contains `ready` (a pino log line), send `signal`, collect the outcome. */
function interruptAfter(args: string[], ready: string, signal: NodeJS.Signals): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    // A hang guard, not a timing: a child still alive after 60 s is killed and reports code null.
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && stderr.includes(ready)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, signalled: sent });
    });
  });
}

describe('tlbsim run interrupted', () => {
  it('SIGINT while running: exit 130, the partial result on stdout and in --out, counters kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tlbsim-int-'));
    const out = join(dir, 'result.json');
    // A run far longer than the test: only the interrupt ends it.
    const r = await interruptAfter(['run', '--cpus', '8', '--ops', '1000000000', '--json', '--out', out, '--log-level', 'info'], 'machine booted', 'SIGINT');
    // The signal was sent (after the machine booted) and the run it cut short ended with the signal's exit code;
    // the 60 s SIGKILL in interruptAfter is only a hang guard (a hang gives code null).
    expect(r.signalled).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    const printed = JSON.parse(r.stdout) as { status: string; partial: { reason: string }; counters: { loads: number; stores: number } };
    expect(printed.status).toBe('partial');
    expect(printed.partial.reason).toMatch(/SIGINT/);
    const written = JSON.parse(readFileSync(out, 'utf8')) as typeof printed;
    expect(written).toEqual(printed);
    expect(readdirSync(dir)).toEqual(['result.json']); // no temporary file left behind
  });

  it('SIGTERM: exit 143', async () => {
    const r = await interruptAfter(['run', '--cpus', '4', '--ops', '1000000000', '--json', '--log-level', 'info'], 'machine booted', 'SIGTERM');
    expect(r.code, r.stderr).toBe(143);
    const printed = JSON.parse(r.stdout) as { status: string; partial: { reason: string } };
    expect(printed.status).toBe('partial');
    expect(printed.partial.reason).toMatch(/SIGTERM/);
  });

  it('SIGINT while booting: exit 130 at once, the configuration kept', async () => {
    const r = await interruptAfter(['run', '--cpus', '128', '--json', '--log-level', 'info'], 'booting machine', 'SIGINT');
    expect(r.signalled).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    // "At once": the boot was abandoned, not waited for; the machine never finished booting its 128 CPUs
    // (no 'machine booted' log line) and nothing was measured.
    expect(r.stderr).not.toContain('machine booted');
    const printed = JSON.parse(r.stdout) as { status: string; partial: { reason: string }; config: { cpus: number }; per_cpu: unknown[] };
    expect(printed.status).toBe('partial');
    expect(printed.partial.reason).toMatch(/booting/);
    expect(printed.config.cpus).toBe(128);
    expect(printed.per_cpu).toEqual([]);
  });
});

describe('tlbsim stress interrupted', () => {
  it('SIGINT: the iterations done and the races found so far, with their reproduce command', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tlbsim-int-'));
    const r = await interruptAfter(
      ['stress', '--scenario', 'unmap-window', '--iterations', '10000000', '--json', '--out', dir, '--log-level', 'debug'],
      'stress progress',
      'SIGINT',
    );
    expect(r.code, r.stderr).toBe(130);
    const s = JSON.parse(readFileSync(join(dir, 'stress.json'), 'utf8')) as {
      status: string;
      partial: { reason: string };
      iterations: number;
      requested_iterations: number;
      racy_iterations: number;
      reproduce: string | null;
    };
    expect(s.status).toBe('partial');
    expect(s.partial.reason).toMatch(/SIGINT/);
    expect(s.iterations).toBeGreaterThan(0);
    expect(s.iterations).toBeLessThan(s.requested_iterations);
    // The default unmap-window scenario (weak arch, batched) races often: what was found is kept and replayable.
    expect(s.racy_iterations).toBeGreaterThan(0);
    expect(s.reproduce).toMatch(/^tlbsim stress --scenario unmap-window .* --iterations 1$/);
  });
});

describe('a machine larger than the host', () => {
  it('fails before booting with the estimate and the limit, in one line', async () => {
    const { checkHostMemory, estimateHostMemoryMb, HostMemoryError } = await import('../src/engine/coordinator.js');
    const { resolveConfig } = await import('../src/config/config.js');
    const c = resolveConfig({ cpus: 1024, pages: 256 });
    const need = estimateHostMemoryMb(c);
    expect(need).toBeGreaterThan(1024 * 7);
    expect(() => checkHostMemory(c, 4096)).toThrow(HostMemoryError);
    expect(() => checkHostMemory(c, 4096)).toThrow(new RegExp(`needs about ${need} MB .* more than the 3686 MB this host allows`));
    expect(() => checkHostMemory(c, 64 * 1024)).not.toThrow();
  });
});
