/**
 * What every `tlbsim` command shares: the simulation options of `run`,
 * `stress`, `explore` and `config`, their mapping onto a partial SimConfig
 * (only the options the user gave), `--config FILE` under the flags, exit
 * codes, and writing to stdout.
 *
 * Invariants:
 * - A flag the user did not give never reaches the configuration: defaults
 *   come from src/config/config.ts (then the scenario's, then --config FILE).
 * - Bad input raises UsageError or ConfigError: src/cli.ts prints it as one
 *   line and exits 2.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { PARAM_KEYS, PARAMS, paramOf, type SimConfig } from '../../config/params.js';
import { writeFileAtomic } from '../../output/atomicWrite.js';
import { LOG_LEVELS, type LogLevel } from '../../output/log.js';
import { loadConfigFile, simOptionsOf, type ConfigFileCommand } from '../../config/configFile.js';
import { presetNames } from '../../scenarios/preset.js';
import { KERNEL_SIDES, type KernelSide } from '../../scenarios/races/types.js';

/** Exit code for bad input. */
export const EXIT_USAGE = 2;
/** Exit code for a simulation that failed (crashed or stuck CPU). */
export const EXIT_SIM_FAILED = 1;

/** Bad input a command finds itself (not commander, not the config checks): one line, exit 2. */
export class UsageError extends Error {}

/** Commander's parser for a numeric flag: anything but a finite number is bad input. */
export function num(flag: string): (v: string) => number {
  return (v: string) => {
    if (v.trim() === '' || !Number.isFinite(Number(v))) throw new InvalidArgumentError(`${flag} takes a number`);
    return Number(v);
  };
}

/** Commander's attribute name (`--ceiling` -> `ceiling`) of each simulation parameter: where its value is found in `cmd.opts()`. */
const SIM_ATTRS: readonly (readonly [string, keyof SimConfig])[] = PARAM_KEYS.map((k) => [new Option(PARAMS[k].flag).attributeName(), k] as const);

/**
 * The commander options of one parameter table row. Every boolean has both
 * forms, `--x` and `--no-x` (the positive one first, so commander sets no
 * default): a switch a kernel profile or a scenario turned off can be turned
 * on again from the command line.
 */
function optionsOf(key: keyof SimConfig, forStress: boolean): Option[] {
  const p = paramOf(key);
  let doc = p.doc;
  if (forStress && key === 'sched') doc = 'free or seeded (default: seeded, so races replay)';
  else if (forStress && p.perScenario) doc = `${doc} (default: the scenario's)`;
  const opts: Option[] = [];
  if (p.kind === 'boolean') {
    opts.push(new Option(p.flag, doc), new Option(`--no-${p.flag.slice(2)}`, p.docOff ?? ''));
  } else {
    const o = new Option(`${p.flag} ${p.arg}`, doc);
    if (p.kind === 'int' || p.kind === 'number') o.argParser(num(p.flag));
    // A name or a plug-in path: the table's own check decides (one message for the CLI and resolveConfig).
    if (p.choices !== undefined && p.plugin)
      o.argParser((v: string) => {
        const problem = p.check(v);
        if (problem !== null) throw new InvalidArgumentError(problem);
        return v;
      });
    else if (p.choices !== undefined) o.choices(p.choices);
    opts.push(o);
  }
  if (p.hidden) for (const o of opts) o.hideHelp();
  return opts;
}

/**
 * Options shared by `run`, `stress`, `explore` and `config`: `--config`, every
 * row of the parameter table (src/config/params.ts), then the output options.
 * The value comes from resolveConfig's layers unless the flag was given
 * (overridesFrom reads only values whose source is the CLI).
 */
export function addSimOptions(cmd: Command, forStress: boolean): Command {
  cmd.addOption(new Option('--config <file>', 'JSON file with any of these options (keys as in a result\'s "config"); flags given here override it'));
  for (const key of PARAM_KEYS) for (const o of optionsOf(key, forStress)) cmd.addOption(o);
  return cmd
    .addOption(new Option('--cost-model <file>', 'JSON file overriding cost-model cycles (keys: see docs/results.md, "The cost model")'))
    .addOption(new Option('--json', 'print one JSON object on stdout'))
    .addOption(new Option('--log-level <level>', 'logs on stderr (pretty on a terminal, JSON lines otherwise)').choices(LOG_LEVELS).default('silent'))
    .addOption(new Option('--log-file <file>', 'also write JSON-line logs to FILE (at info unless --log-level says otherwise)'));
}

