/**
 * The comparison of `tlbsim validate --mechanisms` (src/scenarios/mechanisms.ts), on a
 * small machine: the same workloads for every mechanism, exact counts of what
 * each did, zero interrupts on targets for INVLPGB and RAR, zero races, and
 * the published figures beside the computed ones.
 */
import { describe, expect, it } from 'vitest';
import { formatMechanismComparison, runMechanismComparison, type MechanismComparison } from '../src/scenarios/mechanisms.js';
import { COMPARED_MECHANISMS } from '../src/scenarios/mechanismPresets.js';
import { runCliInProcess } from './cliInProcess.js';
import { COST_MODEL_DEFAULTS } from '../src/output/costModel.js';

describe('mechanism comparison', () => {
  let c: MechanismComparison;
  const N = 8;

  it(
    'runs every mechanism on reclaim and tlb-flush and finds no race',
    async () => {
      c = await runMechanismComparison({ cpus: [N], stressIterations: 30 });
      expect(c.points).toHaveLength(2 * COMPARED_MECHANISMS.length);
      for (const p of c.points) expect(p.status, `${p.mechanism} ${p.workload}`).toBe('ok');
      expect(c.stress.map((s) => s.mechanism)).toEqual(COMPARED_MECHANISMS.map((m) => m.name));
      for (const s of c.stress) expect(s.iterations).toBe(30);
      expect(c.safe).toBe(true);
    },
    180_000,
  );

  it('exact counts: reclaim of 256 pages in batches of 32, half read-only; tlb-flush of 20 ops per CPU', () => {
    const at = (m: string, w: string) => c.points.find((p) => p.mechanism === m && p.workload === w)!;
    expect(at('batched', 'reclaim').ipis_sent).toBe(8 * (N - 1));
    expect(at('batched', 'reclaim').interrupts).toBe(8 * (N - 1));
    // The tree: groups {1-7}: the initiator sends 1 IPI per round instead of 7; the same 7 interrupts.
    expect(at('batched (tree)', 'reclaim').interrupts).toBe(8 * (N - 1));
    expect(at('batched (tree)', 'reclaim').ipis_by_initiators).toBe(8);
    // One group: the tree only adds the forwarding CPU's interrupt to the round (it pays off with several groups).
    expect(at('batched (tree)', 'reclaim').round_latency_cycles - at('batched', 'reclaim').round_latency_cycles).toBe(COST_MODEL_DEFAULTS.irq_entry);
    expect(at('invlpgb', 'reclaim').invlpgb_sent).toBe(8);
    expect(at('invlpgb', 'reclaim').interrupts).toBe(0);
    expect(at('rar', 'reclaim').rar_sent).toBe(8);
    expect(at('rar', 'reclaim').interrupts).toBe(0);
    expect(at('context-reset', 'reclaim').context_resets).toBe(8 * (N - 1));
    expect(at('luf', 'reclaim').luf_deferred).toBe(128);
    // tlb-flush, invlpgb (Linux 6.15): the mm's flushes are IPI rounds until it has a global ASID; consider_global_asid
    // looks at the 32nd IPI-path flush (GLOBAL_ASID_CHECK_EVERY), 8 CPUs run the mm (> 3): a global ASID, whose first
    // allocation in the run costs one invlpgb_flush_all_nonglobals. Flushes already past their mm_global_asid() check
    // then still go by IPI (up to N - 1 in flight, in free mode), and the first broadcast's finish_asid_transition
    // sends one more round. So at least 32 of the 160 madvise flushes are IPI rounds, at most 128 are broadcasts.
    const inv = at('invlpgb', 'tlb-flush');
    expect(inv.invlpgb_sent).toBeGreaterThan(1);
    expect(inv.invlpgb_sent).toBeLessThanOrEqual(20 * N - 32 + 1);
    expect(inv.interrupts).toBeGreaterThanOrEqual(32 * (N - 1));
    expect(inv.interrupts).toBeLessThan(at('batched', 'tlb-flush').interrupts);
    // tlb-flush, rar (the RAR series, v3 7/7): the same global-ASID rule as invlpgb: IPI rounds until consider_global_asid
    // gives the mm a global ASID at the 32nd IPI-path flush (its reset_global_asid_space is flush_tlb_all: one RAR), then
    // one RAR per flush to mm_cpumask (a flush that finds should_trim_cpumask due still goes by IPI). So at most
    // 1 + (20N - 32) RAR actions, and at least 32 rounds of N - 1 interrupts.
    const rar = at('rar', 'tlb-flush');
    expect(rar.rar_sent).toBeGreaterThan(1);
    expect(rar.rar_sent).toBeLessThanOrEqual(1 + 20 * N - 32);
    expect(rar.interrupts).toBeGreaterThanOrEqual(32 * (N - 1));
    expect(rar.interrupts).toBeLessThan(at('batched', 'tlb-flush').interrupts);
    expect(at('batched', 'tlb-flush').interrupts).toBe(20 * N * (N - 1));
    for (const p of c.points) expect(p.races).toBe(0);
    // No-interrupt mechanisms spend fewer modeled cycles per page than IPIs on tlb-flush.
    expect(at('invlpgb', 'tlb-flush').cycles_per_page!).toBeLessThan(at('batched', 'tlb-flush').cycles_per_page!);
    expect(at('rar', 'tlb-flush').cycles_per_page!).toBeLessThan(at('batched', 'tlb-flush').cycles_per_page!);
  });

  it('sets the published LUF and INVLPGB figures beside the computed ones, and prints a table', () => {
    const refs = new Map(c.references.map((r) => [r.mechanism, r]));
    expect(refs.get('luf')!.reference).toMatch(/97%/);
    expect(refs.get('luf')!.simulated).toMatch(/interrupts \(-?\d+(\.\d)?% fewer\)/);
    expect(refs.get('invlpgb')!.reference).toMatch(/40% -> ~4%/);
    expect(refs.get('invlpgb')!.simulated).toMatch(/interrupts [\d,]+ -> [\d,]+/);
    const text = formatMechanismComparison(c);
    expect(text).toMatch(/^tlbsim validate --mechanisms: 12 points, 6 stress campaigns, no race found/);
    expect(text).toMatch(/reclaim\s+8\s+invlpgb\s+0\s+0\s+-\s+8/);
  });

  it('--mechanisms-cpus rejects a bad size with one line, exit 2', async () => {
    const r = await runCliInProcess(['validate', '--mechanisms-cpus', '1']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--mechanisms-cpus takes CPU counts from 2/);
  });
});
