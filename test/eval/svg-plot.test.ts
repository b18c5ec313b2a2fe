/**
 * The report charts: complete SVG documents, one mark per finite point, names escaped, and points
 * mapped inside the frame (a larger value drawn further right / higher up).
 */
import { describe, expect, it } from 'vitest';
import { lineChart, scatterChart } from '../../pipeline/eval/svg-plot.js';

/** Every opened element is closed, in order (the charts use no text that could hide a '<'). */
function wellFormed(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3] === '/') continue;
    if (m[1] === '/') { if (stack.pop() !== m[2]) return false; } else stack.push(m[2]);
  }
  return stack.length === 0;
}

const circles = (svg: string): { cx: number; cy: number }[] =>
  [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="3\.5"/g)].map((m) => ({ cx: Number(m[1]), cy: Number(m[2]) }));

describe('lineChart', () => {
  const svg = lineChart({
    title: 'Top-1 <vs> SNR & more',
    xLabel: 'SNR (dB)',
    yLabel: '%',
    series: [{ name: '10 s, white', points: [[0, 10], [10, 50], [20, 90], [30, NaN]] }, { name: '5 s', points: [[0, 5]] }],
    xTicks: [0, 10, 20, 30],
    xTickFormat: (x) => (x === 30 ? 'clean' : String(x)),
    yRange: [0, 100],
  });

  it('is one well-formed SVG document with escaped text', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(wellFormed(svg)).toBe(true);
    expect(svg).toContain('Top-1 &lt;vs&gt; SNR &amp; more');
    expect(svg).toContain('>clean</text>');
  });

  it('draws each finite point, increasing to the right and upwards', () => {
    const pts = circles(svg);
    expect(pts).toHaveLength(4);
    expect(pts[1].cx).toBeGreaterThan(pts[0].cx);
    expect(pts[1].cy).toBeLessThan(pts[0].cy);
    expect(svg.match(/<polyline /g)).toHaveLength(1);
  });
});

describe('scatterChart', () => {
  it('labels points and skips non-positive x on a log axis', () => {
    const svg = scatterChart({
      title: 'front',
      xLabel: 'cost',
      yLabel: 'top-1',
      xLog: true,
      series: [{ name: 'configs', points: [{ x: 100, y: 10, label: 'A' }, { x: 1e5, y: 50, label: 'B' }, { x: 0, y: 20, label: 'C' }] }],
    });
    expect(wellFormed(svg)).toBe(true);
    expect(svg).toMatch(/>A<\/text>/);
    expect(svg).toMatch(/>B<\/text>/);
    expect(svg).not.toMatch(/>C<\/text>/);
    expect(svg).toMatch(/>1000<\/text>/);
  });
});
