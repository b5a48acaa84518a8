/**
 * Result files are written atomically: a temporary file in the same folder,
 * then a rename over the target, so a reader (or a crash, or Ctrl-C) never
 * sees half a file.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Write `text` to `path` atomically (same-folder temporary file, then rename). */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
