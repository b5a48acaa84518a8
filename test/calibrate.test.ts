/**
 * `tlbsim calibrate`: the host microbenchmark builds and runs here, the
 * /proc parsers read real and reference layouts, the fit recovers known
 * costs, the fitted file round-trips through `--cost-model`, and a host
 * without a compiler gets one line and exit 2.
 *
 * Fixtures (test/fixtures/proc/): `guest-2cpu.*` are this 2-vCPU guest's
 * real /proc/interrupts, /proc/vmstat and /proc/cpuinfo (TLB line present
 * and at 0, no nr_tlb_*, `hypervisor` flag); `baremetal-8cpu.*` are written
 * by hand in the kernel's layout (arch_show_interrupts: "%*s: " then "%10u "
 * per online CPU then the description; vmstat_show: "name value") for an
 * 8-CPU bare-metal host with CONFIG_DEBUG_TLBFLUSH and INVLPGB.
 *
 * Cost: the C program runs for a few 5 ms points, and two simulator runs of
 * 2 CPUs: a few seconds in all.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COST_MODEL_DEFAULTS, loadCostModel, resolveCostModel } from '../src/output/costModel.js';
import { ConfigError } from '../src/config/config.js';
import { parseCpuInfo, parseTlbInterrupts, parseVmstatTlb, vmstatDelta } from '../src/campaigns/calibrate/proc.js';
import { buildShootdown, CompilerMissing, removeShootdown, runShootdown, shootdownInfo, type ShootdownBinary } from '../src/campaigns/calibrate/native.js';
import { KERNEL_FLUSH_CEILING, munmapPages, reducePoint, type MeasuredPoint } from '../src/campaigns/calibrate/measure.js';
import { costModelFile, fitCostModel, fittedCostModel, theilSen } from '../src/campaigns/calibrate/fit.js';
import { compareWithSimulator } from '../src/campaigns/calibrate/compare.js';
import { detectHost } from '../src/campaigns/calibrate/host.js';
import { figureOf } from '../src/campaigns/bench/figure.js';
import { runCliInProcess } from './cliInProcess.js';
import { CLI_PATH, parseOneJsonObject, runCli } from './helpers.js';

const fixture = (name: string): string => readFileSync(fileURLToPath(new URL(`./fixtures/proc/${name}`, import.meta.url)), 'utf8');

describe('/proc parsers', () => {
  it('reads the TLB line of this guest: two CPUs, present and at 0', () => {
    expect(parseTlbInterrupts(fixture('guest-2cpu.interrupts'))).toEqual({ cpus: 2, perCpu: [0, 0], total: 0 });
  });

  it('reads the TLB line of an 8-CPU bare-metal layout and sums its columns', () => {
    const t = parseTlbInterrupts(fixture('baremetal-8cpu.interrupts'));
    // The fixture's TLB line: 183402 + 176955 + 190311 + 171208 + 168774 + 180046 + 177530 + 169893 = 1,418,119.
    expect(t).toEqual({ cpus: 8, perCpu: [183402, 176955, 190311, 171208, 168774, 180046, 177530, 169893], total: 1418119 });
  });

  it('says null, not 0, for a kernel without the TLB line (e.g. arm64)', () => {
    expect(parseTlbInterrupts('           CPU0       CPU1\n IPI0:      1203        998       Rescheduling interrupts\n')).toBeNull();
  });

  it('refuses a TLB line whose counts do not match the CPU columns', () => {
    expect(() => parseTlbInterrupts('           CPU0       CPU1\nTLB:          5   TLB shootdowns\n')).toThrow(/1 counts for 2 CPU columns/);
  });

  it('reads nr_tlb_* from /proc/vmstat: none on this guest, four on a CONFIG_DEBUG_TLBFLUSH kernel', () => {
    expect(parseVmstatTlb(fixture('guest-2cpu.vmstat'))).toEqual({});
    const bm = parseVmstatTlb(fixture('baremetal-8cpu.vmstat'));
    expect(bm).toEqual({ nr_tlb_remote_flush: 2816530, nr_tlb_remote_flush_received: 19377412, nr_tlb_local_flush_all: 1180227, nr_tlb_local_flush_one: 40117904 });
    expect(vmstatDelta(bm, { ...bm, nr_tlb_remote_flush: 2816540 })).toEqual({ nr_tlb_remote_flush: 10, nr_tlb_remote_flush_received: 0, nr_tlb_local_flush_all: 0, nr_tlb_local_flush_one: 0 });
  });

  it('reads the hypervisor and invlpgb flags from /proc/cpuinfo', () => {
    const g = parseCpuInfo(fixture('guest-2cpu.cpuinfo'));
    expect(g.hypervisor).toBe(true);
    expect(g.invlpgb).toBe(false);
    const b = parseCpuInfo(fixture('baremetal-8cpu.cpuinfo'));
    expect(b).toEqual({ model: 'AMD EPYC 7313P 16-Core Processor', mhz: 3000, hypervisor: false, invlpgb: true, pcid: true });
  });
});

/** This process's affinity mask, from Cpus_allowed_list ("0-3,6"). */
function allowedCpus(): number[] {
  const line = /^Cpus_allowed_list:\s*(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!line) throw new Error('no Cpus_allowed_list in /proc/self/status');
  return line[1].split(',').flatMap((r) => {
    const [a, b] = r.split('-').map(Number);
    return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
  });
}

