/**
 * What host a profile was measured on, and how busy other processes kept it.
 *
 * Invariants:
 * - `cores` is `os.availableParallelism()`: on Linux it counts the CPUs in
 *   this process's affinity mask (`taskset -c 0` gives 1), and it is the
 *   count every part of the engine sizes itself by (run tokens, piscina
 *   threads), so the profile and the engine agree on the host.
 * - The load monitor reads /proc/stat and process.cpuUsage(); off Linux it
 *   reports null instead of guessing.
 */
import { readFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, release, totalmem, type as osType } from 'node:os';
import { DEFAULTS } from '../../config/config.js';
import { defaultStressThreads } from '../stress.js';

/** The host a profile describes. */
export interface HostInfo {
  /** CPU model string of the first logical CPU (os.cpus()). */
  cpu_model: string;
  /** Logical CPUs this process may run on (affinity respected): the engine's idea of "host cores". */
  cores: number;
  /** Logical CPUs the machine has, whatever the affinity mask says. */
  logical_cpus: number;
  /** The affinity mask as Linux prints it (`Cpus_allowed_list`), or null off Linux. */
  cpus_allowed: string | null;
  /** Physical memory, MB. */
  memory_mb: number;
  /** Node.js version. */
  node: string;
  /** V8 version. */
  v8: string;
  /** OS name, release and architecture. */
  os: string;
  /** What the engine sizes itself to on this host: the default `--run-tokens` and `tlbsim stress --threads`. Both follow `cores`. */
  engine: { run_tokens: number; stress_threads: number };
}

const MB = 1024 * 1024;

/** The affinity list of this process (Linux), e.g. "0-1", or null. */
function cpusAllowed(): string | null {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

/** Describe this host. */
export function hostInfo(): HostInfo {
  const list = cpus();
  return {
    cpu_model: list.length > 0 ? list[0].model.trim() : 'unknown',
    cores: Math.max(1, availableParallelism()),
    logical_cpus: list.length,
    cpus_allowed: cpusAllowed(),
    memory_mb: Math.round(totalmem() / MB),
    node: process.version,
    v8: process.versions.v8,
    os: `${osType()} ${release()} ${arch()}`,
    engine: { run_tokens: DEFAULTS.runTokens, stress_threads: defaultStressThreads() },
  };
}

// ---------------------------------------------------------------------------
// Host noise: how much CPU other processes took while a benchmark ran
// ---------------------------------------------------------------------------

/** Kernel clock ticks per second of /proc/stat (USER_HZ; 100 on every Linux build node runs on). */
const USER_HZ = 100;

interface CpuTimes {
  /** Busy time of every host CPU together, microseconds. */
  hostBusyUs: number;
  /** Busy + idle time of every host CPU together, microseconds. */
  hostTotalUs: number;
  /** CPU time of this process (every thread) and of its finished child processes, microseconds. */
  ownUs: number;
}

/** CPU time of this process's waited-for children (cutime + cstime of /proc/self/stat), microseconds; 0 if unreadable. */
function childrenUs(usPerTick: number): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, cutime 16, cstime 17.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[16 - 3]) + Number(rest[17 - 3])) * usPerTick;
  } catch {
    return 0;
  }
}

function readCpuTimes(): CpuTimes | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const first = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const [user, nice, system, idle, iowait, irq, softirq, steal] = first;
  const busy = user + nice + system + irq + softirq + steal;
  const usPerTick = 1_000_000 / USER_HZ;
  const own = process.cpuUsage();
  // Children count as own: the start-up figures boot each machine in a child process.
  return { hostBusyUs: busy * usPerTick, hostTotalUs: (busy + idle + iowait) * usPerTick, ownUs: own.user + own.system + childrenUs(usPerTick) };
}

/** CPU use over an interval, as percentages of all host CPUs. */
export interface HostLoad {
  /** Every host CPU's busy share. */
  hostBusyPct: number;
  /** This process's share (every thread). */
  ownPct: number;
  /** Taken by other processes (and, in a VM, by the hypervisor: steal time counts as busy): the noise in this benchmark's figures. */
  foreignPct: number;
}

/** Measures CPU use between `new` and `stop()` (Linux /proc/stat; null elsewhere). */
export class HostLoadMonitor {
  private readonly start = readCpuTimes();

  /** CPU use since construction, or null if it cannot be read. */
  stop(): HostLoad | null {
    const end = readCpuTimes();
    if (!this.start || !end) return null;
    const total = end.hostTotalUs - this.start.hostTotalUs;
    if (total <= 0) return null;
    const busy = end.hostBusyUs - this.start.hostBusyUs;
    const own = end.ownUs - this.start.ownUs;
    const pct = (x: number): number => Math.min(100, Math.max(0, (100 * x) / total));
    return { hostBusyPct: pct(busy), ownPct: pct(own), foreignPct: pct(busy - own) };
  }
}
