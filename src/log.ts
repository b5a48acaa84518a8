/**
 * Structured logging (pino). Quiet by default; `--log-level info|debug|trace`
 * turns on JSON lines on stderr, so stdout stays clean for `--json` results.
 * Invariant: nothing on the per-access or per-IPI hot path logs; CPU workers do
 * not log at all (the coordinator logs run lifecycle and failures).
 */
import { pino, type Logger } from 'pino';

export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
export const LOG_LEVELS: readonly LogLevel[] = ['silent', 'error', 'warn', 'info', 'debug', 'trace'];

export type { Logger };

/** A logger writing JSON lines to stderr at `level`. */
export function createLogger(level: LogLevel = 'silent'): Logger {
  return pino({ name: 'tlbsim', level }, pino.destination(2));
}

/** A logger that drops everything (the library default). */
export const silentLogger: Logger = pino({ level: 'silent' });
