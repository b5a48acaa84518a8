/**
 * Helpers shared by the micro-benchmarks: "run when executed directly"
 * detection, plain-text tables and target verdict lines.
 */
import { pathToFileURL } from 'node:url';
import type { Task } from 'tinybench';

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

/** The latency statistics of a finished tinybench task (milliseconds), or throw with the task's error. */
export function latencyOf(task: Task): { p50: number; p99: number; mean: number; samples: number } {
  const r = task.result;
  if (r.state === 'errored') throw r.error;
  if (r.state !== 'completed' && r.state !== 'aborted-with-statistics') {
    throw new Error(`tinybench task '${task.name}' did not complete (state ${r.state})`);
  }
  return { p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.mean, samples: r.latency.samplesCount };
}
