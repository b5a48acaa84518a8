/**
 * `--trace FILE`: Chrome trace-event JSON with one track per CPU, every IPI a
 * flow from the send to the handler on each target, flushes with the
 * kernel's reasons, faults, unmap windows, context switches, lazy periods and
 * races; bounded per CPU; seeded traces are identical run to run.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChromeTrace, ChromeTraceEvent } from '../src/output/trace.js';
import { runCliInProcess } from './cliInProcess.js';
import { parseOneJsonObject, runCli } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tlbsim-trace-'));
let n = 0;

interface Traced {
  trace: ChromeTrace;
  result: { counters: Record<string, number>; trace: { events: number; dropped: number; ipi_flows: number; by_kind: Record<string, number> } };
}

async function traced(args: string[]): Promise<Traced> {
  const file = join(dir, `t${n++}.json`);
  const r = await runCli(['run', ...args, '--trace', file, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return { trace: JSON.parse(readFileSync(file, 'utf8')) as ChromeTrace, result: parseOneJsonObject(r.stdout) };
}

/** The `args` of a trace event (instants and slices carry them). */
const argsOf = (e: ChromeTraceEvent): Record<string, unknown> => ('args' in e && e.args ? (e.args as Record<string, unknown>) : {});
const of = (t: ChromeTrace, ph: ChromeTraceEvent['ph'], cat?: string): ChromeTraceEvent[] => t.traceEvents.filter((e) => e.ph === ph && (cat === undefined || ('cat' in e && e.cat === cat)));

describe('a traced run', () => {
  it('parses; one named track per CPU; every IPI send has a flow end on its target; one flow per IPI', async () => {
    // 6 CPUs, 64 pages, batch 16: 4 rounds of 5 IPIs.
    const { trace, result } = await traced(['--cpus', '6', '--pages', '64', '--batch', '16']);
    const names = of(trace, 'M').filter((e) => e.name === 'thread_name');
    expect(names.map((e) => (e.ph === 'M' ? e.args.name : ''))).toEqual(['CPU 0', 'CPU 1', 'CPU 2', 'CPU 3', 'CPU 4', 'CPU 5']);
    const starts = of(trace, 's');
    const ends = of(trace, 'f');
    expect(starts).toHaveLength(20);
    expect(starts).toHaveLength(result.counters.ipis_sent);
    const endById = new Map(ends.map((e) => [(e as { id: string }).id, e]));
    for (const s of starts) {
      const id = (s as { id: string }).id;
      const f = endById.get(id);
      expect(f, `flow ${id}`).toBeDefined();
      expect(f!.tid).toBe(Number(id.split('.')[2])); // ends on the target's track
      expect(s.tid).toBe(0); // kswapd sent it
      expect((f as { ts: number }).ts).toBeGreaterThanOrEqual((s as { ts: number }).ts);
    }
    expect(ends).toHaveLength(starts.length);
    // The handler slices: one per IPI received.
    const handlers = of(trace, 'X', 'ipi').filter((e) => e.name.startsWith('flush IPI from CPU'));
    expect(handlers).toHaveLength(result.counters.nr_tlb_remote_flush_received);
    // Unmap windows on kswapd's track, one per page; faults as slices.
    const windows = of(trace, 'X', 'unmap');
    expect(windows).toHaveLength(64);
    expect(windows.every((w) => w.tid === 0)).toBe(true);
    expect(of(trace, 'X', 'fault')).toHaveLength(result.counters.page_faults);
    expect(result.trace.ipi_flows).toBe(20);
    expect(result.trace.dropped).toBe(0);
  });

  it('flushes carry the kernel reasons; lazy periods and context switches are on the tracks', async () => {
    const { trace, result } = await traced(['--cpus', '6', '--pages', '64', '--batch', '16', '--lazy-cpus', '2']);
    const reasons = new Set(of(trace, 'i', 'flush').map((e) => argsOf(e).reason));
    expect([...reasons].sort()).toEqual(['TLB_FLUSH_ON_TASK_SWITCH', 'TLB_REMOTE_SEND_IPI', 'TLB_REMOTE_SHOOTDOWN']);
    const lazy = of(trace, 'X', 'sched');
    expect(lazy.map((e) => e.tid).sort()).toEqual([4, 5]);
    expect(of(trace, 'i', 'sched')).toHaveLength(result.counters.context_switches);
  });

  it('mprotect flushes locally (TLB_LOCAL_SHOOTDOWN) and remotely', async () => {
    const { trace } = await traced(['--workload', 'mprotect', '--cpus', '3', '--pages', '16', '--sched', 'seeded']);
    const reasons = new Set(of(trace, 'i', 'flush').map((e) => argsOf(e).reason));
    expect(reasons.has('TLB_LOCAL_SHOOTDOWN') || reasons.has('TLB_LOCAL_MM_SHOOTDOWN')).toBe(true);
    expect(reasons.has('TLB_REMOTE_SHOOTDOWN')).toBe(true);
  });

  it('seeded: timestamps are scheduler steps and two runs give the same trace', async () => {
    const args = ['--cpus', '4', '--pages', '32', '--sched', 'seeded', '--ops', '200', '--seed', '9'];
    const a = await traced(args);
    const b = await traced(args);
    expect(a.trace.traceEvents).toEqual(b.trace.traceEvents);
    expect(a.trace.otherData.clock).toMatch(/seeded steps/);
  });

  it('--trace-events N bounds every CPU\'s ring and keeps the flows consistent', async () => {
    const { trace, result } = await traced(['--cpus', '6', '--pages', '64', '--batch', '16', '--trace-events', '10']);
    expect(result.trace.events).toBeLessThanOrEqual(6 * 10);
    expect(result.trace.dropped).toBeGreaterThan(0);
    const ids = new Set(of(trace, 's').map((e) => (e as { id: string }).id));
    const endIds = of(trace, 'f').map((e) => (e as { id: string }).id);
    expect(endIds.length).toBe(ids.size);
    for (const id of endIds) expect(ids.has(id)).toBe(true);
  });
});

