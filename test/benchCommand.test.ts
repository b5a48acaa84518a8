/**
 * `tlbsim bench` (src/cli.ts, src/campaigns/bench/): `--quick --json` prints one JSON
 * host profile with every documented key, every figure a positive number with
 * its spread, sized by this host's available cores; `--out` writes the same
 * profile; bad input is one `tlbsim: error:` line, exit 2, before anything
 * is measured.
 *
 * Runs the compiled CLI (build first: `npm run build`).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scalingTokenCounts } from '../src/campaigns/bench/accessScaling.js';
import { ipiRateCpus } from '../src/campaigns/bench/ipiRate.js';
import { ipiTargetCounts } from '../src/campaigns/bench/ipiRound.js';
import type { HostProfile } from '../src/campaigns/bench/profile.js';
import { TIERS } from '../src/campaigns/bench/run.js';
import { stressThreadCounts } from '../src/campaigns/bench/stressRate.js';
import { expectProfileShape } from './benchProfileShape.js';
import { runCliInProcess } from './cliInProcess.js';
import { parseOneJsonObject, runCli } from './helpers.js';

/** The quick run takes ~30 s on a quiet 2-core host (up to ~110 s while other processes load it); far more means it hangs. */
const QUICK_TIMEOUT_MS = 180_000;

describe('tlbsim bench --quick --json', () => {
  it('prints one documented host profile; every figure is positive with its spread; --out writes the same profile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tlbsim-bench-'));
    const out = join(dir, 'profile.json');
    const r = await runCli(['bench', '--quick', '--json', '--out', out], QUICK_TIMEOUT_MS);
    expect(r.status, `stderr: ${r.stderr}`).toBe(0);
    expect(r.stderr).toBe(''); // no progress bar with --json to a pipe
    const p = parseOneJsonObject<HostProfile>(r.stdout);
    expectProfileShape(p);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(p);

    // Sized by this host's cores, nothing assumes 2.
    const cores = availableParallelism();
    expect(p.tier).toBe('quick');
    expect(p.host.cores).toBe(cores);
    expect(p.host.engine).toEqual({ run_tokens: cores, stress_threads: cores });
    expect(p.ipi_round.map((e) => e.targets)).toEqual(ipiTargetCounts(cores, 'quick', 1024));
    expect(p.access_scaling.points.map((x) => x.tokens)).toEqual(scalingTokenCounts(cores));
    expect(p.stress.points.map((x) => x.threads)).toEqual([...stressThreadCounts(cores), ...stressThreadCounts(cores)]);
    expect(p.startup.map((s) => s.cpus)).toEqual([...TIERS.quick.startupSizes]);
    // Engine and raw are measured in the same run; the ratio is theirs.
    for (const e of p.ipi_round) expect(e.ratio.median).toBeCloseTo(e.engine.median.median / e.raw.median.median, 2);
    expect(p.ipi_rate?.cpus).toBe(ipiRateCpus(cores, 1024));
    if (p.ipi_rate) expect(p.ipi_rate.ratio).toBeCloseTo(p.ipi_rate.engine.median / p.ipi_rate.raw.median, 2);
    expect(p.tlb_lookup.ratio).toBeCloseTo(p.tlb_lookup.engine.median / p.tlb_lookup.raw.median, 2);
  }, QUICK_TIMEOUT_MS + 10_000);
});

describe('tlbsim bench bad input', () => {
  const cases: [string[], RegExp][] = [
    [['--max-cpus', '0'], /--max-cpus must be an integer from 3 to 1024/],
    [['--max-cpus', '2'], /--max-cpus must be an integer from 3 to 1024/],
    [['--max-cpus', '2000'], /--max-cpus must be an integer from 3 to 1024/],
    [['--max-cpus', '3.5'], /--max-cpus must be an integer/],
    [['--max-cpus', 'lots'], /--max-cpus takes a number/],
    [['--quick', '--full'], /'--quick' cannot be used with option '--full'/],
    [['--out', '/nonexistent-dir-tlbsim/p.json'], /--out: directory .* does not exist/],
    [['--nonsense'], /unknown option '--nonsense'/],
  ];
  for (const [args, message] of cases) {
    it(`${args.join(' ')}: one error line, exit 2, nothing measured`, async () => {
      // Through main() in this process (test/cliInProcess.ts): refused before anything is measured or logged.
      const r = await runCliInProcess(['bench', ...args]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^tlbsim: error: /);
      expect(lines[0]).toMatch(message);
    });
  }
});
