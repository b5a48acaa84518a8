/**
 * Scenario plug-ins become presets: once src/plugin/load.ts has loaded and
 * checked `--scenario ./race.ts`, it registers the plug-in here as a preset
 * of kind `plugin` named by its path, so `run`, `stress`, `explore` and
 * `sweep` resolve it like a catalogue race (src/scenarios/preset.ts). Kept
 * apart from load.ts so that configuration code does not pull in esbuild.
 *
 * Invariant: as for the catalogue, the two sides differ only in the plug-in's
 * `buggy` knobs; the workload is always the plug-in's own path.
 */
import { registerPluginPreset } from '../scenarios/preset.js';
import type { PluginPath } from '../config/config.js';
import type { ScenarioPlugin } from './api.js';

/** Register a loaded and checked scenario plug-in as the preset `file` (again on a reload: the file may have changed). */
export function rememberScenario(file: string, s: ScenarioPlugin): void {
  registerPluginPreset({ name: file, kind: 'plugin', summary: s.summary, defaults: { ...s.defaults, workload: file as PluginPath }, sides: { buggy: s.buggy, fixed: {} } });
}
