/**
 * `tlbsim report`: one self-contained HTML file, checked in a real headless
 * Chromium driven by playwright-core: Debian's `chromium` when it is on PATH,
 * else the headless Chromium that the `@sparticuz/chromium` dev dependency
 * ships (unpacked on first use into the OS temp dir as `chromium`), so the
 * test needs no root and no apt-get: the page loads with no console error and no request, its
 * tables hold the numbers of the JSON, and the heat map has a row per CPU.
 * A run or stress report leads with the answer: the headline first, then the
 * picture (heat map, IPI timeline), then the non-zero counters; the zero
 * counters and the configuration are folded until opened.
 * Screenshots go to test-artifacts/ (not in git).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sparticuzChromium from '@sparticuz/chromium';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml, writeReport } from '../src/output/htmlReport.js';
import { runCliInProcess } from './cliInProcess.js';
import { runCli } from './helpers.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const dir = mkdtempSync(join(tmpdir(), 'tlbsim-report-'));

/** Debian's chromium when installed (it matches the system's libraries), else the one npm brought. */
async function chromiumPath(): Promise<string> {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim();
  } catch {
    return sparticuzChromium.executablePath();
  }
}

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: await chromiumPath(), args: ['--no-sandbox'] });
  mkdirSync(ARTIFACTS, { recursive: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

/** Open a report; collect console errors, page errors and every network request other than the page itself. */
async function open(html: string): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  const url = pathToFileURL(html).href;
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    if (r.url() !== url) requests.push(r.url());
  });
  await page.goto(url, { waitUntil: 'load' });
  return { page, errors, requests };
}

/** Ids of the report's main parts, in the order the page shows them. */
async function order(page: Page, ids: readonly string[]): Promise<string[]> {
  return page.$$eval(ids.map((i) => `#${i}`).join(', '), (els) => els.map((e) => e.id));
}

/** A headline tile's big value. */
async function tileValue(page: Page, id: string): Promise<string | null> {
  return page.textContent(`#${id} .value`);
}

/** Where each of `labels` first starts a line of the CLI's human output (-1: absent). */
function lineOrder(stdout: string, labels: readonly string[]): number[] {
  const lines = stdout.split('\n').map((l) => l.trim());
  return labels.map((label) => lines.findIndex((l) => l.startsWith(label)));
}

/** The key-value table `id` as an object of cell texts. */
async function kv(page: Page, id: string): Promise<Record<string, string>> {
  return page.$$eval(`#${id} tr`, (rows) => Object.fromEntries(rows.map((r) => [r.querySelector('th')?.textContent ?? '', r.querySelector('td')?.textContent ?? ''])));
}

describe('run report in headless Chromium', () => {
  it('loads with no console error and no request; the tables hold the JSON numbers; one heat-map row per CPU', async () => {
    const json = join(dir, 'run.json');
    const html = join(dir, 'run.html');
    const trace = join(dir, 'run.trace.json');
    const run = await runCli(['run', '--cpus', '6', '--pages', '64', '--batch', '16', '--arch', 'weak', '--write-ratio', '0.6', '--out', json, '--trace', trace]);
    expect(run.status, run.stderr).toBe(0);
    const rep = await runCli(['report', json, '--out', html]);
    expect(rep.status, rep.stderr).toBe(0);
    // The human output follows the report's order: the answer, then the run per CPU, then the rest.
    const runOrder = lineOrder(run.stdout, ['status', 'IPIs sent', 'modeled', 'races', 'reproduce:', 'per CPU', 'flush IPIs handled', 'TLB', 'host', 'trace']);
    expect(runOrder[0]).toBe(1);
    expect(runOrder).toEqual([...runOrder].sort((a, b) => a - b));
    const result = JSON.parse(readFileSync(json, 'utf8')) as {
      counters: Record<string, number>;
      config: Record<string, unknown>;
      races: Record<string, number>;
      per_cpu: Record<string, number>[];
      reproduce: string;
      status: string;
      modeled: { tlb_maintenance_cycles_per_unmapped_page: number | null };
    };
    const { page, errors, requests } = await open(html);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    // The answer first, then the picture, then the counters; zero counters and configuration last, folded.
    expect(await order(page, ['headline', 'reproduce', 'per-cpu', 'timeline', 'counters', 'zero-counters-details', 'config-details'])).toEqual([
      'headline', 'reproduce', 'per-cpu', 'timeline', 'counters', 'zero-counters-details', 'config-details',
    ]);
    expect(await tileValue(page, 'headline-status')).toBe(result.status);
    expect(await tileValue(page, 'headline-ipis')).toBe('20'); // 64 pages / batch 16 = 4 rounds, x 5 targets
    expect(await page.textContent('#headline-ipis .note')).toBe('in 4 rounds');
    expect(await tileValue(page, 'headline-cycles')).toBe(String(result.modeled.tlb_maintenance_cycles_per_unmapped_page));
    expect(await tileValue(page, 'headline-races')).toBe(String(Object.values(result.races).reduce((a, b) => a + b, 0)));
    const counters = await kv(page, 'counters');
    const zeros = await kv(page, 'zero-counters');
    for (const [k, v] of Object.entries(result.counters)) {
      if (v === 0) expect([counters[k], zeros[k]], k).toEqual([undefined, '0']);
      else expect([counters[k], zeros[k]], k).toEqual([String(v), undefined]);
    }
    expect(counters.ipis_sent).toBe('20');
    expect(await page.isVisible('#zero-counters')).toBe(false);
    expect(await page.isVisible('#config')).toBe(false);
    await page.click('#config-details summary');
    expect(await page.isVisible('#config')).toBe(true);
    const config = await kv(page, 'config');
    expect(config.cpus).toBe('6');
    // The timeline (Vega-Lite, inline SVG): one bar per traced IPI slice: 4 rounds sent by CPU 0, 4 x 5 flush IPIs handled.
    const timeline = await page.$('#timeline svg');
    expect(await timeline!.isVisible()).toBe(true);
    expect((await timeline!.boundingBox())!.width).toBeGreaterThan(400);
    const bars = await page.$$eval('#timeline .layer_0_marks path', (ps) => ps.map((p) => p.getAttribute('aria-label') ?? ''));
    expect(bars.filter((l) => l.includes('IPI round sent') && l.includes('CPU: CPU 0;'))).toHaveLength(4);
    expect(bars.filter((l) => l.includes('flush IPI handled'))).toHaveLength(20);
    expect(bars).toHaveLength(24);
    expect(config.protocol).toBe(String(result.config.protocol));
    const races = await kv(page, 'races');
    for (const [k, v] of Object.entries(result.races)) expect(races[k], k).toBe(String(v));
    expect(await page.textContent('#reproduce')).toBe(result.reproduce);
    const heatRows = await page.$$eval('#per-cpu tbody tr', (rows) => rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => (td as { textContent: string | null }).textContent)));
    expect(heatRows).toHaveLength(6);
    const header = await page.$$eval('#per-cpu thead th', (ths) => ths.map((th) => th.textContent ?? ''));
    const col = header.indexOf('nr_tlb_remote_flush_received') - 1;
    expect(heatRows.map((r) => Number(r[col]))).toEqual(result.per_cpu.map((c) => c.nr_tlb_remote_flush_received));
    expect(await page.isVisible('#per-cpu')).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'run-report.png'), fullPage: true });
    await page.close();
    // Without a trace, the timeline's place says how to get one.
    const { trace: _recorded, ...untraced } = JSON.parse(readFileSync(json, 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'untraced.json'), JSON.stringify(untraced));
    await writeReport(join(dir, 'untraced.json'), join(dir, 'untraced.html'));
    const plain = readFileSync(join(dir, 'untraced.html'), 'utf8');
    expect(plain).toContain('<p id="no-timeline" class="hint">No trace was recorded: run with --trace FILE');
    expect(plain).not.toContain('id="timeline"');
  }, 60_000);
});

