/**
 * Property test (fast-check): random and malformed flags and config files fed
 * to the CLI never produce a stack trace, never exit 0, and never hang. Every
 * generated command line holds at least one input that is certainly bad (a
 * value out of range, a wrong type, an unknown flag or key, a file that is not
 * JSON), mixed with random valid and invalid noise.
 *
 * The 40 command lines run through the CLI's main() in this process
 * (test/cliInProcess.ts: same exit code and output, without a process start
 * per case); test/cli.test.ts runs a sample of bad input through the real
 * process. "Never a hang" is main() settling within the in-process hang guard.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runCliInProcess } from './cliInProcess.js';
import { lines } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tlbsim-fuzz-'));
let files = 0;
function configFile(content: string): string {
  const p = join(dir, `c${files++}.json`);
  writeFileSync(p, content);
  return p;
}

const NUMERIC_FLAGS = ['--cpus', '--pages', '--batch', '--ops', '--seed', '--tlb-sets', '--tlb-ways', '--run-tokens', '--quantum', '--ceiling', '--lazy-cpus', '--mms', '--switch-every', '--doorbell-poll', '--ipi-timeout-ms', '--write-ratio'];
const CHOICE_FLAGS = ['--protocol', '--workload', '--arch', '--sched', '--inject', '--pending-flush', '--syscall', '--log-level'];

/** Values no numeric flag accepts. */
const badNumber = fc.oneof(fc.constantFrom('-1', '0x', 'abc', '', '1e400', 'NaN', '-0.5', '99999999999999'), fc.string({ maxLength: 6 }).filter((s) => !/^\s*\d/.test(s)));
/** Any string, as noise. */
const anyValue = fc.oneof(fc.integer({ min: -5, max: 5000 }).map(String), fc.string({ maxLength: 8 }), fc.constantFrom('1', '8', '0.5', 'batched', 'x86'));

/** One input that is certainly bad. */
const certainlyBad: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(fc.constantFrom('--cpus', '--pages', '--batch', '--tlb-ways', '--mms'), fc.constantFrom('-1', '0', 'abc', '1.5')).map(([f, v]) => [f, v]),
  fc.tuple(fc.constantFrom(...CHOICE_FLAGS), fc.string({ minLength: 1, maxLength: 6 }).filter((s) => /^[a-z]+$/.test(s) && s.length > 0)).map(([f, v]) => [f, `zz${v}`]),
  fc.string({ minLength: 1, maxLength: 8 }).filter((s) => /^[a-z]+$/.test(s)).map((s) => [`--no-such-${s}`]),
  fc.constantFrom('{"cpus": 0}', '{"cpu": 4}', '{"pages": "x"}', '[1,2]', '{"cpus": 4,', 'null', '{"protocol": 7}').map((c) => ['--config', configFile(c)]),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }).filter((k) => /^[a-z]+$/.test(k)), fc.jsonValue(), { minKeys: 1, maxKeys: 3 })
    .map((o) => ['--config', configFile(JSON.stringify({ ...o, zzUnknownKey: 1 }))]),
);

/** Random noise: flags with valid or invalid values. */
const noise: fc.Arbitrary<string[]> = fc
  .array(
    fc.oneof(
      fc.tuple(fc.constantFrom(...NUMERIC_FLAGS), fc.oneof(badNumber, anyValue)).map(([f, v]) => [f, v]),
      fc.tuple(fc.constantFrom(...CHOICE_FLAGS), anyValue).map(([f, v]) => [f, v]),
      fc.constantFrom(['--json'], ['--no-tlb-gen'], ['--no-debug'], ['--no-progress']),
    ),
    { maxLength: 4 },
  )
  .map((xs) => xs.flat());

const commandLine = fc
  .tuple(fc.constantFrom(['run'], ['stress'], ['config', '--print']), noise, certainlyBad, noise)
  .map(([cmd, a, bad, b]) => [...cmd, ...a, ...bad, ...b]);

describe('the CLI on random bad input', () => {
  it('never a stack trace, never exit 0, never a hang', async () => {
    await fc.assert(
      fc.asyncProperty(commandLine, async (argv) => {
        const r = await runCliInProcess(argv);
        expect(r.status, `${argv.join(' ')}\n${r.stderr}`).not.toBe(null); // null: main() did not settle within the hang guard
        expect(r.status, `${argv.join(' ')}\n${r.stderr}`).not.toBe(0);
        expect(r.stderr, argv.join(' ')).not.toMatch(/^\s+at .+\(.*:\d+:\d+\)$/m);
        expect(r.stderr).toMatch(/^tlbsim: error: /);
        expect(lines(r.stderr), `${argv.join(' ')}\n${r.stderr}`).toHaveLength(1);
      }),
      { numRuns: 40, seed: 20261127 },
    );
  }, 300_000);
});
