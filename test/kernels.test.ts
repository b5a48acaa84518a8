/**
 * Kernel profiles (`--kernel-version`, src/config/kernelProfiles.ts), the switches they
 * set, and the table of releases each catalogue race reproduces in
 * (docs/race-versions.json, computed by `npm run race-versions`).
 *
 * Every expected value below is derived from the kernel changes the profile
 * table cites (docs/kernels.md), not copied from the engine's output; the
 * derivation is in the comment next to it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/config.js';
import { KERNEL_SWITCHES, KERNEL_VERSIONS, profileSwitches, releaseAtLeast, type KernelVersion } from '../src/config/kernelProfiles.js';
import { RACE_NAMES, RACES, type RaceName } from '../src/scenarios/races/index.js';
import { loadRaceVersions, versionRange } from '../src/scenarios/races/versions.js';
import { runStress, scenarioConfig } from '../src/campaigns/stress.js';
import { runCliInProcess } from './cliInProcess.js';

describe('profiles: the switches as each release had them', () => {
  it('4.12, 4.13, 4.19, 5.10, 6.1, 6.15 on x86, each switch from the change that set it', () => {
    // 4.12: batched reclaim since 4.3 (72b252aed506); no flush_tlb_batched_pending (3ea277194daa is 4.13);
    // mm->tlb_flush_batched would be the 4.13 bool (moot without the pending flush); no nested flush
    // (99baac21e458 is 4.13); mprotect flushes the call's range (4a18419f71cd is 5.19); no tlb_gen (4.14);
    // every flush reaches lazy CPUs (145f573b89a6 is 4.20); mremap and migrate_vma flush after the PTE lock.
    expect(profileSwitches('4.12', 'x86')).toEqual({
      protocol: 'batched',
      batchedPendingFlush: false,
      pendingFlush: 'bool',
      nestedFlush: false,
      mprotectFlush: 'range',
      tlbGen: false,
      lazyTlbSkip: false,
      lazyFlushOnTableFree: true,
      // No freed_tables argument before 016c4d92cd16 (4.20): with lazy CPUs never skipped, every flush reached them.
      flushRangeFreedTables: true,
      flushUnderPtl: false,
      migrateVmaFlushUnderPtl: false,
    });
    // 4.13: the pending flush (bool) and the nested flush arrive.
    expect(profileSwitches('4.13', 'x86')).toMatchObject({ batchedPendingFlush: true, pendingFlush: 'bool', nestedFlush: true, tlbGen: false });
    // 4.19: tlb_gen since 4.14, mremap's flush under the PTE lock (eb66ae030829); lazy CPUs still IPIed.
    expect(profileSwitches('4.19', 'x86')).toMatchObject({ tlbGen: true, flushUnderPtl: true, lazyTlbSkip: false, migrateVmaFlushUnderPtl: false });
    // 5.10: lazy CPUs skipped since 4.20, and flush_tlb_range() without freed_tables (016c4d92cd16, 4.20);
    // still the bool (5ee2fa2f0636 is 5.14) and the range flush of mprotect.
    expect(profileSwitches('5.10', 'x86')).toMatchObject({ lazyTlbSkip: true, flushRangeFreedTables: false, pendingFlush: 'bool', mprotectFlush: 'range' });
    // 6.1: the generation pair, mprotect's mmu_gather, migrate_vma's flush under the PTE lock (60bae7370896, 6.0);
    // every switch at today's value but flush_tlb_range's freed_tables, which 3ef938c35035 set in 6.15.
    // 6.15: every switch at today's value, the engine's defaults.
    const today = resolveConfig({});
    for (const v of ['6.1', '6.15'] as const) {
      const p = profileSwitches(v, 'x86');
      for (const [k, value] of Object.entries(p)) {
        const want = v === '6.1' && k === 'flushRangeFreedTables' ? false : today[k as keyof typeof today];
        expect(value, `${v} ${k}`).toBe(want);
      }
    }
  });

  it('arm64: per-page reclaim before 6.5 (43b3dfdd0455), the lone DSB until 6.16 (4b634918384c)', () => {
    expect(profileSwitches('6.1', 'arm64')).toMatchObject({ protocol: 'per-page', arm64Pending: 'dsb' });
    expect(profileSwitches('6.5', 'arm64')).toMatchObject({ protocol: 'batched', arm64Pending: 'dsb' });
    expect(profileSwitches('6.15', 'arm64')).toMatchObject({ protocol: 'batched', arm64Pending: 'dsb' });
    expect(profileSwitches('6.16', 'arm64')).toMatchObject({ protocol: 'batched', arm64Pending: 'flush-mm' });
    // arm64Pending is arm64's own: an x86 profile leaves it at its default (resolveConfig refuses it off arm64).
    expect(profileSwitches('6.1', 'x86')).not.toHaveProperty('arm64Pending');
  });

  it('every commit the table cites is in docs/kernels.md, and every change is in release order', () => {
    const doc = readFileSync(new URL('../docs/kernels.md', import.meta.url), 'utf8');
    for (const h of KERNEL_SWITCHES) {
      const releases = h.changes.map((c) => c.release);
      expect(releases.every((r, i) => i === 0 || releaseAtLeast(r, releases[i - 1])), h.field).toBe(true);
      for (const c of h.changes) {
        expect(c.commit).toMatch(/^[0-9a-f]{12}$/);
        expect(doc, `${h.field}: ${c.commit}`).toContain(c.commit);
      }
    }
  });

  it('flags override the profile; the profile overrides the scenario; the result and reproduce command keep it', async () => {
    expect(resolveConfig({ kernelVersion: '4.12' }).batchedPendingFlush).toBe(false);
    expect(resolveConfig({ kernelVersion: '4.12', mprotectFlush: 'changed' }).mprotectFlush).toBe('changed');
    // mremap-ptl's machine says per-page reclaim; the 4.19 profile says batched (4.3 on).
    expect(scenarioConfig('mremap-ptl', {}).protocol).toBe('per-page');
    expect(scenarioConfig('mremap-ptl', { kernelVersion: '4.19' }).protocol).toBe('batched');
    const r = await runStress({ scenario: 'mprotect-reclaim', overrides: { kernelVersion: '4.12' }, iterations: 20, seed: 1, stopOnRace: true, threads: 1 });
    expect(r.config.kernelVersion).toBe('4.12');
    expect(r.kernel).toBeUndefined();
    expect(r.reproduce).toContain('--kernel-version 4.12');
    // The profile's own switches are not spelled out again.
    expect(r.reproduce).not.toContain('--no-batched-pending-flush');
  });

  it('--no-lazy-tlb-skip (up to 4.19): reclaim\'s flush reaches lazy CPUs too; 4.20 on skips them', async () => {
    // N = 8 CPUs (kswapd + 7 threads), the last K = 2 lazy, P = 16 pages in one batch B = 16: one round.
    // 4.20+ (should_flush_tlb skips is_lazy CPUs): N - 1 - K = 5 IPIs, none received by a lazy CPU.
    // 4.19 (native_flush_tlb_others IPIs the whole mask): N - 1 = 7 IPIs; each lazy CPU gets one and, being
    // lazy, leaves the mm (switch to init_mm, lazy_tlb_flushes) instead of flushing pages: 2 in all.
    const { simulate } = await import('../src/api.js');
    for (const [skip, ipis, lazyFlushes] of [
      [true, 5, 0],
      [false, 7, 2],
    ] as const) {
      const r = await simulate({ cpus: 8, pages: 16, batch: 16, ops: 40, lazyCpus: 2, sched: 'seeded', lazyTlbSkip: skip });
      expect(r.status).toBe('ok');
      expect(r.counters.ipis_sent, `lazyTlbSkip ${skip}`).toBe(ipis);
      expect(r.counters.nr_tlb_remote_flush).toBe(1);
      expect(r.counters.lazy_tlb_flushes).toBe(lazyFlushes);
      for (const c of [6, 7]) expect(r.per_cpu[c].nr_tlb_remote_flush_received).toBe(skip ? 0 : 1);
    }
    // The profiles: 4.19 keeps IPIing lazy CPUs, 4.20 skips them.
    expect(resolveConfig({ kernelVersion: '4.19' }).lazyTlbSkip).toBe(false);
    expect(resolveConfig({ kernelVersion: '4.20' }).lazyTlbSkip).toBe(true);
  });

  it('bad input: an unknown release, and --kernel with --kernel-version, are one-line errors (exit 2)', async () => {
    const bad = await runCliInProcess(['run', '--kernel-version', '4.99']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('4.99');
    const both = await runCliInProcess(['stress', '--scenario', 'nested-zap', '--kernel', 'buggy', '--kernel-version', '4.12', '--iterations', '1']);
    expect(both.status).toBe(2);
    expect(both.stderr.trim().split('\n')).toHaveLength(1);
    expect(both.stderr).toContain('--kernel and --kernel-version do not combine');
  });
});

/**
 * The releases each race reproduces in, as the switches predict it
 * (KERNEL_VERSIONS holds 4.2 4.3 4.12 4.13 4.14 4.19 4.20 5.10 5.15 5.19 6.1
 * 6.5 6.6 6.15 6.16):
 * - reclaim-dirty, lazy-pgtable-free: ablations; no profile turns their
 *   safeguard off (try_to_unmap_flush_dirty came with the deferral in 4.3;
 *   freed_tables flushes reach lazy CPUs in every release): none.
 * - mprotect-reclaim: needs batched reclaim (4.3) and no pending flush
 *   (before 4.13): 4.3 .. 4.12.
 * - nested-zap: needs no nested flush (before 4.13); no reclaim involved:
 *   4.2 .. 4.12.
 * - mremap-ptl: the flush after the PTE lock until 4.19: 4.2 .. 4.14.
 * - pending-flush-lost: its write after protect needs batched reclaim (4.3)
 *   and a pending flush that can miss: none at all (before 4.13: the 2017
 *   race of mprotect-reclaim, through this scenario's second mprotect) or
 *   the bool (until 5.14): 4.3 .. 5.10.
 * - migrate-vma-ptl: migrate_vma exists from 4.14 and flushes after the lock
 *   until 6.0: 4.14 .. 5.19.
 * - arm64-dsb-pending: arm64 batches from 6.5, the lone DSB until 6.16:
 *   6.5 .. 6.15.
 * - collapse-pmd-flush: needs lazy CPUs skipped (4.20, 145f573b89a6) and
 *   flush_tlb_range() without freed_tables (016c4d92cd16, 4.20, until
 *   3ef938c35035 in 6.15); before 4.20 every flush reached lazy CPUs:
 *   4.20 .. 6.6.
 */
