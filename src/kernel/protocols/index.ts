/**
 * Protocol registry: name -> implementation. Add a protocol by implementing
 * `UnmapProtocol` and listing it here (and its name in config.ts PROTOCOLS).
 */
import type { ProtocolName } from '../../config/config.js';
import { batchedProtocol } from './batched.js';
import { perPageProtocol } from './perPage.js';
import { rikProtocol } from './rik.js';
import { lufProtocol } from './luf.js';
import { contextResetProtocol, invlpgbProtocol, rarProtocol } from './transports.js';
import type { UnmapProtocol } from './types.js';

export const PROTOCOL_REGISTRY: { readonly [N in ProtocolName]: UnmapProtocol } = {
  'per-page': perPageProtocol,
  batched: batchedProtocol,
  rik: rikProtocol,
  invlpgb: invlpgbProtocol,
  rar: rarProtocol,
  luf: lufProtocol,
  'context-reset': contextResetProtocol,
};

export function getProtocol(name: ProtocolName): UnmapProtocol {
  return PROTOCOL_REGISTRY[name];
}

export type { UnmapProtocol } from './types.js';
export { flushTlbBatchedPending, tryToUnmapFlush, tryToUnmapFlushDirty, setTlbUbcFlushPending } from './batched.js';
