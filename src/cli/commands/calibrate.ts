/**
 * `tlbsim calibrate`: measure real TLB shootdowns on this host's kernel with
 * native/shootdown.c (src/campaigns/calibrate/), fit the cost model to them, and print
 * the host beside the simulator run with the fitted model.
 *
 * Invariants: every option is checked (zod) before anything is built or
 * measured; the profile goes to `--out`, the cost model to
 * `--cost-model-out` (both atomically); progress goes to stderr only.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { type Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { z } from 'zod';
import { writeFileAtomic } from '../../output/atomicWrite.js';
import { formatCalibration } from '../../campaigns/calibrate/format.js';
import { runCalibration } from '../../campaigns/calibrate/run.js';
import { num, UsageError, writeStdout } from './options.js';

/** Largest --threads accepted before the affinity mask is read (MAX_THREADS of shootdown.c). */
const MAX_THREADS = 1024;

const outFile = (flag: string) =>
  z.string().superRefine((f, ctx) => {
    const dir = dirname(resolvePath(f));
    if (f.trim() === '' || !existsSync(dir) || !statSync(dir).isDirectory()) ctx.addIssue({ code: 'custom', message: `${flag}: directory ${dir} does not exist; create it or pick another file` });
    else if (existsSync(f) && statSync(f).isDirectory()) ctx.addIssue({ code: 'custom', message: `${flag}: ${f} is a directory; give a file name` });
  });

const CalibrateOptsSchema = z.object({
  quick: z.boolean().optional(),
  json: z.boolean().optional(),
  out: outFile('--out').optional(),
  costModelOut: outFile('--cost-model-out').optional(),
  threads: z.number().int('--threads must be a whole number of threads').min(1, '--threads must be at least 1').max(MAX_THREADS, `--threads must be at most ${MAX_THREADS}`).optional(),
  simulate: z.boolean(),
  progress: z.boolean(),
});
type CalibrateCliOpts = z.infer<typeof CalibrateOptsSchema>;

function checkOpts(raw: unknown): CalibrateCliOpts {
  const r = CalibrateOptsSchema.safeParse(raw);
  if (!r.success) throw new UsageError(r.error.issues[0].message);
  return r.data;
}

async function cmdCalibrate(o: CalibrateCliOpts): Promise<number> {
  const showBar = o.progress && process.stderr.isTTY === true && !(o.json && process.stdout.isTTY !== true);
  const bar = showBar ? new SingleBar({ format: 'calibrate [{bar}] {value}/{total} | {step}', stream: process.stderr, hideCursor: true }, Presets.shades_classic) : null;
  let started = 0;
  let c: Awaited<ReturnType<typeof runCalibration>>;
  try {
    c = await runCalibration({
      quick: o.quick === true,
      threads: o.threads,
      simulate: o.simulate,
      onProgress: (done, total, label) => {
        if (!bar) return;
        if (done === 0) {
          if (started++ > 0) bar.stop();
          bar.start(total, 0, { step: label });
        } else bar.update(done, { step: label });
      },
    });
  } finally {
    bar?.stop();
  }
  const json = `${JSON.stringify(c.profile, null, 2)}\n`;
  if (o.out !== undefined) writeFileAtomic(o.out, json);
  if (o.costModelOut !== undefined) writeFileAtomic(o.costModelOut, `${JSON.stringify(c.costModelFile, null, 2)}\n`);
  const written = [o.out && `profile written to ${o.out}`, o.costModelOut && `cost model written to ${o.costModelOut} (use: tlbsim run --cost-model ${o.costModelOut}, tlbsim validate --cost-model ${o.costModelOut})`].filter(Boolean);
  await writeStdout(o.json ? json : `${formatCalibration(c.profile)}\n${written.length ? `\n${written.join('\n')}\n` : ''}`);
  return 0;
}

/** Add `tlbsim calibrate` to `program`. */
export function registerCalibrate(program: Command): void {
  program
    .command('calibrate')
    .description("measure real TLB shootdowns on this host's kernel (a C microbenchmark built with the host's cc), fit the cost model to them, and compare the simulator (about 2 min; --quick under 1 min on 2 cores)")
    .addOption(new Option('--quick', 'short run: fewer repetitions, shorter points, fewer munmap lengths'))
    .addOption(new Option('--json', 'print the profile as one JSON object on stdout'))
    .addOption(new Option('--out <file>', 'also write the host profile (JSON) to this file'))
    .addOption(new Option('--cost-model-out <file>', 'write the fitted cost model here (a file --cost-model accepts)'))
    .addOption(new Option('--threads <n>', 'threads up to N (default: every CPU of the affinity mask)').argParser(num('--threads')))
    .addOption(new Option('--no-simulate', 'skip running the simulator beside the host'))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .exitOverride()
    .action(async (_o: unknown, cmd: Command) => {
      process.exitCode = await cmdCalibrate(checkOpts(cmd.opts()));
    });
}
