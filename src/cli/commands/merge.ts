/** `tlbsim merge`: combine the --out folders of a sharded sweep, stress campaign or exploration. */
import { type Command, Option } from 'commander';
import { formatExplore, toJson } from '../../output/report.js';
import { mergeDirs } from '../../campaigns/merge.js';
import { checkOutputDir } from '../../output/outputPaths.js';
import { writeStdout } from './options.js';

interface MergeCliOpts {
  out: string;
  json?: boolean;
}

async function cmdMerge(dirs: string[], o: MergeCliOpts): Promise<number> {
  checkOutputDir('--out', o.out); // before any shard is read
  const r = await mergeDirs(dirs, o.out);
  const summary =
    r.kind === 'sweep'
      ? `tlbsim merge: ${r.shards} sweep shards, ${r.sweep!.points.length} points -> ${o.out} (${r.files.length} files)`
      : r.kind === 'stress'
        ? `tlbsim merge: ${r.shards} stress shards, ${r.stress!.iterations} iterations, ${r.stress!.racy_iterations} racy${r.stress!.first_race ? `, earliest race at iteration ${r.stress!.first_race.iteration}` : ''} -> ${o.out}`
        : // The verdict an unsharded exploration prints (its time: the shards' times added up), then what was merged.
          `${formatExplore(r.explore!)}\ntlbsim merge: ${r.shards} explore shards -> ${o.out}/explore.json`;
  await writeStdout(`${o.json ? toJson({ kind: r.kind, shards: r.shards, out: o.out, files: r.files }) : summary}\n`);
  return 0;
}

/** Add `tlbsim merge` to `program`. */
export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description("combine the --out folders of a sharded sweep, stress campaign or exploration into what the unsharded run writes")
    .argument('<dirs...>', 'the shard folders (every shard, once)')
    .addOption(new Option('--out <dir>', 'folder to write the merged result to').makeOptionMandatory())
    .addOption(new Option('--json', 'print a JSON summary on stdout'))
    .exitOverride()
    .action(async (dirs: string[], _o: MergeCliOpts, cmd: Command) => {
      process.exitCode = await cmdMerge(dirs, cmd.opts<MergeCliOpts>());
    });
}
