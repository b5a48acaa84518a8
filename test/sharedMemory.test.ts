/**
 * The shared-memory estimate checked before boot (`sharedMemoryBytes`, the
 * `--cpus`/`--pages` limit) is the bytes the machine then allocates, for
 * every shape of machine: x86 and arm64 (TLBI rings), seeded (schedule
 * buffer) and free, several CPUs, pages and mms.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig, sharedMemoryBytes, type SimConfig } from '../src/config/config.js';
import { allocateMachine } from '../src/engine/state/machineViews.js';

function allocatedBytes(c: SimConfig): number {
  return Object.values(allocateMachine(c)).reduce((sum, b) => sum + b.byteLength, 0);
}

const SHAPES: Partial<SimConfig>[] = [
  { cpus: 2, pages: 8 },
  { cpus: 4, pages: 64, mms: 2 },
  { cpus: 33, pages: 600, mms: 3, tlbSets: 16, tlbWays: 4 },
  { cpus: 4, pages: 16, sched: 'seeded' },
  { cpus: 12, pages: 16, sched: 'seeded' },
  { arch: 'arm64', cpus: 2, pages: 8 },
  { arch: 'arm64', cpus: 5, pages: 32, mms: 2, sched: 'seeded' },
  { arch: 'arm64', cpus: 40, pages: 100 },
];

describe('sharedMemoryBytes', () => {
  for (const shape of SHAPES) {
    it(`equals the bytes allocated for ${JSON.stringify(shape)}`, () => {
      const c = resolveConfig(shape);
      expect(sharedMemoryBytes(c)).toBe(allocatedBytes(c));
    });
  }

  it('counts the arm64 TLBI rings', () => {
    // arch/arm64 broadcast TLBIs (src/kernel/arm64Tlbi.ts): per CPU a pending and an outstanding word,
    // and one ring per (issuer, target) pair of 2 index words + 32 entries x 4 words.
    // x86 allocates the one-word placeholder instead. So arm64 - x86 = 4 * (2n + n^2 * 130) - 4 bytes.
    for (const cpus of [2, 5, 40]) {
      const shape = { cpus, pages: 32 };
      const x86 = sharedMemoryBytes(resolveConfig(shape));
      const arm64 = sharedMemoryBytes(resolveConfig({ ...shape, arch: 'arm64' }));
      expect(arm64 - x86).toBe(4 * (2 * cpus + cpus * cpus * 130) - 4);
    }
  });
});
