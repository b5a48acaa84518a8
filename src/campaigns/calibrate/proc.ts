/**
 * Parsers for the host kernel's counters that `tlbsim calibrate` reads:
 * /proc/interrupts (the x86 "TLB:" line, "TLB shootdowns"), /proc/vmstat
 * (the nr_tlb_* events, present only with CONFIG_DEBUG_TLBFLUSH) and
 * /proc/cpuinfo (the `hypervisor` and `invlpgb` flags, model, clock).
 *
 * Modelled on the kernel's printers: arch_show_interrupts()
 * (arch/x86/kernel/irq.c) prints "TLB:" followed by one count per online CPU
 * and the text "TLB shootdowns"; the count is irq_tlb_count, which the flush
 * IPI's handler bumps (flush_tlb_func_remote in arch/x86/mm/tlb.c as read at
 * 016c4d92cd16), so a remote flush done without an IPI is not in it.
 * vmstat_show() (mm/vmstat.c) prints "name value" lines; the same file's
 * native_flush_tlb_others and flush_tlb_func_common count NR_TLB_REMOTE_FLUSH,
 * NR_TLB_REMOTE_FLUSH_RECEIVED, NR_TLB_LOCAL_FLUSH_ALL and
 * NR_TLB_LOCAL_FLUSH_ONE (only with CONFIG_DEBUG_TLBFLUSH).
 *
 * Invariants: pure functions of the text; a line or field that is absent
 * is reported as null, never as 0 (a kernel without the TLB line is not a
 * kernel that sent no shootdowns).
 */

/** The TLB line of /proc/interrupts: one count per CPU column, or null when the kernel prints none (not x86, or no SMP). */
interface TlbInterrupts {
  /** CPU columns in the header ("CPU0 CPU1 ..."). */
  cpus: number;
  /** Shootdown interrupts received by each CPU since boot. */
  perCpu: number[];
  /** Their sum. */
  total: number;
}

/** Parse /proc/interrupts; null when there is no "TLB:" line. */
export function parseTlbInterrupts(text: string): TlbInterrupts | null {
  const lines = text.split('\n');
  const header = lines.find((l) => /^\s*CPU\d+/.test(l));
  const cpus = header === undefined ? 0 : header.trim().split(/\s+/).filter((w) => /^CPU\d+$/.test(w)).length;
  const line = lines.find((l) => /^\s*TLB:/.test(l));
  if (line === undefined) return null;
  const fields = line.replace(/^\s*TLB:/, '').trim().split(/\s+/);
  const perCpu: number[] = [];
  for (const f of fields) {
    if (!/^\d+$/.test(f)) break; // the description ("TLB shootdowns") follows the counts
    perCpu.push(Number(f));
  }
  if (cpus > 0 && perCpu.length !== cpus) throw new Error(`/proc/interrupts: the TLB line has ${perCpu.length} counts for ${cpus} CPU columns`);
  return { cpus: cpus > 0 ? cpus : perCpu.length, perCpu, total: perCpu.reduce((a, b) => a + b, 0) };
}

/** The nr_tlb_* events of /proc/vmstat (empty when the kernel was built without CONFIG_DEBUG_TLBFLUSH). */
export function parseVmstatTlb(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(nr_tlb_\w+)\s+(\d+)\s*$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Counter deltas between two snapshots of the same kernel. */
export function vmstatDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(after)) if (k in before) out[k] = after[k] - before[k];
  return out;
}

/** What /proc/cpuinfo says about the host (x86 layout; other architectures give nulls and false). */
export interface CpuInfo {
  model: string | null;
  /** "cpu MHz" of the first processor (the current clock; null if absent). */
  mhz: number | null;
  /** The `hypervisor` flag: running as a guest. */
  hypervisor: boolean;
  /** The `invlpgb` flag: AMD broadcast TLB invalidation (Linux 6.15 flushes remote TLBs with it instead of IPIs). */
  invlpgb: boolean;
  /** The `pcid` flag. */
  pcid: boolean;
}

/** Parse /proc/cpuinfo (its first processor block decides). */
export function parseCpuInfo(text: string): CpuInfo {
  const field = (name: string): string | null => {
    const m = new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text);
    return m ? m[1].trim() : null;
  };
  const flags = new Set((field('flags') ?? '').split(/\s+/));
  const mhz = Number(field('cpu MHz'));
  return {
    model: field('model name'),
    mhz: Number.isFinite(mhz) && mhz > 0 ? mhz : null,
    hypervisor: flags.has('hypervisor'),
    invlpgb: flags.has('invlpgb'),
    pcid: flags.has('pcid'),
  };
}
