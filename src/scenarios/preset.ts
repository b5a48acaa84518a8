/**
 * One preset system: the lab's stress scenarios (src/scenarios/lab.ts), the
 * race catalogue (src/scenarios/races/, with a buggy and a fixed kernel side)
 * and the flush-mechanism presets (src/scenarios/mechanismPresets.ts) are all
 * `Preset`s in one registry, and `run`, `stress`, `explore`, `sweep` and
 * `config` resolve `--scenario NAME --kernel buggy|fixed` and the simulation
 * flags through one function, `resolvePreset`.
 *
 * Invariants:
 * - Layers, lowest first: DEFAULTS (config.ts), seeded scheduling (so every
 *   race a preset finds replays exactly), the preset's defaults, its
 *   `--syscall` variant's, its kernel side's knobs, then the user's flags
 *   (and, under the flags, a `--kernel-version` profile's switches, which
 *   then replace the preset's own). The user's flags always win.
 * - A preset's name is unique in the registry; built-ins are registered when
 *   this module loads, plug-ins with `registerPreset` before they are named.
 * - A reproduce command names the preset and its side, then only the flags
 *   whose value differs from what the preset alone resolves to.
 */
import { ConfigError, configToFlags, FLAG_NAMES, resolveConfig, type SimConfig, type SyscallName } from '../config/config.js';
import { PROFILE_FIELDS } from '../config/kernelProfiles.js';
import { LAB_PRESETS } from './lab.js';
import { MECHANISM_PRESETS } from './mechanismPresets.js';
import { RACE_PRESETS } from './races/index.js';
import { KERNEL_SIDES, type KernelSide } from './races/types.js';

/** Where a preset comes from: the lab's scenarios, the race catalogue, the mechanism comparison, or a plug-in. */
export type PresetKind = 'lab' | 'race' | 'mechanism' | 'plugin';

/** The fix a catalogue race reverts (torvalds/linux ids, verified when the entry was written). */
export interface PresetProvenance {
  /** The fixing commit (12 hex digits) and its title. */
  readonly commit: string;
  readonly title: string;
  /** First mainline release with the fix. */
  readonly release: string;
  /** The commit that introduced the bug, or why none is named (`ablation: never shipped`). */
  readonly introduced: string;
}

export interface Preset {
  /** `--scenario NAME`. */
  readonly name: string;
  readonly kind: PresetKind;
  /** One line: what the preset shows. */
  readonly summary: string;
  /** Laid under the user's flags (over DEFAULTS and seeded scheduling). */
  readonly defaults: Partial<SimConfig>;
  /**
   * Catalogue races: the knobs of each kernel side over `defaults`
   * (`--kernel buggy|fixed`; fixed, the engine's default behaviour, is the
   * side taken when none is named). Absent: the preset takes no `--kernel`.
   */
  readonly sides?: { readonly [S in KernelSide]: Partial<SimConfig> };
  /** Defaults over `defaults` (both sides) when the user picks this `--syscall`. */
  readonly variants?: { readonly [S in SyscallName]?: Partial<SimConfig> };
  /** The fix, when the preset is a historical race. */
  readonly provenance?: PresetProvenance;
}

const registry = new Map<string, Preset>();

/**
 * Add a preset (a plug-in's, at run time). @throws ConfigError when the name
 * is empty or already taken.
 */
export function registerPreset(p: Preset): void {
  if (typeof p.name !== 'string' || p.name === '') throw new ConfigError('a preset needs a non-empty name');
  if (registry.has(p.name)) throw new ConfigError(`preset '${p.name}' is already registered (a built-in or an earlier plug-in): give yours another name`);
  registry.set(p.name, p);
}

/** Register (or replace) a plug-in's preset: its name is its path, which no built-in can take. */
export function registerPluginPreset(p: Preset & { kind: 'plugin' }): void {
  const old = registry.get(p.name);
  if (old !== undefined && old.kind !== 'plugin') throw new ConfigError(`preset '${p.name}' is a built-in: give yours another name`);
  registry.set(p.name, p);
}

for (const p of [...LAB_PRESETS, ...RACE_PRESETS, ...MECHANISM_PRESETS]) registerPreset(p);

/** Every registered preset name, in registration order (the lab's, the catalogue's by year, the mechanisms', plug-ins'). */
export function presetNames(): string[] {
  return [...registry.keys()];
}

/** The preset called `name`. @throws ConfigError naming the known ones. */
export function getPreset(name: string): Preset {
  const p = registry.get(name);
  if (!p) throw new ConfigError(`--scenario must be one of ${presetNames().join(', ')}, got '${name}'`);
  return p;
}

