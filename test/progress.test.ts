/**
 * `tlbsim run` shows a progress bar on a terminal, on stderr only, through
 * its phases (booting: CPUs ready; running: pages unmapped; shutting down),
 * never with `--json` to a pipe, and not with `--no-progress`. A terminal is
 * made with util-linux `script` (a pseudo-terminal for the command's
 * stderr; stdout is redirected to a file inside it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_PATH } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tlbsim-progress-'));
let n = 0;

/** Run the CLI under a pseudo-terminal: returns what the terminal showed (stderr) and what stdout got. */
function onTerminal(args: string): { terminal: string; stdout: string } {
  const out = join(dir, `out${n++}.txt`);
  const terminal = execFileSync('script', ['-qec', `${process.execPath} ${CLI_PATH} ${args} > ${out}`, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
  return { terminal, stdout: readFileSync(out, 'utf8') };
}

describe('run progress bar', () => {
  it('on a terminal: every phase on stderr, nothing of it on stdout', () => {
    const { terminal, stdout } = onTerminal('run --cpus 8 --pages 64');
    expect(terminal).toMatch(/booting \[.*\] \d+\/8 CPUs ready/);
    expect(terminal).toMatch(/running \[.*\] \d+\/64 pages unmapped/);
    expect(terminal).toMatch(/shutting down \[.*\] 64\/64 pages unmapped/);
    expect(stdout).not.toMatch(/booting|pages unmapped \[|█|░/);
    expect(stdout).toMatch(/IPIs sent +14 in 2 rounds/);
  });

  it('--json to a pipe (or file): no bar at all', () => {
    const { terminal, stdout } = onTerminal('run --cpus 4 --pages 32 --json');
    expect(terminal).not.toMatch(/booting|running \[/);
    expect(JSON.parse(stdout)).toHaveProperty('counters');
  });

  it('--no-progress: no bar', () => {
    const { terminal } = onTerminal('run --cpus 4 --pages 32 --no-progress');
    expect(terminal).not.toMatch(/booting|running \[/);
  });

  it('the workload\'s own unit: tlb-flush counts its write+madvise loops', () => {
    const { terminal } = onTerminal('run --workload tlb-flush --cpus 4 --pages 32 --ops 50');
    expect(terminal).toMatch(/shutting down \[.*\] 200\/200 write\+madvise loops/);
  });
});
