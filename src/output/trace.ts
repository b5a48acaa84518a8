/**
 * Traces: what each simulated CPU did and when, as Chrome trace-event JSON
 * (opens in Perfetto UI and chrome://tracing).
 *
 * Invariants:
 * - Each CPU records only its own events, into its own bounded ring
 *   (`--trace-events N`, the last N kept), in its own worker; nothing is
 *   shared while the run goes on. The coordinator collects the rings after
 *   the run and builds the file.
 * - Timestamps are host microseconds since the run began in free mode (every
 *   worker measures against the same epoch, passed at run start), and the
 *   seeded scheduler's step count in seeded mode (one step shown as one
 *   microsecond), so a seeded trace is identical on every host.
 * - Recording is off unless `traceEvents > 0`; then each event is one small
 *   object pushed on the slow paths (IPIs, flushes, faults, switches), never
 *   per TLB hit.
 * - In the file, every IPI send has a flow start ("s") on the sender and a
 *   flow end ("f", same id) on each target whose handler slice was kept: a
 *   flow whose other end fell out of a ring is dropped whole.
 */
import type { SimConfig } from '../config/config.js';
import { writeFileAtomic } from './atomicWrite.js';

/** The kernel's reasons for a TLB flush (trace_tlb_flush, include/linux/mm_types.h enum tlb_flush_reason). */
type TlbFlushReason = 'TLB_FLUSH_ON_TASK_SWITCH' | 'TLB_REMOTE_SHOOTDOWN' | 'TLB_LOCAL_SHOOTDOWN' | 'TLB_LOCAL_MM_SHOOTDOWN' | 'TLB_REMOTE_SEND_IPI';

/** One recorded event. `ts` and `dur` are in trace clock units (see the header). */
export type TraceEvent =
  | { k: 'ipi_send'; ts: number; dur: number; round: number; targets: number[]; full: boolean; pages: number }
  | { k: 'ipi_handle'; ts: number; dur: number; sender: number; round: number }
  | { k: 'flush'; ts: number; reason: TlbFlushReason; full: boolean; pages: number; mm: number }
  | { k: 'fault'; ts: number; dur: number; mm: number; page: number; write: boolean }
  | { k: 'unmap_window'; ts: number; dur: number; mm: number; page: number }
  | { k: 'switch_mm'; ts: number; from: number; to: number; flushed: boolean }
  | { k: 'lazy'; ts: number; dur: number }
  | { k: 'race'; ts: number; kind: string; page: number; value: number; frame: number; op: string }
  /** An INVLPGB broadcast + TLBSYNC, or a RAR action and its completion wait (src/engine/hwInval.ts). */
  | { k: 'hw_send'; ts: number; dur: number; via: string; targets: number; full: boolean; pages: number }
  /** This CPU's hardware applied an INVLPGB/RAR invalidation (no interrupt). */
  | { k: 'hw_apply'; ts: number; via: string; sender: number; full: boolean; pages: number };

/**
 * Events a CPU keeps by default. Measured: ~120 bytes of JSON per trace
 * entry, and an event is at most two entries (a handler slice and its flow
 * end, or a send and its flow starts); 256 CPUs x 1500 x 2 x 120 B = 92 MB,
 * under the 100 MB a 256-CPU trace may take.
 */
export const TRACE_EVENTS_DEFAULT = 1500;

/** A bounded ring of one CPU's events: the last `capacity` kept, in order. */
export class TraceRing {
  private readonly buf: TraceEvent[] = [];
  private next = 0;
  /** Events pushed out of the ring. */
  dropped = 0;

  constructor(readonly capacity: number) {}

  push(e: TraceEvent): void {
    if (this.buf.length < this.capacity) {
      this.buf.push(e);
      return;
    }
    this.buf[this.next] = e;
    this.next = (this.next + 1) % this.capacity;
    this.dropped++;
  }

  /** The kept events, oldest first. */
  events(): TraceEvent[] {
    return this.buf.length < this.capacity ? [...this.buf] : [...this.buf.slice(this.next), ...this.buf.slice(0, this.next)];
  }

  clear(): void {
    this.buf.length = 0;
    this.next = 0;
    this.dropped = 0;
  }
}