describe('stress --trace-first-race', () => {
  it('replays the first racy iteration with tracing: its races are instant events with details', async () => {
    const file = join(dir, 'race.json');
    const r = await runCli(['stress', '--scenario', 'unmap-window', '--iterations', '30', '--trace-first-race', file, '--json', '--no-progress']);
    expect(r.status, r.stderr).toBe(0);
    const s = parseOneJsonObject<{ first_race: { iteration: number; trace: { file: string; by_kind: { race: number } } } }>(r.stdout);
    expect(s.first_race.trace.file).toBe(file);
    const trace = JSON.parse(readFileSync(file, 'utf8')) as ChromeTrace;
    const races = of(trace, 'i', 'race');
    expect(races.length).toBeGreaterThan(0);
    expect(races).toHaveLength(s.first_race.trace.by_kind.race);
    expect(argsOf(races[0]).kind).toBe('lost_write');
    expect(trace.otherData.iteration).toBe(s.first_race.iteration);
  });
});

describe('--log-level trace', () => {
  it('logs every flush with its CPU and the kernel reason', async () => {
    const log = join(dir, 'log.jsonl');
    const r = await runCli(['run', '--cpus', '4', '--pages', '32', '--log-level', 'trace', '--log-file', log, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const flushes = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; cpu?: number; reason?: string })
      .filter((l) => l.msg === 'tlb flush');
    expect(flushes.length).toBeGreaterThan(0);
    expect(flushes.every((f) => typeof f.cpu === 'number' && /^TLB_/.test(f.reason ?? ''))).toBe(true);
  });

  it('--trace-events without --trace is refused', async () => {
    const r = await runCliInProcess(['run', '--trace-events', '100']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--trace-events needs --trace FILE/);
  });
});
