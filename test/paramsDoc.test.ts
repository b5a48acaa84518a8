/**
 * The parameter table (src/config/params.ts) and what is generated from it:
 * the committed flag table of docs/cli.md must be what `npm run docs:cli`
 * writes now, and every row must be consistent with itself. No workers.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOC_BEGIN, renderParamTable, withParamTable } from '../src/config/paramsDoc.js';
import { FLAG_NAMES, PARAM_KEYS, paramOf } from '../src/config/params.js';
import { simOptionsSchema } from '../src/config/configFile.js';

describe('the parameter table', () => {
  it('docs/cli.md holds the table the parameter table generates (run `npm run docs:cli` after changing src/config/params.ts)', () => {
    const doc = readFileSync('docs/cli.md', 'utf8');
    expect(doc).toContain(DOC_BEGIN);
    expect(withParamTable(doc)).toBe(doc);
  });

  it('a stale table is detected: a changed row makes the generated text differ', () => {
    const doc = readFileSync('docs/cli.md', 'utf8');
    const stale = doc.replace('| `--cpus <n>` | `cpus` | 8 |', '| `--cpus <n>` | `cpus` | 9 |');
    expect(stale).not.toBe(doc);
    expect(withParamTable(stale)).toBe(doc);
  });

  it('every visible parameter has one row, and flags are unique', () => {
    const rows = renderParamTable().split('\n').filter((l) => l.startsWith('| `--'));
    const visible = PARAM_KEYS.filter((k) => !paramOf(k).hidden);
    expect(rows).toHaveLength(visible.length);
    // Each parameter with a longer story has one line of it under the table.
    const details = renderParamTable().split('\n').filter((l) => l.startsWith('- `--'));
    expect(details).toHaveLength(visible.filter((k) => paramOf(k).details !== undefined).length);
    expect(new Set(Object.values(FLAG_NAMES)).size).toBe(PARAM_KEYS.length);
  });

  it("each row's default passes its own check and its config-file schema", () => {
    for (const k of PARAM_KEYS) {
      const p = paramOf(k);
      expect(p.check(p.default), k).toBeNull();
      expect(simOptionsSchema.safeParse({ [k]: p.default }).success, k).toBe(true);
    }
  });
});

describe('resolveConfig calls the workloads\' own rules without an import cycle', () => {
  // src/config/config.ts imports the workload registry; a workload or race module that is loaded first
  // must not reach config.ts through its imports (they use params.ts), or the registry is read uninitialised.
  for (const first of ['dist/src/scenarios/workloads/munmap.js', 'dist/src/scenarios/races/mremapPtl.js', 'dist/src/scenarios/races/index.js']) {
    it(`${first} loaded first, then resolveConfig runs a workload rule`, () => {
      const script = `await import('./${first}'); const c = await import('./dist/src/config/config.js');
        try { c.resolveConfig({ workload: 'munmap', pages: 1 }); } catch (e) { console.log(e.message); }`;
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      // munmap's validate: at least 2 pages (ranges in the first half, the other threads in the second).
      expect(out.trim()).toBe('--pages must be at least 2 for --workload munmap (ranges in the first half, the other threads in the second), got 1');
    });
  }
});
