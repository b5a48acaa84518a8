/**
 * The readable form of a host profile (what `tlbsim bench` prints without
 * `--json`) and of a comparison: plain-text tables, one per section.
 *
 * Invariant: it prints only what is in the profile; nothing is recomputed
 * except ratios of medians already stored there.
 */
import { fmtFigure, fmtNum, fmtRatio } from './figure.js';
import type { HostProfile } from './profile.js';

/** A left-aligned first column and right-aligned others, with a header rule. */
export function table(title: string, header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [title, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The whole profile as text tables. Figures read "median unit [p25-p75]". */
export function formatProfile(p: HostProfile): string {
  const h = p.host;
  const out: string[] = [];
  out.push(
    `tlbsim ${p.tlbsim_version} host profile (${p.tier}, ${p.duration_s.toFixed(1)} s, ${p.created_at})`,
    `host: ${h.cpu_model}; ${h.cores} core${h.cores === 1 ? '' : 's'} available of ${h.logical_cpus}${h.cpus_allowed ? ` (affinity ${h.cpus_allowed})` : ''}; ${fmtNum(h.memory_mb / 1024)} GB; Node ${h.node}, V8 ${h.v8}; ${h.os}`,
    `engine on this host: ${h.engine.run_tokens} run token${h.engine.run_tokens === 1 ? '' : 's'} and ${h.engine.stress_threads} stress thread${h.engine.stress_threads === 1 ? '' : 's'} by default`,
    `other processes took ${p.other_processes_pct === null ? 'an unknown share' : `${fmtNum(p.other_processes_pct)}%`} of the host CPUs during the run`,
    'figures: median [p25-p75] over repeated samples',
    '',
  );
  out.push(
    table('Message passing on this host (round trip)', ['mechanism', 'round trip', 'samples'], [
      ['postMessage (event loop both ways)', fmtFigure(p.limits.post_message_rt), String(p.limits.post_message_rt.samples)],
      ['Atomics.wait / notify (sleeping thread)', fmtFigure(p.limits.atomics_wait_notify_rt), String(p.limits.atomics_wait_notify_rt.samples)],
      ['doorbell + receiveMessageOnPort (busy thread)', fmtFigure(p.limits.doorbell_rt), String(p.limits.doorbell_rt.samples)],
    ]),
    '',
  );
  const st = p.seeded_step;
  if (st) {
    out.push(
      table(
        `Seeded step vs hand-off floor (scenario ${st.scenario}, ${st.steps_per_run} choice points a run; floor: two raw workers passing a turn)`,
        ['what', 'time', 'rate', 'vs floor'],
        [
          ['hand-off floor, waiter sleeps (Atomics.wait/notify)', fmtFigure(st.handoff_floor_us), '', fmtRatio(1)],
          ['hand-off floor, waiter spins first', fmtFigure(st.handoff_spin_us), '', fmtRatio(st.handoff_spin_us.median / st.handoff_floor_us.median)],
          ['engine seeded step (whole runs)', fmtFigure(st.step_us), fmtFigure(st.steps_per_s), fmtRatio(st.ratio)],
        ],
      ),
      '',
    );
  }
  out.push(
    table(
      'IPI round (post to every target, every ack back): engine vs raw workers',
      ['targets', 'engine median', 'raw median', 'ratio', 'engine p99', 'raw p99', 'ratio p99'],
      p.ipi_round.map((e) => [
        String(e.targets),
        fmtFigure(e.engine.median),
        fmtFigure(e.raw.median),
        fmtRatio(e.ratio.median),
        fmtFigure(e.engine.p99),
        fmtFigure(e.raw.p99),
        fmtRatio(e.ratio.p99),
      ]),
    ),
    '',
  );
  if (p.ipi_rate) {
    const r = p.ipi_rate;
    out.push(
      table(`IPIs per host second, all-to-all: every CPU sends rounds to the ${r.cpus - 1} others (engine: tlb-flush, ${r.cpus} CPUs)`, ['side', 'IPIs/s', 'vs raw'], [
        ['engine (tlb-flush, whole workload)', fmtFigure(r.engine), fmtRatio(r.ratio)],
        ['raw workers (IPI wire only)', fmtFigure(r.raw), fmtRatio(1)],
      ]),
      '',
    );
  }
  const s = p.access_scaling;
  out.push(
    table(
      `Simulated accesses per second by run tokens (${s.threads} thread CPUs + kswapd, ${fmtNum(s.ops_per_thread)} accesses each)`,
      ['run tokens', 'accesses/s', 'speedup', 'efficiency'],
      s.points.map((pt) => [String(pt.tokens), fmtFigure(pt.accesses_per_s), fmtRatio(pt.speedup), `${Math.round(pt.efficiency * 100)}%`]),
    ),
    '',
  );
  out.push(
    table('TLB hit-path lookups (64x4 TLB in a SharedArrayBuffer)', ['loop', 'lookups/s', 'vs raw'], [
      ['engine Tlb.lookup', fmtFigure(p.tlb_lookup.engine), fmtRatio(p.tlb_lookup.ratio)],
      ['raw inline loop', fmtFigure(p.tlb_lookup.raw), fmtRatio(1)],
    ]),
    '',
  );
  out.push(
    table(
      'Machine start-up (each boot in a fresh process)',
      ['CPUs', 'start-up', 'MB per CPU', 'peak RSS'],
      p.startup.map((e) => [String(e.cpus), fmtFigure(e.startup_ms), fmtFigure(e.mb_per_cpu), fmtFigure(e.peak_rss_mb)]),
    ),
    '',
  );
  out.push(
    table(
      `Stress iterations per second by piscina threads (scenario ${p.stress.scenario}; whole campaigns, and after start-up)`,
      ['sched', 'threads', 'iterations/s', 'speedup', 'after start-up', 'speedup'],
      p.stress.points.map((pt) => [
        pt.sched,
        String(pt.threads),
        fmtFigure(pt.iterations_per_s),
        fmtRatio(pt.speedup),
        pt.after_startup_per_s ? fmtFigure(pt.after_startup_per_s) : '-',
        pt.after_startup_per_s ? fmtRatio(pt.after_startup_speedup) : '-',
      ]),
    ),
  );
  out.push(...stressScalingNotes(p));
  return out.join('\n');
}

/** Share of the host's CPUs other processes may take before scaling figures stop meaning anything: more than half a core of two. */
const BUSY_HOST_PCT = 25;
/** The issue's bar for stress scaling: T threads make at least this times T times one thread's rate. */
const SCALING_BAR = 0.8;

/**
 * Why stress scaling fell below SCALING_BAR x T, and what the host needs
 * (issue 19 §3), from the profile's own figures: one line per reason that
 * applies, none when every point is above the bar.
 */
function stressScalingNotes(p: HostProfile): string[] {
  const low = p.stress.points.filter((pt) => pt.threads > 1 && (pt.after_startup_speedup ?? pt.speedup) < SCALING_BAR * pt.threads);
  if (low.length === 0) return [];
  const cores = p.host.cores;
  const out = ['', `below ${SCALING_BAR} x threads: ${low.map((pt) => `${pt.sched} ${pt.threads} threads ${fmtRatio(pt.after_startup_speedup ?? pt.speedup)}`).join(', ')}. Why:`];
  if (p.other_processes_pct !== null && p.other_processes_pct > BUSY_HOST_PCT) {
    out.push(`- other processes took ${fmtNum(p.other_processes_pct)}% of the host's CPUs: the threads competed with them, not only with each other; measure on an idle host.`);
  }
  out.push(
    `- a seeded machine passes one turn between its CPU threads: every hand-off that sleeps is a thread wake-up (floor above); its CPUs spin for the turn instead only with a host core each (run tokens >= CPUs), and one of them spins as the standby with two run tokens (${cores} core${cores === 1 ? '' : 's'} give T machines floor(${cores}/T) run token${cores === 1 ? '' : 's'} each, so one thread's machine keeps a standby that two threads' machines lose). Seeded scaling needs, per thread, a host core for each CPU of the machine (so the CPU picked next can spin instead of sleeping), plus one for the pool's result building; with fewer, each machine hands off by sleeping and T machines share the cores' wake-ups.`,
    `- free mode runs floor(${cores}/T) CPUs of each machine at once; the pool thread and every IPI wake-up need cores too, so T machines on ${cores} cores share them: free scaling needs more cores than threads x run tokens.`,
    '- whole campaigns include pool start-up and one boot per thread (T boots at once on the same cores): compare the after-start-up columns.',
  );
  return out;
}
