/**
 * Tests of option validation (src/config/config.ts): every bad value is refused with a
 * one-line ConfigError naming the CLI flag, nothing falls back silently, and
 * the defaults resolve.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, resolveConfig, type SimConfig } from '../src/config/config.js';

/** Call resolveConfig and return the ConfigError it throws (fails the test if it does not throw one). */
function rejection(partial: Record<string, unknown>): ConfigError {
  let caught: unknown;
  try {
    resolveConfig(partial as Partial<SimConfig>);
  } catch (e) {
    caught = e;
  }
  expect(caught, `resolveConfig(${JSON.stringify(partial)}) should throw`).toBeInstanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err.name).toBe('ConfigError');
  expect(err.message).not.toMatch(/[\r\n]/);
  expect(err.message.length).toBeGreaterThan(0);
  return err;
}

describe('resolveConfig rejects bad options with a one-line ConfigError naming the flag', () => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    ['cpus 0', { cpus: 0 }, '--cpus', '0'],
    ['cpus above the maximum', { cpus: 1025 }, '--cpus', '1025'],
    ['cpus not an integer', { cpus: 2.5 }, '--cpus', '2.5'],
    ['batch -1', { batch: -1 }, '--batch', '-1'],
    ['protocol nonsense', { protocol: 'nonsense' }, '--protocol', 'nonsense'],
    ['writeRatio 1.5', { writeRatio: 1.5 }, '--write-ratio', '1.5'],
    ['writeRatio -0.1', { writeRatio: -0.1 }, '--write-ratio', '-0.1'],
    ['writeRatio NaN', { writeRatio: Number.NaN }, '--write-ratio', 'NaN'],
    ['tlbSets 3 (not a power of two)', { tlbSets: 3 }, '--tlb-sets', '3'],
    ['tlbSets 0', { tlbSets: 0 }, '--tlb-sets', '0'],
    ['reclaim with cpus 1', { workload: 'reclaim', cpus: 1 }, '--cpus', '1'],
    ['mprotect with cpus 1', { workload: 'mprotect', cpus: 1 }, '--cpus', '1'],
    ['arch bogus', { arch: 'arm' }, '--arch', 'arm'],
    ['sched bogus', { sched: 'random' }, '--sched', 'random'],
    ['inject bogus', { inject: 'everything' }, '--inject', 'everything'],
    ['syscall bogus', { syscall: 'fork' }, '--syscall', 'fork'],
    ['pages 0', { pages: 0 }, '--pages', '0'],
    ['faultCpu out of range', { cpus: 4, faultCpu: 4 }, '--fault-cpu', '4'],
    ['inject no-tlbsync without invlpgb or rar', { inject: 'no-tlbsync' }, '--inject no-tlbsync', '--transport ipi'],
    ['inject context-reuse without context-reset', { protocol: 'invlpgb', inject: 'context-reuse' }, '--inject context-reuse', '--transport invlpgb'],
  ];
  for (const [what, partial, flag, given] of cases) {
    it(what, () => {
      const err = rejection(partial);
      expect(err.message).toContain(flag);
      expect(err.message).toContain(given);
    });
  }

  it('cpus 0 is refused by the range check itself, before any workload rule', () => {
    expect(rejection({ cpus: 0 }).message).toBe('--cpus must be an integer from 1 to 1024, got 0');
    expect(rejection({ cpus: 0, workload: 'mprotect' }).message).toMatch(/integer from 1 to 1024/);
  });

  it('the reclaim cpus message explains the minimum', () => {
    expect(rejection({ workload: 'reclaim', cpus: 1 }).message).toMatch(/at least 2/);
  });

  it('an unknown key, naming it', () => {
    const err = rejection({ cpu: 4 });
    expect(err.message).toContain("'cpu'");
    expect(err.message).toMatch(/unknown option/);
  });

  it('an unknown key even when every other option is valid', () => {
    expect(rejection({ cpus: 4, protocol: 'per-page', tlbSize: 64 }).message).toContain('tlbSize');
  });

  // Regression: the unknown-key check once used `k in DEFAULTS`, which accepted
  // Object.prototype members such as toString.
  it('an unknown key that happens to be an Object.prototype member (toString)', () => {
    expect(rejection({ toString: 5 }).message).toContain('toString');
  });
});

describe('resolveConfig accepts valid options', () => {
  it('accepts the defaults', () => {
    expect(resolveConfig()).toEqual(DEFAULTS);
    expect(resolveConfig({})).toEqual(DEFAULTS);
  });

  it('the defaults are a valid reclaim run with the invariant checks on', () => {
    const c = resolveConfig();
    expect(c.workload).toBe('reclaim');
    expect(c.cpus).toBeGreaterThanOrEqual(2);
    expect(c.debug).toBe(true);
    expect(c.inject).toBe('none');
    expect(c.tlbSets & (c.tlbSets - 1)).toBe(0);
  });

  it('applies overrides and leaves the rest at their defaults', () => {
    const c = resolveConfig({ cpus: 3, protocol: 'per-page', batch: 16, writeRatio: 1, tlbSets: 1, sched: 'seeded' });
    expect(c).toEqual({ ...DEFAULTS, cpus: 3, protocol: 'per-page', batch: 16, writeRatio: 1, tlbSets: 1, sched: 'seeded' });
  });

  it('an explicit undefined means the default', () => {
    expect(resolveConfig({ cpus: undefined, protocol: undefined })).toEqual(DEFAULTS);
  });

  it('accepts the boundary values', () => {
    expect(resolveConfig({ writeRatio: 0 }).writeRatio).toBe(0);
    expect(resolveConfig({ writeRatio: 1 }).writeRatio).toBe(1);
    expect(resolveConfig({ cpus: 2 }).cpus).toBe(2);
    expect(resolveConfig({ cpus: 1024 }).cpus).toBe(1024);
    expect(resolveConfig({ batch: 1 }).batch).toBe(1);
    expect(resolveConfig({ cpus: 4, faultCpu: 3, faultKind: 'crash' }).faultCpu).toBe(3);
  });

  it('does not modify DEFAULTS', () => {
    const before = { ...DEFAULTS };
    resolveConfig({ cpus: 3, pages: 7 });
    expect(DEFAULTS).toEqual(before);
  });
});

describe('resolveConfig: machine size', () => {
  it('rejects a machine whose shared memory would not fit, naming --pages and --cpus', () => {
    const e = rejection({ cpus: 1024, pages: 1_000_000 });
    expect(e.message).toContain('--pages');
    expect(e.message).toContain('--cpus');
    expect(e.message).not.toContain('\n');
  });
  it('accepts 1024 CPUs with 1024 pages', () => {
    expect(resolveConfig({ cpus: 1024, pages: 1024 }).cpus).toBe(1024);
  });
});
