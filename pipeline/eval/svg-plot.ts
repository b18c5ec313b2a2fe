/**
 * Self-contained SVG charts for reports (no dependency, no fonts to load): a line chart (one polyline
 * per series) and a scatter chart (labelled points). The output is a complete `<svg>` document string.
 *
 * Stable API, used by the evaluation and benchmark reports:
 *   lineChart({ title, xLabel, yLabel, series: [{ name, points: [[x, y], ...] }], xTicks?, yRange? })
 *   scatterChart({ title, xLabel, yLabel, series: [{ name, points: [{ x, y, label? }] }], xLog?, yRange? })
 * Both also take xTicks/yTicks, xRange/yRange, xTickFormat/yTickFormat, width/height (all optional).
 * Points with a non-finite coordinate are skipped. Series get colours in order from a fixed palette.
 */

export type XY = readonly [number, number];

export interface LineSeries {
  name: string;
  /** Drawn in the given order (sort by x for a function of x). */
  points: readonly XY[];
}

export interface ScatterPoint {
  x: number;
  y: number;
  /** Written beside the point. */
  label?: string;
}

export interface ScatterSeries {
  name: string;
  points: readonly ScatterPoint[];
}

interface AxesOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Tick positions on the x axis; by default about 6 "nice" ticks over the data. */
  xTicks?: readonly number[];
  /** Tick positions on the y axis; by default about 6 "nice" ticks over yRange or the data. */
  yTicks?: readonly number[];
  /** Text of an x tick (e.g. a category name at a position); by default the number. */
  xTickFormat?: (x: number) => string;
  /** Text of a y tick (e.g. `${y}%`); by default the number. */
  yTickFormat?: (y: number) => string;
  /** Fixed [min, max] of the x axis; by default the data's range (with the ticks). */
  xRange?: readonly [number, number];
  /** Fixed [min, max] of the y axis, e.g. [0, 100] for a percentage; by default the data's range. */
  yRange?: readonly [number, number];
  /** Pixels; default 720 × 440. */
  width?: number;
  height?: number;
}

export interface LineChartOptions extends AxesOptions {
  series: readonly LineSeries[];
}

export interface ScatterChartOptions extends AxesOptions {
  series: readonly ScatterSeries[];
  /** Logarithmic x axis (base 10), for costs spanning decades; non-positive x are skipped. */
  xLog?: boolean;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const MARGIN = { left: 64, top: 40, bottom: 52 };
const INSET = 8;

export function lineChart(opts: LineChartOptions): string {
  const series = opts.series.map((s) => ({ name: s.name, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) }));
  const frame = buildFrame(opts, series.flatMap((s) => s.points), false, series.map((s) => s.name));
  const body = series.map((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const pts = s.points.map(([x, y]) => `${fmt(frame.px(x))},${fmt(frame.py(y))}`);
    const line = pts.length > 1 ? `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.join(' ')}"/>` : '';
    const dots = s.points.map(([x, y]) => `<circle cx="${fmt(frame.px(x))}" cy="${fmt(frame.py(y))}" r="3.5" fill="${colour}"><title>${esc(`${s.name}: (${x}, ${y})`)}</title></circle>`);
    return line + dots.join('');
  });
  return frame.wrap(body.join('\n'), 'line');
}

export function scatterChart(opts: ScatterChartOptions): string {
  const log = opts.xLog === true;
  const series = opts.series.map((s) => ({
    name: s.name,
    points: s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!log || p.x > 0)),
  }));
  const all: XY[] = series.flatMap((s) => s.points.map((p) => [p.x, p.y] as const));
  const frame = buildFrame(opts, all, log, series.map((s) => s.name));
  const body = series.map((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    return s.points.map((p) => {
      const cx = fmt(frame.px(p.x));
      const cy = fmt(frame.py(p.y));
      const dot = `<circle cx="${cx}" cy="${cy}" r="4" fill="${colour}" fill-opacity="0.85"><title>${esc(`${p.label ?? s.name}: (${p.x}, ${p.y})`)}</title></circle>`;
      // Labels of points near the right edge go to their left, so they stay inside the frame.
      const left = frame.px(p.x) > frame.right - 120;
      const lx = fmt(frame.px(p.x) + (left ? -6 : 6));
      const text = p.label ? `<text x="${lx}" y="${fmt(frame.py(p.y) - 5)}" font-size="10" fill="#333" text-anchor="${left ? 'end' : 'start'}">${esc(p.label)}</text>` : '';
      return dot + text;
    }).join('');
  });
  return frame.wrap(body.join('\n'), 'dot');
}

interface Frame {
  /** Right edge of the plot area, px. */
  right: number;
  px(x: number): number;
  py(y: number): number;
  wrap(body: string, marker: 'line' | 'dot'): string;
}