const EXPECTED_RANGE: { readonly [N in RaceName]: readonly [KernelVersion, KernelVersion] | null } = {
  'reclaim-dirty': null,
  'mprotect-reclaim': ['4.3', '4.12'],
  'nested-zap': ['4.2', '4.12'],
  'mremap-ptl': ['4.2', '4.14'],
  'lazy-pgtable-free': null,
  'pending-flush-lost': ['4.3', '5.10'],
  'migrate-vma-ptl': ['4.14', '5.19'],
  'arm64-dsb-pending': ['6.5', '6.15'],
  'collapse-pmd-flush': ['4.20', '6.6'],
};

describe('the releases each race reproduces in (docs/race-versions.json)', () => {
  const table = loadRaceVersions();

  it('was computed for every race, and its ranges are the ones the switches predict, with no gap', () => {
    expect(table, 'run npm run race-versions').not.toBeNull();
    for (const n of RACE_NAMES) {
      const v = table!.races[n]!;
      expect(v, n).toBeDefined();
      expect(versionRange(v.releases)).toEqual({ first: v.first, last: v.last });
      const want = EXPECTED_RANGE[n];
      expect([v.first, v.last], n).toEqual(want === null ? [null, null] : [...want]);
      // Contiguous: every release between first and last reproduces it.
      if (want !== null) {
        const inside = KERNEL_VERSIONS.slice(KERNEL_VERSIONS.indexOf(want[0]), KERNEL_VERSIONS.indexOf(want[1]) + 1);
        for (const r of inside) expect(v.releases[r]?.reproduces, `${n} ${r}`).toBe(true);
      }
    }
  });

  it.each(RACE_NAMES.filter((n) => EXPECTED_RANGE[n] !== null))('%s: the witness seeds of the first and last release race again; the next release does not race on 20 seeds', async (n) => {
    const v = table!.races[n]!;
    for (const rel of [v.first!, v.last!]) {
      const w = v.releases[rel]!.witness!;
      const r = await runStress({ scenario: n, overrides: { kernelVersion: rel }, iterations: 1, seed: w, stopOnRace: false, threads: 1 });
      expect(r.racy_iterations, `${n} ${rel} seed ${w}`).toBe(1);
    }
    const next = KERNEL_VERSIONS[KERNEL_VERSIONS.indexOf(v.last!) + 1];
    const after = await runStress({ scenario: n, overrides: { kernelVersion: next }, iterations: 20, seed: 1, stopOnRace: false, threads: 1 });
    expect(after.racy_iterations, `${n} ${next}`).toBe(0);
    // The zero means the release closes the window, not that nothing ran: every iteration accessed and flushed.
    expect(after.counters.loads + after.counters.stores, `${n} ${next}`).toBeGreaterThanOrEqual(after.iterations);
    expect(after.counters.tlb_flush_calls, `${n} ${next}`).toBeGreaterThanOrEqual(after.iterations);
  });

  it('tlbsim races prints each range', async () => {
    const out = await runCliInProcess(['races']);
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('reproduces in 4.3 .. 4.12');
    expect(out.stdout).toContain('reproduces in no release');
    for (const n of RACE_NAMES) expect(out.stdout).toContain(RACES[n].commit);
  });
});
