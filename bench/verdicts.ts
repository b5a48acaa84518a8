/**
 * The developers' targets, judged on figures measured by the shared code in
 * src/campaigns/bench/ (the same code `tlbsim bench` runs): IPI round within 2x of raw
 * at every target count, TLB lookups at least 0.5x raw, and the start-up
 * targets. Each prints one `target met` / `target missed` line.
 */
import type { IpiRoundEntry } from '../src/campaigns/bench/ipiRound.js';
import type { StartupEntry } from '../src/campaigns/bench/startup.js';
import type { TlbLookupFigures } from '../src/campaigns/bench/tlbLookup.js';
import { fmt, ratio, verdict } from './common.js';

/**
 * Engine/raw ratio of the median round latency that meets the IPI target.
 * The target is on the median: a p99 over 40-200 rounds is one or two rounds
 * that met a GC pause or a scheduler slice on a 2-core host. The p99 ratio is
 * printed beside it.
 */
export const IPI_TARGET_RATIO = 2;
/** Engine/raw throughput ratio of TLB lookups that meets the target. */
export const TLB_TARGET_RATIO = 0.5;
/** Start-up targets: [CPUs, ready within ms, MB per CPU below (null: not a target)]. */
export const STARTUP_TARGETS: readonly (readonly [number, number, number | null])[] = [
  [256, 10_000, 10],
  [512, 10_000, null],
  [1024, 20_000, null],
];

/** One verdict per target count, then the overall one. */
export function ipiVerdicts(entries: readonly IpiRoundEntry[]): boolean {
  let all = true;
  for (const e of entries) {
    const p99Note = e.ratio.p99 <= IPI_TARGET_RATIO ? 'p99 also within' : `p99 above ${IPI_TARGET_RATIO}x`;
    all =
      verdict(
        e.ratio.median <= IPI_TARGET_RATIO,
        `IPI round to ${e.targets} targets: engine/raw ${ratio(e.ratio.median)} median (target <= ${IPI_TARGET_RATIO}x); ${ratio(e.ratio.p99)} p99 (${p99Note})`,
      ) && all;
  }
  return verdict(all, `engine median IPI round within ${IPI_TARGET_RATIO}x of raw at every target count (${entries.map((e) => e.targets).join('/')})`) && all;
}

/** TLB hit path against the raw loop. */
export function tlbVerdict(t: TlbLookupFigures): boolean {
  return verdict(t.ratio >= TLB_TARGET_RATIO, `TLB lookup engine/raw = ${ratio(t.ratio)} (target >= ${TLB_TARGET_RATIO}x)`);
}

/** The start-up targets of the sizes that were measured: true if every one measured is met, null if none was measured. */
export function startupVerdicts(entries: readonly StartupEntry[]): boolean | null {
  let all = true;
  let any = false;
  for (const [cpus, ms, mb] of STARTUP_TARGETS) {
    const e = entries.find((x) => x.cpus === cpus);
    if (!e) continue;
    any = true;
    all = verdict(e.startup_ms.median < ms, `${cpus} CPUs ready in ${fmt(e.startup_ms.median / 1000, 2)} s (target < ${ms / 1000} s), peak RSS ${fmt(e.peak_rss_mb.median, 0)} MB`) && all;
    if (mb !== null) all = verdict(e.mb_per_cpu.median < mb, `${cpus} CPUs use ${fmt(e.mb_per_cpu.median, 2)} MB per CPU (target < ${mb} MB)`) && all;
  }
  if (!any) console.log(`no start-up target checked: none of ${STARTUP_TARGETS.map(([c]) => c).join('/')} CPUs was measured`);
  return any ? all : null;
}
