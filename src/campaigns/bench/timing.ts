/**
 * Glue between tinybench and profile figures: run tasks with retained
 * samples and hand the samples (milliseconds per task call) to `figureOf`.
 *
 * Invariant: a task that errored or did not complete throws; nothing is
 * reported from a task that did not run.
 */
import type { Bench, Task } from 'tinybench';

/** Latency samples (ms per call) of a finished task run with `retainSamples: true`. */
export function taskSamplesMs(task: Task): number[] {
  const r = task.result;
  if (r.state === 'errored') throw r.error;
  if (r.state !== 'completed' && r.state !== 'aborted-with-statistics') {
    throw new Error(`tinybench task '${task.name}' did not complete (state ${r.state})`);
  }
  const s = r.latency.samples;
  if (!s || s.length === 0) throw new Error(`tinybench task '${task.name}' kept no samples (retainSamples must be on)`);
  return [...s];
}

/** `taskSamplesMs` of the task named `name` in `bench`. */
export function namedSamplesMs(bench: Bench, name: string): number[] {
  const task = bench.getTask(name);
  if (!task) throw new Error(`no tinybench task '${name}'`);
  return taskSamplesMs(task);
}
