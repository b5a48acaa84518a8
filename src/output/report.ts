/**
 * Reports: turn a RunResult or StressResult into what a person reads
 * (a short summary) or what a program reads (one JSON object).
 *
 * Invariant: reports only format numbers the result object already holds;
 * they compute nothing new except ratios of those numbers.
 */
import { describeRace, totalRaceCount, type RaceCounts } from '../engine/oracle.js';
import type { RunResult } from './result.js';
import type { ScenarioExploreResult } from '../campaigns/explore.js';
import { isAblation, RACE_NAMES, RACES } from '../scenarios/races/index.js';
import type { StressResult } from '../campaigns/stress.js';
import type { RaceVersionTable } from '../scenarios/races/versions.js';

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fmtUs(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`;
}

function raceLine(r: RaceCounts): string {
  const total = totalRaceCount(r);
  const detail = `lost writes ${r.lost_writes}, stale accesses ${r.stale_accesses}, writes after protect ${r.writes_after_protect}, accesses after unmap ${r.accesses_after_unmap}, reads after protect ${r.reads_after_protect}`;
  return total === 0 ? `none (${detail})` : `FOUND: ${detail}`;
}

/** Per-CPU figures shown in a run's summary, as the HTML report's heat map shows them (the spread across CPUs). */
const PER_CPU_SUMMARY = [
  ['nr_tlb_remote_flush_received', 'flush IPIs received'],
  ['ipis_sent', 'IPIs sent'],
  ['tlb_misses', 'TLB misses'],
  ['page_faults', 'page faults'],
] as const;

/** "flush IPIs received 0-4 (CPU 0: 0), ...": each figure's range over the CPUs, the CPUs at the minimum named when few. */
function perCpuLine(r: RunResult): string | null {
  if (r.per_cpu.length === 0) return null;
  const parts: string[] = [];
  for (const [key, label] of PER_CPU_SUMMARY) {
    const vals = r.per_cpu.map((c) => c[key]);
    const min = Math.min(...vals);
    const max = Math.max(...vals);
    if (max === 0) continue;
    parts.push(min === max ? `${label} ${fmtInt(min)} on every CPU` : `${label} ${fmtInt(min)}-${fmtInt(max)}`);
  }
  return parts.length > 0 ? parts.join('; ') : null;
}

/**
 * The human summary of one run, in the HTML report's order: the answer
 * (status, IPIs and rounds, modeled cycles per unmapped page, races and the
 * reproduce command), then the run per CPU, then the other counters that
 * moved, then the host.
 */
export function formatRun(r: RunResult): string {
  const c = r.config;
  const k = r.counters;
  const lines: string[] = [];
  lines.push(
    `tlbsim run: workload ${c.workload}, ${c.cpus} CPUs, ${c.pages} pages, protocol ${c.protocol}` +
      `${c.protocol === 'per-page' ? '' : ` (batch ${c.batch})`}, arch ${c.arch}, sched ${c.sched}, seed ${c.seed}`,
  );
  lines.push(`  status                ${r.status}`);
  if (r.status === 'partial' && r.partial) lines.push(`  PARTIAL: ${r.partial.reason}; the counters below are what was measured until then`);
  if (r.status === 'failed' && r.failure) {
    lines.push(`  FAILED (${r.failure.kind}${r.failure.cpu >= 0 ? `, CPU ${r.failure.cpu}` : ''}): ${r.failure.message}`);
    lines.push('  counters below were measured before the failure');
  }
  const perRound = k.remote_flush_rounds ? k.ipis_sent / k.remote_flush_rounds : 0;
  lines.push(`  IPIs sent             ${fmtInt(k.ipis_sent)} in ${fmtInt(k.remote_flush_rounds)} rounds (${perRound.toFixed(1)} targets per round; nr_tlb_remote_flush ${fmtInt(k.nr_tlb_remote_flush)})`);
  const mo = r.modeled;
  const perPage = mo.tlb_maintenance_cycles_per_unmapped_page;
  lines.push(
    `  modeled               ${perPage === null ? '' : `${fmtInt(perPage)} cycles per unmapped page, `}${fmtInt(mo.tlb_maintenance_cycles)} cycles in TLB maintenance; shootdown ${mo.shootdown_latency_cycles.rounds ? `median ${fmtInt(mo.shootdown_latency_cycles.median)}, p99 ${fmtInt(mo.shootdown_latency_cycles.p99)}, max ${fmtInt(mo.shootdown_latency_cycles.max)} cycles (median ${mo.shootdown_latency_ns.median.toFixed(0)} ns at ${mo.cost_model.ghz} GHz)` : 'n/a (no rounds)'}`,
  );
  lines.push(`  races                 ${raceLine(r.races)}`);
  for (const rep of r.race_reports.slice(0, 3)) lines.push(`    - ${describeRace(rep)}`);
  lines.push(`  reproduce: ${r.reproduce}`);
  const perCpu = perCpuLine(r);
  if (perCpu !== null) lines.push(`  per CPU               ${perCpu}`);
  lines.push(`  flush IPIs handled    ${fmtInt(k.nr_tlb_remote_flush_received)}; local flushes: ${fmtInt(k.nr_tlb_local_flush_all)} full, ${fmtInt(k.nr_tlb_local_flush_one)} single-page`);
  // The mechanisms beyond IPIs: one line each, only when they did something.
  if (k.invlpgb_sent > 0 || k.invlpgb_applied > 0) {
    lines.push(`  INVLPGB               ${fmtInt(k.invlpgb_sent)} broadcasts, ${fmtInt(k.tlbsync_waits)} TLBSYNC waits, ${fmtInt(k.invlpgb_applied)} applied by CPUs (no interrupt)`);
  }
  if (k.rar_sent > 0 || k.rar_applied > 0) lines.push(`  RAR                   ${fmtInt(k.rar_sent)} actions to ${fmtInt(k.rar_targets)} targets, ${fmtInt(k.rar_applied)} applied (no interrupt)`);
  if (k.context_resets > 0) lines.push(`  context resets        ${fmtInt(k.context_resets)} (${fmtInt(k.context_zombie_flushes)} zombie flushes)`);
  if (k.luf_deferred > 0) {
    lines.push(`  lazy unmap flush      ${fmtInt(k.luf_deferred)} pages deferred, ${fmtInt(k.luf_flushes_at_alloc)} flushes at allocation, ${fmtInt(k.luf_flushes_avoided)} reuses already flushed`);
  }
  if (k.ipis_forwarded > 0) lines.push(`  multicast             ${fmtInt(k.ipis_forwarded)} IPIs forwarded by groups' first targets (${fmtInt(k.ipis_sent - k.ipis_forwarded)} sent by initiators)`);
  if (k.irq_off_ipi_delays > 0 || k.hw_applied_irqs_off > 0) {
    lines.push(`  interrupts off        ${fmtInt(k.irq_off_ipi_delays)} polls with an IPI waiting, ${fmtInt(k.hw_applied_irqs_off)} INVLPGB/RAR applied meanwhile`);
  }
  const lookups = k.tlb_hits + k.tlb_misses;
  lines.push(
    `  TLB                   ${fmtInt(k.tlb_hits)} hits, ${fmtInt(k.tlb_misses)} misses (${lookups ? ((100 * k.tlb_hits) / lookups).toFixed(1) : '0.0'}% hit rate), ${fmtInt(k.tlb_entries_flushed)} entries flushed`,
  );
  lines.push(`  accesses              ${fmtInt(k.loads)} loads, ${fmtInt(k.stores)} stores; ${fmtInt(k.page_faults)} page faults (${fmtInt(k.wp_faults)} write-protect, ${fmtInt(k.segv_stores + k.segv_loads)} SIGSEGV)`);
  if (k.pages_unmapped + k.pages_written_back + k.pages_freed > 0) {
    lines.push(`  reclaim               ${fmtInt(k.pages_unmapped)} pages unmapped, ${fmtInt(k.pages_written_back)} written back, ${fmtInt(k.pages_freed)} freed`);
  }
  if (k.tlb_flushes_elided + k.tlb_partial_to_full + k.lazy_tlb_switch_back_flushes + k.lazy_tlb_flushes > 0) {
    lines.push(
      `  flush machinery       ${fmtInt(k.tlb_flushes_elided)} elided (tlb_gen), ${fmtInt(k.tlb_partial_to_full)} range-to-full, ${fmtInt(k.lazy_tlb_switch_back_flushes)} on leaving lazy mode, ${fmtInt(k.lazy_tlb_flushes)} reached lazy CPUs`,
    );
  }
  if (c.mms > 1 || k.asid_reuses > 0 || k.context_switches > c.cpus) {
    lines.push(
      `  processes             ${c.mms} mm; ${fmtInt(k.context_switches)} context switches, ${fmtInt(k.asid_reuses)} ASID reuses, ${fmtInt(k.asid_flushes)} ASID flushes, ${fmtInt(k.tlb_remote_wrong_cpu)} flushes to CPUs that had left`,
    );
  }
  if (k.workload_ops > 0) {
    lines.push(`  operations            ${fmtInt(k.workload_ops)} (${(k.ipis_sent / k.workload_ops).toFixed(1)} IPIs and ${(k.remote_flush_rounds / k.workload_ops).toFixed(2)} rounds per operation)`);
  }
  const lat = r.host.ipi_round_latency_us;
  lines.push(
    `  host                  run ${r.host.wall_ms.toFixed(1)} ms, start-up ${r.host.startup_ms.toFixed(1)} ms; IPI round ${lat.rounds ? `median ${fmtUs(lat.median)}, p99 ${fmtUs(lat.p99)} (${lat.rounds} rounds)` : 'n/a (no rounds)'}` +
      (c.sched === 'seeded' ? `; ${fmtInt(r.host.sched_steps)} scheduler steps` : ''),
  );
  if (r.trace) lines.push(`  trace                 ${r.trace.file}: ${fmtInt(r.trace.events)} events on ${r.trace.cpus} CPU tracks, ${fmtInt(r.trace.ipi_flows)} IPI flows, ${fmtInt(r.trace.dropped)} dropped`);
  return lines.join('\n');
}

