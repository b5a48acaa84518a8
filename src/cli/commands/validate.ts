/** `tlbsim validate`: published references beside the simulator's figures, and `--mechanisms`, the mechanism comparison. */
import { type Command, Option } from 'commander';
import { MAX_CPUS } from '../../config/config.js';
import { toJson } from '../../output/report.js';
import { COST_MODEL_DEFAULTS, loadCostModel } from '../../output/costModel.js';
import { formatValidate, runValidate } from '../../campaigns/validate.js';
import { formatMechanismComparison, runMechanismComparison } from '../../scenarios/mechanisms.js';
import { EXIT_SIM_FAILED, UsageError, writeStdout } from './options.js';

interface ValidateCliOpts {
  costModel?: string;
  json?: boolean;
  mechanisms?: boolean;
  mechanismsCpus?: string;
}

async function cmdValidate(o: ValidateCliOpts): Promise<number> {
  const costModel = o.costModel === undefined ? COST_MODEL_DEFAULTS : loadCostModel(o.costModel);
  if (o.mechanisms || o.mechanismsCpus !== undefined) {
    const cpus = o.mechanismsCpus === undefined ? undefined : o.mechanismsCpus.split(',').map((x) => {
      const n = Number(x.trim());
      if (!Number.isInteger(n) || n < 2 || n > MAX_CPUS) throw new UsageError(`--mechanisms-cpus takes CPU counts from 2 to ${MAX_CPUS}, comma-separated, got '${x}'`);
      return n;
    });
    const c = await runMechanismComparison({ costModel, cpus });
    await writeStdout(`${o.json ? toJson(c) : formatMechanismComparison(c)}\n`);
    return c.safe ? 0 : EXIT_SIM_FAILED;
  }
  const r = await runValidate({ costModel });
  await writeStdout(`${o.json ? toJson(r) : formatValidate(r)}\n`);
  return r.failed > 0 ? EXIT_SIM_FAILED : 0;
}

/** Add `tlbsim validate` to `program`. */
export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('run a fixed set of points and print each published reference beside what the simulator gives, with a verdict per row')
    .addOption(new Option('--cost-model <file>', 'JSON file overriding cost-model cycles'))
    .addOption(new Option('--json', 'print one JSON object on stdout'))
    .addOption(new Option('--mechanisms', 'instead: compare batched, invlpgb, rar, luf and context-reset on reclaim and tlb-flush at 16, 64 and 256 CPUs (a few minutes)'))
    .addOption(new Option('--mechanisms-cpus <list>', 'with --mechanisms: other machine sizes, e.g. 16 or 8,16'))
    .exitOverride()
    .action(async (_o: ValidateCliOpts, cmd: Command) => {
      process.exitCode = await cmdValidate(cmd.opts<ValidateCliOpts>());
    });
}
