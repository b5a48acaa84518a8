/**
 * Shards: `--shard K/N` picks the K-th of N disjoint slices of a campaign (a
 * sweep grid's points, or a stress campaign's iterations), so one campaign can
 * run as N independent jobs (a Slurm array, a Kubernetes Indexed Job) and
 * `tlbsim merge` can put the pieces back together.
 *
 * Invariants:
 * - K is 1-based: 1 <= K <= N. The N slices are disjoint and cover everything.
 * - Sweep points are dealt round-robin (point i goes to shard (i mod N) + 1),
 *   so every shard gets a mix of small and large machines. Stress iterations
 *   are cut into N contiguous ranges; iteration i keeps its seed (seed + i)
 *   whichever shard runs it.
 * - Explore schedules are split at depth SHARD_SPLIT_DEPTH of the schedule
 *   tree: a schedule with fewer forced choices (the root: the default
 *   schedule) is run by every shard, to derive the schedules below it, and
 *   counted by shard 1 only; a schedule with exactly that many is owned by the
 *   shard its forced choices name (ownsSchedule), and its whole subtree (every
 *   schedule that extends its forced choices) runs on that shard alone. So
 *   the shards' counted schedules are disjoint and their union is the
 *   unsharded exploration's.
 * - Slicing never depends on the host: the same K/N gives the same slice anywhere.
 */
import { ConfigError } from '../config/config.js';
import type { ForcedChoice } from '../engine/forcedSchedule.js';

/** The K-th of N slices (K from 1). */
export interface Shard {
  k: number;
  n: number;
}

/** Most shards a campaign may be cut into. */
const MAX_SHARDS = 100_000;

/**
 * Parse `K/N`. @throws ConfigError with one line (`--shard 4/3`: K above N).
 */
export function parseShard(spec: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new ConfigError(`--shard takes K/N (the K-th of N slices, 1 <= K <= N), got '${spec}'`);
  const k = Number(m[1]);
  const n = Number(m[2]);
  if (n < 1 || n > MAX_SHARDS) throw new ConfigError(`--shard K/N: N must be from 1 to ${MAX_SHARDS}, got '${spec}'`);
  if (k < 1 || k > n) throw new ConfigError(`--shard K/N: K must be from 1 to N (${n}), got '${spec}'`);
  return { k, n };
}

/** Indices (0..total-1) of the sweep points shard `s` runs: i with i mod N = K - 1. */
export function shardPointIndices(total: number, s: Shard | null): number[] {
  const out: number[] = [];
  for (let i = 0; i < total; i++) if (s === null || i % s.n === s.k - 1) out.push(i);
  return out;
}

/** The iteration range [first, end) shard `s` runs of a campaign of `total` iterations. */
export function shardIterationRange(total: number, s: Shard | null): { first: number; end: number } {
  if (s === null) return { first: 0, end: total };
  return { first: Math.floor(((s.k - 1) * total) / s.n), end: Math.floor((s.k * total) / s.n) };
}

/**
 * Forced choices that place an explored schedule on its shard. 1: the root
 * run's children (one per alternative at each of its choice points: 10 to 15
 * on the 3-CPU catalogue scenarios) are dealt out, and the explorer (with or
 * without partial-order reduction) runs only the root on every shard. The
 * largest subtree bounds the speed-up: on mremap-ptl at bound 2 it holds 31%
 * of the schedules, so about 3 shards pay; depth 2 (every shard also running
 * the root's children) would spread 8 shards to within 1.6x of even there.
 */
export const SHARD_SPLIT_DEPTH = 1;

/**
 * Does shard `s` own (run and count) the explored schedule with these forced
 * choices? Without shards, yes. Above the split depth, only shard 1 (every
 * shard still runs it: see SHARD_SPLIT_DEPTH). At or below it, shard
 * ((sum of choice point + CPU over its first SHARD_SPLIT_DEPTH choices) mod N) + 1:
 * a pure function of the choices, never of the host or of the order the
 * explorer derives them in. Dealt this way, the alternatives at one choice
 * point go to consecutive shards and so do successive choice points, so the
 * few large subtrees near the start of the root run (which CPU runs first,
 * the first switches: on mremap-ptl at bound 2 three of them hold 81% of the
 * schedules) land on different shards. mremap-ptl, buggy, bound 2 (48,864
 * schedules), its largest of 3 shards holds 1.13x an even third (a hash of the
 * choices gave 2.11x: 70% on one shard).
 */
export function ownsSchedule(forced: readonly ForcedChoice[], s: Shard | null): boolean {
  if (s === null) return true;
  if (forced.length < SHARD_SPLIT_DEPTH) return s.k === 1;
  let deal = 0;
  for (let i = 0; i < SHARD_SPLIT_DEPTH; i++) deal += forced[i].step + forced[i].cpu;
  return deal % s.n === s.k - 1;
}

/** `K/N` (for messages and file contents). */
export function formatShard(s: Shard | null): string {
  return s === null ? 'none' : `${s.k}/${s.n}`;
}