/** The human summary of a stress campaign, answer first (status, racy iterations, races, the first race and its reproduce command), then the rest. */
export function formatStress(s: StressResult): string {
  const c = s.config;
  const lines: string[] = [];
  lines.push(
    `tlbsim stress: scenario ${s.scenario}${s.kernel ? `, kernel ${s.ablation ? 'ablation (buggy side never shipped)' : s.kernel}` : ''}${s.config.kernelVersion ? `, kernel profile ${s.config.kernelVersion}` : ''}, protocol ${c.protocol}, arch ${c.arch}, sched ${c.sched}, ${c.cpus} CPUs, ${c.pages} pages` +
      `${c.wpRecheck ? '' : ', no wp-recheck'}${c.batchedPendingFlush ? `, pending flush ${c.pendingFlush}` : ', no batched-pending flush'}${c.inject === 'none' ? '' : `, injected bug ${c.inject}`}`,
  );
  lines.push(`  status                ${s.status}`);
  if (s.status === 'partial' && s.partial) lines.push(`  PARTIAL: ${s.partial.reason}`);
  for (const f of s.failures) lines.push(`  FAILED iteration ${f.iteration} (${f.kind}${f.cpu >= 0 ? `, CPU ${f.cpu}` : ''}): ${f.message}`);
  lines.push(`  racy iterations       ${fmtInt(s.racy_iterations)} of ${fmtInt(s.iterations)} (${s.racy_iterations_per_1000} per 1000 iterations); ${fmtInt(s.races_total)} races in all`);
  lines.push(`  races                 ${raceLine(s.races)}`);
  if (s.first_race) {
    lines.push(`  first race            iteration ${s.first_race.iteration} (seed ${s.first_race.seed}):`);
    for (const rep of s.first_race.reports.slice(0, 5)) lines.push(`    - ${describeRace(rep)}`);
    lines.push(`  reproduce: ${s.reproduce}`);
    if (c.sched === 'free') lines.push('  (free mode: the host chose the interleaving, so a replay may not hit the same race; use --sched seeded for exact replays)');
  }
  lines.push(`  IPIs sent             ${fmtInt(s.counters.ipis_sent)} in ${fmtInt(s.counters.remote_flush_rounds)} rounds`);
  lines.push(
    `  iterations            ${fmtInt(s.iterations)}${s.shard ? ` (shard ${s.shard.k}/${s.shard.n}: iterations ${s.iteration_range.first} to ${s.iteration_range.end - 1} of ${fmtInt(s.requested_iterations)})` : s.iterations < s.requested_iterations ? ` of ${fmtInt(s.requested_iterations)} (stopped early)` : ''}; ${s.host.iterations_per_s} per second on ${s.host.threads} threads`,
  );
  return lines.join('\n');
}

