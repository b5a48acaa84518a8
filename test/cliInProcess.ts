/**
 * Run the CLI's `main(argv)` (src/cli.ts) inside the test process, for tests
 * about what a command prints and returns on bad input, where spawning
 * `node dist/src/cli.js` would cost a process start and a module load per
 * case (~0.3-0.5 s each, most of a table of one-line error cases).
 *
 * Invariants:
 * - One call at a time: it swaps `process.stdout.write` and
 *   `process.stderr.write` for collectors and always restores them, and
 *   resets `process.exitCode` (the commands set it) before and after.
 * - It sees what the CLI writes through `process.stdout` / `process.stderr`
 *   (commander, the `tlbsim: error:` line, results, progress). pino logs go
 *   to fd 2 directly and are not collected: use it only for commands that
 *   stop before they create their logger (bad flags, bad config files) or
 *   that log nothing and start no worker (`config --print`, `merge`), and
 *   keep real-process tests (test/helpers.ts `runCli`) for everything else,
 *   including a sample of the same bad-input cases.
 * - The status is `main`'s return value, the exit code the real entry point
 *   passes to `process.exit`; `null` means `main` did not settle within the
 *   hang guard (as `runCli` reports a process killed by its timeout).
 */
import { main } from '../src/cli.js';
import type { CliResult } from './helpers.js';

/** A hang guard, not a timing: bad input is refused before anything runs. */
const IN_PROCESS_HANG_GUARD_MS = 30_000;

type Write = typeof process.stdout.write;

/** A `write` that appends to `sink` and calls the caller's callback, as a stream that never blocks would. */
function collector(sink: { text: string }): Write {
  return ((chunk: string | Uint8Array, encOrCb?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void): boolean => {
    sink.text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const done = typeof encOrCb === 'function' ? encOrCb : cb;
    if (done) queueMicrotask(() => done(null));
    return true;
  }) as Write;
}

/** `tlbsim ...argv` in this process: its exit code, stdout and stderr. */
export async function runCliInProcess(argv: readonly string[]): Promise<CliResult> {
  const out = { text: '' };
  const err = { text: '' };
  const realOut = process.stdout.write;
  const realErr = process.stderr.write;
  process.exitCode = undefined;
  process.stdout.write = collector(out);
  process.stderr.write = collector(err);
  let guard: NodeJS.Timeout | undefined;
  try {
    const hang = new Promise<null>((resolve) => {
      guard = setTimeout(() => resolve(null), IN_PROCESS_HANG_GUARD_MS);
    });
    const status = await Promise.race([main([...argv]), hang]);
    return { status, stdout: out.text, stderr: err.text };
  } finally {
    clearTimeout(guard);
    process.stdout.write = realOut;
    process.stderr.write = realErr;
    process.exitCode = undefined;
  }
}
