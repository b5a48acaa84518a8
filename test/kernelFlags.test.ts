/**
 * Flags against kernel profiles (src/cli/commands/options.ts, src/config/kernelProfiles.ts):
 * every boolean switch has `--x` and `--no-x`, so a switch a profile turns
 * off can be turned on again from the command line (the value still comes
 * from the profile when neither is given), and `--protocol invlpgb|rar` is
 * refused under a profile that could not flush that way.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { configToFlags, resolveConfig } from '../src/config/config.js';
import { PROTOCOL_ARRIVALS } from '../src/config/kernelProfiles.js';
import { runCliInProcess } from './cliInProcess.js';
import { runCli } from './helpers.js';

interface Res {
  config: { batchedPendingFlush: boolean; tlbGen: boolean; lazyTlbSkip: boolean; nestedFlush: boolean; flushUnderPtl: boolean; kernelVersion: string };
  counters: { ipis_sent: number; lazy_tlb_flushes: number };
  reproduce?: string;
}

async function runJson(args: string[]): Promise<Res> {
  const r = await runCli(['run', ...args, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Res;
}

describe('boolean switches take --x and --no-x; the default stays the profile\'s', () => {
  it('--kernel-version 4.12 --batched-pending-flush turns the pending flush back on', async () => {
    const small = ['--workload', 'mprotect', '--cpus', '3', '--pages', '16', '--batch', '16', '--ops', '50', '--sched', 'seeded'];
    // 4.12 predates 3ea277194daa (4.13): the profile turns flush_tlb_batched_pending off ...
    expect((await runJson([...small, '--kernel-version', '4.12'])).config.batchedPendingFlush).toBe(false);
    // ... the positive flag turns it on again, the rest of the profile stays (4.12 has no tlb_gen: b0579ade7cd8 is 4.14).
    const on = await runJson([...small, '--kernel-version', '4.12', '--batched-pending-flush']);
    expect(on.config.batchedPendingFlush).toBe(true);
    expect(on.config.tlbGen).toBe(false);
    expect(on.config.kernelVersion).toBe('4.12');
    // Without a profile the default is on, and --no- still turns it off.
    expect((await runJson(small)).config.batchedPendingFlush).toBe(true);
    expect((await runJson([...small, '--no-batched-pending-flush'])).config.batchedPendingFlush).toBe(false);
    // The reproduce command names the positive form for a switch turned on against the profile.
    expect(configToFlags(resolveConfig({ workload: 'mprotect', kernelVersion: '4.12', batchedPendingFlush: true }))).toContain('--batched-pending-flush');
    expect(configToFlags(resolveConfig({ workload: 'mprotect', kernelVersion: '4.12', batchedPendingFlush: true }))).not.toContain('--no-batched-pending-flush');
  }, 60_000);

  it('--kernel-version 4.19 --lazy-tlb-skip: reclaim\'s flush skips the lazy CPUs again (exact IPIs)', async () => {
    // N = 8 (kswapd + 7 threads), the last K = 2 lazy, P = 16 pages in one batch: one arch_tlbbatch_flush round.
    // 4.19 (before 145f573b89a6): native_flush_tlb_others IPIs the whole mask: N - 1 = 7, the 2 lazy CPUs switch to
    // init_mm. With --lazy-tlb-skip (4.20's should_flush_tlb): N - 1 - K = 5 IPIs, no lazy CPU reached.
    const args = ['--cpus', '8', '--pages', '16', '--batch', '16', '--ops', '40', '--lazy-cpus', '2', '--sched', 'seeded', '--kernel-version', '4.19'];
    const old = await runJson(args);
    expect(old.config.lazyTlbSkip).toBe(false);
    expect(old.counters.ipis_sent).toBe(7);
    expect(old.counters.lazy_tlb_flushes).toBe(2);
    const skip = await runJson([...args, '--lazy-tlb-skip']);
    expect(skip.config.lazyTlbSkip).toBe(true);
    expect(skip.counters.ipis_sent).toBe(5);
    expect(skip.counters.lazy_tlb_flushes).toBe(0);
  }, 60_000);

  it('every profile switch that 4.2 turns off has a positive flag that turns it on', async () => {
    // 4.2: no pending flush (3ea277194daa, 4.13), no nested flush (99baac21e458, 4.13), no tlb_gen (b0579ade7cd8, 4.14),
    // no lazy skip (145f573b89a6, 4.20), mremap's flush after the PTE lock (eb66ae030829, 4.19).
    const base = ['--workload', 'mprotect', '--cpus', '3', '--pages', '16', '--batch', '16', '--ops', '50', '--sched', 'seeded', '--kernel-version', '4.2'];
    const off = await runJson(base);
    expect([off.config.batchedPendingFlush, off.config.nestedFlush, off.config.tlbGen, off.config.lazyTlbSkip, off.config.flushUnderPtl]).toEqual([false, false, false, false, false]);
    const on = await runJson([...base, '--batched-pending-flush', '--nested-flush', '--tlb-gen', '--lazy-tlb-skip', '--flush-under-ptl']);
    expect([on.config.batchedPendingFlush, on.config.nestedFlush, on.config.tlbGen, on.config.lazyTlbSkip, on.config.flushUnderPtl]).toEqual([true, true, true, true, true]);
  }, 60_000);
});

describe('--protocol invlpgb / rar under a kernel profile', () => {
  it('invlpgb before 6.15 is refused in one line naming 6.15 (4afeb0ed1753); 6.15 and later run it', async () => {
    const r = await runCliInProcess(['run', '--kernel-version', '6.6', '--protocol', 'invlpgb']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--protocol invlpgb needs Linux 6\.15 or later \(4afeb0ed1753/);
    expect(resolveConfig({ kernelVersion: '6.15', protocol: 'invlpgb' }).protocol).toBe('invlpgb');
    expect(resolveConfig({ kernelVersion: '6.16', protocol: 'invlpgb' }).protocol).toBe('invlpgb');
  }, 60_000);

  it('docs/kernels.md lists every arrival with its commit', () => {
    const doc = readFileSync(new URL('../docs/kernels.md', import.meta.url), 'utf8');
    for (const a of PROTOCOL_ARRIVALS) {
      expect(doc, a.protocol).toContain(`| \`${a.protocol}\``);
      for (const id of a.source.match(/\b[0-9a-f]{12}\b/g) ?? []) expect(doc, `${a.protocol}: ${id}`).toContain(id);
    }
    expect(PROTOCOL_ARRIVALS.find((a) => a.protocol === 'invlpgb')!.release).toBe('6.15');
    expect(PROTOCOL_ARRIVALS.find((a) => a.protocol === 'rar')!.release).toBeNull();
  });

  it('rar (an RFC series, never merged) is refused under every profile, and runs without one', async () => {
    for (const v of ['4.2', '6.15', '6.16']) {
      const r = await runCliInProcess(['run', '--kernel-version', v, '--protocol', 'rar']);
      expect(r.status, v).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/--protocol rar models a series that was never merged/);
    }
    expect(resolveConfig({ protocol: 'rar' }).protocol).toBe('rar');
  }, 60_000);
});
