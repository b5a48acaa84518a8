/**
 * The flush mechanisms `tlbsim validate --mechanisms` compares, and one
 * preset per mechanism (src/scenarios/preset.ts): the lab's `frame-reuse`
 * scenario run with that mechanism, the seeded stress campaign the
 * comparison runs for each (`tlbsim stress --scenario frame-reuse-rar`).
 *
 * Invariant: a mechanism preset is `frame-reuse`'s machine with only the
 * protocol and the IPI fan-out changed, so the mechanisms race on the same
 * workload.
 */
import type { IpiFanout, ProtocolName } from '../config/config.js';
import { SCENARIOS } from './lab.js';
import type { Preset } from './preset.js';

/** A mechanism of the comparison: a protocol, and the IPI fan-out its rounds use. */
export interface Mechanism {
  /** As printed: the protocol, with ` (tree)` for multicast fan-out. */
  name: string;
  protocol: ProtocolName;
  ipiFanout: IpiFanout;
}
/** The mechanisms compared, Gorman's batching (the baseline) first. */
export const COMPARED_MECHANISMS: readonly Mechanism[] = [
  { name: 'batched', protocol: 'batched', ipiFanout: 'serial' },
  { name: 'batched (tree)', protocol: 'batched', ipiFanout: 'tree' },
  { name: 'invlpgb', protocol: 'invlpgb', ipiFanout: 'serial' },
  { name: 'rar', protocol: 'rar', ipiFanout: 'serial' },
  { name: 'luf', protocol: 'luf', ipiFanout: 'serial' },
  { name: 'context-reset', protocol: 'context-reset', ipiFanout: 'serial' },
];

/** The preset name of a mechanism: `frame-reuse-` and its protocol, `-tree` for multicast fan-out. */
export function mechanismPresetName(m: Mechanism): string {
  return `frame-reuse-${m.protocol}${m.ipiFanout === 'serial' ? '' : `-${m.ipiFanout}`}`;
}

/** `frame-reuse` with each compared mechanism. */
export const MECHANISM_PRESETS: readonly Preset[] = COMPARED_MECHANISMS.map((m) => ({
  name: mechanismPresetName(m),
  kind: 'mechanism',
  summary: `frame-reuse with ${m.name}: the seeded stress campaign of tlbsim validate --mechanisms for this mechanism`,
  defaults: { ...SCENARIOS['frame-reuse'].defaults, protocol: m.protocol, ipiFanout: m.ipiFanout },
}));
