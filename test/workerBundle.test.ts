/**
 * The CPU worker bundle (dist/workers/cpu.bundle.cjs) is loaded by every
 * simulated CPU, so what it carries is paid once per CPU in start-up time and
 * memory. It must hold the engine, the kernel paths, the workloads and
 * comlink, and nothing the main thread alone needs: zod (the config-file
 * schema), esbuild (the plug-in loader), pino (logs), commander, piscina.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BUNDLE = fileURLToPath(new URL('../dist/workers/cpu.bundle.cjs', import.meta.url));
const MAIN_THREAD_ONLY = ['zod', 'esbuild', 'pino', 'commander', 'piscina', 'vega', 'vega-lite', 'cli-progress', 'simple-statistics'];

describe('the CPU worker bundle', () => {
  it('carries comlink and no main-thread-only package', () => {
    // esbuild marks every bundled file with a `// node_modules/<package>/...` comment.
    const packages = new Set([...readFileSync(BUNDLE, 'utf8').matchAll(/^\/\/ node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1]));
    expect(packages.has('comlink')).toBe(true);
    expect(MAIN_THREAD_ONLY.filter((p) => packages.has(p))).toEqual([]);
  });
});
