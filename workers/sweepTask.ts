/**
 * piscina task: run one sweep point, a whole simulated machine booted, run
 * once and shut down.
 *
 * Invariant: never rejects for a simulation problem: a failed run, a crash or
 * an exception becomes a failed row with its error, and the machine's workers
 * are always terminated before the task returns.
 */
import { Machine } from '../src/engine/coordinator.js';
import { failedRow, rowFromResult, type SweepPointTask, type SweepRow } from '../src/campaigns/sweep.js';

export default async function runPoint(t: SweepPointTask): Promise<SweepRow> {
  let m: Machine | null = null;
  try {
    m = await Machine.boot(t.config, { costModel: t.costModel });
    return rowFromResult(t.index, await m.run());
  } catch (e) {
    return failedRow(t.index, t.config, e instanceof Error ? e.message : String(e));
  } finally {
    await m?.shutdown();
  }
}
