/** `tlbsim config --print` (the resolved configuration) and `tlbsim report` (one HTML file of a result). */
import { type Command, Option } from 'commander';
import { writeReport } from '../../output/htmlReport.js';
import { resolvePreset } from '../../scenarios/preset.js';
import { checkOutputFile } from '../../output/outputPaths.js';
import { addPresetOptions, addSimOptions, UsageError, withConfigFile, writeStdout, type CliOpts } from './options.js';

interface ConfigCliOpts extends CliOpts {
  print?: boolean;
}

async function cmdConfig(given: ConfigCliOpts, cmd: Command): Promise<number> {
  if (given.print !== true) throw new UsageError('tlbsim config takes --print (show the resolved configuration)');
  const { opts, sim } = withConfigFile(given, cmd, given.scenario !== undefined ? 'stress' : 'run');
  const { config } = resolvePreset({ scenario: opts.scenario, kernel: opts.kernel }, sim);
  await writeStdout(`${JSON.stringify(config, null, 2)}\n`);
  return 0;
}

/** Add `tlbsim config` to `program`. */
export function registerConfig(program: Command): void {
  addPresetOptions(addSimOptions(program.command('config').description('print the resolved configuration (defaults, then --scenario, then --config FILE, then flags) as JSON'), false))
    .addOption(new Option('--print', 'print it (the only action)'))
    .exitOverride()
    .action(async (_o: ConfigCliOpts, cmd: Command) => {
      process.exitCode = await cmdConfig(cmd.opts<ConfigCliOpts>(), cmd);
    });
}

/** Add `tlbsim report` to `program`. */
export function registerReport(program: Command): void {
  program
    .command('report')
    .description('write one self-contained HTML report of a run result, a stress result or a sweep folder')
    .argument('<input>', 'RESULT.json (tlbsim run --out / --json), a stress result, or a sweep folder')
    .requiredOption('--out <file>', 'the HTML file to write (atomically)')
    .exitOverride()
    .action(async (input: string, o: { out: string }) => {
      checkOutputFile('--out', o.out);
      const kind = await writeReport(input, o.out);
      process.stderr.write(`tlbsim: wrote the ${kind} report ${o.out}\n`);
      process.exitCode = 0;
    });
}
