/**
 * Oracle definitions added with the fidelity work: accesses after
 * munmap/madvise (loads count too, refaults do not), the frame-drop check
 * ordered after the generation bump, and the mprotect scenario's storing
 * third CPU (the remote half of flushTlbBatchedPending).
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/config.js';
import { Machine } from '../src/engine/coordinator.js';
import { frameCount, wordsPerPage } from '../src/engine/layout.js';
import { PhysicalMemory } from '../src/engine/memory.js';
import type { RaceReport } from '../src/engine/oracle.js';
import { runStress, scenarioConfig } from '../src/campaigns/stress.js';
import { NO_RACES } from './helpers.js';
import { allocateMachine, viewMachine } from '../src/engine/state/machineViews.js';

async function reportsOver(overrides: Parameters<typeof scenarioConfig>[1], seeds: number): Promise<RaceReport[]> {
  const m = await Machine.boot(scenarioConfig('mprotect', overrides));
  const out: RaceReport[] = [];
  try {
    for (let seed = 1; seed <= seeds; seed++) out.push(...(await m.run(seed)).race_reports);
  } finally {
    await m.shutdown();
  }
  return out;
}

describe('access after unmap', () => {
  it('after madvise(MADV_DONTNEED) without the pending flush, loads through stale entries are caught as well as stores', async () => {
    const reports = await reportsOver({ syscall: 'madvise', batchedPendingFlush: false }, 400);
    const aau = reports.filter((r) => r.kind === 'access_after_unmap');
    expect(aau.length).toBeGreaterThan(0);
    expect(aau.some((r) => r.op === 'load')).toBe(true);
    expect(reports.some((r) => r.kind === 'write_after_protect')).toBe(false);
  });

  it('after munmap the same stores are accesses after unmap, not writes after protect', async () => {
    const reports = await reportsOver({ syscall: 'munmap', batchedPendingFlush: false }, 400);
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.every((r) => r.kind === 'access_after_unmap')).toBe(true);
  });

  it('refaults after MADV_DONTNEED are legitimate: with the pending flush, CPUs refault the pages and nothing is reported', async () => {
    const s = await runStress({ scenario: 'mprotect', overrides: { syscall: 'madvise' }, iterations: 200, seed: 1, stopOnRace: false, threads: 1 });
    expect(s.races).toEqual(NO_RACES);
    // Every page is touched again after the call: CPU 1 stores to all 8 after madvise returned.
    expect(s.counters.page_faults).toBeGreaterThanOrEqual(200 * 8);
  });
});

describe('the frame-drop check and the free', () => {
  it('run between the generation bump and the return of the frame to the pool', () => {
    const c = resolveConfig({ cpus: 2, pages: 4 });
    const v = viewMachine(allocateMachine(c));
    const geo = { pages: c.pages, frames: frameCount(c.pages), wordsPerPage: wordsPerPage(c) };
    PhysicalMemory.init(v, geo);
    const mem = new PhysicalMemory(v, geo, true);
    const f = mem.allocFrame(1);
    const before = mem.gen(f);
    const topBefore = mem.freeFrameCount();
    let seen: { gen: number; top: number; pooled: boolean } | null = null;
    mem.freeFrame(f, () => {
      seen = { gen: mem.gen(f), top: mem.freeFrameCount(), pooled: mem.freeFrameAt(mem.freeFrameCount() - 1) === f };
    });
    // Inside the check: every old TLB entry is already stale, and nobody can allocate the frame yet.
    expect(seen).toEqual({ gen: before + 1, top: topBefore, pooled: false });
    expect(mem.freeFrameCount()).toBe(topBefore + 1);
    expect(mem.freeFrameAt(topBefore)).toBe(f);
  });
});

describe('the mprotect scenario has a third, storing CPU', () => {
  it('CPU 2 stores throughout; without the pending flush some write after protect is CPU 2 through an entry nobody flushed', async () => {
    const cfg = scenarioConfig('mprotect', {});
    expect(cfg.cpus).toBe(3);
    const reports = await reportsOver({ batchedPendingFlush: false }, 200);
    expect(reports.some((r) => r.kind === 'write_after_protect' && r.cpu === 2)).toBe(true);
  });

  it('with the pending flush, its flush reaches CPU 2 (the caller sends IPIs) and no race remains', async () => {
    const m = await Machine.boot(scenarioConfig('mprotect', {}));
    try {
      let callerIpis = 0;
      let cpu2Stores = 0;
      for (let seed = 1; seed <= 100; seed++) {
        const r = await m.run(seed);
        expect(r.races).toEqual(NO_RACES);
        callerIpis += r.per_cpu[1].ipis_sent;
        cpu2Stores += r.per_cpu[2].stores;
      }
      expect(callerIpis).toBeGreaterThan(0);
      expect(cpu2Stores).toBeGreaterThan(0);
    } finally {
      await m.shutdown();
    }
  });
});
