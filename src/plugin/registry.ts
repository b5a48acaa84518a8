/**
 * Scenario plug-ins loaded in this thread (by src/plugin/load.ts), so the
 * synchronous configuration code (scenarioDefaults) can lay a plug-in's
 * defaults and buggy knobs like a catalogue entry's. Kept apart from load.ts
 * so that configuration code does not pull in esbuild.
 *
 * Invariant: as for the catalogue, the two sides differ only in the plug-in's
 * `buggy` knobs; the workload is always the plug-in's own path.
 */
import type { PluginPath, SimConfig } from '../config/config.js';
import type { KernelSide } from '../scenarios/races/types.js';
import type { ScenarioPlugin } from './api.js';
import { PluginError } from './errors.js';

const scenarios = new Map<string, ScenarioPlugin>();

/** Remember a loaded and checked scenario plug-in. */
export function rememberScenario(file: string, s: ScenarioPlugin): void {
  scenarios.set(file, s);
}

/** The config overrides of one side of scenario plug-in `file` (over its defaults). */
export function pluginScenarioSide(file: PluginPath, kernel: KernelSide): Partial<SimConfig> {
  const s = scenarios.get(file);
  if (!s) throw new PluginError(`plug-in ${file}: used before it was loaded (runStress and exploreScenario load it; a library caller calls loadScenarioPlugin first)`);
  return { ...s.defaults, ...(kernel === 'buggy' ? s.buggy : {}), workload: file };
}
