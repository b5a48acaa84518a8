/**
 * Scenario plug-in `madvise-sibling` (tlbsim stress --scenario
 * ./examples/my-race.ts --kernel buggy|fixed): the 2017 race that
 * flush_tlb_batched_pending() closed (3ea277194daa, "mm, mprotect: flush TLB
 * if potentially racing with a parallel reclaim leaving stale TLB entries",
 * Linux 4.13), seen from a sibling thread instead of the caller: the thread
 * that calls madvise(MADV_DONTNEED) tells another thread through a program
 * flag that the page is gone, and that thread's TLB still reaches the frame.
 *
 *   CPU 0 (kswapd)            CPU 1 (thread)             CPU 2 (thread)
 *                                                        load P: entry cached
 *   try_to_unmap_one(P):
 *   PTE cleared, flush
 *   deferred (batched)
 *                             madvise(P, DONTNEED):
 *                             PTE already none; buggy:
 *                             no flush owed is seen,
 *                             nothing flushed; returns
 *                             flag := 1 ("P is free")
 *                                                        sees flag = 1
 *                                                        load P through the
 *                                                        stale entry: access
 *                                                        after unmap
 *   try_to_unmap_flush()
 *
 * Buggy side: `--no-batched-pending-flush` (the calls before 4.13 do not
 * flush reclaim's pending flush). Fixed: madvise flushes the mm on every CPU
 * of its cpumask (CPU 2 included) before it returns, so CPU 2's load after
 * the flag misses and faults the page back in.
 *
 * Invariants: CPU 1 calls madvise only after reclaim cleared P's PTE; CPU 2
 * makes one load of P in warm-up and `--ops` loads after the flag, nothing
 * else (so its only possible race is an access after unmap); CPU 1 makes one
 * load in warm-up and one madvise; CPU 0 reclaims P once. Every CPU ends:
 * CPU 1 always sets the flag CPU 2 waits on.
 */
import type { ScenarioContext, ScenarioPlugin } from 'tlbsim';

/** The page reclaim takes and the threads share; the process's only mm. */
const P = 0;
const MM = 0;
/** The two thread CPUs reclaim waits for. */
const THREADS = 2;

function run(ctx: ScenarioContext): void {
  if (ctx.cpu === 0) {
    ctx.reclaim([P], THREADS);
    return;
  }
  ctx.switchMm(MM);
  ctx.warmUp(MM, [P], false);
  ctx.waitReclaimStarted();
  if (ctx.cpu === 1) {
    // The call comes after reclaim cleared P's PTE (it finds the PTE none): the
    // race is only whether CPU 2's loads come before reclaim's deferred flush.
    ctx.waitUntil(() => ctx.pagesUnmapped() >= 1);
    ctx.madviseDontneed(MM, [P]);
    ctx.setFlag(1);
    return;
  }
  ctx.waitFlag((v) => v === 1);
  for (let i = 0; i < ctx.config.ops; i++) ctx.load(MM, P);
}

export default {
  kind: 'scenario',
  name: 'madvise-sibling',
  summary: "madvise(DONTNEED) finds the PTE reclaim cleared and flushes nothing; a sibling thread told by a program flag still loads through its stale entry",
  effect: 'access after unmap',
  defaults: { cpus: 3, pages: 1, batch: 1, ops: 2, writeRatio: 0, tlbSets: 2, tlbWays: 1, arch: 'x86', protocol: 'batched' },
  buggy: { batchedPendingFlush: false },
  initiators: () => [0, 1],
  run,
} satisfies ScenarioPlugin;