/** The trace clock of one CPU worker (see the header). */
export class TraceClock {
  private epochMs = 0;
  constructor(
    private readonly seeded: boolean,
    /** Seeded mode: the scheduler's step count (the replayable clock). */
    private readonly seededSteps: () => number,
  ) {}

  /** Start of the run, as `performance.timeOrigin + performance.now()` on the coordinator. */
  start(epochMs: number): void {
    this.epochMs = epochMs;
  }

  now(): number {
    if (this.seeded) return this.seededSteps();
    return Math.round((performance.timeOrigin + performance.now() - this.epochMs) * 1000 * 10) / 10;
  }
}

/** One CPU's ring as the coordinator receives it. */
export interface CpuTrace {
  cpu: number;
  events: TraceEvent[];
  dropped: number;
}

/** Chrome trace-event format: the events this writer emits. */
export type ChromeTraceEvent =
  | { ph: 'M'; name: 'process_name' | 'thread_name' | 'thread_sort_index'; pid: number; tid: number; args: Record<string, string | number> }
  | { ph: 'X'; name: string; cat: string; pid: number; tid: number; ts: number; dur: number; args?: Record<string, unknown> }
  | { ph: 'i'; name: string; cat: string; pid: number; tid: number; ts: number; s: 't' | 'p' | 'g'; args?: Record<string, unknown> }
  | { ph: 's' | 'f'; name: string; cat: string; pid: number; tid: number; ts: number; id: string; bp?: 'e' };

export interface ChromeTrace {
  traceEvents: ChromeTraceEvent[];
  displayTimeUnit: 'ms' | 'ns';
  otherData: Record<string, unknown>;
}

/** Counts of what a trace holds (the result's `trace_summary`). */
export interface TraceSummary {
  clock: 'host_us' | 'seeded_steps';
  cpus: number;
  events: number;
  dropped: number;
  ipi_flows: number;
  by_kind: Record<TraceEvent['k'], number>;
}

const PID = 1;

function flowId(sender: number, round: number, target: number): string {
  return `${sender}.${round}.${target}`;
}