/** What commander parsed: the simulation parameters under their attribute names (see SIM_ATTRS), and the shared output options. */
/**
 * `--scenario NAME` and `--kernel buggy|fixed`, the same on `run`, `stress`,
 * `explore`, `sweep` and `config`: a preset of src/scenarios/preset.ts (names
 * are checked there, so a plug-in's preset can be named too) laid under the
 * flags given.
 */
export function addPresetOptions(cmd: Command, how: { defaultScenario?: string; mandatory?: boolean } = {}): Command {
  const scenario = new Option('--scenario <name>', `preset whose defaults go under the flags given: a lab scenario, a race of the catalogue (tlbsim races), a mechanism (${presetNames().join(', ')}), or a scenario plug-in's path (./my-race.ts, docs/extending.md)`);
  if (how.defaultScenario !== undefined) scenario.default(how.defaultScenario);
  if (how.mandatory === true) scenario.makeOptionMandatory();
  return cmd
    .addOption(scenario)
    .addOption(new Option('--kernel <side>', "catalogue races: the kernel before the fix (buggy) or after (fixed; the default)").choices(KERNEL_SIDES));
}

export interface CliOpts {
  scenario?: string;
  kernel?: KernelSide;
  json?: boolean;
  costModel?: string;
  logLevel: LogLevel;
  logFile?: string;
  config?: string;
  [option: string]: unknown;
}

/**
 * Apply `--config FILE`: the file's simulation options under the flags
 * given, and its command keys (json, out, iterations, ...) where the flag was
 * not given. Returns the simulation options to resolve.
 */
export function withConfigFile<O extends CliOpts>(o: O, cmd: Command, command: ConfigFileCommand): { opts: O; sim: Partial<SimConfig> } {
  const flags = overridesFrom(o, cmd);
  if (o.config === undefined) return { opts: o, sim: flags };
  const file = command === 'run' ? loadConfigFile(o.config, 'run') : loadConfigFile(o.config, 'stress');
  const fromFile = simOptionsOf(file);
  const opts = { ...o };
  const simKeys = new Set(Object.keys(fromFile));
  for (const [k, v] of Object.entries(file)) {
    if (simKeys.has(k) || v === undefined) continue;
    if (cmd.getOptionValueSource(k) !== 'cli') (opts as Record<string, unknown>)[k] = v;
  }
  const sim: Partial<SimConfig> = { ...fromFile, ...flags };
  // An injected bug from the file turns the engine's assertion off too, unless debug is set somewhere.
  if (sim.inject !== undefined && sim.inject !== 'none' && fromFile.debug === undefined && flags.debug === undefined) sim.debug = false;
  return { opts, sim };
}

/** Options the user actually gave, as a partial config (undefined = not given). */
function overridesFrom(o: CliOpts, cmd: Command): Partial<SimConfig> {
  const p: Record<string, unknown> = {};
  for (const [attr, key] of SIM_ATTRS) {
    // A boolean's value counts only when a flag set it (both forms share the attribute).
    if (PARAMS[key].kind === 'boolean' ? cmd.getOptionValueSource(attr) === 'cli' : o[attr] !== undefined) p[key] = o[attr];
  }
  // An injected bug is checked by the oracle; the engine's own assertion would stop the run first.
  if (p.debug === undefined && p.inject !== undefined && p.inject !== 'none') p.debug = false;
  return p as Partial<SimConfig>;
}

/**
 * Write to stdout and wait until it is handed to the OS: the CLI ends with
 * process.exit, and a pipe takes writes asynchronously, so a large JSON
 * result (per-CPU counters of 256 CPUs) was cut off at 64 KiB without this.
 */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

/** Print the result (stdout, and `--out FILE` atomically). */
export async function emitResult(o: { json?: boolean; out?: string }, json: string, human: string): Promise<void> {
  if (o.out !== undefined) writeFileAtomic(o.out, `${json}\n`);
  await writeStdout(`${o.json ? json : human}\n`);
}
