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
export const PLOT_WIDTH = 520;
export const PLOT_HEIGHT = 320;

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
