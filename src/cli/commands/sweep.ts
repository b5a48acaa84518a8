/**
 * `tlbsim sweep`: a grid of machines (any run option as a list) in a
 * piscina pool, written to a folder with its plots.
 *
 * Invariant: every grid option maps to exactly one SimConfig key
 * (`sweepAttr`), filled when the options are added.
 */
import { type Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { DEFAULTS, FLAG_NAMES, type SimConfig } from '../../config/config.js';
import { PARAMS } from '../../config/params.js';
import { toJson } from '../../output/report.js';
import { defaultStressThreads } from '../../campaigns/stress.js';
import { loadConfigFile } from '../../config/configFile.js';
import { COST_MODEL_DEFAULTS, loadCostModel } from '../../output/costModel.js';
import { formatSweep, parseGridList, runSweep, SWEEP_KEYS, writeSweepDir, type Grid, type GridValue } from '../../campaigns/sweep.js';
import { parseShard } from '../../campaigns/shard.js';
import { checkOutputDir } from '../../output/outputPaths.js';
import { addPresetOptions, EXIT_SIM_FAILED, num, UsageError, writeStdout } from './options.js';
import type { KernelSide } from '../../scenarios/races/types.js';

interface SweepCliOpts {
  scenario?: string;
  kernel?: KernelSide;
  out?: string;
  config?: string;
  shard?: string;
  parallel?: number;
  costModel?: string;
  progress: boolean;
  json?: boolean;
  [option: string]: unknown;
}

/** Attribute name (commander's camelCase) of each sweep option -> the SimConfig key it sweeps. */
const sweepAttr = new Map<string, keyof SimConfig>();

/** `tlbsim sweep`'s grid options: every run option as a list (booleans as on/off lists, or --no-x for off). */
function addSweepOptions(cmd: Command): Command {
  for (const key of SWEEP_KEYS) {
    const flag = FLAG_NAMES[key];
    const hidden = PARAMS[key].hidden;
    if (PARAMS[key].kind === 'boolean') {
      const pos = flag.replace(/^--no-/, '--');
      const on = new Option(`${pos} <list>`, `sweep ${key}: on/off list (run flag ${flag})`);
      const off = new Option(flag, `${key} off in every point`);
      if (hidden) {
        on.hideHelp();
        off.hideHelp();
      }
      cmd.addOption(on).addOption(off);
      sweepAttr.set(on.attributeName(), key);
    } else {
      const sep = key === 'range' || key === 'reclaimPages' ? "';'" : "','";
      const opt = new Option(`${flag} <list>`, `${sep}-separated values of ${flag} (as for tlbsim run)`);
      if (hidden) opt.hideHelp();
      cmd.addOption(opt);
      sweepAttr.set(opt.attributeName(), key);
    }
  }
  return cmd;
}

async function cmdSweep(given: SweepCliOpts, cmd: Command): Promise<number> {
  const grid: Grid = {};
  const o: SweepCliOpts = { ...given };
  if (given.config !== undefined) {
    // The file first: each option a value or a list; its sweep keys where no flag was given.
    const file = loadConfigFile(given.config, 'sweep');
    for (const [k, v] of Object.entries(file)) {
      if (v === undefined) continue;
      if (Object.hasOwn(DEFAULTS, k)) grid[k as keyof SimConfig] = (Array.isArray(v) ? v : [v]) as GridValue[];
      else if (cmd.getOptionValueSource(k) !== 'cli') (o as Record<string, unknown>)[k] = v;
    }
  }
  for (const [attr, key] of sweepAttr) {
    const v = o[attr];
    if (v === undefined || v === true) continue;
    grid[key] = v === false ? [false] : parseGridList(key, String(v));
  }
  if (o.out === undefined) throw new UsageError("tlbsim sweep needs --out DIR (or \"out\" in --config FILE): the folder for results.csv, results.json and the plots");
  const out = o.out;
  checkOutputDir('--out', out); // before any point runs
  const shard = o.shard === undefined ? null : parseShard(o.shard);
  const costModel = o.costModel === undefined ? COST_MODEL_DEFAULTS : loadCostModel(o.costModel);
  const showBar = o.progress && !o.json && process.stderr.isTTY === true;
  const bar = showBar
    ? new SingleBar({ format: 'sweep [{bar}] {value}/{total} points | {failed} failed | {duration_formatted} elapsed, ETA {eta_points}', stream: process.stderr, hideCursor: true }, Presets.shades_classic)
    : null;
  let started = false;
  const t0 = performance.now();
  // ETA from the points done so far (cli-progress's own shows infinity until the first point ends).
  const eta = (done: number, total: number): string => {
    if (done === 0) return 'after the first point';
    const s = Math.round((((performance.now() - t0) / 1000) * (total - done)) / done);
    return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
  };
  let result: Awaited<ReturnType<typeof runSweep>>;
  try {
    result = await runSweep({
      grid,
      preset: { scenario: o.scenario, kernel: o.kernel },
      costModel,
      shard,
      parallel: o.parallel,
      onProgress: (done, total, failed) => {
        if (!started) {
          bar?.start(total, 0, { failed: 0, eta_points: eta(0, total) });
          started = true;
        }
        bar?.update(done, { failed, eta_points: eta(done, total) });
      },
    });
  } finally {
    bar?.stop();
  }
  const files = await writeSweepDir(out, result);
  const failed = result.points.filter((p) => p.status === 'failed').length;
  await writeStdout(
    `${o.json ? toJson({ out, files, points: result.points.length, failed, shard: result.shard, total_points: result.campaign.total_points, host: result.host }) : formatSweep(result, out)}\n`,
  );
  // Like stress: everything was written, but a point that failed is a failed simulation.
  return failed > 0 ? EXIT_SIM_FAILED : 0;
}

/** Add `tlbsim sweep` to `program`. */
export function registerSweep(program: Command): void {
  addPresetOptions(
    addSweepOptions(
      program
        .command('sweep')
        .description('run a grid of machines (comma lists for any run option) in parallel; write results.csv, results.json and SVG plots to --out'),
    ),
  )
    .addOption(new Option('--out <dir>', 'folder for results.csv, results.json and the plots (required, here or in --config)'))
    .addOption(new Option('--config <file>', 'JSON file: any run option as a value or a list (a grid dimension), and out, shard, parallel, costModel; flags override it'))
    .addOption(new Option('--shard <K/N>', 'run only the K-th of N slices of the grid (points dealt round-robin); merge the folders with tlbsim merge'))
    .addOption(new Option('--parallel <n>', `machines run at once (piscina threads; default: host cores, ${defaultStressThreads()})`).argParser(num('--parallel')))
    .addOption(new Option('--cost-model <file>', 'JSON file overriding cost-model cycles'))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .addOption(new Option('--json', 'print a JSON summary on stdout'))
    .exitOverride()
    .action(async (_o: SweepCliOpts, cmd: Command) => {
      process.exitCode = await cmdSweep(cmd.opts<SweepCliOpts>(), cmd);
    });
}
