/**
 * What kind of host `tlbsim calibrate` ran on: bare metal or a guest (the
 * `hypervisor` flag of /proc/cpuinfo), whether it has INVLPGB (the `invlpgb`
 * flag; Linux 6.15 flushes remote TLBs with it instead of IPIs), how many
 * cores it had, and how its kernel flushed remote TLBs while other threads
 * of the mm ran: by IPI (shootdown interrupts counted, about T - 1 per
 * operation), or without (none counted: a paravirtual flush in a guest,
 * INVLPGB on bare metal).
 *
 * Invariant: the verdict on remote flushes comes from the counts measured
 * during this calibration only; with one core, or a kernel without the TLB
 * line, it says it could not tell.
 */
import { release } from 'node:os';
import { NO_IPI_FRACTION } from './compare.js';
import type { MeasuredPoint } from './measure.js';
import type { CpuInfo } from './proc.js';

/** How remote TLBs were flushed during the calibration. */
type RemoteFlush = 'ipi' | 'paravirt' | 'invlpgb' | 'none-counted' | 'no-counter' | 'not-measured';

/** The host, as the profile records it. */
export interface HostKind {
  kind: 'bare-metal' | 'guest';
  remote_flush: RemoteFlush;
  /** One sentence for the report. */
  summary: string;
  /** CPUs of the affinity mask the threads were pinned to. */
  cpus: number[];
  cores: number;
  cpu_model: string | null;
  mhz: number | null;
  hypervisor: boolean;
  invlpgb: boolean;
  kernel: string;
  /** Shootdown interrupts counted / IPIs Linux would send (T - 1 per operation), over every point with 2+ threads; null if not measured. */
  ipi_fraction: number | null;
  /** The kernel counts nr_tlb_* in /proc/vmstat (CONFIG_DEBUG_TLBFLUSH). */
  vmstat_tlb: boolean;
}

/** Decide the host's kind from /proc/cpuinfo and the counts measured. */
export function detectHost(info: CpuInfo, cpus: readonly number[], points: readonly MeasuredPoint[]): HostKind {
  const multi = points.filter((p) => p.threads >= 2);
  let counted = 0;
  let expected = 0;
  let noCounter = false;
  for (const p of multi) {
    if (p.shootdown_irqs_per_op === null) noCounter = true;
    else {
      counted += p.shootdown_irqs_per_op * p.ops;
      expected += (p.threads - 1) * p.ops;
    }
  }
  const fraction = expected > 0 && !noCounter ? counted / expected : null;
  let remote: RemoteFlush;
  if (multi.length === 0) remote = 'not-measured';
  else if (noCounter) remote = 'no-counter';
  else if ((fraction ?? 0) >= NO_IPI_FRACTION) remote = 'ipi';
  else if (info.hypervisor) remote = 'paravirt';
  else if (info.invlpgb) remote = 'invlpgb';
  else remote = 'none-counted';
  const kind = info.hypervisor ? 'guest' : 'bare-metal';
  const pct = fraction === null ? '' : ` (${(fraction * 100).toFixed(fraction < 0.1 ? 2 : 0)}% of the T-1 IPIs per operation Linux sends)`;
  const how: Record<RemoteFlush, string> = {
    ipi: `remote flushes by IPI: shootdown interrupts counted${pct}`,
    paravirt: `paravirtual remote flushes: no shootdown IPIs counted while other threads of the mm ran${pct}`,
    invlpgb: `no shootdown IPIs counted while other threads of the mm ran: INVLPGB broadcast flushes${pct}`,
    'none-counted': `no shootdown IPIs counted while other threads of the mm ran, and neither a hypervisor nor INVLPGB to explain it${pct}`,
    'no-counter': 'this kernel prints no TLB shootdown line in /proc/interrupts: remote flushes not counted',
    'not-measured': 'one core: no remote flush to measure',
  };
  return {
    kind,
    remote_flush: remote,
    summary: `${kind === 'guest' ? 'guest (hypervisor flag)' : 'bare metal'}, ${cpus.length} core${cpus.length === 1 ? '' : 's'}${info.invlpgb ? ', INVLPGB' : ''}; ${how[remote]}`,
    cpus: [...cpus],
    cores: cpus.length,
    cpu_model: info.model,
    mhz: info.mhz,
    hypervisor: info.hypervisor,
    invlpgb: info.invlpgb,
    kernel: release(),
    ipi_fraction: fraction === null ? null : Number(fraction.toPrecision(4)),
    vmstat_tlb: points.some((p) => Object.keys(p.vmstat_tlb_per_op).length > 0),
  };
}
