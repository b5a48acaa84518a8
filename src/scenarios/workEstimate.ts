/**
 * Before a run boots: how much work its configuration asks for (IPIs, IPI
 * rounds, accesses) and about how long that takes on a host like the one the
 * rates below were measured on, so `tlbsim run` can warn before a run of
 * hours (`--workload tlb-flush --cpus 200` at 20,000 loops was 796 million
 * IPIs, about five hours) and say how to shrink it.
 *
 * Invariants:
 * - Computed from the configuration alone, before any worker exists; it
 *   never changes the run.
 * - `tlb-flush`'s IPIs are exact (ops x N x (N-1): every loop zaps the CPU's
 *   chunk and flushes it on the N-1 other threads of the mm); `munmap`'s are
 *   exact too (ops x (N-1)); reclaim-like workloads count one round per batch
 *   of reclaimed pages (per page for `--protocol per-page`) to the N-1 thread
 *   CPUs, an upper bound when pages are refaulted or skipped. Accesses are
 *   the ones the configuration fixes (threads that run until another CPU is
 *   done make more). The seconds are an estimate: the host rates are those of
 *   a 2-core host, and a loaded or faster host differs by a small factor.
 */
import { parseReclaimPages, type SimConfig } from '../config/params.js';

/**
 * Host cost of one IPI in free mode: 1 / 45,000 s, the IPIs per second of
 * `tlbsim run --workload tlb-flush --cpus 8` on a 2-core host (1.12 M IPIs
 * in 25 s): an estimate for a warning, not a measurement of this host.
 */
const HOST_US_PER_IPI = 22;
/**
 * Extra host cost of an IPI round whose targets are busy running accesses
 * (reclaim, munmap, migrate: threads run their access loops between polls of
 * the doorbell, and with more CPUs than cores most wait for a run token):
 * default reclaim's IPI round median was 1.7 ms here, default munmap 1.5 ms
 * per munmap.
 */
const HOST_US_PER_BUSY_ROUND = 1500;
/** Host cost of one access: the default reclaim run made 3.5 M accesses a second here (toy: 10 M). */
const HOST_US_PER_ACCESS = 0.3;
/** Boot and shut-down: ~25 ms per worker (docs/design.md, host limits) and ~0.5 s of Node start-up. */
const HOST_US_PER_CPU_BOOT = 25_000;
const HOST_US_FIXED = 500_000;
/**
 * Warn above this estimate. A run of a minute or more must warn even when
 * the estimate is 2x low (a loaded host), hence half a minute.
 */
export const WORK_WARN_SECONDS = 30;
/** The size a shrink suggestion aims at: a run that finishes in seconds. */
const WORK_TARGET_SECONDS = 10;

/** What a configuration asks for. */
interface WorkEstimate {
  ipis: number;
  rounds: number;
  accesses: number;
  /** Estimated host seconds (boot included). */
  seconds: number;
  /** The part of `seconds` that scales with `--ops` (what `--ops` can shrink). */
  opsSeconds: number;
}

/** Workloads whose threads run access loops while the IPIs arrive (their rounds cost HOST_US_PER_BUSY_ROUND more). */
function busyTargets(c: SimConfig): boolean {
  return c.workload !== 'tlb-flush' && c.workload !== 'toy';
}

/** IPIs, rounds and accesses of `c`, and the host seconds they take. */
export function estimateWork(c: SimConfig): WorkEstimate {
  const n = c.cpus;
  let rounds = 0;
  let ipis = 0;
  let accesses = 0;
  let opsAccesses = 0;
  let opsRounds = 0;
  if (c.workload === 'tlb-flush') {
    // Every CPU, ops times: store to each page of its chunk, then one round to the N-1 others.
    const chunk = Math.floor(c.pages / n);
    rounds = opsRounds = c.ops * n;
    ipis = rounds * (n - 1);
    accesses = opsAccesses = c.ops * n * chunk;
  } else if (c.workload === 'munmap') {
    // CPU 0, ops times: map, store to each page of the range, munmap: one round to the N-1 others.
    const lengths = c.range.split(',').map(Number);
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    rounds = opsRounds = c.ops;
    ipis = rounds * (n - 1);
    accesses = opsAccesses = Math.round(c.ops * mean);
  } else if (c.workload === 'toy') {
    accesses = opsAccesses = c.ops * n;
  } else {
    // kswapd (or the migration thread) on CPU 0; N-1 threads warm up on every page, then make ops accesses each.
    const reclaimed = (c.workload === 'pending-flush' ? c.pages : parseReclaimPages(c.reclaimPages, c.pages).length) * c.mms;
    rounds = c.protocol === 'per-page' ? reclaimed : Math.ceil(reclaimed / c.batch);
    ipis = rounds * (n - 1);
    opsAccesses = (n - 1) * c.ops;
    accesses = (n - 1) * c.pages + opsAccesses;
  }
  const roundUs = HOST_US_PER_IPI * (n - 1) + (busyTargets(c) ? HOST_US_PER_BUSY_ROUND : 0);
  const opsUs = opsRounds * roundUs + opsAccesses * HOST_US_PER_ACCESS;
  const us = HOST_US_FIXED + n * HOST_US_PER_CPU_BOOT + (rounds - opsRounds) * roundUs + (accesses - opsAccesses) * HOST_US_PER_ACCESS + opsUs;
  return { ipis, rounds, accesses, seconds: us / 1e6, opsSeconds: opsUs / 1e6 };
}

function fmtCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fmtDuration(s: number): string {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/**
 * The warning for `c` (one line, no trailing newline), or null when the run
 * is estimated under WORK_WARN_SECONDS.
 */
export function workWarning(c: SimConfig): string | null {
  const e = estimateWork(c);
  if (e.seconds <= WORK_WARN_SECONDS) return null;
  const fixed = e.seconds - e.opsSeconds;
  const hints: string[] = [];
  if (e.opsSeconds > 0 && fixed < WORK_TARGET_SECONDS) {
    const ops = Math.max(1, Math.floor((c.ops * (WORK_TARGET_SECONDS - fixed)) / e.opsSeconds));
    hints.push(`--ops ${ops} (now ${c.ops})`);
  }
  hints.push(`fewer --cpus (now ${c.cpus}; IPIs grow with the square of the CPUs for tlb-flush, linearly otherwise)`);
  if (c.workload !== 'tlb-flush' && c.workload !== 'munmap' && c.workload !== 'toy' && c.protocol === 'per-page') hints.push('--protocol batched (one round per batch)');
  return (
    `tlbsim: warning: this run is estimated at ${fmtCount(e.ipis)} IPIs in ${fmtCount(e.rounds)} rounds and ${fmtCount(e.accesses)} accesses, ` +
    `about ${fmtDuration(e.seconds)} on a 2-core host; to shrink it: ${hints.join(', or ')}`
  );
}