/** `tlbsim races`: the catalogue, one block per race. */
export function formatRaces(versions: RaceVersionTable | null): string {
  const lines = ['tlbsim races: the catalogue (tlbsim stress --scenario NAME --kernel buggy|fixed; tlbsim explore --scenario NAME)'];
  if (versions !== null) {
    lines.push(`  reproduces in: the releases whose --kernel-version profile raced in seeded stress (up to ${fmtInt(versions.iterations)} iterations per release from seed ${versions.seed}; docs/race-versions.json, npm run race-versions)`);
  }
  for (const n of RACE_NAMES) {
    const e = RACES[n];
    const buggy = Object.entries(e.buggy)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(', ');
    const ablation = isAblation(e);
    lines.push('');
    lines.push(`  ${e.name}  (${e.year}, arch ${e.arch})${ablation ? '  ABLATION: the buggy side never shipped' : ''}`);
    lines.push(`    ${ablation ? 'kept by    ' : 'fix        '}   ${e.commit} "${e.title}" (${e.author}, Linux ${e.release})`);
    lines.push(`    introduced    ${e.introduced}`);
    lines.push(`    goes wrong    ${e.effect}: ${e.summary}`);
    lines.push(`    ${ablation ? 'ablation side' : 'buggy side   '} ${buggy}`);
    const v = versions?.races[n];
    if (v !== undefined) {
      const witness = v.last === null ? null : v.releases[v.last]?.witness;
      lines.push(`    reproduces in ${v.first === null ? 'no release (the buggy side is in no profile)' : `${v.first} .. ${v.last} (e.g. --kernel-version ${v.last} --seed ${String(witness)} --iterations 1)`}`);
    }
    const variants = Object.entries(e.variants ?? {}).map(([syscall, v]) => `--syscall ${syscall}: ${v.effect}`);
    if (variants.length > 0) lines.push(`    variants      ${variants.join('; ')}`);
  }
  return lines.join('\n');
}

