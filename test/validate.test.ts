/**
 * `tlbsim validate` (src/campaigns/validate.ts): the fixed points run, every shape of
 * the issue has its row with a reference, a simulated figure and a verdict,
 * the exact shapes pass with the numbers the arithmetic gives, rows that
 * disagree with a reference say by how much, and no shape fails (exit 0).
 */
import { describe, expect, it } from 'vitest';
import { COST_MODEL_DEFAULTS } from '../src/output/costModel.js';
import type { ValidateResult } from '../src/campaigns/validate.js';
import { parseOneJsonObject, runCli } from './helpers.js';

describe('tlbsim validate', () => {
  let v: ValidateResult;

  it('runs its points and no shape fails', async () => {
    const r = await runCli(['validate', '--json'], 300_000);
    expect(r.status, r.stderr).toBe(0);
    v = parseOneJsonObject<ValidateResult>(r.stdout);
    expect(v.failed).toBe(0);
    expect(v.points).toBe(20);
    expect(v.rows.map((row) => row.shape)).toEqual([
      'IPIs per shootdown = targets, linear in CPUs',
      'batching divides IPI rounds by up to the batch size',
      'modeled shootdown latency affine in targets',
      'a full flush wins above the ceiling (33 pages)',
      'per-page vs batched reclaim at 48 CPUs: fewer interrupts, less reclaim time',
      'Linux unmap cost grows linearly from 2 to 32 cores',
    ]);
    for (const row of v.rows) {
      expect(['pass', 'differs']).toContain(row.verdict);
      expect(row.reference.length).toBeGreaterThan(10);
      expect(row.simulated.length).toBeGreaterThan(10);
    }
  });

  it('exact shapes: IPIs linear in CPUs (r² 1), rounds = ceil(P/B)', () => {
    expect(v.rows[0].verdict).toBe('pass');
    expect(v.rows[0].figures.slope_ipis_per_cpu).toBeCloseTo(32, 9); // P = 32 pages: 32 IPIs per added CPU
    expect(v.rows[0].figures.r2).toBeCloseTo(1, 9);
    expect(v.rows[1].verdict).toBe('pass');
    expect(v.rows[1].figures).toEqual({ rounds_b1: 64, rounds_b8: 8, rounds_b32: 2 });
  });

  it('latency fit: slope = ipi_send_per_target, intercept = the rest of a full-flush round, r² 1', () => {
    const d = COST_MODEL_DEFAULTS;
    const f = v.rows[2].figures;
    expect(f.slope_cycles).toBeCloseTo(d.ipi_send_per_target, 6);
    // Per-page reclaim rounds invalidate one page each.
    expect(f.intercept_cycles).toBeCloseTo(d.ipi_send_base + d.irq_entry + d.flush_handler + d.invlpg, 6);
    expect(f.r2).toBeCloseTo(1, 9);
  });

  it('rows that disagree with their reference say by how much', () => {
    for (const row of v.rows.filter((r) => r.verdict === 'differs')) expect(row.note).toMatch(/\d(\.\d+)?x/);
    // Gorman at 48 CPUs: full batches of 32 on busy CPUs cut interrupts exactly 32x (the reference saw 5x).
    expect(v.rows[4].figures.interrupt_ratio).toBe(32);
    expect(v.rows[4].verdict).toBe('differs');
  });
});
