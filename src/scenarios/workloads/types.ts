/**
 * The interface every workload implements, so workloads are pluggable: a
 * workload says which CPUs may initiate TLB shootdowns and what each CPU runs.
 *
 * Invariants: a workload's `run` executes inside CPU `cpu.id`'s worker; it
 * calls `cpu.tick()` once per memory access and `cpu.schedPoint()` wherever
 * another CPU should be allowed to run in seeded mode; it must terminate.
 */
import type { SimConfig, WorkloadName } from '../../config/config.js';
import type { Cpu } from '../../engine/cpu.js';
import type { UnmapProtocol } from '../../kernel/protocols/types.js';

export interface Workload {
  readonly name: WorkloadName;
  readonly summary: string;
  /** CPUs that may send IPIs (they get a port to every other CPU). */
  initiators(c: SimConfig): number[];
  /**
   * The workload's own rules on how options combine (called by
   * resolveConfig after every field passed its own check).
   * @throws ConfigError, one line naming the flag.
   */
  validate?(c: SimConfig): void;
  /** Fewest CPUs it runs on (default 2: CPU 0 reclaims, CPU 1 runs the process). */
  readonly minCpus?: number;
  /** What CPUs 1..N-1 do, for the error that asks for more CPUs (default: CPU 1 calls mprotect twice, CPUs 2..N-1 store). */
  cpuRoles?(c: SimConfig): string;
  /** Most `--lazy-cpus` (thread CPUs that may sit in lazy TLB mode; default N-2: CPU 0 reclaims, CPU 1 calls). */
  maxLazyCpus?(c: SimConfig): number;
  /** CPU `cpu.id`'s part of the workload. */
  run(cpu: Cpu, protocol: UnmapProtocol): void;
}
