/**
 * The README's library example runs as it stands: the code between the
 * readme-example markers is written into the package folder (so
 * `import ... from 'tlbsim'` resolves to this package through its
 * "exports") and run with node; its output is checked.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

describe('README library example', () => {
  it('runs verbatim and prints the figures it promises', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const m = /<!-- readme-example:start -->\n```js\n([\s\S]*?)```\n<!-- readme-example:end -->/.exec(readme);
    expect(m, 'README has the example between its markers').not.toBeNull();
    const code = m![1];
    expect(code.trim().split('\n')).toHaveLength(15);
    const dir = join(ROOT, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'readme-example.mjs');
    writeFileSync(file, code);
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 120_000 });
    // 16 CPUs, per-page, 64 pages: 64 rounds of 15 IPIs.
    expect(out).toMatch(/^IPIs 960 cycles\/page \d+(\.\d+)?$/m);
    expect(out).toMatch(/^racy [1-9]\d* replay: tlbsim stress --scenario unmap-window .* --iterations 1$/m);
    expect(out).toMatch(/^points 4 /m);
    expect(out).toMatch(/^report .*run\.html trace .*run\.trace\.json$/m);
  }, 180_000);
});
