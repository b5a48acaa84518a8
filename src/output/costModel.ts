/**
 * The cost model: modeled CPU cycles for every event the engine counts, so a
 * run on a 2-core host can say what a real N-core machine would spend on TLB
 * maintenance.
 *
 * Invariants:
 * - `modelRun` is a pure function of the events (per-CPU counters and the
 *   per-round target and page counts) and the cost model: no host time goes
 *   in, so the same seeded run gives the same `modeled` section on any host.
 * - Every default is a named field of `COST_MODEL_DEFAULTS` with its source
 *   next to it (here and in the README); figures published in nanoseconds are
 *   converted with `ghz`. Defaults are taken from the sources, never tuned to
 *   make one validation row pass.
 * - `loadCostModel` accepts only known keys with finite non-negative numbers
 *   (ghz positive) and throws ConfigError with one line naming the bad key.
 *   One more key, `calibration` (what `tlbsim calibrate` writes: each fitted
 *   key's spread and the measurement it came from), is checked for shape and
 *   never priced.
 */
import { readFileSync } from 'node:fs';
import { quantileSorted } from 'simple-statistics';
import { z } from 'zod';
import { ConfigError } from '../config/params.js';
import type { Counters } from './result.js';

/** Cycles per event (and the clock that converts nanosecond figures). Keys are stable: they are the `--cost-model` JSON keys. */
export interface CostModel {
  /** Clock, GHz: converts the nanosecond figures below into cycles, and modeled cycles back into ns. */
  ghz: number;
  /** Initiator: fixed cost of one IPI round (build the request, first APIC write, wait for the ack to come back). */
  ipi_send_base: number;
  /** Initiator: cost per target, serial (Linux writes the ICR once per target CPU). */
  ipi_send_per_target: number;
  /** Target: interrupt entry and exit (IDT vector, save/restore, EOI). */
  irq_entry: number;
  /** Target: flush_tlb_func's own work (generations, bookkeeping, the ack), excluding the flush instructions. */
  flush_handler: number;
  /** One single-page invalidation (invlpg). */
  invlpg: number;
  /** One full flush of an ASID (CR3 write), excluding the refills it causes. */
  full_flush: number;
  /** Software cost of one flush_tlb_mm_range / arch_tlbbatch_flush call on the initiator, excluding the flush instructions and IPIs. */
  flush_call_base: number;
  /** One page walk (a TLB miss that finds the PTE present). */
  page_walk: number;
  /** One page fault (kernel entry, handle_mm_fault, exit), excluding its page walk. */
  page_fault: number;
  /** One context switch to another mm (switch_mm_irqs_off) without an ASID flush; an ASID flush adds `full_flush`. */
  context_switch: number;
  /** Initiator: issuing one INVLPGB (the broadcast instruction itself). */
  invlpgb_broadcast: number;
  /** Each CPU that applies an INVLPGB or a RAR action in hardware: its whole share (no interrupt, no instruction runs there; the refills it causes are priced as flush refills). */
  hw_apply: number;
  /** Initiator: one TLBSYNC, waiting until every CPU applied its broadcasts. */
  tlbsync_wait: number;
  /** Initiator: fixed cost of one RAR action (payload write, the signal, waiting for completion). */
  rar_send_base: number;
  /** Initiator: per RAR target. */
  rar_send_per_target: number;
  /** One CPU giving an mm a new context id (ASID/VSID) instead of flushing it (`--protocol context-reset`). */
  context_reset: number;
  /** `--arch arm64`, issuer: one broadcast TLBI (TLBI ... IS), issued without waiting. */
  tlbi_broadcast: number;
  /** `--arch arm64`, issuer: one DSB ISH, waiting until every CPU applied the TLBIs this CPU issued. */
  dsb_wait: number;
}

/** Nominal clock used to convert published nanosecond figures to cycles (an assumption: the sources come from different machines). */
export const DEFAULT_GHZ = 2.5;

