/**
 * `--config FILE`: any option of run or stress in a JSON file, validated with
 * a schema; flags override it; bad files are one line naming the key, what it
 * accepts and what it got, exit 2. `tlbsim config --print` shows the result.
 *
 * `config --print` and the refused files run through the CLI's main() in this
 * process (test/cliInProcess.ts: nothing boots or logs); run, stress and
 * sweep reading a file run the real CLI.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/config/config.js';
import { runCliInProcess } from './cliInProcess.js';
import { lines, parseOneJsonObject, runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tlbsim-cfg-'));
function file(name: string, content: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

describe('tlbsim config --print', () => {
  it('defaults, then the file, then flags', async () => {
    const f = file('a.json', { cpus: 4, pages: 64, batch: 8, lazyCpus: 1 });
    const r = await runCliInProcess(['config', '--print', '--config', f, '--batch', '16']);
    expect(r.status, r.stderr).toBe(0);
    const c = parseOneJsonObject<typeof DEFAULTS>(r.stdout);
    expect(c.cpus).toBe(4); // file
    expect(c.pages).toBe(64); // file
    expect(c.batch).toBe(16); // flag over file
    expect(c.lazyCpus).toBe(1);
    expect(c.protocol).toBe(DEFAULTS.protocol); // default
  });

  it('a result\'s "config" object is itself a valid config file', async () => {
    const first = await runCliInProcess(['config', '--print', '--cpus', '6', '--mms', '2']);
    const f = file('roundtrip.json', first.stdout);
    const again = await runCliInProcess(['config', '--print', '--config', f]);
    expect(again.status, again.stderr).toBe(0);
    expect(parseOneJsonObject(again.stdout)).toEqual(parseOneJsonObject(first.stdout));
  });

  it('--scenario resolves a stress scenario over its own defaults', async () => {
    const f = file('s.json', { iterations: 5, writeRatio: 0.75 });
    const r = await runCliInProcess(['config', '--print', '--scenario', 'mprotect', '--config', f]);
    expect(r.status, r.stderr).toBe(0);
    const c = parseOneJsonObject<typeof DEFAULTS>(r.stdout);
    expect(c.workload).toBe('mprotect');
    expect(c.sched).toBe('seeded');
    expect(c.writeRatio).toBe(0.75);
  });

  it("--syscall mremap and mprotect-none in a file: the catalogue scenario's variant defaults apply", async () => {
    const mremap = await runCliInProcess(['config', '--print', '--scenario', 'mprotect-reclaim', '--config', file('mremap.json', { syscall: 'mremap' })]);
    expect(mremap.status, mremap.stderr).toBe(0);
    const m = parseOneJsonObject<typeof DEFAULTS>(mremap.stdout);
    expect([m.workload, m.syscall, m.pages]).toEqual(['mprotect-reclaim', 'mremap', 2]);
    const none = await runCliInProcess(['config', '--print', '--scenario', 'mprotect-reclaim', '--config', file('none.json', { syscall: 'mprotect-none' })]);
    expect(none.status, none.stderr).toBe(0);
    const n = parseOneJsonObject<typeof DEFAULTS>(none.stdout);
    expect([n.syscall, n.pages, n.writeRatio]).toEqual(['mprotect-none', 1, 0]);
  });
});

describe('run and stress read the file', () => {
  it('run: the file\'s options and command keys (json) apply; the counts follow them', async () => {
    // 4 CPUs, 1 lazy, 64 pages in batches of 16: R = 4 rounds of (4 - 1 - 1) = 2 IPIs.
    const f = file('run.json', { cpus: 4, pages: 64, batch: 16, lazyCpus: 1, json: true });
    const r = await runCli(['run', '--config', f]);
    expect(r.status, r.stderr).toBe(0);
    const res = parseOneJsonObject<{ counters: { ipis_sent: number }; config: { cpus: number } }>(r.stdout);
    expect(res.config.cpus).toBe(4);
    expect(res.counters.ipis_sent).toBe(8);
  });

  it('stress: iterations and scenario from the file, a flag overrides the file', async () => {
    const f = file('stress.json', { scenario: 'unmap-window', iterations: 7, json: true, seed: 3 });
    const r = await runCli(['stress', '--config', f, '--iterations', '5']);
    expect(r.status, r.stderr).toBe(0);
    const res = parseOneJsonObject<{ scenario: string; iterations: number; config: { seed: number } }>(r.stdout);
    expect(res.scenario).toBe('unmap-window');
    expect(res.iterations).toBe(5);
    expect(res.config.seed).toBe(3);
  });
});

describe('bad config files: one line naming the key, exit 2', () => {
  const cases: [string, unknown, RegExp][] = [
    ['unknown key', { cpu: 4 }, /unknown key 'cpu'/],
    ['wrong type', { cpus: '4' }, /key 'cpus' takes a number, got "4"/],
    ['out of range', { cpus: 0 }, /key 'cpus' takes a number >= 1, got 0/],
    ['not an integer', { pages: 2.5 }, /key 'pages' takes an integer, got 2.5/],
    ['not a choice', { protocol: 'fast' }, /key 'protocol' takes one of "per-page", "batched", "rik", "invlpgb", "rar", "luf", "context-reset", or a plug-in path \(\.ts, \.js\), got "fast"/],
    ['a stress key on run', { iterations: 5 }, /unknown key 'iterations'/],
    ['not JSON', '{"cpus": 4,', /not valid JSON/],
    ['not an object', '[1, 2]', /must hold one JSON object/],
    ['combination resolveConfig refuses', { cpus: 4, lazyCpus: 4 }, /--lazy-cpus/],
    ['a syscall the workload does not take', { workload: 'mprotect', syscall: 'mremap' }, /--syscall mremap applies to the mprotect-reclaim scenario/],
    ['mremap on one page', { workload: 'mprotect-reclaim', syscall: 'mremap', pages: 1 }, /--pages must be at least 2 for --syscall mremap/],
  ];
  it.each(cases)('%s', async (name, content, message) => {
    const r = await runCliInProcess(['run', '--config', file(`${name.replace(/\W/g, '_')}.json`, content)]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^tlbsim: error: /);
    expect(r.stderr).toMatch(message);
  });

  it('a missing file', async () => {
    const r = await runCliInProcess(['run', '--config', join(dir, 'absent.json')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot read the file \(ENOENT\)/);
  });
});

describe('sweep reads the file: values or lists', () => {
  it('a grid from the file, its out folder, a flag overriding a dimension', async () => {
    const out = join(dir, 'sweep-out');
    const f = file('sweep.json', { cpus: [4, 6], protocol: 'per-page', pages: 16, ops: 200, out, progress: false });
    const r = await runCli(['sweep', '--config', f, '--protocol', 'batched,per-page', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(1 + 4); // header + 2 CPU counts x 2 protocols
  });

  it('a bad value in a list: one line naming the key', async () => {
    const r = await runCliInProcess(['sweep', '--config', file('badsweep.json', { cpus: [4, 0], out: join(dir, 'never') })]);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/key 'cpus/);
  });

  it('no out anywhere: refused', async () => {
    const r = await runCliInProcess(['sweep', '--cpus', '4']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/needs --out DIR/);
  });
});
