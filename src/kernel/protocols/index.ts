/**
 * Protocol registry: the reclaim protocols, name -> implementation. Add one
 * by implementing `UnmapProtocol` and listing it here (and its name in
 * config.ts ReclaimProtocolName). How their flushes reach other CPUs is the
 * CPU's FlushTransport (../transports/), not a protocol: `--protocol
 * invlpgb|rar|context-reset` are aliases of batched reclaim over that
 * transport (config.ts reclaimProtocolOf).
 */
import { reclaimProtocolOf, type ProtocolName, type ReclaimProtocolName } from '../../config/config.js';
import { batchedProtocol } from './batched.js';
import { perPageProtocol } from './perPage.js';
import { rikProtocol } from './rik.js';
import { lufProtocol } from './luf.js';
import type { UnmapProtocol } from './types.js';

export const PROTOCOL_REGISTRY: { readonly [N in ReclaimProtocolName]: UnmapProtocol } = {
  'per-page': perPageProtocol,
  batched: batchedProtocol,
  rik: rikProtocol,
  luf: lufProtocol,
};

/** The reclaim protocol `--protocol name` runs (an alias runs batched). */
export function getProtocol(name: ProtocolName): UnmapProtocol {
  return PROTOCOL_REGISTRY[reclaimProtocolOf(name)];
}

export type { UnmapProtocol } from './types.js';
export { flushTlbBatchedPending, tryToUnmapFlush, tryToUnmapFlushDirty, setTlbUbcFlushPending } from './batched.js';
