/**
 * Workload `toy`: every CPU makes `--ops` stores to its own page and nothing
 * else: no reclaim, no IPIs, no waits. It exists so the explorer's schedule
 * counts can be checked by hand (test/explorer.test.ts): each CPU yields
 * once before each store (`tick`) and once when it retires, and no yield
 * ever blocks.
 *
 * Invariant: CPU c touches only page c mod `--pages`, so the CPUs never
 * interact and every schedule is race-free.
 */
import type { Workload } from './types.js';

export const toyWorkload: Workload = {
  name: 'toy',
  summary: "each CPU stores --ops times to its own page, nothing else (the explorer's hand-countable scenario)",
  initiators: () => [],
  maxLazyCpus: () => 0,
  run(cpu) {
    const mm = 0;
    cpu.switchMm(mm);
    const page = cpu.id % cpu.config.pages;
    for (let i = 0; i < cpu.config.ops; i++) {
      cpu.tick();
      cpu.store(mm, page);
    }
  },
};
