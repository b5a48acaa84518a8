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
 * - Slicing never depends on the host: the same K/N gives the same slice anywhere.
 */
import { ConfigError } from '../config/config.js';

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

/** `K/N` (for messages and file contents). */
export function formatShard(s: Shard | null): string {
  return s === null ? 'none' : `${s.k}/${s.n}`;
}