describe('native/shootdown.c on this host', () => {
  let bin: ShootdownBinary;
  beforeAll(async () => {
    bin = await buildShootdown();
  });
  afterAll(() => removeShootdown(bin));

  it('reports the affinity mask it pins to', async () => {
    const info = await shootdownInfo(bin);
    // The child inherits this process's mask: /proc/self/status says which CPUs it holds.
    expect(info.cpus).toEqual(allowedCpus());
    expect(info.page_size).toBeGreaterThan(0);
  });

  it('runs a madvise loop and a munmap loop, with the kernel counters around them', async () => {
    const m = await runShootdown(bin, { op: 'madvise', pages: 4, threads: 1, role: 'all' }, 5, 2);
    expect(m.reps).toHaveLength(2);
    for (const rep of m.reps) expect(rep.ops[0]).toBeGreaterThan(0);
    expect(m.interrupts).not.toBeNull();
    const p = reducePoint(m);
    expect(p.samples_us).toHaveLength(2);
    expect(p.ops).toBe(m.reps[0].ops[0] + m.reps[1].ops[0]);
    // x86 prints the TLB line (this host does): the per-op figure is a number, not "absent".
    expect(p.shootdown_irqs_per_op).not.toBeNull();
    const u = await runShootdown(bin, { op: 'munmap', pages: 3, threads: Math.min(2, allowedCpus().length), role: 'spin' }, 5, 1);
    expect(u.role).toBe('spin');
    expect(u.reps[0].ops[0]).toBeGreaterThan(0);
    // Threads 1.. only spin in a munmap run: they do no operation.
    if (u.threads === 2) expect(u.reps[0].ops[1]).toBe(0);
  });

  it('refuses more threads than the mask has CPUs', async () => {
    await expect(runShootdown(bin, { op: 'madvise', pages: 1, threads: allowedCpus().length + 1, role: 'all' }, 5, 1)).rejects.toThrow(/more than the \d+ CPUs of the affinity mask/);
  });

  it('no compiler: one line, exit 2, nothing on stdout', async () => {
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI_PATH, 'calibrate', '--quick'], { env: { ...process.env, CC: '/nonexistent/cc' } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout: String(stdout), stderr: String(stderr) }),
      );
    });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^tlbsim: error: calibrate needs a C compiler to build its microbenchmark: CC=\/nonexistent\/cc could not be run; install gcc or clang, or set CC=/);
    // No CC and no cc on PATH: the same error (CompilerMissing is a ConfigError: the CLI prints it as one line, exit 2).
    const e = await buildShootdown({ ...process.env, CC: '', PATH: '/nonexistent' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CompilerMissing);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(/no 'cc' on PATH; install gcc or clang, or set CC=\/path\/to\/compiler$/);
  });

  it('bad flags: one line, exit 2, before anything is built', async () => {
    for (const [args, msg] of [
      [['--threads', '1.5'], /--threads must be a whole number of threads/],
      [['--out', '/nonexistent/dir/p.json'], /--out: directory \/nonexistent\/dir does not exist/],
    ] as const) {
      const r = await runCliInProcess(['calibrate', ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
  });
});

/** A measured point with exactly these per-repetition latencies (µs). */
function point(op: 'madvise' | 'munmap', role: 'all' | 'spin', pages: number, threads: number, us: number[], irqsPerOp: number | null = 0): MeasuredPoint {
  return { op, role, pages, threads, samples_us: us, latency: figureOf(us, 'us', 'lower'), ops: 100, shootdown_irqs_per_op: irqsPerOp, vmstat_tlb_per_op: {} };
}

/*
 * A synthetic host at 2 GHz whose latencies follow the engine's pricing with
 * known costs (cycles), so the fit must give them back:
 *   munmap(L) = flush_call_base + L x (page_fault + 2 page_walk) + (L <= 33 ? L x invlpg : full_flush)
 *     with flush_call_base 20000 (10 µs), page_fault 3000 and page_walk at its
 *     default 50 (1500 + 2 x 25 = 1550 ns per page), invlpg 1000 (500 ns),
 *     full_flush 60000 (30 µs): 10 + 1.55 L + (L <= 33 ? 0.5 L : 30) µs;
 *   madvise(1), 2 threads, the other spinning = madvise(1) alone + one round
 *     of ipi_send_base 2000 + ipi_send_per_target 175 + irq_entry 379 +
 *     flush_handler 378 + invlpg 1000 = 3932 cycles = 1.966 µs
 *     (the middle three are the defaults the fit keeps).
 * Three repetitions offset by -0.2, 0 and +0.2 µs everywhere: the per-page
 * slopes and the differences do not move, only intercepts spread.
 */
function syntheticHost(): MeasuredPoint[] {
  const reps = (us: number): number[] => [us - 0.2, us, us + 0.2];
  const pts: MeasuredPoint[] = [];
  for (const L of munmapPages(true)) pts.push(point('munmap', 'spin', L, 1, reps(10 + 1.55 * L + (L <= KERNEL_FLUSH_CEILING ? 0.5 * L : 30))));
  for (const P of [1, 8, 32, 64, 512]) pts.push(point('madvise', 'all', P, 1, reps(5 + P * 2))); // not fitted: the check
  pts.push(point('madvise', 'spin', 1, 2, reps(5 + 2 + 1.966)));
  return pts;
}

describe('the cost-model fit', () => {
  it('fits lines that one disturbed point does not move (Theil-Sen)', () => {
    // y = 1 + 2x at x = 1..4, and x = 5 disturbed (1000): of the 10 pairwise slopes the 6 among x = 1..4 are 2, so the median is 2;
    // y - 2x is 1 at four points and 990 at the fifth: median 1. Least squares would give a slope of 199.8 here.
    expect(theilSen([[1, 3], [2, 5], [3, 7], [4, 9], [5, 1000]])).toEqual({ m: 2, b: 1 });
    expect(() => theilSen([[1, 3], [1, 4]])).toThrow(/two distinct x/);
  });

  it('gives back the costs a synthetic host was built from', () => {
    const fit = fitCostModel(syntheticHost(), 2);
    const v = Object.fromEntries(Object.entries(fit.fitted).map(([k, f]) => [k, f.value]));
    expect(v).toEqual({ invlpg: 1000, full_flush: 60000, page_fault: 3000, flush_call_base: 20000, ipi_send_base: 2000 });
    // Break-even: F / invlpg = 30 µs / 0.5 µs = 60 pages.
    expect(fit.full_flush_break_even_pages?.value).toBe(60);
    // The offsets move intercepts only: full_flush and the slopes have no spread, flush_call_base spreads by 0.2 µs x 2 GHz each way.
    expect(fit.fitted.invlpg?.spread.min).toBe(fit.fitted.invlpg?.spread.max);
    expect(fit.fitted.flush_call_base?.spread).toMatchObject({ min: 19600, max: 20400 });
    expect(fit.kept_defaults).toContain('ipi_send_per_target');
    expect(fit.notes.join('\n')).toMatch(/ipi_send_per_target: needs 3 or more cores/);
    expect(fit.fitted.invlpg?.from).toMatch(/munmap, 1 thread/);
  });

  it('writes 0 and says so when noise swamps a difference', () => {
    const pts = syntheticHost().map((p) => (p.role === 'spin' && p.op === 'madvise' ? point('madvise', 'spin', 1, 2, [6, 6, 6]) : p)); // 1 µs faster than alone (7 µs): a negative round
    const fit = fitCostModel(pts, 2);
    expect(fit.fitted.ipi_send_base).toMatchObject({ value: 0, clamped: true });
    expect(fit.notes.join('\n')).toMatch(/ipi_send_base: the fitted median was -\d+ cycles/);
  });

  it('the fitted file round-trips through --cost-model (run and validate read it alike)', async () => {
    const fit = fitCostModel(syntheticHost(), 2);
    const file = costModelFile(fit, 'test', '2026-01-01T00:00:00Z', { kind: 'guest' });
    const dir = mkdtempSync(join(tmpdir(), 'tlbsim-calibrate-test-'));
    try {
      const path = join(dir, 'cm.json');
      writeFileSync(path, JSON.stringify(file));
      const expected = fittedCostModel(fit);
      expect(expected).toEqual({ ...COST_MODEL_DEFAULTS, ghz: 2, invlpg: 1000, full_flush: 60000, page_fault: 3000, flush_call_base: 20000, ipi_send_base: 2000 });
      expect(loadCostModel(path)).toEqual(expected);
      const r = await runCli(['run', '--workload', 'tlb-flush', '--cpus', '2', '--pages', '2', '--ops', '5', '--cost-model', path, '--json']);
      expect(r.status).toBe(0);
      expect(parseOneJsonObject<{ modeled: { cost_model: unknown } }>(r.stdout).modeled.cost_model).toEqual(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--cost-model refuses a calibration record that names an unknown key or lacks its source', () => {
    expect(() => resolveCostModel({ invlpg: 5, calibration: { fitted: { bogus: { value: 1, from: 'x' } } } }, 'f.json')).toThrow(/'calibration.fitted' names unknown key 'bogus'/);
    expect(() => resolveCostModel({ calibration: { fitted: { invlpg: { value: 1 } } } }, 'f.json')).toThrow(ConfigError);
    expect(() => resolveCostModel({ calibration: 3 }, 'f.json')).toThrow(/'calibration'/);
  });
});

describe('host beside the simulator', () => {
  it('counts the IPIs per operation Linux sends, and says so where the host sent none', async () => {
    const pts = [point('madvise', 'all', 1, 2, [40, 40, 40], 0), point('munmap', 'spin', 1, 2, [50, 50, 50], 1)];
    const rows = await compareWithSimulator(pts, COST_MODEL_DEFAULTS, true);
    expect(rows.map((r) => r.workload)).toEqual(['tlb-flush', 'munmap']);
    // tlb-flush: each operation is one round to the N - 1 = 1 other CPU; munmap: one round per munmap to the 1 other CPU.
    expect(rows.map((r) => r.sim_ipis_per_op)).toEqual([1, 1]);
    expect(rows[0]).toMatchObject({ ipi_ratio: null, ipi_note: 'host sent no shootdown IPIs (remote flush by the hypervisor)' });
    expect(rows[1]).toMatchObject({ ipi_ratio: 1, ipi_note: null });
    for (const r of rows) expect(r.latency_ratio).toBeCloseTo(r.sim_us_per_op / r.host_us_per_op, 3);
  });

  it('names the host: a guest without IPIs is paravirtual, bare metal with IPIs flushes by IPI', () => {
    const pv = detectHost(parseCpuInfo(fixture('guest-2cpu.cpuinfo')), [0, 1], [point('madvise', 'spin', 1, 2, [1], 0)]);
    expect(pv).toMatchObject({ kind: 'guest', remote_flush: 'paravirt', cores: 2, ipi_fraction: 0 });
    const bm = detectHost(parseCpuInfo(fixture('baremetal-8cpu.cpuinfo')), [0, 1, 2, 3, 4, 5, 6, 7], [point('madvise', 'all', 1, 8, [1], 7)]);
    // 7 interrupts per operation against T - 1 = 7 expected.
    expect(bm).toMatchObject({ kind: 'bare-metal', remote_flush: 'ipi', invlpgb: true, cores: 8, ipi_fraction: 1 });
    expect(detectHost(parseCpuInfo(fixture('baremetal-8cpu.cpuinfo')), [0, 1], [point('madvise', 'all', 1, 2, [1], 0)]).remote_flush).toBe('invlpgb');
    expect(detectHost(parseCpuInfo(''), [0], [point('madvise', 'all', 1, 1, [1], 0)]).remote_flush).toBe('not-measured');
  });
});
