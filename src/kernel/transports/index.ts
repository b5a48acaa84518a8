/**
 * Choosing the flush transport, once per CPU when it is built (Cpu's
 * constructor), as Linux fixes pv_ops.mmu.flush_tlb_multi and the
 * X86_FEATURE_INVLPGB static branch at boot (see types.ts). `--arch arm64`
 * has one transport (broadcast TLBI); on x86 `--transport` picks one.
 * Add a transport by implementing FlushTransport in a module here, listing it
 * below and its name in config.ts TRANSPORTS.
 */
import type { SimConfig, TransportName } from '../../config/config.js';
import { arm64TlbiTransport } from './arm64Tlbi.js';
import { contextResetTransport } from './contextReset.js';
import { invlpgbTransport } from './invlpgb.js';
import { ipiTransport } from './ipi.js';
import { rarTransport } from './rar.js';
import type { FlushTransport } from './types.js';

const X86_TRANSPORTS: { readonly [N in TransportName]: (c: SimConfig) => FlushTransport } = {
  ipi: ipiTransport,
  invlpgb: invlpgbTransport,
  rar: rarTransport,
  'context-reset': contextResetTransport,
};

/** The transport a CPU of configuration `c` flushes with (resolveConfig has checked the combination). */
export function chooseFlushTransport(c: SimConfig): FlushTransport {
  return c.arch === 'arm64' ? arm64TlbiTransport : X86_TRANSPORTS[c.transport](c);
}
