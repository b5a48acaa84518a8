/**
 * Every mechanism of the INVLPGB issue in `tlbsim sweep`: the protocols and
 * the IPI fan-out are grid options like any other, and the CSV carries their
 * counters and modeled events.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSweep, writeSweepDir } from '../src/campaigns/sweep.js';

describe('sweep over the mechanisms', () => {
  it(
    'protocol x fan-out grid: exact counts per point, counters and modeled events in the CSV',
    async () => {
      const sw = await runSweep({
        grid: { protocol: ['batched', 'invlpgb', 'rar', 'luf', 'context-reset'], ipiFanout: ['serial', 'tree'] },
        base: { cpus: 6, pages: 64, batch: 32, roPages: 32, ops: 200, sched: 'seeded', ipiGroup: 2 },
        parallel: 2,
      });
      expect(sw.points).toHaveLength(10);
      for (const p of sw.points) expect(p.status, p.error ?? '').toBe('ok');
      const at = (protocol: string, fanout: string) => sw.points.find((p) => p.config.protocol === protocol && p.config.ipiFanout === fanout)!;
      expect(at('batched', 'serial').counters!.ipis_sent).toBe(2 * 5);
      // Groups of 2 among CPUs 1-5: {1}, {2,3}, {4,5}: the initiator sends 3 per round, CPUs 2 and 4 forward 1 each.
      expect(at('batched', 'tree').counters!.ipis_sent).toBe(2 * 5);
      expect(at('batched', 'tree').counters!.ipis_forwarded).toBe(2 * 2);
      expect(at('invlpgb', 'tree').counters!.invlpgb_sent).toBe(2);
      expect(at('invlpgb', 'tree').counters!.ipis_sent).toBe(0);
      expect(at('rar', 'serial').counters!.rar_sent).toBe(2);
      expect(at('luf', 'serial').counters!.luf_deferred).toBe(32);
      expect(at('context-reset', 'serial').counters!.context_resets).toBe(2 * 5);
      for (const p of sw.points) expect(p.races).toEqual({ lost_writes: 0, stale_accesses: 0, writes_after_protect: 0, accesses_after_unmap: 0, reads_after_protect: 0 });
      const dir = mkdtempSync(join(tmpdir(), 'tlbsim-mech-sweep-'));
      await writeSweepDir(dir, sw);
      const [head, ...rows] = readFileSync(join(dir, 'results.csv'), 'utf8').trim().split('\n');
      const cols = head.split(',');
      for (const c of ['ipiFanout', 'invlpgb_sent', 'rar_sent', 'luf_deferred', 'context_resets', 'ipis_forwarded', 'modeled_invlpgb_count', 'modeled_tlbsync_cycles', 'modeled_hw_apply_count']) {
        expect(cols).toContain(c);
      }
      expect(rows).toHaveLength(10);
    },
    120_000,
  );
});