/** The Linux comment behind tlb_single_page_flush_ceiling (arch/x86/mm/tlb.c): "Each single flush is about 100 ns". */
const INVLPG_NS = 100;
/** Dave Hansen's flush_tlb_mm_range measurements (2014, the series that set the ceiling of 33): cycles for 1 page, 32 pages, a full flush. */
const HANSEN_FLUSH_1_PAGE_CYCLES = 1276;
// Hansen 2014 measured 9,350 cycles for a flush_tlb_mm_range of 32 pages; the model gives 9,026 (see flush_call_base).
/** Hansen 2014: flush_tlb_mm_range of the whole mm (a full flush), cycles. */
const HANSEN_FLUSH_FULL_CYCLES = 2283;
/** Nadav Amit's shootdown measurements (Haswell, 2019 patch postings, and Amit et al. 2020): ~775 ns from local-only to one remote target, ~70 ns per further target. */
const AMIT_FIRST_TARGET_NS = 775;
/** Amit 2019: ~70 ns per further target. */
const AMIT_PER_TARGET_NS = 70;
/**
 * Share of Amit's one-target round (after the per-target and one-invlpg parts
 * are taken out) spent on the target: interrupt entry + flush handler. No
 * published split is recorded here; this halves it (an assumption, named so
 * it can be overridden).
 */
const TARGET_SHARE_OF_ROUND_BASE = 0.5;

const ns = (x: number): number => Math.round(x * DEFAULT_GHZ);
const invlpgCycles = ns(INVLPG_NS);
const flushCallBase = HANSEN_FLUSH_1_PAGE_CYCLES - invlpgCycles;
/** Amit's one-target round minus its per-target send and its one invlpg: what the round costs besides them. */
const roundFixed = ns(AMIT_FIRST_TARGET_NS - AMIT_PER_TARGET_NS) - invlpgCycles;
const targetShare = Math.round(roundFixed * TARGET_SHARE_OF_ROUND_BASE);

/** The defaults, each with its source. */
export const COST_MODEL_DEFAULTS: Readonly<CostModel> = Object.freeze({
  // Assumption: a 2.5 GHz clock converts the ns figures (Amit's Haswell, the tlb.c comment); cycles figures are used as published.
  ghz: DEFAULT_GHZ,
  // Amit 2019: 775 ns to the first remote target, minus 70 ns (that target's serial send) and one invlpg (100 ns),
  // minus the target's share (irq_entry + flush_handler): the sender's fixed part of the round.
  ipi_send_base: roundFixed - targetShare,
  // Amit 2019: ~70 ns per further target (serial ICR writes).
  ipi_send_per_target: ns(AMIT_PER_TARGET_NS),
  // The target's share of Amit's fixed part, split evenly between interrupt entry/exit and the handler (assumption, see TARGET_SHARE_OF_ROUND_BASE).
  irq_entry: Math.round(targetShare / 2),
  flush_handler: targetShare - Math.round(targetShare / 2),
  // arch/x86/mm/tlb.c: "Each single flush is about 100 ns".
  invlpg: invlpgCycles,
  // Hansen 2014: full flush 2283 cycles minus the call's own cost (flush_call_base below).
  full_flush: HANSEN_FLUSH_FULL_CYCLES - flushCallBase,
  // Hansen 2014: flush_tlb_mm_range of 1 page, 1276 cycles, minus its one invlpg (the 32-page figure, 9350, then models as
  // flush_call_base + 32 x invlpg = 9026, 3.5% under: the model is linear in pages, the measurement nearly so).
  flush_call_base: flushCallBase,
  // Assumption (no measurement recorded here): a page walk that hits the paging-structure caches and the data cache, ~20 ns.
  page_walk: ns(20),
  // Assumption: a minor page fault (entry, handle_mm_fault on a cached page, exit) ~1 µs.
  page_fault: ns(1000),
  // Assumption: switch_mm_irqs_off with PCID and no flush, a few hundred cycles (~200 ns).
  context_switch: ns(200),
  // Assumption (no per-instruction figure is recorded here): issuing INVLPGB costs about one invlpg (~100 ns).
  invlpgb_broadcast: invlpgCycles,
  // Assumption: a CPU's share of applying a broadcast/RAR invalidation, ~20 ns: the TLB hardware drops the entries, no
  // interrupt, no handler, no instruction (the point of both mechanisms; INVLPGB cut TLB invalidation from ~40% to ~4% of
  // CPU time on Rik van Riel's will-it-scale tlb_flush2 runs, 36-core Milan, 2025).
  hw_apply: ns(20),
  // Assumption: TLBSYNC waits for the fabric round trip of the broadcast, taken as Amit's fixed part of an IPI round
  // (775 ns - 70 ns) minus interrupt entry and the handler, i.e. the sender's fixed share (ipi_send_base).
  tlbsync_wait: roundFixed - targetShare,
  // Assumption: a RAR action is an IPI round without the interrupt: the sender's fixed share of Amit's round ...
  rar_send_base: roundFixed - targetShare,
  // ... and the same serial per-target cost (RAR is signalled per target, like an IPI).
  rar_send_per_target: ns(AMIT_PER_TARGET_NS),
  // Assumption: switching a context id is a context switch's work (~200 ns, writing the new id); the refills it causes are
  // priced as flush refills (seed 004: "amortized cost (later TLB reloads vs. cost of flushing specific PTEs) is much lower").
  context_reset: ns(200),
  // Assumption (no per-instruction figure is recorded here): issuing a broadcast TLBI costs about what issuing an INVLPGB
  // does (the two are the same kind of instruction: a broadcast invalidation the issuer does not wait for), ~100 ns.
  tlbi_broadcast: invlpgCycles,
  // Assumption: DSB ISH after broadcast TLBIs waits for the same fabric round trip as TLBSYNC after INVLPGB.
  dsb_wait: roundFixed - targetShare,
});

