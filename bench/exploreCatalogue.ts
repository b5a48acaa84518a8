/**
 * `npm run explore:catalogue`: the long explorations behind the catalogue
 * table of docs/races.md (not part of `npm test`). For each catalogue
 * scenario and side, `tlbsim explore` with each reduction asked for (stateful
 * pruning, partial-order reduction, none), in the same process; prints a
 * markdown table and writes every result to a JSON file.
 *
 * Usage: node dist/bench/exploreCatalogue.js [--out FILE] [--only NAME,...] [--bound K|none] [--modes stateful,por,none] [--max-schedules N]
 *   --bound: the preemption bound (default 3); --modes: the reductions to run, in order (default stateful;
 *   `none` is the exhaustive order, every schedule).
 *
 * Invariants: every figure printed is a result of this run (no copied
 * numbers); timings are wall time on the host it runs on.
 */
import { writeFileSync } from 'node:fs';
import { exploreScenario, UNBOUNDED, type ScenarioExploreResult } from '../src/campaigns/explore.js';
import { RACE_NAMES } from '../src/scenarios/races/index.js';

/** A reduction `explore` can run with. */
type Mode = 'stateful' | 'por' | 'none';

interface Row {
  scenario: string;
  kernel: 'buggy' | 'fixed';
  mode: Mode;
  bound: number | 'none';
  schedules: number;
  /** POR: alternatives not run; stateful: schedules that stopped branching at a state explored before. */
  pruned: number;
  racy: number;
  smallest_racy_bound: number | null;
  complete: boolean;
  verified: boolean;
  wall_s: number;
  reproduce: string | null;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function row(r: ScenarioExploreResult, mode: Mode): Row {
  return {
    scenario: r.scenario,
    kernel: r.kernel ?? 'fixed',
    mode,
    bound: r.bound,
    schedules: r.schedules,
    pruned: mode === 'stateful' ? (r.revisits_pruned ?? 0) : r.schedules_pruned,
    racy: r.racy_schedules,
    smallest_racy_bound: r.smallest_racy_bound,
    complete: r.complete,
    verified: r.verified !== undefined,
    wall_s: Math.round(r.wall_ms / 100) / 10,
    reproduce: r.reproduce,
  };
}

async function main(): Promise<void> {
  const out = arg('--out') ?? 'explore-catalogue.json';
  const only = arg('--only')?.split(',');
  const b = arg('--bound') ?? '3';
  const bound = b === 'none' ? UNBOUNDED : Number(b);
  const modes = (arg('--modes') ?? 'stateful').split(',') as Mode[];
  for (const m of modes) if (!['stateful', 'por', 'none'].includes(m)) throw new Error(`--modes takes stateful, por and none, got '${m}'`);
  const maxSchedules = Number(arg('--max-schedules') ?? 1_000_000);
  const rows: Row[] = [];
  const lines = ['| scenario | side | reduction | bound | schedules | pruned | racy | smallest racy bound | complete | time (s) |', '|---|---|---|---|---|---|---|---|---|---|'];
  for (const scenario of RACE_NAMES) {
    if (only && !only.includes(scenario)) continue;
    for (const kernel of ['buggy', 'fixed'] as const) {
      for (const mode of modes) {
        const r = row(await exploreScenario({ scenario, kernel, bound, por: mode === 'por', stateful: mode === 'stateful', maxSchedules }), mode);
        rows.push(r);
        const line = `| ${scenario} | ${kernel} | ${r.mode} | ${r.bound} | ${r.schedules} | ${r.pruned} | ${r.racy} | ${r.smallest_racy_bound ?? '-'} | ${r.verified ? 'verified: every schedule' : r.complete ? 'yes' : 'NO'} | ${r.wall_s} |`;
        lines.push(line);
        process.stderr.write(`${line}\n`);
        writeFileSync(out, `${JSON.stringify(rows, null, 2)}\n`);
      }
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
