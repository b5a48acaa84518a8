/**
 * Sweep plots: Vega-Lite specs rendered to SVG headlessly (vega's SVG
 * renderer, no canvas). Plots only draw numbers the sweep rows already hold.
 *
 * Invariants:
 * - Every plot has a title, both axis titles with their unit in parentheses
 *   (and "log scale" where the axis is one), and a legend naming the series
 *   (the swept options other than the x axis).
 * - Output is a deterministic function of the rows: same rows, same SVG.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One point of one line. */
export interface PlotPoint {
  x: number;
  y: number;
  series: string;
}

/** What a line plot needs. */
export interface LinePlot {
  /** File name (`*.svg`) inside the sweep's output folder. */
  file: string;
  title: string;
  xTitle: string;
  yTitle: string;
  /** Legend title: what tells the lines apart. */
  legendTitle: string;
  /** Log-2 x axis (CPU counts 2..1024). */
  xLog2: boolean;
  /** Log-10 y axis (figures that span orders of magnitude; points at or below 0 are left out). */
  yLog: boolean;
  points: PlotPoint[];
}

/** Plot size, pixels: wide enough for a 10-entry legend beside it. */
const PLOT_WIDTH = 520;
const PLOT_HEIGHT = 320;

/** The Vega-Lite spec of a line plot. */
export function lineSpec(p: LinePlot): TopLevelSpec {
  // Log scales cannot show 0: keep such points off a log axis (they are still in the CSV).
  const values = p.points.filter((pt) => Number.isFinite(pt.x) && Number.isFinite(pt.y) && (!p.xLog2 || pt.x > 0) && (!p.yLog || pt.y > 0));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: p.title,
    width: PLOT_WIDTH,
    height: PLOT_HEIGHT,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: p.xTitle,
        ...(p.xLog2 ? { scale: { type: 'log', base: 2 }, axis: { values: [...new Set(values.map((v) => v.x))].sort((a, b) => a - b) } } : {}),
      },
      y: { field: 'y', type: 'quantitative', title: p.yTitle, ...(p.yLog ? { scale: { type: 'log' } } : {}) },
      color: { field: 'series', type: 'nominal', title: p.legendTitle },
    },
  };
}

/** Render a Vega-Lite spec to an SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** One IPI slice of a traced run: a round an initiator sent, or a flush IPI a target handled. */
export interface TimelineSlice {
  cpu: number;
  /** Start and end on the trace's clock (host µs, or seeded steps). */
  start: number;
  end: number;
  kind: 'IPI round sent (smp_call_function_many)' | 'flush IPI handled';
}

/** Height of one CPU's row in the timeline, pixels (the plot grows with the CPUs, up to TIMELINE_MAX_HEIGHT). */
const TIMELINE_ROW_PX = 22;
const TIMELINE_MAX_HEIGHT = 640;

/**
 * The Vega-Lite spec of a run's IPI timeline: one row per CPU, a bar per
 * round sent on the initiator's row and per flush handled on each target's,
 * over the trace's clock (from the first traced slice, not from 0). A slice
 * shorter than a pixel is still drawn (a tick at its start), so a fast round
 * does not vanish in a long run.
 */
export function timelineSpec(slices: readonly TimelineSlice[], cpus: number, clockTitle: string): TopLevelSpec {
  const values = slices.map((s) => ({ ...s, row: `CPU ${s.cpu}` }));
  const rows = Array.from({ length: cpus }, (_, c) => `CPU ${c}`);
  const encoding = {
    y: { field: 'row', type: 'ordinal', title: 'CPU', sort: rows, scale: { domain: rows } },
    color: {
      field: 'kind',
      type: 'nominal',
      title: 'IPI event',
      scale: { domain: ['IPI round sent (smp_call_function_many)', 'flush IPI handled'], range: ['#d1495b', '#2e6f9e'] },
      legend: { orient: 'top', labelLimit: 400 },
    },
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'IPI rounds over time (from the trace)',
    width: PLOT_WIDTH + 300,
    height: Math.min(TIMELINE_MAX_HEIGHT, Math.max(6, cpus) * TIMELINE_ROW_PX),
    background: 'white',
    data: { values },
    layer: [
      { mark: { type: 'bar', opacity: 0.85 }, encoding: { ...encoding, x: { field: 'start', type: 'quantitative', title: clockTitle, scale: { zero: false } }, x2: { field: 'end' } } },
      { mark: { type: 'tick', thickness: 1.5 }, encoding: { ...encoding, x: { field: 'start', type: 'quantitative', title: clockTitle, scale: { zero: false } } } },
    ],
  } as TopLevelSpec;
}