/** Every key of the cost model, in a stable order (README, CSV, error messages). */
export const COST_MODEL_KEYS = Object.keys(COST_MODEL_DEFAULTS) as (keyof CostModel)[];

/** The key of a cost-model file that records how `tlbsim calibrate` fitted it (not a cost). */
export const COST_MODEL_CALIBRATION_KEY = 'calibration';

/** Shape of the `calibration` record: every fitted entry names a cost-model key and carries its value and source. */
const CalibrationSchema = z.looseObject({
  fitted: z.record(z.string(), z.looseObject({ value: z.number().nonnegative(), from: z.string() })),
});

/**
 * Validate an object as cost-model overrides and merge it over the defaults.
 * @throws ConfigError with one line naming the bad key.
 */
export function resolveCostModel(overrides: unknown, source = 'cost model'): CostModel {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw new ConfigError(`${source} must be a JSON object of cycle costs (keys: ${COST_MODEL_KEYS.join(', ')})`);
  }
  const out: CostModel = { ...COST_MODEL_DEFAULTS };
  for (const [k, v] of Object.entries(overrides as Record<string, unknown>)) {
    if (k === COST_MODEL_CALIBRATION_KEY) {
      const c = CalibrationSchema.safeParse(v);
      if (!c.success) {
        const issue = c.error.issues[0];
        throw new ConfigError(`${source}: '${[k, ...issue.path.map(String)].join('.')}': ${issue.message} (the record tlbsim calibrate writes; delete it or re-run calibrate)`);
      }
      const unknown = Object.keys(c.data.fitted).find((f) => !(COST_MODEL_KEYS as string[]).includes(f));
      if (unknown !== undefined) throw new ConfigError(`${source}: '${k}.fitted' names unknown key '${unknown}' (keys: ${COST_MODEL_KEYS.join(', ')})`);
      continue;
    }
    if (!(COST_MODEL_KEYS as string[]).includes(k)) {
      throw new ConfigError(`${source}: unknown key '${k}' (keys: ${COST_MODEL_KEYS.join(', ')})`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (k === 'ghz' && v <= 0)) {
      throw new ConfigError(`${source}: key '${k}' must be a ${k === 'ghz' ? 'positive' : 'non-negative'} number, got ${JSON.stringify(v)}`);
    }
    out[k as keyof CostModel] = v;
  }
  return out;
}

