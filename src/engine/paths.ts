/**
 * Where the compiled worker entry points live. Workers always run compiled
 * JavaScript from dist/ (a TypeScript loader in every one of hundreds of
 * workers would cost start-up time and memory); when this module itself runs
 * from TypeScript sources (vitest), it points at dist/ of the same checkout,
 * so `npm run build` must have run first (`npm test` does).
 *
 * The CPU worker is one esbuild bundle (CommonJS): loading ~35 ESM modules
 * cost ~25 ms per worker, which is most of a 256-CPU machine's start-up.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function resolveCompiled(rel: string): URL {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL(`../../dist/${rel}`, here) : new URL(`../../${rel}`, here);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error(`compiled worker ${fileURLToPath(url)} is missing: run 'npm run build' first`);
  }
  return url;
}

/** The CPU worker (one per simulated CPU). */
export function cpuWorkerUrl(): URL {
  return resolveCompiled('workers/cpu.bundle.cjs');
}

/** The piscina task that runs stress iterations. */
export function stressWorkerUrl(): URL {
  return resolveCompiled('workers/stressTask.js');
}

/** The piscina task that runs one sweep point. */
export function sweepWorkerUrl(): URL {
  return resolveCompiled('workers/sweepTask.js');
}

/** The raw IPI baseline target of `tlbsim bench` (no simulator code: the floor the engine is compared with). */
export function rawIpiWorkerUrl(): URL {
  return resolveCompiled('workers/rawIpiWorker.js');
}

/** The echo worker of `tlbsim bench`'s message-passing limits. */
export function benchEchoWorkerUrl(): URL {
  return resolveCompiled('workers/benchEcho.js');
}

/** The child-process script that boots one machine for `tlbsim bench`'s start-up figures. */
export function startupChildUrl(): URL {
  return resolveCompiled('workers/startupChild.js');
}

/** The raw hand-off workers of `tlbsim bench`'s seeded-step floor. */
export function benchHandoffWorkerUrl(): URL {
  return resolveCompiled('workers/benchHandoff.js');
}
