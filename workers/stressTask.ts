/**
 * piscina task: run a chunk of stress iterations on a machine this thread
 * keeps booted between chunks (one per configuration), and sum the results.
 *
 * Invariant: a machine whose run failed has terminated its workers; it is
 * dropped from the cache and the chunk stops there, reporting what it completed.
 */
import { Machine } from '../src/engine/coordinator.js';
import { addRaces, totalRaceCount, zeroRaces } from '../src/engine/oracle.js';
import { addCounters, zeroCounters } from '../src/output/result.js';
import { lowerStopAfter, type StressChunk, type StressChunkResult } from '../src/campaigns/stress.js';

const machines = new Map<string, Machine>();

async function machineFor(chunk: StressChunk): Promise<Machine> {
  const key = JSON.stringify({ ...chunk.config, seed: 0 });
  let m = machines.get(key);
  if (!m) {
    m = await Machine.boot(chunk.config);
    machines.set(key, m);
  }
  return m;
}

export default async function runChunk(chunk: StressChunk): Promise<StressChunkResult> {
  const counters = zeroCounters();
  const races = zeroRaces();
  const out: StressChunkResult = { completed: 0, racyIterations: 0, counters, races, firstRace: null, failure: null, schedSteps: 0 };
  const key = JSON.stringify({ ...chunk.config, seed: 0 });
  const stop = new Int32Array(chunk.stopAfter);
  for (let i = chunk.first; i < chunk.first + chunk.count; i++) {
    if (i > Atomics.load(stop, 0)) break; // an earlier iteration already found a race (or failed)
    const seed = (chunk.baseSeed + i) >>> 0;
    const m = await machineFor(chunk);
    const r = await m.run(seed);
    if (r.status === 'failed') {
      machines.delete(key);
      out.failure = { ...r.failure!, iteration: i };
      lowerStopAfter(stop, i);
      break;
    }
    out.completed++;
    out.schedSteps += r.host.sched_steps;
    addCounters(counters, r.counters);
    addRaces(races, r.races);
    if (totalRaceCount(r.races) > 0) {
      out.racyIterations++;
      out.firstRace ??= { iteration: i, seed, races: r.races, reports: r.race_reports };
      if (chunk.stopOnRace) {
        lowerStopAfter(stop, i);
        break;
      }
    }
  }
  return out;
}