/**
 * Read a `--cost-model FILE` (JSON: any subset of the keys).
 * @throws ConfigError with one line (unreadable file, bad JSON, bad key).
 */
export function loadCostModel(file: string): CostModel {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`--cost-model: cannot read '${file}': ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`--cost-model: '${file}' is not JSON: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  return resolveCostModel(parsed, `--cost-model ${file}`);
}

/** One IPI round as the cost model sees it. */
export interface ModelRound {
  /** CPUs the round went to. */
  targets: number;
  /** Pages asked to be invalidated one by one, or -1 for a full flush. */
  pages: number;
  /** `--ipi-fanout tree`: groups the initiator sent to (0 or absent: serial), and the largest group's size. */
  groups?: number;
  maxGroup?: number;
}

/** What the cost model needs from a run: events only. */
export interface ModelInput {
  perCpu: readonly Counters[];
  /** rounds[c]: the IPI rounds CPU c sent, in order. */
  rounds: readonly (readonly ModelRound[])[];
}

/** Modeled cycles of one event kind: how many happened and what they cost in all. */
export interface ModeledEvent {
  count: number;
  cycles: number;
}

/** The `modeled` section of a result. All figures are cycles unless the name says ns. */
export interface Modeled {
  /** The cost model used (defaults merged with --cost-model). */
  cost_model: CostModel;
  /** Cycles in TLB maintenance (shootdown rounds, flush handlers, flush instructions, refills flushes caused), summed over CPUs. */
  tlb_maintenance_cycles: number;
  /** Per CPU, index = CPU id. */
  tlb_maintenance_cycles_per_cpu: number[];
  /** tlb_maintenance_cycles / pages_unmapped (null when no page was unmapped). */
  tlb_maintenance_cycles_per_unmapped_page: number | null;
  /** Cycles of every modeled event, TLB maintenance or not (page walks, faults, context switches too). */
  all_events_cycles: number;
  /** Count and cycles of each event kind. */
  events: Record<ModeledEventName, ModeledEvent>;
  /** Modeled latency of one shootdown round as its initiator sees it, over every round sent. */
  shootdown_latency_cycles: { median: number; p99: number; max: number; rounds: number };
  /** The same in ns (cycles / ghz). */
  shootdown_latency_ns: { median: number; p99: number; max: number };
  /** Mean targets per round (0 without rounds). */
  targets_per_round: number;
}

