import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILD_OUTPUTS, staleBuildReason } from './buildFreshness.js';

/** A fake project: one source file and every build output, with chosen mtimes (seconds). */
function project(sourceAt: number, outputAt: number, skip: string[] = []): string {
  const root = mkdtempSync(join(tmpdir(), 'tlbsim-fresh-'));
  const file = (rel: string, at: number): void => {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, '');
    utimesSync(p, at, at);
  };
  file('src/engine/cpu.ts', sourceAt);
  file('workers/cpu.ts', sourceAt - 10);
  for (const out of BUILD_OUTPUTS) if (!skip.includes(out)) file(out, outputAt);
  return root;
}

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe('staleBuildReason', () => {
  it('accepts a build newer than every source', () => {
    roots.push(project(1_000, 2_000));
    expect(staleBuildReason(roots[0])).toBeNull();
  });

  it('names the worker bundle when a source changed after the build', () => {
    roots.push(project(3_000, 2_000));
    expect(staleBuildReason(roots[0])).toBe("dist/workers/cpu.bundle.cjs is older than src/engine/cpu.ts: run 'npm run build' (or 'npm test', which builds first)");
  });

  it('names a missing output', () => {
    roots.push(project(1_000, 2_000, ['dist/workers/cpu.bundle.cjs']));
    expect(staleBuildReason(roots[0])).toMatch(/^dist\/workers\/cpu\.bundle\.cjs is missing/);
  });

  it('holds for this checkout: the tests are running against a fresh build', () => {
    expect(staleBuildReason(new URL('..', import.meta.url).pathname)).toBeNull();
  });
});
