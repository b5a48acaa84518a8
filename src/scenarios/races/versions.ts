/**
 * In which kernel releases each catalogue race reproduces: every scenario
 * run under every kernel profile (`--kernel-version`, src/config/kernelProfiles.ts) as a
 * seeded stress campaign that stops at its first race. The table `tlbsim
 * races` prints is this computation's output (docs/race-versions.json,
 * written by `npm run race-versions`), never typed in.
 *
 * Invariants:
 * - A release reproduces a race when one of its seeded iterations (seeds
 *   seed, seed+1, ...) races; the first racy seed is kept as the witness, so
 *   `tlbsim stress --scenario NAME --kernel-version V --seed W --iterations 1`
 *   shows it again exactly. A release with no racy iteration among
 *   `iterations` does not reproduce it (up to that many seeds).
 * - A release before the one that first shipped the code a scenario drives
 *   (`RACE_CODE_SINCE`) is not run: the race cannot exist there.
 * - Releases whose profiles resolve to the same configuration are run once
 *   (a seeded campaign is a pure function of its configuration and seed).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KERNEL_VERSIONS, releaseAtLeast, type KernelVersion } from '../../config/kernelProfiles.js';
import { scenarioConfig, runStress } from '../../campaigns/stress.js';
import { RACE_NAMES, type RaceName } from './index.js';

/**
 * The release that first shipped the kernel code a scenario drives, where it
 * is younger than the oldest profile: migrate_vma() came with 8c3328f1f36a
 * (HMM, Linux 4.14). The other scenarios drive code every profile has (or,
 * for arm64's batched reclaim, a profile switch).
 */
const RACE_CODE_SINCE: { readonly [N in RaceName]?: KernelVersion } = { 'migrate-vma-ptl': '4.14' };

/**
 * Iterations per release: the rarest buggy side (mremap-ptl, ~1 racy
 * iteration in 300) is then missed with probability (299/300)^2000, about
 * 0.1%, and a release that does not reproduce costs ~4-20 s here.
 */
export const RACE_VERSION_ITERATIONS = 2000;

/** One race under one release. */
interface ReleaseOutcome {
  /** null: the scenario's code did not exist in this release (not run). */
  readonly reproduces: boolean | null;
  /** The first racy seed (null if none). */
  readonly witness: number | null;
  /** Iterations run (up to and including the witness). */
  readonly iterations: number;
}

/** One race over every release. */
interface RaceVersions {
  /** The oldest and newest releases that reproduce it (null: none does). */
  readonly first: KernelVersion | null;
  readonly last: KernelVersion | null;
  readonly releases: { readonly [V in KernelVersion]?: ReleaseOutcome };
}

export interface RaceVersionTable {
  /** Iterations per release (at most) and the first seed. */
  readonly iterations: number;
  readonly seed: number;
  readonly races: { readonly [N in RaceName]?: RaceVersions };
}

/** The oldest and newest reproducing releases of `releases` (in KERNEL_VERSIONS order). */
export function versionRange(releases: RaceVersions['releases']): { first: KernelVersion | null; last: KernelVersion | null } {
  const hits = KERNEL_VERSIONS.filter((v) => releases[v]?.reproduces === true);
  return { first: hits[0] ?? null, last: hits[hits.length - 1] ?? null };
}

interface ComputeOptions {
  iterations: number;
  seed: number;
  races?: readonly RaceName[];
  threads?: number;
  onProgress?: (race: RaceName, version: KernelVersion, outcome: ReleaseOutcome) => void;
}

/** Run every race under every profile (see the invariants above). */
export async function computeRaceVersions(opts: ComputeOptions): Promise<RaceVersionTable> {
  const races: { [N in RaceName]?: RaceVersions } = {};
  for (const name of opts.races ?? RACE_NAMES) {
    const since = RACE_CODE_SINCE[name];
    const releases: { [V in KernelVersion]?: ReleaseOutcome } = {};
    const byConfig = new Map<string, ReleaseOutcome>();
    for (const v of KERNEL_VERSIONS) {
      if (since !== undefined && !releaseAtLeast(v, since)) {
        releases[v] = { reproduces: null, witness: null, iterations: 0 };
        continue;
      }
      const config = scenarioConfig(name, { kernelVersion: v, seed: opts.seed });
      const key = JSON.stringify({ ...config, kernelVersion: '' });
      let outcome = byConfig.get(key);
      if (outcome === undefined) {
        const r = await runStress({ scenario: name, overrides: { kernelVersion: v }, iterations: opts.iterations, seed: opts.seed, stopOnRace: true, threads: opts.threads });
        outcome = { reproduces: r.first_race !== null, witness: r.first_race?.seed ?? null, iterations: r.iterations };
        byConfig.set(key, outcome);
      }
      releases[v] = outcome;
      opts.onProgress?.(name, v, outcome);
    }
    races[name] = { ...versionRange(releases), releases };
  }
  return { iterations: opts.iterations, seed: opts.seed, races };
}

/** docs/race-versions.json of this checkout (from src/scenarios/races or dist/src/races). */
function raceVersionsFile(): string {
  const here = import.meta.url;
  return fileURLToPath(new URL(here.includes('/dist/') ? '../../../../docs/race-versions.json' : '../../../docs/race-versions.json', here));
}

/** The stored table, or null if it was never computed. */
export function loadRaceVersions(): RaceVersionTable | null {
  const f = raceVersionsFile();
  if (!existsSync(f)) return null;
  return JSON.parse(readFileSync(f, 'utf8')) as RaceVersionTable;
}