/** Build the Chrome trace of a run from every CPU's ring. */
export function toChromeTrace(traces: readonly CpuTrace[], config: SimConfig, extra: Record<string, unknown> = {}): ChromeTrace {
  const out: ChromeTraceEvent[] = [{ ph: 'M', name: 'process_name', pid: PID, tid: 0, args: { name: `tlbsim: ${config.workload}, ${config.cpus} CPUs, ${config.protocol}` } }];
  for (const t of traces) {
    out.push({ ph: 'M', name: 'thread_name', pid: PID, tid: t.cpu, args: { name: `CPU ${t.cpu}` } });
    out.push({ ph: 'M', name: 'thread_sort_index', pid: PID, tid: t.cpu, args: { sort_index: t.cpu } });
  }
  // Handler slices kept, by flow id: only their flows are drawn.
  const handled = new Map<string, number>();
  for (const t of traces) for (const e of t.events) if (e.k === 'ipi_handle') handled.set(flowId(e.sender, e.round, t.cpu), e.ts);
  const sent = new Set<string>();
  for (const t of traces) {
    const tid = t.cpu;
    for (const e of t.events) {
      switch (e.k) {
        case 'ipi_send': {
          out.push({ ph: 'X', name: 'smp_call_function_many', cat: 'ipi', pid: PID, tid, ts: e.ts, dur: e.dur, args: { round: e.round, targets: e.targets.length, flush: e.full ? 'full' : `${e.pages} pages` } });
          for (const target of e.targets) {
            const id = flowId(tid, e.round, target);
            if (!handled.has(id)) continue;
            sent.add(id);
            out.push({ ph: 's', name: 'IPI', cat: 'ipi', pid: PID, tid, ts: e.ts, id });
          }
          break;
        }
        case 'ipi_handle':
          out.push({ ph: 'X', name: `flush IPI from CPU ${e.sender}`, cat: 'ipi', pid: PID, tid, ts: e.ts, dur: e.dur, args: { sender: e.sender, round: e.round } });
          break;
        case 'flush':
          out.push({ ph: 'i', s: 't', name: e.full ? 'flush (full)' : `flush (${e.pages} pages)`, cat: 'flush', pid: PID, tid, ts: e.ts, args: { reason: e.reason, mm: e.mm, full: e.full, pages: e.pages } });
          break;
        case 'fault':
          out.push({ ph: 'X', name: e.write ? 'page fault (write)' : 'page fault (read)', cat: 'fault', pid: PID, tid, ts: e.ts, dur: e.dur, args: { mm: e.mm, page: e.page } });
          break;
        case 'unmap_window':
          out.push({ ph: 'X', name: `unmap window, page ${e.page}`, cat: 'unmap', pid: PID, tid, ts: e.ts, dur: e.dur, args: { mm: e.mm, page: e.page } });
          break;
        case 'switch_mm':
          out.push({ ph: 'i', s: 't', name: `switch_mm ${e.from} -> ${e.to}`, cat: 'sched', pid: PID, tid, ts: e.ts, args: { from: e.from, to: e.to, asid_flush: e.flushed } });
          break;
        case 'lazy':
          out.push({ ph: 'X', name: 'lazy TLB (kernel thread)', cat: 'sched', pid: PID, tid, ts: e.ts, dur: e.dur });
          break;
        case 'hw_send':
          out.push({ ph: 'X', name: e.via === 'invlpgb' ? 'INVLPGB + TLBSYNC' : e.via === 'tlbi' ? 'TLBI IS (no DSB)' : e.via === 'dsb' ? 'DSB ISH (waits for this CPU\'s TLBIs)' : 'RAR + wait', cat: 'hw', pid: PID, tid, ts: e.ts, dur: e.dur, args: { targets: e.targets, flush: e.full ? 'full' : `${e.pages} pages` } });
          break;
        case 'hw_apply':
          out.push({ ph: 'i', s: 't', name: `${e.via} applied (from CPU ${e.sender})`, cat: 'hw', pid: PID, tid, ts: e.ts, args: { sender: e.sender, flush: e.full ? 'full' : `${e.pages} pages` } });
          break;
        case 'race':
          out.push({ ph: 'i', s: 'g', name: `race: ${e.kind}`, cat: 'race', pid: PID, tid, ts: e.ts, args: { kind: e.kind, page: e.page, value: e.value, frame: e.frame, op: e.op } });
          break;
      }
    }
  }
  // Flow ends, bound to the enclosing handler slice on the target.
  for (const [id, ts] of handled) {
    if (!sent.has(id)) continue;
    const target = Number(id.split('.')[2]);
    out.push({ ph: 'f', bp: 'e', name: 'IPI', cat: 'ipi', pid: PID, tid: target, ts, id });
  }
  return { traceEvents: out, displayTimeUnit: 'ms', otherData: { generator: 'tlbsim', clock: config.sched === 'seeded' ? 'seeded steps (1 step = 1 us)' : 'host microseconds since the run began', config, ...extra } };
}

/** What a trace holds, for the result. */
function summarizeTrace(traces: readonly CpuTrace[], config: SimConfig, chrome?: ChromeTrace): TraceSummary {
  const byKind: Record<TraceEvent['k'], number> = { ipi_send: 0, ipi_handle: 0, flush: 0, fault: 0, unmap_window: 0, switch_mm: 0, lazy: 0, race: 0, hw_send: 0, hw_apply: 0 };
  let events = 0;
  let dropped = 0;
  for (const t of traces) {
    dropped += t.dropped;
    for (const e of t.events) {
      byKind[e.k]++;
      events++;
    }
  }
  const flows = chrome ? chrome.traceEvents.filter((e) => e.ph === 's').length : 0;
  return { clock: config.sched === 'seeded' ? 'seeded_steps' : 'host_us', cpus: traces.length, events, dropped, ipi_flows: flows, by_kind: byKind };
}

/**
 * Write a run's trace as Chrome trace-event JSON (atomically). Returns its summary.
 * @param traces every CPU's ring (Machine.lastTrace after a traced run).
 */
export function writeTrace(file: string, traces: readonly CpuTrace[], config: SimConfig, extra: Record<string, unknown> = {}): TraceSummary {
  const chrome = toChromeTrace(traces, config, extra);
  writeFileAtomic(file, JSON.stringify(chrome));
  return summarizeTrace(traces, config, chrome);
}
