/**
 * Shared helpers for the race-lab, stress and CLI tests: running the compiled
 * CLI as a child process, and turning a `reproduce` command back into options.
 *
 * The CLI and every worker run from dist/ (build first: `npm run build`; test/globalSetup.ts refuses a stale build).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, FLAG_NAMES, type SimConfig } from '../src/config/config.js';
import { expect } from 'vitest';
import { totalRaceCount, type RaceCounts } from '../src/engine/oracle.js';
import type { FoundRace, StressResult } from '../src/campaigns/stress.js';
import type { ScenarioName } from '../src/scenarios/lab.js';

/** Absolute path of the compiled CLI entry point. */
export const CLI_PATH = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));

export interface CliResult {
  /** Exit code (null if killed by a signal). */
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `node dist/src/cli.js ...args` and collect its exit code and output.
 * Never rejects on a non-zero exit: the caller asserts on `status`.
 */
export function runCli(args: readonly string[], timeoutMs = 90_000): Promise<CliResult> {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run 'npm run build' first`);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI_PATH, ...args],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code !== 'number' && !(err as { killed?: boolean }).killed) {
          // Spawn failure (not a non-zero exit).
          reject(err);
          return;
        }
        const status = err ? ((err as { code?: number | string }).code as number | null) : 0;
        resolve({ status: typeof status === 'number' ? status : null, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Parse stdout that must hold exactly one JSON object (and nothing else). */
export function parseOneJsonObject<T = Record<string, unknown>>(stdout: string): T {
  const text = stdout.trim();
  if (!text.startsWith('{') || !text.endsWith('}')) {
    throw new Error(`stdout is not one JSON object: ${JSON.stringify(stdout.slice(0, 200))}...`);
  }
  const v = JSON.parse(text) as unknown; // throws on trailing garbage or two objects
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('stdout JSON is not an object');
  return v as T;
}

/** Non-empty lines of a stream's output. */
export function lines(s: string): string[] {
  return s.split(/\r?\n/).filter((l) => l.length > 0);
}

/** Race totals of a run that found nothing. */
export const NO_RACES: RaceCounts = { lost_writes: 0, stale_accesses: 0, writes_after_protect: 0, accesses_after_unmap: 0, reads_after_protect: 0 };

export function totalRaces(r: RaceCounts): number {
  return totalRaceCount(r);
}

/** Split a reproduce command into argv words (the commands hold no quoted words). */
export function splitCommand(cmd: string): string[] {
  expect_(!/["'\\]/.test(cmd), `reproduce command has quoting, which splitCommand does not handle: ${cmd}`);
  return cmd.trim().split(/\s+/);
}

function expect_(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** A `tlbsim stress ...` reproduce command, decoded into `runStress` options. */
export interface ParsedStressCommand {
  scenario: ScenarioName;
  seed: number;
  iterations: number;
  stopOnRace: boolean;
  overrides: Partial<SimConfig>;
}

const FLAG_TO_KEY: ReadonlyMap<string, keyof SimConfig> = new Map(
  (Object.entries(FLAG_NAMES) as [keyof SimConfig, string][]).map(([k, f]) => [f, k]),
);

/**
 * Decode `tlbsim stress --scenario S --flag v ... --iterations N` with the
 * engine's own flag table (FLAG_NAMES): every flag must be known, so a
 * reproduce command that spells an option the CLI would not accept fails here.
 */
export function parseStressCommand(cmd: string): ParsedStressCommand {
  const w = splitCommand(cmd);
  expect_(w[0] === 'tlbsim' && w[1] === 'stress', `not a 'tlbsim stress' command: ${cmd}`);
  const out: ParsedStressCommand = { scenario: 'unmap-window', seed: 1, iterations: 1000, stopOnRace: false, overrides: {} };
  const o = out.overrides as Record<string, unknown>;
  for (let i = 2; i < w.length; i++) {
    const flag = w[i];
    const next = (): string => {
      const v = w[++i];
      expect_(v !== undefined && !v.startsWith('--'), `${flag} has no value in: ${cmd}`);
      return v;
    };
    if (flag === '--scenario') out.scenario = next() as ScenarioName;
    else if (flag === '--iterations') out.iterations = Number(next());
    else if (flag === '--stop-on-race') out.stopOnRace = true;
    else if (flag === '--seed') out.seed = Number(next());
    else {
      const key = FLAG_TO_KEY.get(flag);
      expect_(key !== undefined, `unknown flag ${flag} in reproduce command: ${cmd}`);
      const def = DEFAULTS[key];
      if (typeof def === 'boolean') o[key] = !flag.startsWith('--no-');
      else if (typeof def === 'number') o[key] = Number(next());
      else o[key] = next();
    }
  }
  return out;
}

/** Assert that `again` (a one-iteration replay) shows exactly the race `first`. */
export function expectReplayShows(again: StressResult, first: FoundRace): void {
  expect(again.failures).toEqual([]);
  expect(again.iterations).toBe(1);
  expect(again.racy_iterations).toBe(1);
  expect(again.races).toEqual(first.races);
  expect(again.first_race).not.toBeNull();
  expect(again.first_race!.iteration).toBe(0);
  expect(again.first_race!.seed).toBe(first.seed);
  expect(again.first_race!.races).toEqual(first.races);
  expect(again.first_race!.reports).toEqual(first.reports);
}
