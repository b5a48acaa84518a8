/**
 * The host-side microbenchmark of `tlbsim calibrate`: native/shootdown.c,
 * shipped in the package, compiled with the host's own C compiler and run
 * as a child process.
 *
 * Invariants:
 * - Nothing is downloaded: the compiler is `$CC` if set, else `cc` on PATH;
 *   when neither runs, `CompilerMissing` says so in one line (exit 2).
 * - The binary is built into a fresh temporary directory per calibration and
 *   removed with it; each measurement gets its own snapshot directory, where
 *   the program copies /proc/interrupts and /proc/vmstat right before its
 *   first and right after its last timed repetition (see shootdown.c).
 * - Output is checked with zod: a program that printed something else is a
 *   failure of this tool (exit 1), not a number to fit.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';
import { ConfigError } from '../../config/config.js';

const run = promisify(execFile);

/** Optimisation level: the loops are syscall-bound; -O2 only keeps the spin and touch loops tight. */
const CFLAGS = ['-O2', '-pthread', '-std=gnu11'];

/** No C compiler on this host: one line, exit 2 (bad input: the host lacks what the command needs). */
export class CompilerMissing extends ConfigError {}

/** native/shootdown.c in this checkout or installed package (dist/src/calibrate/ and src/campaigns/calibrate/ both sit two levels under the root). */
function shootdownSource(): string {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../../../native/shootdown.c', here) : new URL('../../../../native/shootdown.c', here);
  const path = fileURLToPath(url);
  if (!existsSync(path)) throw new Error(`${path} is missing: the package ships native/shootdown.c`);
  return path;
}

/** The compiler to use: `$CC` (as set, may be a path) or `cc`. */
function compilerOf(env: NodeJS.ProcessEnv = process.env): string {
  const cc = env.CC?.trim();
  return cc === undefined || cc === '' ? 'cc' : cc;
}

/** A compiled shootdown binary in its own temporary directory. */
export interface ShootdownBinary {
  path: string;
  dir: string;
  compiler: string;
  /** `cc --version`'s first line. */
  compilerVersion: string;
}

/**
 * Compile native/shootdown.c.
 * @throws CompilerMissing when the compiler cannot be started; Error when it fails on the source.
 */
export async function buildShootdown(env: NodeJS.ProcessEnv = process.env): Promise<ShootdownBinary> {
  const compiler = compilerOf(env);
  let version: string;
  try {
    version = (await run(compiler, ['--version'], { env })).stdout.split('\n')[0].trim();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const how = env.CC?.trim() ? `CC=${compiler} could not be run` : "no 'cc' on PATH";
    throw new CompilerMissing(`calibrate needs a C compiler to build its microbenchmark: ${how}${code === 'ENOENT' ? '' : ` (${String(code)})`}; install gcc or clang, or set CC=/path/to/compiler`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tlbsim-calibrate-'));
  const path = join(dir, 'shootdown');
  try {
    await run(compiler, [...CFLAGS, '-o', path, shootdownSource()], { env });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = String((e as { stderr?: string }).stderr ?? '').trim().split('\n')[0];
    throw new Error(`${compiler} could not compile native/shootdown.c: ${stderr}`);
  }
  return { path, dir, compiler, compilerVersion: version };
}

/** Remove the binary and its snapshots. */
export function removeShootdown(b: ShootdownBinary): void {
  rmSync(b.dir, { recursive: true, force: true });
}

const InfoSchema = z.object({ cpus: z.array(z.number().int().nonnegative()).min(1), page_size: z.number().int().positive() });
/** The CPUs of the affinity mask (sched_getaffinity) and the page size. */
type HostAffinity = z.infer<typeof InfoSchema>;

/** One timed repetition: per thread, operations done and nanoseconds taken. */
const RepSchema = z.object({ ops: z.array(z.number().int().nonnegative()), ns: z.array(z.number().int().nonnegative()) });
const RunSchema = z.object({
  op: z.enum(['madvise', 'munmap']),
  pages: z.number().int().positive(),
  threads: z.number().int().positive(),
  role: z.enum(['all', 'spin']),
  cpus: z.array(z.number().int().nonnegative()),
  reps: z.array(RepSchema).min(1),
});

/** What one invocation measured, with the kernel's counters around the timed repetitions. */
export interface ShootdownRun extends z.infer<typeof RunSchema> {
  /** /proc/interrupts before and after (null: unreadable). */
  interrupts: { before: string; after: string } | null;
  /** /proc/vmstat before and after (null: unreadable). */
  vmstat: { before: string; after: string } | null;
}

/** The affinity mask the program pins its threads to. */
export async function shootdownInfo(b: ShootdownBinary): Promise<HostAffinity> {
  const { stdout } = await run(b.path, ['info']);
  return InfoSchema.parse(JSON.parse(stdout));
}

/** One measurement point. */
export interface ShootdownPoint {
  op: 'madvise' | 'munmap';
  /** Pages per madvise, or pages per mmapped-and-unmapped range. */
  pages: number;
  /** Threads of the process (pinned to the first `threads` CPUs of the mask). */
  threads: number;
  /** madvise: every thread runs the loop (tlb_flush2) or only thread 0 (the others spin). munmap: always spin. */
  role: 'all' | 'spin';
}

let snapSeq = 0;

/** Run one point: one untimed warm-up and `reps` repetitions of `budgetMs` each. */
export async function runShootdown(b: ShootdownBinary, p: ShootdownPoint, budgetMs: number, reps: number): Promise<ShootdownRun> {
  const snap = join(b.dir, `snap-${snapSeq++}`);
  mkdirSync(snap);
  const args =
    p.op === 'madvise'
      ? ['madvise', String(p.pages), String(p.threads), p.role, String(budgetMs), String(reps), snap]
      : ['munmap', String(p.pages), String(p.threads), String(budgetMs), String(reps), snap];
  let stdout: string;
  try {
    stdout = (await run(b.path, args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? '').trim().split('\n')[0];
    throw new Error(`the shootdown microbenchmark failed on ${args.slice(0, 4).join(' ')}: ${stderr || String(e)}`);
  }
  const parsed = RunSchema.parse(JSON.parse(stdout));
  const pair = (name: string): { before: string; after: string } | null => {
    const bf = join(snap, `${name}.before`);
    const af = join(snap, `${name}.after`);
    return existsSync(bf) && existsSync(af) ? { before: readFileSync(bf, 'utf8'), after: readFileSync(af, 'utf8') } : null;
  };
  return { ...parsed, interrupts: pair('interrupts'), vmstat: pair('vmstat') };
}
