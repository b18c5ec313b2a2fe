// Boundary candidates on signals whose edges are known: a silence between two tones, a crossfade's dip,
// and steady music (none).
import { describe, expect, it } from 'vitest';
import { boundaryCandidates } from '../../pipeline/dsp/boundaries.js';

const SR = 8000;
const tone = (seconds: number, hz: number, amp = 0.5): Float32Array => Float32Array.from({ length: seconds * SR }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / SR));
const cat = (...parts: Float32Array[]): Float32Array => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};

describe('boundary candidates', () => {
  it('the two edges of a silence between two pieces', () => {
    const got = boundaryCandidates(cat(tone(6, 440), new Float32Array(SR), tone(6, 660)), SR);
    expect(got.some((t) => Math.abs(t - 6) <= 0.05)).toBe(true);
    expect(got.some((t) => Math.abs(t - 7) <= 0.05)).toBe(true);
  });

  it('the bottom of a fade-out into a fade-in', () => {
    const a = tone(8, 440);
    const b = tone(8, 660);
    for (let i = 0; i < 3 * SR; i++) { a[a.length - 3 * SR + i] *= 0.01 ** (i / (3 * SR)); b[i] *= 0.01 ** (1 - i / (3 * SR)); }
    const got = boundaryCandidates(cat(a, b), SR);
    expect(got.some((t) => Math.abs(t - 8) <= 0.6)).toBe(true);
  });

  it('nothing in steady music', () => {
    expect(boundaryCandidates(tone(20, 440), SR)).toEqual([]);
  });
});
