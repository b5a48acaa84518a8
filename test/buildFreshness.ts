/**
 * Tests run the compiled code: every CPU worker loads
 * dist/workers/cpu.bundle.cjs, stress pools load dist/workers/stressTask.js
 * and the CLI tests run dist/src/cli.js. A build older than its sources would
 * test yesterday's engine, so the test run refuses to start on one (see
 * test/globalSetup.ts). `npm test` builds first, so it never trips there.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Build outputs the tests execute, relative to the project root. */
export const BUILD_OUTPUTS = [
  'dist/workers/cpu.bundle.cjs',
  'dist/workers/stressTask.js',
  'dist/workers/rawIpiWorker.js',
  'dist/workers/benchEcho.js',
  'dist/workers/startupChild.js',
  'dist/src/cli.js',
  'dist/src/index.js',
] as const;
/** Source folders those outputs are built from. */
export const SOURCE_DIRS = ['src', 'workers'] as const;

function newestTs(dir: string): { path: string; mtimeMs: number } | null {
  let best: { path: string; mtimeMs: number } | null = null;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    const candidate = entry.isDirectory() ? newestTs(p) : entry.name.endsWith('.ts') ? { path: p, mtimeMs: statSync(p).mtimeMs } : null;
    if (candidate && (!best || candidate.mtimeMs > best.mtimeMs)) best = candidate;
  }
  return best;
}

/**
 * Why the build under `root` cannot be tested, as one line, or null if every
 * output exists and is at least as new as every source file.
 */
export function staleBuildReason(root: string): string | null {
  let newest: { path: string; mtimeMs: number } | null = null;
  for (const d of SOURCE_DIRS) {
    const n = newestTs(join(root, d));
    if (n && (!newest || n.mtimeMs > newest.mtimeMs)) newest = n;
  }
  for (const out of BUILD_OUTPUTS) {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(join(root, out)).mtimeMs;
    } catch {
      return `${out} is missing: run 'npm run build' (or 'npm test', which builds first)`;
    }
    if (newest && newest.mtimeMs > mtimeMs) {
      return `${out} is older than ${relative(root, newest.path)}: run 'npm run build' (or 'npm test', which builds first)`;
    }
  }
  return null;
}
