/**
 * No dead exports: every name a module under src/ exports is used by
 * another file (src/, workers/, bench/, test/, examples/), or re-exported by
 * the library entry src/index.ts. An export used only in its own file is a
 * module-private name with a public door; drop the `export`.
 *
 * The check is textual (the name as a whole word in another file), so it
 * can miss a dead export whose name happens to occur elsewhere, but it never
 * calls a used export dead. Biome (`npm run lint`) and `noUnusedLocals`
 * (tsconfig.json) cover unused code inside a file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCANNED = ['src', 'workers', 'bench', 'test', 'examples'];

function tsFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Names a module declares as exported (not names it re-exports from another module). */
function exportedNames(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(/^export\s+(?:declare\s+)?(?:default\s+)?(?:async\s+)?(?:abstract\s+)?(?:function\*?|const|let|var|class|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm)) names.add(m[1]!);
  for (const m of source.matchAll(/^export\s+(?:type\s+)?\{([^}]*)\}\s*(?!from)[;\n]/gm)) {
    for (const part of m[1]!.split(',')) {
      const name = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/).pop()!.trim();
      if (name !== '') names.add(name);
    }
  }
  return [...names];
}

describe('exports', () => {
  it('every export under src/ is used outside its own file', () => {
    const files = SCANNED.flatMap((d) => tsFiles(join(ROOT, d)));
    const text = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
    const dead: string[] = [];
    for (const f of files) {
      const rel = relative(ROOT, f);
      if (!rel.startsWith('src/') || rel === 'src/index.ts') continue;
      for (const name of exportedNames(text.get(f)!)) {
        const word = new RegExp(`(?<![\\w$])${name.replace(/\$/g, '\\$')}(?![\\w$])`);
        const usedElsewhere = files.some((g) => g !== f && word.test(text.get(g)!));
        if (!usedElsewhere) dead.push(`${rel}: ${name}`);
      }
    }
    expect(dead, `exports used only in their own file (remove the 'export'):\n${dead.join('\n')}`).toEqual([]);
  });
});
