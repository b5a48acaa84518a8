/**
 * Structured logging (pino). Quiet by default; `--log-level info|debug|trace`
 * turns on lines on stderr (pretty on a terminal, JSON lines otherwise), so
 * stdout stays clean for `--json` results; `--log-file FILE` also writes JSON
 * lines to FILE (at `info` when no level is given).
 * Invariant: nothing on the per-access or per-IPI hot path logs; CPU workers do
 * not log at all (the coordinator logs run lifecycle, failures and, at
 * `trace`, the flush events the CPUs recorded).
 */
import { pino, type DestinationStream, type Logger, type StreamEntry } from 'pino';
import pretty from 'pino-pretty';
import { openSync } from 'node:fs';
import { ConfigError } from '../config/params.js';

export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
export const LOG_LEVELS: readonly LogLevel[] = ['silent', 'error', 'warn', 'info', 'debug', 'trace'];

export type { Logger };

/** Where logs go besides stderr. */
interface LogOptions {
  /** Also write JSON lines here (appended; the folder must exist). */
  file?: string;
  /** Human-readable stderr (pino-pretty); default: when stderr is a terminal. */
  pretty?: boolean;
}

/** Level of `--log-file` when no `--log-level` is given: a file is asked for, so it should not stay empty. */
const LOG_FILE_DEFAULT_LEVEL: LogLevel = 'info';

/** A logger writing to stderr at `level` (and JSON lines to `opts.file`). */
export function createLogger(level: LogLevel = 'silent', opts: LogOptions = {}): Logger {
  const streams: StreamEntry<LogLevel>[] = [];
  if (level !== 'silent') {
    const toTerminal = opts.pretty ?? process.stderr.isTTY === true;
    const stderr: DestinationStream = toTerminal ? pretty({ destination: 2, sync: true, colorize: true }) : pino.destination({ dest: 2, sync: true });
    streams.push({ level, stream: stderr });
  }
  const fileLevel: LogLevel = level === 'silent' ? LOG_FILE_DEFAULT_LEVEL : level;
  if (opts.file !== undefined) streams.push({ level: fileLevel, stream: pino.destination({ dest: openLogFile(opts.file), sync: true }) });
  if (streams.length === 0) return pino({ name: 'tlbsim', level: 'silent' });
  const lowest = LOG_LEVELS.filter((l) => streams.some((s) => s.level === l)).sort((a, b) => LOG_LEVELS.indexOf(b) - LOG_LEVELS.indexOf(a))[0];
  return pino({ name: 'tlbsim', level: lowest }, pino.multistream(streams));
}

/**
 * Open `file` for appending (its folder must exist) now, so a path that cannot be
 * written is one line of bad input before anything runs.
 * @throws ConfigError naming the path and why.
 */
function openLogFile(file: string): number {
  try {
    return openSync(file, 'a');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`--log-file ${file}: cannot open it for writing (${code}); give a path in a writable folder`);
  }
}

/** A logger that drops everything (the library default). */
export const silentLogger: Logger = pino({ level: 'silent' });
