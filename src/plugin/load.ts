/**
 * Loading plug-ins (docs/extending.md) in the main thread: compile a .ts/.js
 * module once with esbuild to an ESM .mjs under the OS temp dir (named by the
 * hash of its bundled source, so piscina threads and later runs reuse it),
 * import it, check its default export's shape with zod, and hand the workers
 * the .mjs URL to import before the run.
 *
 * Invariants:
 * - A plug-in's `import ... from 'tlbsim'` resolves to a tiny module with the
 *   identity helpers only (defineProtocol, defineScenario): anything else it
 *   imports at run time from tlbsim is a build error, so no second copy of
 *   the engine loads in a worker.
 * - Every problem (missing file, build error, missing or malformed default
 *   export, a name that shadows a built-in) is a PluginError (a ConfigError:
 *   one line naming the file, exit 2) raised before any worker starts.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { z } from 'zod';
import { isPluginPath, PROTOCOLS, WORKLOADS, type SimConfig } from '../config/config.js';
import type { ProtocolPlugin, ScenarioPlugin } from './api.js';
import { PluginError } from './errors.js';
import { rememberScenario } from './registry.js';


/** Where compiled plug-ins go (one file per distinct bundled source). */
const PLUGIN_DIR = join(tmpdir(), 'tlbsim-plugins');

/** What `import ... from 'tlbsim'` gives a plug-in at run time. */
const TLBSIM_SHIM = 'export const defineProtocol = (p) => p;\nexport const defineScenario = (s) => s;\n';

const shimTlbsim: Plugin = {
  name: 'tlbsim-shim',
  setup(b) {
    b.onResolve({ filter: /^tlbsim$/ }, () => ({ path: 'tlbsim', namespace: 'tlbsim-shim' }));
    b.onLoad({ filter: /.*/, namespace: 'tlbsim-shim' }, () => ({ contents: TLBSIM_SHIM, loader: 'js' }));
  },
};

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message: 'must be a function' });
const partialConfig = z.record(z.string(), z.unknown());
const protocolSchema = z.object({ kind: z.literal('protocol'), name: z.string().min(1), summary: z.string(), start: fn });
const scenarioSchema = z.object({
  kind: z.literal('scenario'),
  name: z.string().min(1),
  summary: z.string(),
  effect: z.enum(['lost write', 'access after unmap', 'write after protect', 'read after protect', 'use after free']),
  defaults: partialConfig,
  buggy: partialConfig,
  initiators: fn,
  run: fn,
});

/** A loaded plug-in: its module URL (what workers import) and its validated default export. */
interface Loaded<P> {
  readonly file: string;
  readonly url: string;
  readonly plugin: P;
}

const cache = new Map<string, Promise<Loaded<ProtocolPlugin | ScenarioPlugin>>>();

async function compile(file: string): Promise<string> {
  const abs = resolve(file);
  if (!existsSync(abs)) throw new PluginError(`plug-in ${file}: no such file (give a path to a .ts or .js module, e.g. ./examples/my-race.ts)`);
  let code: string;
  try {
    const out = await build({ entryPoints: [abs], bundle: true, write: false, format: 'esm', platform: 'node', target: 'node20', logLevel: 'silent', plugins: [shimTlbsim] });
    code = out.outputFiles[0].text;
  } catch (e) {
    const first = (e as { errors?: { text: string; location?: { line: number } | null }[] }).errors?.[0];
    const where = first?.location ? ` (line ${first.location.line})` : '';
    if (first?.text.includes('tlbsim-shim')) {
      throw new PluginError(`plug-in ${file}: imports a value from 'tlbsim' (line ${first.location?.line ?? '?'}): a plug-in imports only types from tlbsim (import type {...}) and gets every function through its arguments`);
    }
    throw new PluginError(`plug-in ${file}: does not compile${where}: ${first?.text ?? String(e)}`);
  }
  mkdirSync(PLUGIN_DIR, { recursive: true });
  const out = join(PLUGIN_DIR, `${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, code);
    renameSync(tmp, out);
  }
  return pathToFileURL(out).href;
}

async function loadUncached(file: string): Promise<Loaded<ProtocolPlugin | ScenarioPlugin>> {
  const url = await compile(file);
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (e) {
    throw new PluginError(`plug-in ${file}: throws while loading: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (mod.default === undefined) throw new PluginError(`plug-in ${file}: no default export (end it with export default defineProtocol({...}) or defineScenario({...}))`);
  const kind = (mod.default as { kind?: unknown } | null)?.kind;
  const schema = kind === 'scenario' ? scenarioSchema : protocolSchema;
  const r = schema.safeParse(mod.default);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new PluginError(`plug-in ${file}: default export is not a ${kind === 'scenario' ? 'scenario' : 'protocol'} plug-in: ${i.path.length > 0 ? `'${i.path.join('.')}' ` : ''}${i.message}`);
  }
  const name = (mod.default as { name: string }).name;
  if ((PROTOCOLS as readonly string[]).includes(name) || (WORKLOADS as readonly string[]).includes(name) || isPluginPath(name)) {
    throw new PluginError(`plug-in ${file}: name '${name}' is a built-in's (or a path): pick another name`);
  }
  return { file, url, plugin: mod.default as ProtocolPlugin | ScenarioPlugin };
}

async function load(file: string, kind: 'protocol' | 'scenario', flag: string): Promise<Loaded<ProtocolPlugin | ScenarioPlugin>> {
  let p = cache.get(file);
  if (!p) {
    p = loadUncached(file);
    cache.set(file, p);
    p.catch(() => cache.delete(file));
  }
  const l = await p;
  if (l.plugin.kind !== kind) throw new PluginError(`plug-in ${file}: is a ${l.plugin.kind} plug-in, but ${flag} takes a ${kind} plug-in`);
  return l;
}

/** Load a protocol plug-in (`--protocol ./mine.ts`). */
export async function loadProtocolPlugin(file: string): Promise<Loaded<ProtocolPlugin>> {
  return (await load(file, 'protocol', '--protocol')) as Loaded<ProtocolPlugin>;
}

/** Load a scenario plug-in (`--scenario ./race.ts`) and remember it for scenarioConfig (registry.ts). */
export async function loadScenarioPlugin(file: string): Promise<Loaded<ScenarioPlugin>> {
  const l = (await load(file, 'scenario', '--scenario')) as Loaded<ScenarioPlugin>;
  rememberScenario(file, l.plugin);
  return l;
}

/** The module URLs a machine's workers import for `c` (empty without plug-ins); loads and checks them. */
export async function pluginUrls(c: SimConfig): Promise<{ protocol?: string; workload?: string; initiators?: number[] }> {
  const out: { protocol?: string; workload?: string; initiators?: number[] } = {};
  if (isPluginPath(c.protocol)) out.protocol = (await loadProtocolPlugin(c.protocol)).url;
  if (isPluginPath(c.workload)) {
    const s = await loadScenarioPlugin(c.workload);
    out.workload = s.url;
    try {
      out.initiators = s.plugin.initiators(c);
    } catch (e) {
      throw new PluginError(`plug-in ${c.workload}: initiators() threw: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return out;
}

/** If a run failed inside plug-in code, the PluginError to raise (one line, exit 2); else null. */
export function pluginFailure(error: string | undefined): PluginError | null {
  const m = error === undefined ? null : /PluginFault: (.*)/.exec(error);
  return m ? new PluginError(m[1].split('\n')[0]) : null;
}

