/**
 * One calibration, end to end: build native/shootdown.c, read the host
 * (/proc/cpuinfo, the affinity mask), measure every point, fit the cost
 * model, run the simulator on the same workloads with it, and gather all of
 * it into one profile (what `--out` writes).
 *
 * Invariants: the compiled program and its snapshots are removed whatever
 * happens; nothing in the profile is computed anywhere but here and in the
 * modules it calls (the printed tables only format it).
 */
import { readFileSync } from 'node:fs';
import { tlbsimVersion } from '../bench/run.js';
import { ConfigError } from '../../config/config.js';
import { compareWithSimulator, type CompareRow } from './compare.js';
import { costModelFile, fitCostModel, fittedCostModel, type CostModelFit } from './fit.js';
import { detectHost, type HostKind } from './host.js';
import { BUDGETS, findPoint, MADVISE_PAGES, measureHost, planPoints, type MeasuredPoint } from './measure.js';
import { buildShootdown, removeShootdown, shootdownInfo } from './native.js';
import { parseCpuInfo } from './proc.js';

/** Remote-flush cost of one page count at one thread count: other threads of the mm spinning, minus alone. */
interface RemoteFlushCost {
  pages: number;
  threads: number;
  alone_us: number;
  with_others_us: number;
  difference_us: number;
}

/** Everything one calibration measured and derived (the `--out` JSON). */
export interface CalibrationProfile {
  tlbsim_version: string;
  created_at: string;
  quick: boolean;
  duration_s: number;
  compiler: string;
  budget: { budgetMs: number; reps: number };
  host: HostKind;
  points: MeasuredPoint[];
  remote_flush_cost: RemoteFlushCost[];
  fit: CostModelFit;
  /** null with --no-simulate. */
  compare: CompareRow[] | null;
}

/** Options of one calibration (checked by the command). */
interface CalibrateOptions {
  quick: boolean;
  /** Threads up to this many (at most the affinity mask's CPUs; default all of them). */
  threads?: number;
  simulate: boolean;
  onProgress?: (done: number, total: number, label: string) => void;
}

/** The result: the profile and the cost-model file's content. */
interface Calibration {
  profile: CalibrationProfile;
  costModelFile: Record<string, unknown>;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Run a calibration. */
export async function runCalibration(o: CalibrateOptions): Promise<Calibration> {
  const t0 = performance.now();
  const createdAt = new Date().toISOString();
  if (process.platform !== 'linux') throw new ConfigError(`calibrate measures the Linux kernel's TLB shootdowns (/proc, sched_getaffinity): this host runs ${process.platform}`);
  const b = await buildShootdown();
  try {
    const mask = (await shootdownInfo(b)).cpus;
    const threads = o.threads ?? mask.length;
    if (threads > mask.length) throw new ConfigError(`--threads ${threads} is more than the ${mask.length} CPUs of this process's affinity mask (${mask.join(',')}); give at most ${mask.length}`);
    const cpus = mask.slice(0, threads);
    const info = parseCpuInfo(readOrEmpty('/proc/cpuinfo'));
    const budget = o.quick ? BUDGETS.quick : BUDGETS.default;
    const points = await measureHost(b, planPoints(threads, o.quick), budget, o.onProgress);
    const host = detectHost(info, cpus, points);
    const fit = fitCostModel(points, info.mhz === null ? null : info.mhz / 1000);
    const model = fittedCostModel(fit);
    const compare = o.simulate ? await compareWithSimulator(points, model, o.quick, o.onProgress) : null;
    const remote: RemoteFlushCost[] = [];
    for (const pages of MADVISE_PAGES) {
      const alone = findPoint(points, 'madvise', 'all', pages, 1);
      for (let t = 2; t <= threads; t++) {
        const w = findPoint(points, 'madvise', 'spin', pages, t);
        if (!alone || !w) continue;
        remote.push({ pages, threads: t, alone_us: alone.latency.median, with_others_us: w.latency.median, difference_us: Number((w.latency.median - alone.latency.median).toPrecision(4)) });
      }
    }
    const profile: CalibrationProfile = {
      tlbsim_version: tlbsimVersion(),
      created_at: createdAt,
      quick: o.quick,
      duration_s: Math.round((performance.now() - t0) / 100) / 10,
      compiler: b.compilerVersion,
      budget,
      host,
      points,
      remote_flush_cost: remote,
      fit,
      compare,
    };
    const hostRecord = { summary: host.summary, kind: host.kind, remote_flush: host.remote_flush, cores: host.cores, cpu_model: host.cpu_model, kernel: host.kernel, invlpgb: host.invlpgb };
    return { profile, costModelFile: costModelFile(fit, `tlbsim ${profile.tlbsim_version} calibrate${o.quick ? ' --quick' : ''}`, createdAt, hostRecord) };
  } finally {
    removeShootdown(b);
  }
}