/** Event kinds the model prices, in report order; `tlb` marks the ones that count as TLB maintenance. */
export const MODELED_EVENTS = {
  ipi_round: { tlb: true, what: 'IPI rounds sent: ipi_send_base + ipi_send_per_target x targets + the slowest target (irq_entry + flush_handler + its flush), per round' },
  flush_call: { tlb: true, what: 'flush_tlb_mm_range / arch_tlbbatch_flush calls: flush_call_base each' },
  local_invlpg: { tlb: true, what: "pages the initiator invalidated in its own TLB: invlpg each" },
  local_full_flush: { tlb: true, what: 'full flushes of the initiator\'s own TLB: full_flush each' },
  ipi_received: { tlb: true, what: 'IPIs handled by targets: irq_entry + flush_handler each' },
  remote_invlpg: { tlb: true, what: 'pages targets invalidated one by one: invlpg each' },
  remote_full_flush: { tlb: true, what: 'full flushes targets did (flush_tlb_func, or lazy CPUs leaving the mm): full_flush each' },
  task_switch_flush: { tlb: true, what: 'full flushes on switching back from lazy TLB mode behind tlb_gen: full_flush each' },
  flush_refill: { tlb: true, what: 'refills flushes caused (a miss on an entry a flush dropped, PTE present): page_walk each' },
  page_walk: { tlb: false, what: 'every TLB miss: page_walk each (flush refills included, so they are counted in both)' },
  page_fault: { tlb: false, what: 'page faults: page_fault each' },
  context_switch: { tlb: false, what: 'context switches: context_switch each' },
  asid_flush: { tlb: false, what: 'ASID flushes at context switch (choose_new_asid need_flush): full_flush each' },
  invlpgb: { tlb: true, what: 'INVLPGB broadcasts issued: invlpgb_broadcast each' },
  tlbsync: { tlb: true, what: 'TLBSYNC waits: tlbsync_wait each' },
  rar_send: { tlb: true, what: 'RAR actions sent: rar_send_base + rar_send_per_target x targets' },
  hw_apply: {
    tlb: true,
    what: "INVLPGB/RAR invalidations applied by a CPU's TLB hardware (no interrupt, no instruction executed there): hw_apply each, whatever pages they name (counters hw_flush_pages / hw_flush_full say what was dropped)",
  },
  ipi_forward: { tlb: true, what: '--ipi-fanout tree: IPIs a group\'s first target forwarded to the rest of its group: ipi_send_per_target each' },
  context_reset: { tlb: true, what: 'context resets (a new ASID/VSID instead of a page-by-page flush): context_reset each' },
  zombie_flush: { tlb: true, what: 'flushes of zombie entries when a context id came round again: full_flush each' },
  tlbi: { tlb: true, what: '--arch arm64: broadcast TLBIs issued: tlbi_broadcast each' },
  tlbi_apply: { tlb: true, what: "--arch arm64: TLBIs applied by a CPU's MMU (no interrupt, no instruction executed there): hw_apply each" },
  dsb: { tlb: true, what: '--arch arm64: DSB waits for the issuer\'s own TLBIs: dsb_wait each' },
} as const;
/** Name of a priced event kind (a key of `events` in the `modeled` section). */
type ModeledEventName = keyof typeof MODELED_EVENTS;
/** Every priced event kind, in report and CSV order. */
export const MODELED_EVENT_NAMES = Object.keys(MODELED_EVENTS) as ModeledEventName[];

/** Modeled latency of one round: what its initiator waits, in cycles. */
export function roundCycles(m: CostModel, r: ModelRound): number {
  // pages -2 (ROUND_CONTEXT_RESET): the target resets a context instead of flushing; its cost is priced as context_reset.
  const work = r.pages === -2 ? 0 : r.pages < 0 ? m.full_flush : r.pages * m.invlpg;
  if (r.groups && r.groups > 0) {
    // Multicast tree: serial sends to the groups' first targets, then the slowest group's forwarding (its first
    // target takes the interrupt and sends to the others serially) before its last member's handler completes.
    const forward = (r.maxGroup ?? 1) > 1 ? m.irq_entry + m.ipi_send_per_target * ((r.maxGroup ?? 1) - 1) : 0;
    return m.ipi_send_base + m.ipi_send_per_target * r.groups + forward + m.irq_entry + m.flush_handler + work;
  }
  return m.ipi_send_base + m.ipi_send_per_target * r.targets + m.irq_entry + m.flush_handler + work;
}

