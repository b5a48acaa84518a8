/**
 * `tlbsim bench --compare A.json B.json` (src/campaigns/bench/compare.ts) on two saved
 * profiles (test/fixtures: `tlbsim bench --quick` on the 2-core reference
 * host, and the same under `taskset -c 0`): each figure side by side, ratio
 * B / A of the medians, "within spread" exactly when the p25-p75 ranges
 * overlap, the better side named otherwise (by the figure's direction),
 * figures only one host measured listed as such; and the bad inputs: a
 * missing or unparseable file, not a profile, one file only.
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareProfiles, type ProfileComparison } from '../src/campaigns/bench/compare.js';
import { spreadsOverlap, type Figure } from '../src/campaigns/bench/figure.js';
import { namedFigures, parseProfile, type HostProfile } from '../src/campaigns/bench/profile.js';
import { expectProfileShape } from './benchProfileShape.js';
import { runCliInProcess } from './cliInProcess.js';
import { parseOneJsonObject, runCli } from './helpers.js';

const A = fileURLToPath(new URL('./fixtures/profile-quick-2cores.json', import.meta.url));
const B = fileURLToPath(new URL('./fixtures/profile-quick-1core.json', import.meta.url));

function load(file: string): HostProfile {
  return parseProfile(readFileSync(file, 'utf8'), file);
}

describe('saved profiles', () => {
  it('the fixtures are real profiles of the documented shape (2 cores and 1 core)', () => {
    const a = load(A);
    const b = load(B);
    // Saved before issue 19 added the seeded step and the after-start-up stress rates: --compare reads them still.
    expectProfileShape(a, 'before-seeded-step');
    expectProfileShape(b, 'before-seeded-step');
    expect(a.host.cores).toBe(2);
    expect(b.host.cores).toBe(1);
  });
});

describe('tlbsim bench --compare', () => {
  it('--json: every figure of both, ratio B/A, verdict from the spreads and the direction', async () => {
    const r = await runCli(['bench', '--compare', A, B, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const c = parseOneJsonObject<ProfileComparison>(r.stdout);
    const fa = new Map(namedFigures(load(A)));
    const fb = new Map(namedFigures(load(B)));
    expect(c.a).toMatchObject({ file: A, cores: 2 });
    expect(c.b).toMatchObject({ file: B, cores: 1 });
    expect(new Set(c.rows.map((x) => x.figure))).toEqual(new Set([...fa.keys(), ...fb.keys()]));
    let shared = 0;
    for (const row of c.rows) {
      const x = fa.get(row.figure);
      const y = fb.get(row.figure);
      if (!x) {
        expect(row.verdict).toBe('only-in-b');
        continue;
      }
      if (!y) {
        expect(row.verdict).toBe('only-in-a');
        continue;
      }
      shared++;
      expect(row.ratio).toBeCloseTo(y.median / x.median, 2);
      if (spreadsOverlap(x, y)) {
        expect(row.verdict, row.figure).toBe('within-spread');
        expect(row.note).toMatch(/not meaningful/);
      } else {
        const bBetter = x.better === 'lower' ? y.median < x.median : y.median > x.median;
        expect(row.verdict, row.figure).toBe(bBetter ? 'b-better' : 'a-better');
      }
    }
    expect(shared).toBeGreaterThan(10);
    // The 1-core host measured one run token and one stress thread only.
    expect(c.rows.find((x) => x.figure === 'accesses/s, 2 run tokens')?.verdict).toBe('only-in-a');
    expect(c.rows.find((x) => x.figure === 'stress seeded, 2 threads')?.verdict).toBe('only-in-a');
  });

  it('human output: a table with both hosts, ratios and notes', async () => {
    const r = await runCli(['bench', '--compare', A, B]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`A: ${A} (`);
    expect(r.stdout).toContain('2 cores');
    expect(r.stdout).toContain('1 core,');
    expect(r.stdout).toMatch(/TLB lookups\/s, engine .* \d+\.\d\dx/);
    expect(r.stdout).toMatch(/shared figures differ by more than their spread/);
  });

  it('a figure twice as good with separate spreads is called; overlapping spreads are not', () => {
    const a = load(A);
    const b = structuredClone(a);
    const scale = (f: Figure, k: number): void => {
      f.median *= k;
      f.spread = { p25: f.spread.p25 * k, p75: f.spread.p75 * k, min: f.spread.min * k, max: f.spread.max * k };
    };
    scale(b.tlb_lookup.engine, 2); // a rate: higher is better
    scale(b.limits.doorbell_rt, 3); // a latency: lower is better
    b.limits.post_message_rt.median = a.limits.post_message_rt.spread.p75; // moved, but inside A's spread
    const c = compareProfiles(a, b);
    const row = (name: string) => c.rows.find((x) => x.figure === name)!;
    expect(row('TLB lookups/s, engine')).toMatchObject({ ratio: 2, verdict: 'b-better', note: 'B better by 2.00x' });
    expect(row('doorbell + receiveMessageOnPort round trip')).toMatchObject({ ratio: 3, verdict: 'a-better', note: 'A better by 3.00x' });
    expect(row('postMessage round trip').verdict).toBe('within-spread');
    expect(row('TLB lookups/s, raw loop')).toMatchObject({ ratio: 1, verdict: 'within-spread' });
  });
});

describe('tlbsim bench --compare bad input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tlbsim-compare-'));
  const notJson = join(dir, 'not.json');
  writeFileSync(notJson, '{"tlbsim_profile": 1,');
  const notProfile = join(dir, 'other.json');
  writeFileSync(notProfile, '{"config": {}}');
  const broken = join(dir, 'broken.json');
  const p = JSON.parse(readFileSync(A, 'utf8')) as HostProfile;
  (p.tlb_lookup.engine as unknown as Record<string, unknown>).spread = 'wide';
  writeFileSync(broken, JSON.stringify(p));
  const cases: [string[], RegExp][] = [
    [[A, join(dir, 'missing.json')], /cannot read .*missing\.json \(no such file\)/],
    [[A, notJson], /not\.json is not JSON/],
    [[notProfile, B], /other\.json is not a tlbsim host profile/],
    [[A, broken], /figure 'TLB lookups\/s, engine' is malformed/],
    [[A], /--compare takes exactly two profile files/],
    [[A, B, A], /--compare takes exactly two profile files/],
    [[A, B, '--quick'], /measures nothing: drop --quick/],
  ];
  for (const [args, message] of cases) {
    it(`--compare ${args.map((x) => x.replace(dir, '.')).join(' ')}: one error line, exit 2`, async () => {
      const r = await runCliInProcess(['bench', '--compare', ...args]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^tlbsim: error: /);
      expect(lines[0]).toMatch(message);
    });
  }
});
