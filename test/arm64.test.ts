/**
 * `--arch arm64` (src/kernel/arm64Tlbi.ts): broadcast TLBIs applied by each CPU's
 * MMU to its own TLB, and DSB ISH, which waits only for the TLBIs its own
 * CPU issued.
 * - A batched reclaim of P pages in batches of B on N CPUs issues exactly P
 *   TLBIs (arch_tlbbatch_add_pending, one per page), every CPU's MMU applies
 *   each once (P x N, the issuer's own included), one DSB per batch
 *   (arch_tlbbatch_flush: ceil(P/B)), and no IPI, in free and seeded mode.
 * - The DSB rule, on the arm64-dsb-pending scenario: CPU 1's lone DSB
 *   (`--arm64-pending dsb`) returns while CPU 0's TLBI is still in flight
 *   to CPU 1's MMU, which a schedule can order after CPU 1's stores; with
 *   flush_tlb_mm (`flush-mm`) CPU 1's own TLBI and DSB close it.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../src/api.js';
import { DEFAULTS, resolveConfig, type SimConfig } from '../src/config/config.js';
import { runStress } from '../src/campaigns/stress.js';
import { flushTlbRangeOps, MAX_TLBI_RANGE_PAGES, tlbiRangeNum, tlbiRangePages } from '../src/kernel/arm64Tlbi.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliInProcess } from './cliInProcess.js';
import { NO_RACES, runCli } from './helpers.js';

function cfg(over: Partial<SimConfig>): SimConfig {
  return resolveConfig({ workload: 'reclaim', protocol: 'batched', arch: 'arm64', ops: 400, tlbSets: 16, tlbWays: 4, ...over });
}

describe('arm64 batched reclaim: P TLBIs, ceil(P/B) DSBs, 0 IPIs', () => {
  for (const [N, P, B] of [
    [2, 8, 8],
    [4, 64, 32],
    [4, 40, 8],
    [8, 33, 32],
  ] as const) {
    for (const sched of ['free', 'seeded'] as const) {
      it(`N=${N} P=${P} B=${B} ${sched}`, async () => {
        const r = await simulate(cfg({ cpus: N, pages: P, batch: B, sched }));
        const ctx = JSON.stringify({ N, P, B, sched, failure: r.failure });
        expect(r.status, ctx).toBe('ok');
        const k = r.counters;
        const batches = Math.ceil(P / B);
        expect(k.tlbi_broadcast, ctx).toBe(P);
        expect(r.per_cpu[0].tlbi_broadcast, ctx).toBe(P);
        expect(k.dsb_waits, ctx).toBe(batches);
        expect(r.per_cpu[0].dsb_waits, ctx).toBe(batches);
        // Every CPU's MMU (kswapd's own included: TLBI ... IS reaches the issuer too) applied every TLBI once.
        expect(k.tlbi_applied, ctx).toBe(P * N);
        for (let c = 0; c < N; c++) expect(r.per_cpu[c].tlbi_applied, `${ctx} cpu ${c}`).toBe(P);
        expect(k.ipis_sent, ctx).toBe(0);
        expect(k.nr_tlb_remote_flush, ctx).toBe(0);
        expect(k.nr_tlb_remote_flush_received, ctx).toBe(0);
        expect(k.tlb_flush_calls, ctx).toBe(batches);
        expect(k.pages_unmapped, ctx).toBe(P);
        expect(k.pages_freed, ctx).toBe(P);
        expect(r.races, ctx).toEqual(NO_RACES);
      });
    }
  }

  it('x86 (the default) is untouched: no TLBI, no DSB', async () => {
    const r = await simulate(cfg({ arch: 'x86', cpus: 4, pages: 64, batch: 32, sched: 'seeded' }));
    expect(r.status).toBe('ok');
    expect([r.counters.tlbi_broadcast, r.counters.tlbi_applied, r.counters.dsb_waits]).toEqual([0, 0, 0]);
    expect(r.counters.nr_tlb_remote_flush).toBe(2);
  });

  it('mprotect on arm64: flush_tlb_mm_range is TLBIs + one DSB, no IPI', async () => {
    // The mprotect lab workload: CPU 1's mprotect(PROT_READ) of present pages flushes them page by page.
    const r = await simulate(cfg({ workload: 'mprotect', cpus: 3, pages: 8, batch: 8, ops: 40, sched: 'seeded' }));
    expect(r.status).toBe('ok');
    expect(r.counters.ipis_sent).toBe(0);
    expect(r.counters.dsb_waits).toBeGreaterThan(0);
    expect(r.counters.tlbi_applied).toBe(r.counters.tlbi_broadcast * 3);
    expect(r.races).toEqual(NO_RACES);
  });
});

describe('arm64 range flushes (__flush_tlb_range: MAX_DVM_OPS, FEAT_TLBIRANGE)', () => {
  it('__TLBI_RANGE_PAGES / __TLBI_RANGE_NUM and the limits', () => {
    expect(DEFAULTS.arm64MaxDvmOps).toBe(512); // MAX_DVM_OPS = PTRS_PER_PTE with 4 KB pages
    expect(MAX_TLBI_RANGE_PAGES).toBe(32 << 16); // (31 + 1) << (5 * 3 + 1)
    expect(tlbiRangePages(0, 0)).toBe(2);
    expect(tlbiRangeNum(35, 0)).toBe(16); // 35 >> 1 = 17 units of 2, num = 17 - 1
    expect(tlbiRangeNum(100, 1)).toBe(0); // 100 >> 6 = 1 unit of 64
    expect(tlbiRangeNum(63, 1)).toBe(-1);
    expect(tlbiRangeNum(5000, 0)).toBe(31); // clamped: min(5000, __TLBI_RANGE_PAGES(31, 0) = 64) >> 1 = 32 units, num 31
  });

  it('__flush_tlb_range_op: one TLBI per page without the feature; with it [n >= 64] + [n mod 64 >= 2] + [n odd]', () => {
    for (let n = 34; n <= 511; n++) {
      expect(flushTlbRangeOps(0, n, false)).toHaveLength(n);
      const ops = flushTlbRangeOps(0, n, true);
      expect(ops.length, `n = ${n}`).toBe(Number(n >= 64) + Number(n % 64 >= 2) + Number(n % 2 === 1));
      // They cover [0, n) exactly, in order.
      let at = 0;
      for (const op of ops) {
        expect(op.page).toBe(at);
        at += op.count;
      }
      expect(at).toBe(n);
    }
    // 511 = 448 (scale 1, num 6) + 62 (scale 0, num 30) + 1 (the last page alone).
    expect(flushTlbRangeOps(0, 511, true)).toEqual([
      { kind: 'range', page: 0, count: 448 },
      { kind: 'range', page: 448, count: 62 },
      { kind: 'page', page: 510, count: 1 },
    ]);
  });

  // munmap workload on arm64, N = 3, 2 munmaps of L pages: CPU 0's tlb_finish_mmu -> __flush_tlb_range of L pages.
  // off: L < MAX_DVM_OPS (512) is L TLBI VALE1IS, L = 512 is one TLBI ASIDE1IS (flush_tlb_mm); on: the range ops.
  for (const [L, off, on] of [
    [34, 34, 1], // 34 even, < 64: one RVALE1IS of 34 pages
    [35, 35, 2], // 34 + the last page
    [100, 100, 2], // 64 (scale 1) + 36 (scale 0)
    [511, 511, 3], // 448 + 62 + 1
    [512, 1, 1], // off: >= MAX_DVM_OPS, flush_tlb_mm; on: one range of 512 (scale 1, num 7)
  ] as const) {
    it(`--range ${L}: ${off} TLBIs per munmap without FEAT_TLBIRANGE, ${on} with it`, async () => {
      for (const [mode, want] of [['off', off], ['on', on]] as const) {
        const r = await simulate(resolveConfig({ workload: 'munmap', arch: 'arm64', cpus: 3, pages: 1024, range: String(L), ops: 2, sched: 'seeded', arm64TlbiRange: mode }));
        expect(r.status).toBe('ok');
        expect(r.races).toEqual(NO_RACES);
        expect(r.per_cpu[0].tlbi_broadcast, mode).toBe(2 * want);
        expect(r.counters.tlbi_applied, mode).toBe(2 * want * 3); // every CPU's MMU applies every TLBI
        expect(r.per_cpu[0].dsb_waits, mode).toBe(2);
        expect(r.counters.ipis_sent, mode).toBe(0);
      }
    });
  }

  // --arm64-max-dvm-ops M moves that threshold: __flush_tlb_range_nosync flushes by ASID when
  // (end - start) >= MAX_DVM_OPS * stride, i.e. L >= M pages. With M = 16 and 2 munmaps:
  // L = 15 < 16 is 15 TLBI VALE1IS per munmap (30 broadcasts), L = 16 >= 16 one TLBI ASIDE1IS each (2).
  for (const [L, want] of [
    [15, 15],
    [16, 1],
  ] as const) {
    it(`--arm64-max-dvm-ops 16, --range ${L}: ${want} TLBIs per munmap`, async () => {
      const r = await simulate(resolveConfig({ workload: 'munmap', arch: 'arm64', cpus: 3, pages: 64, range: String(L), ops: 2, sched: 'seeded', arm64MaxDvmOps: 16 }));
      expect(r.status).toBe('ok');
      expect(r.races).toEqual(NO_RACES);
      expect(r.per_cpu[0].tlbi_broadcast).toBe(2 * want);
      expect(r.counters.tlbi_applied).toBe(2 * want * 3);
    });
  }

  it('--arm64-max-dvm-ops reaches the run from the command line and the reproduce command keeps it', async () => {
    const r = await runCli(['run', '--workload', 'munmap', '--arch', 'arm64', '--cpus', '3', '--pages', '64', '--range', '16', '--ops', '2', '--sched', 'seeded', '--arm64-max-dvm-ops', '16', '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { config: SimConfig; per_cpu: { tlbi_broadcast: number }[]; reproduce: string };
    expect(out.config.arm64MaxDvmOps).toBe(16);
    expect(out.per_cpu[0].tlbi_broadcast).toBe(2); // 16 >= 16: one TLBI ASIDE1IS per munmap, 2 munmaps
    expect(out.reproduce).toContain('--arm64-max-dvm-ops 16');
  });

  it('--arm64-max-dvm-ops: 0, a word, or on x86 is refused in one line, exit 2', async () => {
    for (const [args, msg] of [
      [['--arch', 'arm64', '--arm64-max-dvm-ops', '0'], '--arm64-max-dvm-ops must be an integer from 1'],
      [['--arch', 'arm64', '--arm64-max-dvm-ops', 'many'], '--arm64-max-dvm-ops'],
      [['--arm64-max-dvm-ops', '16'], '--arm64-max-dvm-ops applies to --arch arm64'],
    ] as const) {
      const r = await runCliInProcess(['run', ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(msg);
    }
  });

  it('--arm64-tlbi-range on x86 is refused in one line, exit 2', async () => {
    const r = await runCliInProcess(['run', '--arm64-tlbi-range', 'on']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--arm64-tlbi-range applies to --arch arm64');
  });
});

describe('DSB waits only for its own CPU’s TLBIs (arm64-dsb-pending)', () => {
  // explore --preemption-bound 1's shortest racy schedule: CPU 1 warms up first (0:1), is preempted before mprotect (2:0).
  const RACY = '0:1,2:0';

  async function side(kernel: 'buggy' | 'fixed', schedule: string) {
    return runStress({ scenario: 'arm64-dsb-pending', kernel, overrides: { schedule }, iterations: 1, seed: 1, stopOnRace: false, threads: 1 });
  }

  it("buggy: CPU 1's lone DSB returns with CPU 0's TLBI unapplied; both stores go through the stale entry", async () => {
    const r = await side('buggy', RACY);
    expect(r.races).toEqual({ ...NO_RACES, writes_after_protect: 2 });
  });

  it("fixed: CPU 1's own TLBI (whole ASID) and its DSB: the stores fault, no race", async () => {
    const r = await side('fixed', RACY);
    expect(r.racy_iterations).toBe(0);
    // Not a schedule that skipped the window: both stores after mprotect(PROT_READ) ran and faulted (the buggy side's
    // two writes after protect). TLBIs: reclaim's VALE1IS and CPU 1's ASIDE1IS (flush_tlb_mm), each applied by both
    // CPUs' MMUs: 2 broadcasts, 4 applications; DSBs: kswapd's arch_tlbbatch_flush and CPU 1's.
    expect(r.counters.segv_stores).toBe(2);
    expect(r.counters.tlbi_broadcast).toBe(2);
    expect(r.counters.tlbi_applied).toBe(4);
    expect(r.counters.dsb_waits).toBe(2);
  });

  it("CPU 1's MMU is a scheduling step of its own: applied before the mprotect (3:3), no race; between the stores (6:3), one", async () => {
    const early = await side('buggy', `${RACY},3:3`);
    expect(early.races).toEqual(NO_RACES);
    // The two stores ran and faulted: the entry was gone before the mprotect (one TLBI, reclaim's, applied by both MMUs).
    expect(early.counters.segv_stores).toBe(2);
    expect(early.counters.tlbi_applied).toBe(2);
    expect((await side('buggy', `${RACY},6:3`)).races).toEqual({ ...NO_RACES, writes_after_protect: 1 });
  });

  it('per-CPU counts of the racy schedule: CPU 1 issues no TLBI and one DSB (buggy), one TLBI and one DSB (fixed)', async () => {
    const base = { workload: 'arm64-dsb-pending', cpus: 2, pages: 1, batch: 1, ops: 2, writeRatio: 1, tlbSets: 2, tlbWays: 1, protocol: 'batched', sched: 'seeded', schedule: RACY } as const;
    const buggy = await simulate(cfg({ ...base, arm64Pending: 'dsb' }));
    const fixed = await simulate(cfg(base));
    const pick = (r: typeof buggy) => r.per_cpu.map((c) => [c.tlbi_broadcast, c.tlbi_applied, c.dsb_waits]);
    expect(pick(buggy)).toEqual([
      [1, 1, 1],
      [0, 1, 1],
    ]);
    expect(pick(fixed)).toEqual([
      [1, 2, 1],
      [1, 2, 1],
    ]);
  });
});

describe('arm64 options: bad input is one line, exit 2', () => {
  it('--arm64-pending needs --arch arm64', async () => {
    const r = await runCliInProcess(['run', '--arch', 'x86', '--arm64-pending', 'dsb']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--arm64-pending applies to --arch arm64');
  });

  it('--arch arm64 refuses the x86 transports', async () => {
    const r = await runCliInProcess(['run', '--arch', 'arm64', '--protocol', 'invlpgb']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--arch arm64 runs --protocol');
  });

  it('--replay names MMU agents (cpus + c) only with --arch arm64', async () => {
    const r = await runCliInProcess(['stress', '--scenario', 'mprotect-reclaim', '--kernel', 'buggy', '--replay', '0:3', '--iterations', '1']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const ok = await runCli(['stress', '--scenario', 'arm64-dsb-pending', '--kernel', 'buggy', '--replay', `${RACY_CLI},3:3`, '--iterations', '1', '--json', '--no-progress']);
    expect(ok.status).toBe(0);
  });
});

const RACY_CLI = '0:1,2:0';

describe('arm64 options in a config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tlbsim-arm64-'));
  const file = (name: string, content: unknown): string => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(content));
    return p;
  };

  it('accepts arch arm64 and arm64Pending', async () => {
    const r = await runCliInProcess(['config', '--print', '--config', file('ok.json', { arch: 'arm64', arm64Pending: 'dsb' })]);
    expect(r.status).toBe(0);
    const c = JSON.parse(r.stdout) as { arch: string; arm64Pending: string };
    expect([c.arch, c.arm64Pending]).toEqual(['arm64', 'dsb']);
  });

  it('refuses arm64Pending on x86 and a bad value, one line each, exit 2', async () => {
    for (const content of [{ arm64Pending: 'dsb' }, { arch: 'arm64', arm64Pending: 'nope' }]) {
      const r = await runCliInProcess(['config', '--print', '--config', file('bad.json', content)]);
      expect(r.status, JSON.stringify(content)).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
