/**
 * `tlbsim sweep` (src/campaigns/sweep.ts): one CSV row per point with the documented
 * columns and exact IPI counts, results.json, four SVG plots that parse as
 * XML and name their axes, grid parsing, and failed points that leave the
 * others running.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config.js';
import { COUNTER_NAMES } from '../src/engine/layout.js';
import { CSV_COLUMNS, expandGrid, parseGridList, sweepPlots, type SweepResult } from '../src/campaigns/sweep.js';
import { parseOneJsonObject, runCli } from './helpers.js';

/** Split one CSV line (quoted fields may hold commas). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Every text node of a parsed SVG, concatenated. */
function svgTexts(node: unknown, acc: string[] = []): string[] {
  if (typeof node === 'string' || typeof node === 'number') acc.push(String(node));
  else if (Array.isArray(node)) for (const n of node) svgTexts(n, acc);
  else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) if (!k.startsWith('@_')) svgTexts(v, acc);
  return acc;
}

describe('grid parsing', () => {
  it('splits comma lists by option type; --range and --reclaim-pages on ";"', () => {
    expect(parseGridList('cpus', '2, 4,8')).toEqual([2, 4, 8]);
    expect(parseGridList('protocol', 'per-page,batched')).toEqual(['per-page', 'batched']);
    expect(parseGridList('tlbGen', 'on,off')).toEqual([true, false]);
    expect(parseGridList('range', '1,8,64;16')).toEqual(['1,8,64', '16']);
    expect(() => parseGridList('cpus', '2,,4')).toThrow(ConfigError);
    expect(() => parseGridList('batch', '8,x')).toThrow("--batch takes numbers, got 'x'");
    expect(() => parseGridList('tlbGen', 'on,maybe')).toThrow('--tlb-gen');
  });

  it('numbers points in FLAG_NAMES order, the last option fastest', () => {
    const pts = expandGrid({ batch: [1, 8], cpus: [2, 4], protocol: ['per-page', 'batched'] });
    expect(pts).toHaveLength(8);
    expect(pts[0]).toEqual({ cpus: 2, protocol: 'per-page', batch: 1 });
    expect(pts[1]).toEqual({ cpus: 2, protocol: 'per-page', batch: 8 });
    expect(pts[2]).toEqual({ cpus: 2, protocol: 'batched', batch: 1 });
    expect(pts[7]).toEqual({ cpus: 4, protocol: 'batched', batch: 8 });
    expect(expandGrid({})).toEqual([{}]);
  });
});

