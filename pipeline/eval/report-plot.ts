/**
 * eval.svg: top-1 against SNR, one line per (excerpt length, noise kind) that was measured, with the
 * clean condition of that length drawn at the right end of the axis as the reference.
 */
import type { EvalReport } from '../../schemas/eval.js';
import { parseCondition } from './conditions.js';
import { lineChart, type LineSeries } from './svg-plot.js';

export function renderSnrPlot(r: EvalReport): string {
  const parsed = r.conditions.map((s) => ({ s, c: parseCondition(s.name) }));
  const snrs = parsed.flatMap(({ c }) => (c.distortion.kind === 'white' || c.distortion.kind === 'babble' ? [c.distortion.snrDb] : []));
  const maxSnr = snrs.length ? Math.max(...snrs) : 20;
  const cleanX = maxSnr + 10;
  const series: LineSeries[] = [];
  const lengths = [...new Set(parsed.map(({ c }) => c.seconds))].sort((a, b) => b - a);
  for (const seconds of lengths) {
    const clean = parsed.find(({ c }) => c.seconds === seconds && c.distortion.kind === 'clean');
    for (const kind of ['white', 'babble'] as const) {
      const points: [number, number][] = parsed
        .flatMap(({ s, c }) => (c.seconds === seconds && c.distortion.kind === kind && s.rates.top1 !== null ? [[c.distortion.snrDb, 100 * s.rates.top1] as [number, number]] : []))
        .sort((a, b) => a[0] - b[0]);
      if (points.length === 0) continue;
      if (clean?.s.rates.top1 != null) points.push([cleanX, 100 * clean.s.rates.top1]);
      series.push({ name: `${seconds} s, ${kind === 'white' ? 'white noise' : 'babble'}`, points });
    }
  }
  const ticks = [...new Set([...snrs, cleanX])].sort((a, b) => a - b);
  return lineChart({
    title: `Top-1 vs SNR (${r.catalogue.tracks} tracks, ${r.catalogue.kind}, encrypted)`,
    xLabel: 'SNR (dB)',
    yLabel: 'top-1 accepted and right (%)',
    series,
    xTicks: ticks,
    xTickFormat: (x) => (x === cleanX ? 'clean' : `${x}`),
    yRange: [0, 100],
    yTickFormat: (y) => `${y}%`,
  });
}
