/**
 * Helpers shared by the developer benchmarks (`npm run bench`, thin
 * wrappers around src/campaigns/bench/): "run when executed directly" detection,
 * plain-text tables, target verdict lines, and waiting for a quiet host
 * (the noise monitor itself is src/campaigns/bench/host.ts, shared with `tlbsim bench`).
 */
import { pathToFileURL } from 'node:url';
import { HostLoadMonitor, type HostLoad } from '../src/campaigns/bench/host.js';

export { HostLoadMonitor, type HostLoad };

/** True when the module with this `import.meta.url` is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && moduleUrl === pathToFileURL(entry).href;
}

/** Print a left-aligned first column and right-aligned figures, with a header rule. */
export function printTable(title: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** Print the verdict line every benchmark ends with. */
export function verdict(met: boolean, what: string): boolean {
  console.log(`${met ? 'target met' : 'target missed'}: ${what}`);
  return met;
}

/** Format a number with a fixed number of decimals (and thousands separators for big ones). */
export function fmt(x: number, decimals = 1): string {
  if (!Number.isFinite(x)) return String(x);
  return x.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Format a ratio as "1.23x". */
export function ratio(x: number): string {
  return `${fmt(x, 2)}x`;
}

/** One line describing a HostLoad, for the benchmark output. */
export function describeLoad(what: string, load: HostLoad | null): string {
  if (!load) return `${what}: host CPU use unknown (no /proc/stat)`;
  return `${what}: host CPUs ${fmt(load.hostBusyPct, 0)}% busy, this process ${fmt(load.ownPct, 0)}%, other processes ${fmt(load.foreignPct, 0)}%`;
}

/** Other processes may use up to this share of the host before a benchmark waits for a quieter moment. */
export const QUIET_FOREIGN_PCT = 15;
/** Sample window of the quiet-host check. */
export const QUIET_SAMPLE_MS = 1_000;
/** Give up waiting for a quiet host after this long and measure anyway (the noise is printed). */
export const QUIET_MAX_WAIT_MS = 120_000;

/**
 * Wait (at most QUIET_MAX_WAIT_MS) until other processes use less than
 * QUIET_FOREIGN_PCT of the host CPUs over a QUIET_SAMPLE_MS window. Timing
 * figures on a 2-core host shared with other jobs are otherwise meaningless.
 * Prints what it found and returns the last sample.
 */
export async function waitForQuietHost(label: string): Promise<HostLoad | null> {
  const t0 = performance.now();
  for (;;) {
    const mon = new HostLoadMonitor();
    await new Promise((r) => setTimeout(r, QUIET_SAMPLE_MS));
    const load = mon.stop();
    const waited = performance.now() - t0;
    if (!load || load.foreignPct < QUIET_FOREIGN_PCT || waited > QUIET_MAX_WAIT_MS) {
      const note = load && load.foreignPct >= QUIET_FOREIGN_PCT ? ' (NOT quiet: gave up waiting, figures are noisy)' : '';
      console.log(`${describeLoad(`[${label}] host before measuring (waited ${fmt(waited / 1000, 0)} s)`, load)}${note}`);
      return load;
    }
  }
}