describe('stress report in headless Chromium', () => {
  it('shows the campaign, the first race and its reproduce command', async () => {
    const out = join(dir, 'stress');
    const json = join(out, 'stress.json');
    const html = join(dir, 'stress.html');
    const st = await runCli(['stress', '--scenario', 'unmap-window', '--iterations', '40', '--out', out, '--no-progress']);
    expect(st.status, st.stderr).toBe(0);
    expect((await runCli(['report', out, '--out', html])).status).toBe(0);
    const stressOrder = lineOrder(st.stdout, ['status', 'racy iterations', 'races', 'first race', 'reproduce:', 'IPIs sent', 'iterations']);
    expect(stressOrder[0]).toBe(1);
    expect(stressOrder).toEqual([...stressOrder].sort((a, b) => a - b));
    const s = JSON.parse(readFileSync(json, 'utf8')) as { iterations: number; racy_iterations: number; reproduce: string | null };
    const { page, errors } = await open(html);
    expect(errors).toEqual([]);
    expect(await order(page, ['headline', 'reproduce', 'race-reports', 'summary', 'counters', 'config-details'])).toEqual(['headline', 'reproduce', 'race-reports', 'summary', 'counters', 'config-details']);
    expect(await tileValue(page, 'headline-racy')).toBe(String(s.racy_iterations));
    expect(await page.isVisible('#config')).toBe(false);
    const summary = await kv(page, 'summary');
    expect(summary.iterations).toBe(String(s.iterations));
    expect(summary.racy_iterations).toBe(String(s.racy_iterations));
    expect(s.reproduce).not.toBeNull();
    expect(await page.textContent('#reproduce')).toBe(s.reproduce);
    expect(await page.$$eval('#race-reports tbody tr', (r) => r.length)).toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTIFACTS, 'stress-report.png'), fullPage: true });
    await page.close();
  }, 60_000);
});

describe('sweep report in headless Chromium', () => {
  it('the sweep\'s plots are visible and the points table holds every point', async () => {
    const out = join(dir, 'sweep');
    const html = join(dir, 'sweep.html');
    const sw = await runCli(['sweep', '--cpus', '4,6', '--protocol', 'per-page,batched', '--pages', '16', '--ops', '200', '--out', out, '--no-progress']);
    expect(sw.status, sw.stderr).toBe(0);
    expect((await runCli(['report', out, '--out', html])).status).toBe(0);
    const { page, errors, requests } = await open(html);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    const plots = await page.$$('figure.plot svg');
    expect(plots.length).toBeGreaterThanOrEqual(4);
    for (const svg of plots) {
      expect(await svg.isVisible()).toBe(true);
      const box = await svg.boundingBox();
      expect(box!.width).toBeGreaterThan(100);
      expect(box!.height).toBeGreaterThan(100);
    }
    expect(await page.$$eval('#points tbody tr', (r) => r.length)).toBe(4);
    await page.screenshot({ path: join(ARTIFACTS, 'sweep-report.png'), fullPage: true });
    await page.close();
  }, 120_000);
});

describe('report input', () => {
  it('escapes what it shows', () => {
    expect(escapeHtml(`<script>"x" & 'y'</script>`)).toBe('&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;');
  });

  it('bad input: one line, exit 2', async () => {
    const r = await runCliInProcess(['report', join(dir, 'absent.json'), '--out', join(dir, 'x.html')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^tlbsim: error: report input .* does not exist/);
  });
});
