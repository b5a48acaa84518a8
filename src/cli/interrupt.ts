/**
 * Ctrl-C and SIGTERM for long commands: the first signal asks the work to
 * stop (an AbortSignal) and lets it return what it measured so far; a second
 * one exits at once.
 *
 * Invariants:
 * - Handlers are installed only for the duration of `withInterrupts` and
 *   always removed, so a library caller's own handlers are untouched.
 * - The exit code follows the shell convention: 128 + signal number (130 for
 *   SIGINT, 143 for SIGTERM).
 */

/** The signals handled, with their shell exit codes. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type HandledSignal = keyof typeof SIGNAL_EXIT_CODES;

/** What `withInterrupts` returns: the work's value and the exit code a signal asked for (null: none came). */
interface Interruptible<T> {
  value: T;
  signalExitCode: number | null;
}

/**
 * Run `work` with SIGINT/SIGTERM turned into an AbortSignal. The first
 * signal aborts it with the reason "interrupted by SIGINT" and `work` is
 * expected to resolve with a partial result; a second signal exits the
 * process at once with that signal's code.
 */
export async function withInterrupts<T>(work: (signal: AbortSignal) => Promise<T>, onFirst?: (sig: HandledSignal) => void): Promise<Interruptible<T>> {
  const ac = new AbortController();
  let first: HandledSignal | null = null;
  const handler = (sig: HandledSignal): void => {
    if (first !== null) process.exit(SIGNAL_EXIT_CODES[sig]);
    first = sig;
    onFirst?.(sig);
    ac.abort(`interrupted by ${sig}`);
  };
  const onInt = (): void => handler('SIGINT');
  const onTerm = (): void => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const value = await work(ac.signal);
    const sig = first as HandledSignal | null;
    return { value, signalExitCode: sig === null ? null : SIGNAL_EXIT_CODES[sig] };
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
