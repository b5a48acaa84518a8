/**
 * `--ipi-fanout serial|tree` (src/kernel/transports/ipi.ts multicastGroups, src/engine/ipi.ts,
 * src/engine/hwInval.ts forward): serial sends one message per target from the
 * initiator (Linux's smp_call_function_many); the tree, in the spirit of
 * Barrelfish's NUMA-aware multicast, sends one per group of `--ipi-group`
 * consecutive CPUs, to the group's first target, which forwards it to the
 * others. Exact counts of both, host latency measured for both, modeled
 * latency by the formula, no race.
 */
import { describe, expect, it } from 'vitest';
import { simulate } from '../src/api.js';
import { resolveConfig, type SimConfig } from '../src/config/config.js';
import { COST_MODEL_DEFAULTS, roundCycles } from '../src/output/costModel.js';
import { multicastGroups, x2apicClusters } from '../src/kernel/transports/ipi.js';
import { NO_RACES } from './helpers.js';

const TIMEOUT = 60_000;

function cfg(over: Partial<SimConfig>): SimConfig {
  return resolveConfig({ workload: 'reclaim', protocol: 'per-page', arch: 'x86', pages: 24, ops: 300, tlbSets: 16, tlbWays: 4, ...over });
}

describe('multicast groups', () => {
  it('groups targets by consecutive CPU ids, the lowest target of each group first', () => {
    expect(multicastGroups([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 8)).toEqual([
      [1, 2, 3, 4, 5, 6, 7],
      [8, 9, 10, 11, 12, 13, 14, 15],
      [16, 17, 18, 19],
    ]);
    expect(multicastGroups([9, 3, 17], 8)).toEqual([[3], [9], [17]]);
    expect(multicastGroups([5, 6], 1)).toEqual([[5], [6]]);
  });
});

describe('x2APIC cluster mode (--ipi-fanout cluster)', () => {
  it('counts one ICR write per 16-CPU cluster that holds a target', () => {
    expect(x2apicClusters([1, 2, 15])).toBe(1);
    expect(x2apicClusters([15, 16])).toBe(2);
    expect(x2apicClusters([1, 17, 33, 34, 47])).toBe(3);
    expect(x2apicClusters([])).toBe(0);
  });

  it('per-page reclaim of 24 pages on 40 CPUs: 24 x 39 interrupts, but 24 x 3 ICR writes (clusters 0-15, 16-31, 32-39)', async () => {
    // __x2apic_send_IPI_mask: the 39 targets 1..39 fall in clusters 0 (1-15), 1 (16-31) and 2 (32-39): 3 ICR writes
    // per round; every target still takes its interrupt (nr_tlb_remote_flush_received). serial (xAPIC/physical): 39.
    const P = 24;
    const cluster = await simulate(cfg({ cpus: 40, sched: 'seeded', ipiFanout: 'cluster' }));
    const serial = await simulate(cfg({ cpus: 40, sched: 'seeded', ipiFanout: 'serial' }));
    for (const r of [cluster, serial]) {
      expect(r.status, JSON.stringify(r.failure)).toBe('ok');
      expect(r.races).toEqual(NO_RACES);
      expect(r.counters.ipis_sent).toBe(P * 39);
      expect(r.counters.nr_tlb_remote_flush_received).toBe(P * 39);
      expect(r.counters.ipis_forwarded).toBe(0);
    }
    expect(cluster.per_cpu[0].apic_icr_writes).toBe(P * 3);
    expect(serial.per_cpu[0].apic_icr_writes).toBe(P * 39);
    // Modeled: the initiator pays 3 sends, and the targets' interrupts overlap.
    const m = COST_MODEL_DEFAULTS;
    expect(cluster.modeled.shootdown_latency_cycles.median).toBe(m.ipi_send_base + 3 * m.ipi_send_per_target + m.irq_entry + m.flush_handler + m.invlpg);
    expect(serial.modeled.shootdown_latency_cycles.median).toBe(roundCycles(m, { targets: 39, pages: 1 }));
  }, TIMEOUT);
});

describe('IPI fan-out: exact counts', () => {
  const N = 20;
  const P = 24;
  for (const sched of ['free', 'seeded'] as const) {
    it(
      `per-page reclaim of ${P} pages on ${N} CPUs, serial vs tree (groups of 8: 7 + 8 + 4 targets) (${sched})`,
      async () => {
        const serial = await simulate(cfg({ cpus: N, sched, ipiFanout: 'serial' }));
        const tree = await simulate(cfg({ cpus: N, sched, ipiFanout: 'tree', ipiGroup: 8 }));
        for (const r of [serial, tree]) {
          expect(r.status, JSON.stringify(r.failure)).toBe('ok');
          expect(r.counters.nr_tlb_remote_flush).toBe(P);
          // Every target takes exactly one interrupt per round either way, and the IPI total is the same.
          expect(r.counters.nr_tlb_remote_flush_received).toBe(P * (N - 1));
          expect(r.counters.ipis_sent).toBe(P * (N - 1));
          for (let c = 1; c < N; c++) expect(r.per_cpu[c].nr_tlb_remote_flush_received).toBe(P);
          expect(r.races).toEqual(NO_RACES);
          expect(r.host.ipi_round_latency_us.rounds).toBe(P);
          expect(r.host.ipi_round_latency_us.median).toBeGreaterThan(0);
        }
        // Serial: the initiator sends every IPI. Tree: 3 per round from the initiator, the rest forwarded by CPUs 1, 8 and 16.
        expect(serial.per_cpu[0].ipis_sent).toBe(P * (N - 1));
        expect(serial.counters.ipis_forwarded).toBe(0);
        expect(tree.per_cpu[0].ipis_sent).toBe(P * 3);
        expect(tree.counters.ipis_forwarded).toBe(P * (6 + 7 + 3));
        expect(tree.per_cpu[1].ipis_forwarded).toBe(P * 6);
        expect(tree.per_cpu[8].ipis_forwarded).toBe(P * 7);
        expect(tree.per_cpu[16].ipis_forwarded).toBe(P * 3);
        expect(tree.per_cpu[2].ipis_forwarded).toBe(0);
        // Modeled latency: serial pays 19 serial sends, the tree 3 plus the largest group's 7 forwards and one more interrupt.
        const m = COST_MODEL_DEFAULTS;
        expect(serial.modeled.shootdown_latency_cycles.median).toBe(roundCycles(m, { targets: N - 1, pages: 1 }));
        expect(tree.modeled.shootdown_latency_cycles.median).toBe(
          m.ipi_send_base + 3 * m.ipi_send_per_target + m.irq_entry + 7 * m.ipi_send_per_target + m.irq_entry + m.flush_handler + m.invlpg,
        );
        expect(tree.modeled.shootdown_latency_cycles.median).toBeLessThan(serial.modeled.shootdown_latency_cycles.median);
        expect(tree.modeled.events.ipi_forward.count).toBe(P * 16);
      },
      TIMEOUT,
    );
  }

  it(
    'batched reclaim and tlb-flush run with the tree too: same totals, fewer sends from each initiator',
    async () => {
      const b = await simulate(cfg({ cpus: 12, pages: 64, batch: 32, protocol: 'batched', ipiFanout: 'tree', ipiGroup: 4, sched: 'seeded' }));
      expect(b.status).toBe('ok');
      expect(b.counters.ipis_sent).toBe(2 * 11);
      expect(b.per_cpu[0].ipis_sent).toBe(2 * 3); // groups {1-3}, {4-7}, {8-11}
      expect(b.races).toEqual(NO_RACES);
      const t = await simulate(resolveConfig({ workload: 'tlb-flush', cpus: 8, pages: 64, ops: 10, ipiFanout: 'tree', ipiGroup: 4, sched: 'seeded' }));
      expect(t.status).toBe('ok');
      expect(t.counters.ipis_sent).toBe(10 * 8 * 7);
      expect(t.counters.nr_tlb_remote_flush_received).toBe(10 * 8 * 7);
      expect(t.races).toEqual(NO_RACES);
    },
    TIMEOUT,
  );
});