function buildFrame(opts: AxesOptions, points: readonly XY[], xLog: boolean, legend: readonly string[]): Frame {
  const width = opts.width ?? 720;
  const height = opts.height ?? 440;
  // The legend sits right of the plot: as wide as its longest name (≈6.2 px per character at 11 px).
  const longest = Math.max(0, ...legend.map((n) => n.length));
  const marginRight = Math.round(Math.min(width * 0.45, Math.max(120, 44 + 6.2 * longest)));
  const plotW = width - MARGIN.left - marginRight;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const tx = (x: number): number => (xLog ? Math.log10(x) : x);

  const xs = points.map(([x]) => tx(x));
  const ys = points.map(([, y]) => y);
  const inRange = (range: readonly [number, number] | undefined, f: (v: number) => number) => (t: number) =>
    !range || (f(t) >= f(range[0]) - 1e-9 && f(t) <= f(range[1]) + 1e-9);
  const xTicks = (opts.xTicks?.filter((t) => !xLog || t > 0)
    ?? (xLog ? logTicks(opts.xRange ? [tx(opts.xRange[0]), tx(opts.xRange[1])] : xs) : niceTicks(opts.xRange ?? span(xs))))
    .filter(inRange(opts.xRange, tx));
  const yTicks = (opts.yTicks ?? niceTicks(opts.yRange ?? span(ys))).filter(inRange(opts.yRange, (v) => v));
  const [x0, x1] = widen(opts.xRange ? [tx(opts.xRange[0]), tx(opts.xRange[1])] : span([...xs, ...xTicks.map(tx)]));
  const [y0, y1] = widen(opts.yRange ?? span([...ys, ...yTicks]));

  // Data is drawn inside an inset of the frame, so points at the ends of the range are not cut by it.
  const px = (x: number): number => MARGIN.left + INSET + ((tx(x) - x0) / (x1 - x0)) * (plotW - 2 * INSET);
  const py = (y: number): number => MARGIN.top + plotH - INSET - ((y - y0) / (y1 - y0)) * (plotH - 2 * INSET);
  const bottom = MARGIN.top + plotH;

  const grid: string[] = [];
  for (const t of xTicks) {
    const x = fmt(px(t));
    grid.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${bottom}" stroke="#e5e5e5"/>`);
    grid.push(`<text x="${x}" y="${bottom + 16}" font-size="11" text-anchor="middle" fill="#444">${esc((opts.xTickFormat ?? tickText)(t))}</text>`);
  }
  for (const t of yTicks) {
    const y = fmt(py(t));
    grid.push(`<line x1="${MARGIN.left}" y1="${y}" x2="${MARGIN.left + plotW}" y2="${y}" stroke="#e5e5e5"/>`);
    grid.push(`<text x="${MARGIN.left - 6}" y="${fmt(py(t) + 4)}" font-size="11" text-anchor="end" fill="#444">${esc((opts.yTickFormat ?? tickText)(t))}</text>`);
  }

  return {
    right: MARGIN.left + plotW,
    px,
    py,
    wrap(body, marker) {
      const legendX = MARGIN.left + plotW + 14;
      const clipId = `plot-${hashText(`${opts.title}|${legend.join('|')}`)}`;
      // Many series: rows shrink to fit the height rather than run off the picture.
      const rowH = Math.min(18, (height - MARGIN.top - 16) / Math.max(1, legend.length));
      const items = legend.map((name, i) => {
        const y = MARGIN.top + 8 + i * rowH;
        const colour = PALETTE[i % PALETTE.length];
        const key = marker === 'line'
          ? `<line x1="${legendX}" y1="${y}" x2="${legendX + 18}" y2="${y}" stroke="${colour}" stroke-width="2"/>`
          : `<circle cx="${legendX + 9}" cy="${y}" r="4" fill="${colour}"/>`;
        return `${key}<text x="${legendX + 24}" y="${fmt(y + 4)}" font-size="${fmt(Math.min(11, rowH - 1))}" fill="#222">${esc(name)}</text>`;
      });
      return [
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
        `<rect width="${width}" height="${height}" fill="#fff"/>`,
        `<text x="${width / 2}" y="22" font-size="14" text-anchor="middle" font-weight="bold" fill="#111">${esc(opts.title)}</text>`,
        ...grid,
        `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
        `<text x="${MARGIN.left + plotW / 2}" y="${height - 12}" font-size="12" text-anchor="middle" fill="#222">${esc(opts.xLabel)}</text>`,
        `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle" fill="#222">${esc(opts.yLabel)}</text>`,
        // Points outside a fixed range are cut at the frame instead of running over the legend.
        `<clipPath id="${clipId}"><rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}"/></clipPath>`,
        `<g clip-path="url(#${clipId})">${body}</g>`,
        ...items,
        '</svg>',
        '',
      ].join('\n');
    },
  };
}

function span(values: readonly number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return [lo, hi];
}

/** A degenerate range (one point) still needs a non-zero width to be drawn. */
function widen([lo, hi]: readonly [number, number]): [number, number] {
  if (hi > lo) return [lo, hi];
  const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
  return [lo - pad, hi + pad];
}

/** Ticks at 1, 2 or 5 × 10^k steps covering [lo, hi], about six of them. */
function niceTicks(range: readonly [number, number]): number[] {
  const [lo, hi] = widen(range);
  const raw = (hi - lo) / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Powers of ten over the (already log10) data range, returned in data units. */
function logTicks(log10Values: readonly number[]): number[] {
  const [lo, hi] = span(log10Values);
  const ticks: number[] = [];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) ticks.push(10 ** k);
  return ticks;
}

function tickText(t: number): string {
  if (t !== 0 && (Math.abs(t) >= 1e5 || Math.abs(t) < 1e-3)) return t.toExponential(0).replace('+', '');
  return String(Number(t.toPrecision(6)));
}

function fmt(v: number): string {
  return v.toFixed(1);
}

/** A short id that differs between charts, so several can be inlined in one page. */
function hashText(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0).toString(36);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
