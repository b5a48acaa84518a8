/**
 * The interface every unmap/flush protocol implements, so protocols are
 * pluggable: a workload hands a protocol a list of pages to reclaim and the
 * protocol decides how to unmap, flush, write back and free them.
 *
 * Invariant every implementation must keep (unless a bug is injected on
 * purpose): no frame is freed before a flush that covers its unmap has been
 * acknowledged by every CPU that may cache it, and no dirty page is written
 * back while a CPU may still hold a writable translation to it.
 */
import type { ProtocolName } from '../../config/config.js';
import type { Cpu } from '../../engine/cpu.js';

export interface UnmapProtocol {
  readonly name: ProtocolName;
  /** One-line description for reports. */
  readonly summary: string;
  /**
   * shrink_page_list(): reclaim `pages` of `mm` on `cpu` (the reclaimer):
   * unmap every page, flush, write back the dirty ones, free the frames.
   */
  shrinkPageList(cpu: Cpu, mm: number, pages: readonly number[]): void;
  /** kswapd's last pass is done (runReclaimer): settle anything deferred across passes (plug-ins, src/plugin/api.ts). */
  reclaimDone?(cpu: Cpu): void;
}