describe('tlbsim sweep --cpus 2,4,8 --protocol per-page,batched', () => {
  const out = mkdtempSync(join(tmpdir(), 'tlbsim-sweep-'));
  let summary: { points: number; failed: number; files: string[] };

  it('runs every point and writes results.csv, results.json and four plots', async () => {
    const r = await runCli(['sweep', '--workload', 'reclaim', '--cpus', '2,4,8', '--protocol', 'per-page,batched', '--pages', '16', '--batch', '8', '--ops', '500', '--out', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    summary = parseOneJsonObject(r.stdout);
    expect(summary.points).toBe(6);
    expect(summary.failed).toBe(0);
    expect(summary.files.map((f) => f.slice(out.length + 1)).sort()).toEqual(
      ['flush-refills.svg', 'ipis-per-page.svg', 'results.csv', 'results.json', 'shootdown-latency.svg', 'tlb-cycles-per-page.svg'],
    );
  });

  it('the CSV has the documented header and one row per point, with exact IPI counts', () => {
    const text = readFileSync(join(out, 'results.csv'), 'utf8');
    const rows = text.trimEnd().split('\n');
    expect(rows).toHaveLength(1 + 6);
    expect(rows[0].split(',')).toEqual([...CSV_COLUMNS]);
    for (const c of ['point', 'status', 'cpus', 'protocol', 'batch', ...COUNTER_NAMES, 'ipis_per_unmapped_page', 'modeled_tlb_maintenance_cycles', 'modeled_tlb_maintenance_cycles_per_unmapped_page', 'modeled_shootdown_latency_cycles_median', 'modeled_shootdown_latency_cycles_p99', 'modeled_shootdown_latency_cycles_max']) {
      expect(CSV_COLUMNS, c).toContain(c);
    }
    const col = (name: string): number => CSV_COLUMNS.indexOf(name);
    const cells = rows.slice(1).map(csvFields);
    const seen = cells.map((f) => {
      expect(f).toHaveLength(CSV_COLUMNS.length);
      const cpus = Number(f[col('cpus')]);
      const perPage = f[col('protocol')] === 'per-page';
      // 16 pages: per-page 16 rounds of N-1; batched (B = 8) 2 rounds of N-1.
      expect(Number(f[col('nr_tlb_remote_flush')])).toBe(perPage ? 16 : 2);
      expect(Number(f[col('ipis_sent')])).toBe((perPage ? 16 : 2) * (cpus - 1));
      expect(Number(f[col('ipis_per_unmapped_page')])).toBe(((perPage ? 16 : 2) * (cpus - 1)) / 16);
      expect(f[col('status')]).toBe('ok');
      expect(Number(f[col('modeled_tlb_maintenance_cycles')])).toBeGreaterThan(0);
      return `${cpus} ${f[col('protocol')]} ${f[col('point')]}`;
    });
    expect(seen).toEqual(['2 per-page 0', '2 batched 1', '4 per-page 2', '4 batched 3', '8 per-page 4', '8 batched 5']);
  });

  it('results.json holds the campaign and every row', () => {
    const j = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as SweepResult;
    expect(j.campaign.total_points).toBe(6);
    expect(j.campaign.grid.cpus).toEqual([2, 4, 8]);
    expect(j.shard).toBeNull();
    expect(j.points.map((p) => p.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(j.points.every((p) => p.modeled !== null && p.config.runTokens === 1)).toBe(true);
  });

  it('every SVG parses as XML and names its title, axes (with units) and legend', () => {
    const j = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as SweepResult;
    const plots = sweepPlots(j.campaign, j.points);
    expect(plots).toHaveLength(4);
    for (const p of plots) {
      const svg = readFileSync(join(out, p.file), 'utf8');
      expect(XMLValidator.validate(svg), p.file).toBe(true);
      const doc = new XMLParser({ ignoreAttributes: false }).parse(svg) as { svg?: unknown };
      expect(doc.svg, p.file).toBeDefined();
      const text = svgTexts(doc.svg).join('\n');
      expect(text, p.file).toContain(p.title);
      expect(text, p.file).toContain(p.xTitle);
      expect(text, p.file).toContain(p.yTitle);
      expect(p.xTitle).toMatch(/\(.+\)/);
      expect(p.yTitle).toMatch(/\(.+\)/);
      expect(text, p.file).toContain('protocol'); // the legend's title
      expect(text, p.file).toContain('per-page');
      expect(text, p.file).toContain('batched');
      expect(p.points.length, p.file).toBe(6);
    }
  });
});

describe('failed points are reported and the others finish', () => {
  it('an invalid combination and a crashed machine each get a failed row with the error', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tlbsim-sweep-fail-'));
    // --lazy-cpus 2 is invalid on 2 CPUs (only 1 thread CPU); --fault-cpu 1 with --fault-kind crash kills CPU 1's worker.
    const r = await runCli(['sweep', '--cpus', '2,4', '--lazy-cpus', '0,2', '--fault-cpu', '-1,1', '--fault-kind', 'crash', '--pages', '16', '--ops', '200000', '--out', out, '--json', '--parallel', '2']);
    // Everything is written; the exit code says some point failed.
    expect(r.status, r.stderr).toBe(1);
    const summary = parseOneJsonObject<{ points: number; failed: number }>(r.stdout);
    expect(summary).toMatchObject({ points: 8 });
    expect(summary.failed).toBeGreaterThanOrEqual(2);
    const j = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as SweepResult;
    expect(j.points).toHaveLength(8);
    const byKey = new Map(j.points.map((p) => [`${p.config.cpus}/${p.config.lazyCpus}/${p.config.faultCpu}`, p]));
    expect(byKey.get('2/2/-1')!.status).toBe('failed');
    expect(byKey.get('2/2/-1')!.error).toContain('--lazy-cpus');
    expect(byKey.get('2/2/-1')!.counters).toBeNull();
    expect(byKey.get('4/0/1')!.status).toBe('failed');
    expect(byKey.get('4/0/1')!.error).toMatch(/CPU 1/);
    for (const k of ['2/0/-1', '4/0/-1', '4/2/-1']) expect(byKey.get(k)!.status, k).toBe('ok');
    const csv = readFileSync(join(out, 'results.csv'), 'utf8').trimEnd().split('\n');
    expect(csv).toHaveLength(9);
  });
});