/** What the user picks: a preset (or none: DEFAULTS alone) and, for a catalogue race, its side. */
export interface PresetChoice {
  scenario?: string;
  kernel?: KernelSide;
}

/** A resolved choice: the configuration, the preset, and the side that ran (undefined: the preset has none, or a kernel profile decides). */
export interface ResolvedPreset {
  config: SimConfig;
  preset: Preset | null;
  kernel: KernelSide | undefined;
}

function profiled(o: Partial<SimConfig>): boolean {
  return o.kernelVersion !== undefined && o.kernelVersion !== '';
}

/**
 * The layer a choice lays under the user's flags (seeded scheduling, the
 * preset's defaults, its variant's, its side's). @throws ConfigError for an
 * unknown preset, `--kernel` without a two-sided preset, or `--kernel` with
 * `--kernel-version`.
 */
export function presetLayer(choice: PresetChoice, overrides: Partial<SimConfig>): { layer: Partial<SimConfig>; preset: Preset | null; kernel: KernelSide | undefined } {
  if (choice.kernel !== undefined && !KERNEL_SIDES.includes(choice.kernel)) throw new ConfigError(`--kernel must be buggy or fixed, got '${String(choice.kernel)}'`);
  if (choice.scenario === undefined) {
    if (choice.kernel !== undefined) throw new ConfigError('--kernel needs --scenario NAME, a race of the catalogue (tlbsim races lists them)');
    return { layer: {}, preset: null, kernel: undefined };
  }
  const preset = getPreset(choice.scenario);
  if (choice.kernel !== undefined && preset.sides === undefined) {
    throw new ConfigError(`--kernel applies to the race catalogue's scenarios (tlbsim races), not to '${preset.name}' (choose its knobs with flags)`);
  }
  if (choice.kernel !== undefined && profiled(overrides)) {
    throw new ConfigError('--kernel and --kernel-version do not combine: a kernel profile decides both sides of a race; drop one of them');
  }
  // A two-sided preset runs its fixed side unless a side or a kernel profile is named.
  const kernel = choice.kernel ?? (preset.sides !== undefined && !profiled(overrides) ? 'fixed' : undefined);
  const variant = overrides.syscall === undefined ? undefined : preset.variants?.[overrides.syscall];
  const layer: Partial<SimConfig> = { sched: 'seeded', ...preset.defaults, ...(variant ?? {}), ...(kernel === undefined || preset.sides === undefined ? {} : preset.sides[kernel]) };
  // The profile's switches go over the preset's (resolveConfig lays them under the flags given).
  if (profiled(overrides)) for (const f of PROFILE_FIELDS) delete layer[f];
  return { layer, preset, kernel };
}

/** The one resolution of `run`, `stress`, `explore`, `sweep` and `config`: the choice's layer under the user's flags. */
export function resolvePreset(choice: PresetChoice, overrides: Partial<SimConfig>): ResolvedPreset {
  const { layer, preset, kernel } = presetLayer(choice, overrides);
  return { config: resolveConfig({ ...layer, ...overrides }), preset, kernel };
}

/**
 * `--scenario NAME [--kernel SIDE]` and the flags that recreate `config`
 * from what the preset alone gives (with the same seed and kernel profile):
 * the seed, the kernel profile and the flags whose value differs from the
 * preset's. Without a preset: every flag configToFlags spells out.
 */
export function presetReproduceArgs(choice: PresetChoice, config: SimConfig): string[] {
  if (choice.scenario === undefined) return configToFlags(config);
  const keep: Partial<SimConfig> = { seed: config.seed, ...(config.kernelVersion === '' ? {} : { kernelVersion: config.kernelVersion }) };
  const base = resolvePreset(choice, keep).config;
  // Run tokens do not change a seeded run (one CPU steps at a time): leave the host-dependent value out.
  const c = config.sched === 'seeded' ? { ...config, runTokens: base.runTokens } : config;
  const flags = configToFlags(c, base);
  // configToFlags always spells out the key options; the preset already says them unless they differ.
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const key = FLAG_KEY.get(flags[i]);
    const takesValue = key !== undefined && typeof c[key] !== 'boolean';
    if (takesValue && key !== 'seed' && key !== 'kernelVersion' && String(c[key]) === String(base[key])) {
      i++;
      continue;
    }
    out.push(flags[i]);
  }
  return ['--scenario', choice.scenario, ...(choice.kernel === undefined ? [] : ['--kernel', choice.kernel]), ...out];
}

/** Flag -> SimConfig key (configToFlags' spelling; booleans are never skipped above). */
const FLAG_KEY: ReadonlyMap<string, keyof SimConfig> = new Map((Object.entries(FLAG_NAMES) as [keyof SimConfig, string][]).map(([k, f]) => [f, k]));
