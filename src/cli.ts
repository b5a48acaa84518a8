#!/usr/bin/env node
/**
 * The `tlbsim` command line: builds the command tree from one module per
 * command (src/cli/commands/) and maps what a command throws to an exit code.
 *
 * Invariants:
 * - Bad input never produces a stack trace or a silently used default: it
 *   prints one line `tlbsim: error: ...` naming the option and what it accepts,
 *   and exits 2.
 * - With `--json`, stdout holds exactly one JSON object; logs and progress go to stderr.
 * - Exit codes: 0 the command ran (races found are results, not errors);
 *   1 the simulation failed (a CPU crashed or stopped acknowledging);
 *   2 bad input; 130 / 143 interrupted by SIGINT / SIGTERM (the partial
 *   result is printed first, marked "status": "partial").
 * - Imports flow one way: this file imports src/cli/commands/*, which import
 *   src/cli/commands/options.ts and the engine; nothing imports this file.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ConfigError } from './config/config.js';
import { ProfileError } from './campaigns/bench/profile.js';
import { EXIT_SIM_FAILED, EXIT_USAGE, UsageError } from './cli/commands/options.js';
import { registerRun } from './cli/commands/run.js';
import { registerStress } from './cli/commands/stress.js';
import { registerExplore, registerRaces } from './cli/commands/explore.js';
import { registerConfig, registerReport } from './cli/commands/config.js';
import { registerSweep } from './cli/commands/sweep.js';
import { registerMerge } from './cli/commands/merge.js';
import { registerValidate } from './cli/commands/validate.js';
import { registerBench } from './cli/commands/bench.js';
import { registerCalibrate } from './cli/commands/calibrate.js';

export { EXIT_SIM_FAILED, EXIT_USAGE } from './cli/commands/options.js';
export { RUN_PROGRESS_POLL_MS } from './cli/commands/run.js';

/** Build the command tree. */
function buildProgram(): Command {
  const program = new Command('tlbsim')
    .description('Simulate TLB shootdowns, batched unmap flushes and the races in the unmap window, one worker thread per CPU.')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // One line per error: fold commander's "(Did you mean ...)" hint onto the error line.
      writeErr: (s) => process.stderr.write(s.replace(/\n(?=\(Did you mean)/, ' ').replace(/^error:/, 'tlbsim: error:')),
    });

  registerRun(program);
  registerStress(program);
  registerRaces(program);
  registerExplore(program);
  registerReport(program);
  registerConfig(program);
  registerSweep(program);
  registerMerge(program);
  registerValidate(program);
  registerBench(program);
  registerCalibrate(program);
  return program;
}

/** Run the CLI with `argv` (without node and script). Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length === 0) {
    process.stderr.write(program.helpInformation());
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its one-line message; help and version exit 0.
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (e instanceof ConfigError || e instanceof UsageError || e instanceof ProfileError) {
      process.stderr.write(`tlbsim: error: ${e.message}\n`);
      return EXIT_USAGE;
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`tlbsim: error: ${msg.split('\n')[0]}\n`);
    return EXIT_SIM_FAILED;
  }
}

function invokedDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`tlbsim: error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(EXIT_SIM_FAILED);
    },
  );
}
