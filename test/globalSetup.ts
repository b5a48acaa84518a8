/** Refuse to run the tests against a build older than its sources (see test/buildFreshness.ts). */
import { fileURLToPath } from 'node:url';
import { staleBuildReason } from './buildFreshness.js';

export default function setup(): void {
  const reason = staleBuildReason(fileURLToPath(new URL('..', import.meta.url)));
  if (reason) throw new Error(`stale build: ${reason}`);
}
