/**
 * `--config FILE`: a JSON file holding any option of `run` or `stress`,
 * validated with a zod schema. Flags given on the command line override it.
 *
 * Invariants:
 * - Keys are the option names of the JSON result's `config` (camelCase, e.g.
 *   `lazyCpus`, `tlbSinglePageFlushCeiling`), so a result's `config` object
 *   is itself a valid config file; plus the command's own keys (`scenario`,
 *   `iterations`, ...). An unknown key, a wrong type or an out-of-range value
 *   is one line naming the key, what it accepts and what it got
 *   (ConfigError: exit 2), never a silently used default.
 * - The schema checks each key alone; `resolveConfig` still checks how keys
 *   combine (e.g. `lazyCpus` against `cpus`), so a file can never make a
 *   config the flags could not.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, type SimConfig } from './config.js';
import { isPluginPath, PARAM_KEYS, paramOf } from './params.js';
import { LOG_LEVELS } from '../output/log.js';
import { KERNEL_SIDES, type KernelSide } from '../scenarios/races/types.js';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const oneOf = <T extends string>(values: readonly T[]) => z.enum(values as [T, ...T[]]);

/**
 * The schema of one parameter, from its table row's kind, range and choices
 * (src/config/params.ts). Built here, not in the table: the table is read by
 * every CPU worker, which must not load zod.
 */
function schemaOf(p: ReturnType<typeof paramOf>): z.ZodType {
  switch (p.kind) {
    case 'int':
      return z.number().int().min(p.min!).max(p.max!);
    case 'number':
      return z.number().min(p.min!).max(p.max!);
    case 'boolean':
      return z.boolean();
    case 'string':
      return z.string();
    case 'choice': {
      // The default is always accepted, even where help offers only the other choices (`kernelVersion: ''`: no profile).
      const values = p.choices!.includes(String(p.default)) ? p.choices! : [String(p.default), ...p.choices!];
      if (!p.plugin) return oneOf(values);
      return z.string().refine((v) => values.includes(v) || isPluginPath(v), `one of ${values.map((v) => JSON.stringify(v)).join(', ')}, or a plug-in path (.ts, .js)`);
    }
  }
}

/** Every simulation option a file may set: each parameter's schema, derived from its table row. */
export const simOptionsSchema = z
  .object(Object.fromEntries(PARAM_KEYS.map((k) => [k, schemaOf(paramOf(k))])) as { [K in keyof SimConfig]: z.ZodType<SimConfig[K]> })
  .partial()
  .strict();

/** Keys every command takes besides the simulation options. */
const commonSchema = z.object({
  json: z.boolean(),
  out: z.string().min(1),
  progress: z.boolean(),
  logLevel: oneOf(LOG_LEVELS),
  logFile: z.string().min(1),
});

/** `--scenario` and `--kernel`, the same on run, stress and sweep (the name is checked against the preset registry when resolved). */
const presetSchema = z.object({
  scenario: z.string().min(1),
  kernel: oneOf(KERNEL_SIDES),
});

/** `tlbsim run --config FILE`. */
const runFileSchema = simOptionsSchema.extend(commonSchema.shape).extend(presetSchema.shape).partial().strict();

/** `tlbsim stress --config FILE`. */
const stressFileSchema = simOptionsSchema
  .extend(commonSchema.shape)
  .extend(presetSchema.shape)
  .extend({
    iterations: int(1, 1e12),
    stopOnRace: z.boolean(),
    threads: int(1, 64),
  })
  .partial()
  .strict();

/**
 * `tlbsim sweep --config FILE`: each simulation option is one value or a
 * list of values (a grid dimension), plus the sweep's own keys.
 */
const sweepFileSchema = z
  .object(
    Object.fromEntries(Object.entries(simOptionsSchema.shape).map(([k, v]) => [k, z.union([v.unwrap(), z.array(v.unwrap()).min(1)])])) as Record<string, z.ZodType<unknown>>,
  )
  .extend(presetSchema.shape)
  .extend({
    out: z.string().min(1),
    shard: z.string().regex(/^\d+\/\d+$/),
    parallel: int(1, 64),
    costModel: z.string().min(1),
    progress: z.boolean(),
    json: z.boolean(),
  })
  .partial()
  .strict();

type RunFile = z.infer<typeof runFileSchema>;
type StressFile = z.infer<typeof stressFileSchema>;
/** A sweep config file: each option one value or a list (a grid dimension), plus the sweep's own keys. */
type SweepFile = { [K in keyof SimConfig]?: SimConfig[K] | SimConfig[K][] } & {
  scenario?: string;
  kernel?: KernelSide;
  out?: string;
  shard?: string;
  parallel?: number;
  costModel?: string;
  progress?: boolean;
  json?: boolean;
};
export type ConfigFileCommand = 'run' | 'stress' | 'sweep';

/** What a value is, for "got ..." in a message. */
function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The value at `path` in `data`. */
function at(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = data;
  for (const k of path) cur = cur !== null && typeof cur === 'object' ? (cur as Record<PropertyKey, unknown>)[k] : undefined;
  return cur;
}

/** One line for the first problem zod found. */
function describeIssue(file: string, data: unknown, issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `config file ${file}: unknown key '${issue.keys[0]}' (keys are the option names of a result's "config", e.g. "cpus", "lazyCpus"; see tlbsim config --print)`;
  }
  const key = issue.path.map(String).join('.');
  const got = describeValue(at(data, issue.path));
  let accepts = issue.message;
  if (issue.code === 'invalid_value') accepts = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  else if (issue.code === 'too_small' || issue.code === 'too_big') {
    const shape = issue.origin === 'number' ? 'a number' : 'a value';
    accepts = `${shape} ${issue.code === 'too_small' ? `>= ${String(issue.minimum)}` : `<= ${String(issue.maximum)}`}`;
  } else if (issue.code === 'invalid_type') accepts = issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`;
  return `config file ${file}: key '${key}' takes ${accepts}, got ${got}`;
}

/**
 * Read and validate a config file for `command`.
 * @throws ConfigError (one line) if it cannot be read, is not JSON, or breaks the schema.
 */
export function loadConfigFile(file: string, command: 'run'): RunFile;
export function loadConfigFile(file: string, command: 'stress'): StressFile;
export function loadConfigFile(file: string, command: 'sweep'): SweepFile;
export function loadConfigFile(file: string, command: ConfigFileCommand): RunFile | StressFile | SweepFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`--config ${file}: cannot read the file (${code}); give the path of a JSON file`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`--config ${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`--config ${file}: must hold one JSON object of options, got ${Array.isArray(data) ? 'an array' : describeValue(data)}`);
  }
  const schema = command === 'run' ? runFileSchema : command === 'stress' ? stressFileSchema : sweepFileSchema;
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new ConfigError(describeIssue(file, data, parsed.error.issues[0]));
  return parsed.data as RunFile | StressFile | SweepFile;
}

/** The simulation options of a parsed file (the SimConfig keys only). */
export function simOptionsOf(f: RunFile | StressFile | SweepFile): Partial<SimConfig> {
  const out: Partial<SimConfig> = {};
  const keys = Object.keys(simOptionsSchema.shape) as (keyof SimConfig)[];
  for (const k of keys) if (f[k] !== undefined) (out as Record<string, unknown>)[k] = f[k];
  return out;
}
