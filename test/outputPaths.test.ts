/**
 * Output paths are checked before anything runs (src/output/outputPaths.ts): every
 * command that writes a file or a folder refuses a path it could not write
 * with one line naming the flag, the path and the reason, exit 2, and runs
 * nothing (no result on stdout, nothing created).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config.js';
import { checkOutputDir, checkOutputFile } from '../src/output/outputPaths.js';
import { runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tlbsim-outpaths-'));
const missing = join(dir, 'no-such-folder');
const aFile = join(dir, 'a-file');
writeFileSync(aFile, 'x');
const aFolder = join(dir, 'a-folder');
mkdirSync(aFolder);

describe('checkOutputFile', () => {
  it('accepts a new or existing file in a writable folder', () => {
    expect(() => checkOutputFile('--out', join(dir, 'new.json'))).not.toThrow();
    expect(() => checkOutputFile('--out', aFile)).not.toThrow();
  });
  it('refuses a missing folder, a file used as a folder, a folder as the file, an empty path', () => {
    expect(() => checkOutputFile('--out', join(missing, 'r.json'))).toThrow(new ConfigError(`--out ${join(missing, 'r.json')}: folder ${missing} does not exist; create it first or pick another path`));
    expect(() => checkOutputFile('--trace', join(aFile, 't.json'))).toThrow(/^--trace .*: .*a-file is not a folder; pick another path$/);
    expect(() => checkOutputFile('--out', aFolder)).toThrow(/is a folder; give a file name inside it/);
    expect(() => checkOutputFile('--out', ' ')).toThrow(/an empty path/);
  });
});

describe('checkOutputDir', () => {
  it('accepts an existing folder and a missing one under a writable ancestor (it is created later)', () => {
    expect(() => checkOutputDir('--out', aFolder)).not.toThrow();
    expect(() => checkOutputDir('--out', join(missing, 'deeper', 'still'))).not.toThrow();
    expect(existsSync(missing)).toBe(false); // the check creates nothing
  });
  it('refuses a file, and a folder under a file', () => {
    expect(() => checkOutputDir('--out', aFile)).toThrow(/is a file, not a folder; give a folder/);
    expect(() => checkOutputDir('--out', join(aFile, 'sub'))).toThrow(/a-file is a file, so the folder cannot be made/);
  });
});

/** One line on stderr naming the flag and the path, exit 2, no result on stdout. */
function refused(r: { status: number | null; stdout: string; stderr: string }, flag: string, path: string): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0].startsWith(`tlbsim: error: ${flag} ${path}: `)).toBe(true);
}

describe('commands refuse an unwritable output before they run', () => {
  it('run --out, --trace, --log-file', async () => {
    const p = join(missing, 'x.json');
    const cases: [string, string][] = [['--out', p], ['--trace', p], ['--log-file', p], ['--out', aFolder]];
    const results = await Promise.all(cases.map(([flag, path]) => runCli(['run', '--cpus', '2', '--pages', '8', flag, path])));
    for (const [i, r] of results.entries()) refused(r, cases[i][0], cases[i][1]);
  });

  it('stress --out (a folder), --trace-first-race', async () => {
    const out = join(aFile, 'campaign');
    const t = join(missing, 't.json');
    const [a, b] = await Promise.all([
      runCli(['stress', '--scenario', 'unmap-window', '--iterations', '2', '--out', out, '--no-progress']),
      runCli(['stress', '--scenario', 'unmap-window', '--iterations', '2', '--trace-first-race', t, '--no-progress']),
    ]);
    refused(a, '--out', out);
    refused(b, '--trace-first-race', t);
  });

  it('sweep --out, merge --out, report --out', async () => {
    const html = join(missing, 'r.html');
    const [sweep, merge, report] = await Promise.all([
      runCli(['sweep', '--cpus', '2,3', '--pages', '8', '--ops', '10', '--out', aFile, '--no-progress']),
      runCli(['merge', aFolder, aFolder, '--out', join(aFile, 'm')]),
      runCli(['report', aFolder, '--out', html]),
    ]);
    refused(sweep, '--out', aFile);
    refused(merge, '--out', join(aFile, 'm'));
    refused(report, '--out', html);
    expect(readdirSync(dir).sort()).toEqual(['a-file', 'a-folder']); // nothing was created
  });
});
