/**
 * `--transport` (src/kernel/transports/, issue 18 §2): the flush transport is
 * its own option, chosen once per CPU at boot, and `--protocol
 * invlpgb|rar|context-reset` stay aliases of `--protocol batched --transport
 * X`: the same machine, the same counters, the same label and reproduce
 * command. Combinations the kernel has no code for are refused in one line.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/config.js';
import { chooseFlushTransport } from '../src/kernel/transports/index.js';
import { NO_RACES, parseOneJsonObject, runCli } from './helpers.js';
import type { RunResult } from '../src/output/result.js';

const TIMEOUT = 60_000;

describe('--protocol invlpgb is --protocol batched --transport invlpgb', () => {
  it(
    'identical counters, label and reproduce command (seeded, 4 CPUs, 64 pages, batches of 32)',
    async () => {
      const common = ['--cpus', '4', '--pages', '64', '--batch', '32', '--ops', '200', '--sched', 'seeded', '--seed', '7', '--json'];
      const [alias, spelled] = await Promise.all([
        runCli(['run', '--protocol', 'invlpgb', ...common]),
        runCli(['run', '--protocol', 'batched', '--transport', 'invlpgb', ...common]),
      ]);
      expect(alias.status, alias.stderr).toBe(0);
      expect(spelled.status, spelled.stderr).toBe(0);
      const a = parseOneJsonObject<RunResult>(alias.stdout);
      const b = parseOneJsonObject<RunResult>(spelled.stdout);
      expect(b.counters).toEqual(a.counters);
      expect(b.per_cpu).toEqual(a.per_cpu);
      expect(b.races).toEqual(NO_RACES);
      // Batched reclaim over INVLPGB (arch_tlbbatch_flush -> invlpgb_flush_all_nonglobals): one broadcast and one
      // TLBSYNC per batch of 32, ceil(64 / 32) = 2, applied by each of the 3 other CPUs; no IPI at all.
      expect(a.counters.invlpgb_sent).toBe(2);
      expect(a.counters.tlbsync_waits).toBe(2);
      expect(a.counters.invlpgb_applied).toBe(2 * 3);
      expect(a.counters.ipis_sent).toBe(0);
      // The label users know, and the old reproduce command (no --transport: the alias implies it).
      expect([a.config.protocol, a.config.transport, b.config.protocol, b.config.transport]).toEqual(['invlpgb', 'invlpgb', 'invlpgb', 'invlpgb']);
      expect(b.reproduce).toBe(a.reproduce);
      expect(a.reproduce).toContain('--protocol invlpgb');
      expect(a.reproduce).not.toContain('--transport');
    },
    TIMEOUT,
  );
});

describe('the transport is chosen once, from the configuration', () => {
  it('names the transport each configuration boots with', () => {
    const name = (over: Parameters<typeof resolveConfig>[0]): string => chooseFlushTransport(resolveConfig(over)).name;
    expect(name({})).toBe('ipi');
    expect(name({ protocol: 'rar' })).toBe('rar');
    expect(name({ protocol: 'batched', transport: 'context-reset' })).toBe('context-reset');
    expect(name({ arch: 'arm64' })).toBe('arm64-tlbi');
    // An old config file or result with only `protocol: 'rar'` resolves to the same pair as the new spelling.
    expect(resolveConfig({ protocol: 'rar' })).toEqual(resolveConfig({ protocol: 'batched', transport: 'rar' }));
  });
});

describe('combinations without kernel code are refused in one line', () => {
  for (const [over, message] of [
    [{ protocol: 'rik', transport: 'rar' }, '--transport rar applies to --protocol batched'],
    [{ protocol: 'rar', transport: 'invlpgb' }, '--protocol rar is batched reclaim over --transport rar'],
  ] as const) {
    it(JSON.stringify(over), () => {
      expect(() => resolveConfig(over)).toThrow(message);
    });
  }

  it('--arch arm64 --transport invlpgb: exit 2, one line (the CLI path)', async () => {
    const r = await runCli(['run', '--arch', 'arm64', '--transport', 'invlpgb']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--arch arm64 flushes by broadcast TLBI');
  });
});