/** Price the events of a run. Pure: the same events give the same figures. */
export function modelRun(m: CostModel, input: ModelInput): Modeled {
  const events = Object.fromEntries(MODELED_EVENT_NAMES.map((n) => [n, { count: 0, cycles: 0 }])) as Record<ModeledEventName, ModeledEvent>;
  const perCpu: number[] = [];
  const lat: number[] = [];
  let targets = 0;
  let unmapped = 0;
  let all = 0;
  input.perCpu.forEach((k, cpu) => {
    const add = (name: ModeledEventName, count: number, cycles: number): number => {
      events[name].count += count;
      events[name].cycles += cycles;
      all += cycles;
      return MODELED_EVENTS[name].tlb ? cycles : 0;
    };
    let tlb = 0;
    let roundSum = 0;
    const rounds = input.rounds[cpu] ?? [];
    for (const r of rounds) {
      const c = roundCycles(m, r);
      roundSum += c;
      lat.push(c);
      targets += r.targets;
    }
    tlb += add('ipi_round', rounds.length, roundSum);
    tlb += add('flush_call', k.tlb_flush_calls, k.tlb_flush_calls * m.flush_call_base);
    tlb += add('local_invlpg', k.nr_tlb_local_flush_one, k.nr_tlb_local_flush_one * m.invlpg);
    tlb += add('local_full_flush', k.nr_tlb_local_flush_all, k.nr_tlb_local_flush_all * m.full_flush);
    tlb += add('ipi_received', k.nr_tlb_remote_flush_received, k.nr_tlb_remote_flush_received * (m.irq_entry + m.flush_handler));
    tlb += add('remote_invlpg', k.remote_flush_pages, k.remote_flush_pages * m.invlpg);
    const remoteFull = k.remote_flush_full + k.lazy_tlb_flushes;
    tlb += add('remote_full_flush', remoteFull, remoteFull * m.full_flush);
    tlb += add('task_switch_flush', k.lazy_tlb_switch_back_flushes, k.lazy_tlb_switch_back_flushes * m.full_flush);
    tlb += add('flush_refill', k.tlb_flush_refills, k.tlb_flush_refills * m.page_walk);
    add('page_walk', k.tlb_misses, k.tlb_misses * m.page_walk);
    add('page_fault', k.page_faults, k.page_faults * m.page_fault);
    add('context_switch', k.context_switches, k.context_switches * m.context_switch);
    add('asid_flush', k.asid_flushes, k.asid_flushes * m.full_flush);
    tlb += add('invlpgb', k.invlpgb_sent, k.invlpgb_sent * m.invlpgb_broadcast);
    tlb += add('tlbsync', k.tlbsync_waits, k.tlbsync_waits * m.tlbsync_wait);
    tlb += add('rar_send', k.rar_sent, k.rar_sent * m.rar_send_base + k.rar_targets * m.rar_send_per_target);
    const applied = k.invlpgb_applied + k.rar_applied;
    tlb += add('hw_apply', applied, applied * m.hw_apply);
    tlb += add('ipi_forward', k.ipis_forwarded, k.ipis_forwarded * m.ipi_send_per_target);
    tlb += add('context_reset', k.context_resets, k.context_resets * m.context_reset);
    tlb += add('zombie_flush', k.context_zombie_flushes, k.context_zombie_flushes * m.full_flush);
    tlb += add('tlbi', k.tlbi_broadcast, k.tlbi_broadcast * m.tlbi_broadcast);
    tlb += add('tlbi_apply', k.tlbi_applied, k.tlbi_applied * m.hw_apply);
    tlb += add('dsb', k.dsb_waits, k.dsb_waits * m.dsb_wait);
    perCpu.push(tlb);
    unmapped += k.pages_unmapped;
  });
  // page_walk includes the flush refills, which are also in flush_refill: count them once in the all-events total.
  all -= events.flush_refill.cycles;
  const total = perCpu.reduce((a, b) => a + b, 0);
  lat.sort((a, b) => a - b);
  const q = (p: number): number => (lat.length ? quantileSorted(lat, p) : 0);
  const toNs = (c: number): number => round3(c / m.ghz);
  const median = q(0.5);
  const p99 = q(0.99);
  const max = lat.length ? lat[lat.length - 1] : 0;
  return {
    cost_model: { ...m },
    tlb_maintenance_cycles: round3(total),
    tlb_maintenance_cycles_per_cpu: perCpu.map(round3),
    tlb_maintenance_cycles_per_unmapped_page: unmapped > 0 ? round3(total / unmapped) : null,
    all_events_cycles: round3(all),
    events: Object.fromEntries(MODELED_EVENT_NAMES.map((n) => [n, { count: events[n].count, cycles: round3(events[n].cycles) }])) as Record<ModeledEventName, ModeledEvent>,
    shootdown_latency_cycles: { median: round3(median), p99: round3(p99), max: round3(max), rounds: lat.length },
    shootdown_latency_ns: { median: toNs(median), p99: toNs(p99), max: toNs(max) },
    targets_per_round: lat.length ? round3(targets / lat.length) : 0,
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
