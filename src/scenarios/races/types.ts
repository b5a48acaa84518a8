/**
 * What a catalogue entry says about a known Linux TLB-coherence race.
 *
 * Invariant: `buggy` and `fixed` are the only difference between the two
 * sides of a scenario: each names exactly the kernel path the fix changed
 * (a config knob), nothing else; `fixed` is today's default behaviour.
 */
import type { SimConfig, SyscallName, WorkloadName } from '../../config/config.js';

/** What goes wrong on the buggy side (the oracle's race kinds, in words). */
export type RaceEffect = 'lost write' | 'access after unmap' | 'write after protect' | 'read after protect' | 'use after free';

/** Which side of a scenario runs: the kernel before or after the fix. */
export type KernelSide = 'buggy' | 'fixed';
export const KERNEL_SIDES: readonly KernelSide[] = ['buggy', 'fixed'];

/** How `introduced` reads for a planted ablation: the buggy side never shipped. */
export const ABLATION = 'ablation: never shipped';

/** True if the entry's buggy side never shipped in a release (a planted ablation, not a historical bug). */
export function isAblation(e: RaceEntry): boolean {
  return e.introduced.startsWith('ablation');
}

export interface RaceEntry {
  /** Catalogue name (`tlbsim stress --scenario NAME`). */
  readonly name: string;
  /** Year the fix went in. */
  readonly year: number;
  /** The fixing commit's id (12 hex digits) in torvalds/linux. */
  readonly commit: string;
  /** The fixing commit's title. */
  readonly title: string;
  /** The fixing commit's author. */
  readonly author: string;
  /** The first mainline release with the fix (x.y). */
  readonly release: string;
  /**
   * The commit that introduced the bug (`id ("title")`), or `ablation:
   * never shipped` when no released kernel had the buggy side (the scenario
   * removes a safeguard that came in the same release as what it guards),
   * or why none is named.
   */
  readonly introduced: string;
  /** Architecture the race needs (`any` when the generic mm code is at fault). */
  readonly arch: string;
  readonly effect: RaceEffect;
  /** One line: what goes wrong. */
  readonly summary: string;
  /** The workload that plays the interleaving. */
  readonly workload: WorkloadName;
  /** The machine both sides run. */
  readonly defaults: Partial<SimConfig>;
  /** The knobs that select the buggy kernel path (the fix reverted). */
  readonly buggy: Partial<SimConfig>;
  /**
   * Other system calls the scenario plays (`--syscall`): what goes wrong then,
   * and defaults over `defaults` (both sides). The entry's own `effect` is its
   * default call's.
   */
  readonly variants?: { readonly [S in SyscallName]?: RaceVariant };
}

/** One `--syscall` variant of a scenario. */
export interface RaceVariant {
  readonly effect: RaceEffect;
  readonly defaults?: Partial<SimConfig>;
}
