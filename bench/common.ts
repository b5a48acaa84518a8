/**
 * Helpers shared by the micro-benchmarks: "run when executed directly"
 * detection, plain-text tables, target verdict lines, and a host-noise
 * monitor (the CPU other processes take while a benchmark runs).
 */
import { readFileSync } from 'node:fs';
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

// ---------------------------------------------------------------------------
// Host noise: how much CPU other processes took while a benchmark ran
// ---------------------------------------------------------------------------

/** Kernel clock ticks per second of /proc/stat (USER_HZ; 100 on every Linux build node runs on). */
const USER_HZ = 100;

interface CpuTimes {
  /** Busy time of every host CPU together, microseconds. */
  hostBusyUs: number;
  /** Busy + idle time of every host CPU together, microseconds. */
  hostTotalUs: number;
  /** CPU time of this process (every thread), microseconds. */
  ownUs: number;
}

function readCpuTimes(): CpuTimes | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const first = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const [user, nice, system, idle, iowait, irq, softirq, steal] = first;
  const busy = user + nice + system + irq + softirq + steal;
  const usPerTick = 1_000_000 / USER_HZ;
  const own = process.cpuUsage();
  return { hostBusyUs: busy * usPerTick, hostTotalUs: (busy + idle + iowait) * usPerTick, ownUs: own.user + own.system };
}

/** CPU use over an interval, as percentages of all host CPUs. */
export interface HostLoad {
  hostBusyPct: number;
  ownPct: number;
  /** Taken by other processes: the noise in this benchmark's figures. */
  foreignPct: number;
}

/** Measures CPU use between `new` and `stop()` (Linux /proc/stat; null figures elsewhere). */
export class HostLoadMonitor {
  private readonly start = readCpuTimes();

  stop(): HostLoad | null {
    const end = readCpuTimes();
    if (!this.start || !end) return null;
    const total = end.hostTotalUs - this.start.hostTotalUs;
    if (total <= 0) return null;
    const busy = end.hostBusyUs - this.start.hostBusyUs;
    const own = end.ownUs - this.start.ownUs;
    const pct = (x: number): number => Math.min(100, Math.max(0, (100 * x) / total));
    return { hostBusyPct: pct(busy), ownPct: pct(own), foreignPct: pct(busy - own) };
  }
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
