/**
 * The page-walk cache rule (`--page-walk-cache`, src/engine/pageWalkCache.ts): a
 * CPU's cached paging-structure entry is dropped by any flush of its mm that
 * reaches it; munmap of a whole page table frees the table (its generation
 * moves on) only after the flush that carries freed_tables was
 * acknowledged; a lazy-TLB CPU is reached by that flush on the fixed side
 * and skipped on the buggy side (`--no-lazy-flush-on-table-free`), where its
 * next speculative walk goes through freed page-table memory.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { simulate } from '../src/api.js';
import { PTRS_PER_PTE } from '../src/engine/layout.js';
import { freePageTablesOf, PageWalkCache, ptGenWord } from '../src/engine/pageWalkCache.js';
import { scenarioConfig } from '../src/campaigns/stress.js';
import { runCliInProcess } from './cliInProcess.js';
import { pageStateWords, pageTableGenWord } from '../src/engine/state/pageState.js';

describe('PageWalkCache', () => {
  it('a flush of the cached mm drops the entry; a flush of another mm does not', () => {
    const c = new PageWalkCache();
    c.fill(0, 3, 7);
    expect(c.drop(1)).toBe(false);
    expect(c.mm).toBe(0);
    expect(c.drop(0)).toBe(true);
    expect(c.mm).toBe(-1);
    expect(c.drop(0)).toBe(false);
  });

  it('munmap frees only page tables whose whole 512-page range it covers', () => {
    const pages = 2 * PTRS_PER_PTE;
    const st = new Int32Array(pageStateWords(2 * pages));
    expect(ptGenWord(pages, 1, PTRS_PER_PTE + 5)).toBe(pageTableGenWord(pages + PTRS_PER_PTE));
    freePageTablesOf(st, pages, 0, Array.from({ length: PTRS_PER_PTE - 1 }, (_, p) => p));
    expect(st[ptGenWord(pages, 0, 0)]).toBe(0);
    freePageTablesOf(st, pages, 1, Array.from({ length: PTRS_PER_PTE + 1 }, (_, p) => PTRS_PER_PTE - 1 + p));
    expect([st[ptGenWord(pages, 1, 0)], st[ptGenWord(pages, 1, PTRS_PER_PTE)]]).toEqual([0, 1]);
  });
});

describe('lazy-pgtable-free: the freed_tables flush and the lazy CPU', () => {
  // CPU 1 (lazy) preempted at its first speculative walk; CPU 0 munmaps the table meanwhile.
  const RACY = '0:1,2:0';
  const run = (kernel: 'buggy' | 'fixed') => simulate({ ...scenarioConfig('lazy-pgtable-free', { schedule: RACY }, kernel) });

  it('fixed: the flush reaches the lazy CPU, which drops its cached entry: its later walks are clean', async () => {
    const r = await run('fixed');
    expect(r.status).toBe('ok');
    expect(r.per_cpu[1].nr_tlb_remote_flush_received).toBe(1);
    expect(r.per_cpu[1].lazy_tlb_flushes).toBe(1);
    expect(r.races.stale_accesses).toBe(0);
  });

  it('buggy: the flush skips the lazy CPU; both its walks go through the freed page table', async () => {
    const r = await run('buggy');
    expect(r.status).toBe('ok');
    expect(r.per_cpu[1].nr_tlb_remote_flush_received).toBe(0);
    expect(r.per_cpu[1].lazy_tlb_flushes).toBe(0);
    expect(r.races.stale_accesses).toBe(2);
    expect(r.races.lost_writes + r.races.accesses_after_unmap + r.races.writes_after_protect + r.races.reads_after_protect).toBe(0);
  });

  it('off by default: the same machine without the page-walk cache sees no race on either side', async () => {
    for (const kernel of ['buggy', 'fixed'] as const) {
      const r = await simulate({ ...scenarioConfig('lazy-pgtable-free', { schedule: RACY, pageWalkCache: false }, kernel) });
      expect(r.races.stale_accesses).toBe(0);
    }
  });

  it('--page-walk-cache on arm64 is refused in one line, exit 2', async () => {
    const r = await runCliInProcess(['run', '--workload', 'reclaim', '--arch', 'arm64', '--page-walk-cache']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--page-walk-cache');
  });

  it('--no-lazy-flush-on-table-free takes no value, and a config file needs a boolean: one line, exit 2', async () => {
    const flag = await runCliInProcess(['run', '--no-lazy-flush-on-table-free=yes']);
    expect(flag.status).toBe(2);
    expect(flag.stderr.trim().split('\n')).toHaveLength(1);
    expect(flag.stderr).toContain('--no-lazy-flush-on-table-free');
    const dir = mkdtempSync(join(tmpdir(), 'tlbsim-pwc-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ lazyFlushOnTableFree: 'no', pageWalkCache: 1 }));
    const cfg = await runCliInProcess(['run', '--config', file]);
    expect(cfg.status).toBe(2);
    expect(cfg.stderr.trim().split('\n')).toHaveLength(1);
    expect(cfg.stderr).toMatch(/lazyFlushOnTableFree|pageWalkCache/);
  });
});
