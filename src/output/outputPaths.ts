/**
 * Output paths are checked before anything runs: a run that cannot write its
 * result is refused up front (one line naming the path and the reason, exit
 * 2) instead of failing with a raw ENOENT after the whole simulation.
 *
 * Invariants:
 * - The checks only look (stat, access); they create nothing, so a refused
 *   command leaves no file and no folder behind.
 * - A file is written atomically (src/output/atomicWrite.ts: a temporary file in the
 *   same folder, then a rename), so its folder must exist and be writable; a
 *   folder (`stress`, `sweep`, `merge` `--out DIR`) is created with its
 *   missing parents, so its nearest existing ancestor must be a writable
 *   folder.
 * - Every failure is a ConfigError (src/cli.ts prints it as one line, exit 2).
 */
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../config/params.js';

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Why `path` (an existing folder) cannot take new entries, or null when it can. */
function folderUnwritable(path: string): string | null {
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
    return null;
  } catch (e) {
    return `folder ${path} is not writable (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

/**
 * `flag FILE` will be written (atomically): its folder must exist and be
 * writable, and FILE must not be a folder.
 * @throws ConfigError naming the flag, the path and the reason.
 */
export function checkOutputFile(flag: string, file: string): void {
  const fail = (why: string): never => {
    throw new ConfigError(`${flag} ${file}: ${why}`);
  };
  if (file.trim() === '') fail('an empty path; give a file name');
  const target = statOrNull(file);
  if (target?.isDirectory()) fail('is a folder; give a file name inside it');
  const dir = dirname(resolve(file));
  const parent = statOrNull(dir);
  if (parent === null) fail(`folder ${dir} does not exist; create it first or pick another path`);
  if (!parent!.isDirectory()) fail(`${dir} is not a folder; pick another path`);
  const why = folderUnwritable(dir);
  if (why !== null) fail(`${why}; pick another path`);
}

/**
 * `flag DIR` will be created if missing (with its parents) and written
 * into: DIR, when it exists, must be a writable folder; otherwise its
 * nearest existing ancestor must be.
 * @throws ConfigError naming the flag, the path and the reason.
 */
export function checkOutputDir(flag: string, dir: string): void {
  const fail = (why: string): never => {
    throw new ConfigError(`${flag} ${dir}: ${why}`);
  };
  if (dir.trim() === '') fail('an empty path; give a folder');
  let at = resolve(dir);
  for (;;) {
    const s = statOrNull(at);
    if (s !== null) {
      if (!s.isDirectory()) fail(at === resolve(dir) ? 'is a file, not a folder; give a folder' : `${at} is a file, so the folder cannot be made; pick another path`);
      const why = folderUnwritable(at);
      if (why !== null) fail(`${why}; pick another path`);
      return;
    }
    const up = dirname(at);
    if (up === at) fail('no part of it exists; pick another path');
    at = up;
  }
}