/** `tlbsim explore`'s summary. */
export function formatExplore(r: ScenarioExploreResult): string {
  const lines = [`tlbsim explore: scenario ${r.scenario}${r.kernel ? `, kernel ${r.ablation ? 'ablation (buggy side never shipped)' : r.kernel}` : ''}${r.config.kernelVersion ? `, kernel profile ${r.config.kernelVersion}` : ''}, preemption bound ${r.bound}, ${r.config.cpus} CPUs${r.shard ? `, shard ${r.shard.k}/${r.shard.n} (its slice only: tlbsim merge the shards' --out folders for the verdict)` : ''}`];
  lines.push('  preemptions  schedules  racy');
  for (const b of r.per_preemptions) lines.push(`  ${String(b.preemptions).padEnd(11)}  ${fmtInt(b.schedules).padStart(9)}  ${fmtInt(b.racy).padStart(4)}`);
  const whole = r.por === 'on' ? 'a schedule of every class up to the bound' : r.stateful_pruning ? 'every state reachable up to the bound' : 'every schedule up to the bound';
  const slice = r.shard ? ` of this shard's slice` : '';
  lines.push(`  schedules explored    ${fmtInt(r.schedules)}${r.complete ? ` (${r.bound === 'none' ? 'no bound' : whole}${slice})` : ' (NOT exhaustive: --max-schedules or an interrupt stopped it)'}`);
  lines.push(`  partial-order red.    ${r.por}${r.por === 'on' ? `: ${fmtInt(r.schedules_pruned)} alternatives pruned; passes ${(r.por_passes ?? []).map((p) => `bound ${p.bound}: ${fmtInt(p.schedules)}`).join(', ')}` : ''}`);
  lines.push(`  stateful pruning      ${r.stateful_pruning ? `on: ${fmtInt(r.revisits_pruned ?? 0)} schedules stopped branching at a state already explored` : 'off'}`);
  if (r.verified) lines.push(`  verified: every schedule (${fmtInt(r.schedules)} schedules: ${r.stateful_pruning ? 'every reachable state' : 'every class of schedules at least once'})`);
  lines.push(`  distinct states       ${fmtInt(r.distinct_states)}`);
  // With POR and no bound there is no pass per bound: the figure is the fewest preemptions of a racy schedule run.
  const smallest = r.bound === 'none' && r.por === 'on' ? 'the fewest preemptions of a racy schedule run is' : 'the smallest bound with a race is';
  lines.push(`  racy schedules        ${fmtInt(r.racy_schedules)}${r.smallest_racy_bound === null ? '' : `; ${smallest} ${r.smallest_racy_bound}`}`);
  if (r.shortest_racy) {
    lines.push(`  shortest racy         ${r.shortest_racy.preemptions} preemptions, ${r.shortest_racy.steps} choice points: ${raceLine(r.shortest_racy.races)}`);
    lines.push(`  reproduce: ${r.reproduce}`);
  }
  lines.push(`  time                  ${(r.wall_ms / 1000).toFixed(1)} s`);
  return lines.join('\n');
}

/** One JSON object (what `--json` prints). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
