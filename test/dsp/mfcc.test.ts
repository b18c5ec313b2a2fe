/**
 * pipeline/dsp/mfcc.ts and the "mfcc-sum" windows against librosa (fixtures written by
 * test/fixtures/mfcc/generate.py; the JSON files record the librosa version).
 *
 * Tolerance: max |ours − librosa| ≤ 1e-3 in coefficient units (the orthonormal DCT of dB values; here C0
 * lies between −57 and −563, the others within ±95). Measured: 3.1e-5 (real.json) and 2.7e-5
 * (synthetic.json), the level of librosa's float32 arithmetic and of the fixture's 5 decimals; we compute in
 * float64. A convention slip is far above the bar: librosa itself, run on real.json with one convention
 * changed, moves by 0.20 (symmetric Hann), 0.93 (no top_db floor), 26 (reflect padding), 56 (HTK mel) and
 * 202 (no Slaney norm). Window sums (≈22 frames, up to ≈7 100 in magnitude, kept as float32 whose step
 * there is 5e-4): 5e-3; measured 2.8e-4.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MfccParams, MfccSumParams } from '../../schemas/feature-mfcc.js';
import { Mfcc } from '../../pipeline/dsp/mfcc.js';
import { mfccSumWindows } from '../../pipeline/features/mfcc-sum.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'mfcc');
const COEFF_TOLERANCE = 1e-3;
const WINDOW_SUM_TOLERANCE = 5e-3;

interface Fixture {
  source: string;
  librosa: string;
  params: { sampleRate: number; nFft: number; hop: number; nMels: number; nMfcc: number; windowSeconds: number; hopSeconds: number };
  pcmInt16Base64: string;
  pcmScale: number;
  samples: number;
  mfcc: number[][];
  windowSums: number[][];
}

function load(name: string): { fx: Fixture; pcm: Float32Array } {
  const fx = JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Fixture;
  const bytes = Buffer.from(fx.pcmInt16Base64, 'base64');
  const pcm = new Float32Array(fx.samples);
  // int16 / 32768 is exact in float32: the very samples librosa was given.
  for (let i = 0; i < fx.samples; i++) pcm[i] = bytes.readInt16LE(2 * i) * fx.pcmScale;
  return { fx, pcm };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe.each(['real.json', 'synthetic.json'])('MFCC vs librosa: %s', (name) => {
  const { fx, pcm } = load(name);

  it('has librosa\'s frame count and coefficients within tolerance', () => {
    const m = new Mfcc(fx.params).compute(pcm);
    expect(m.frames).toBe(fx.mfcc.length);
    expect(m.nMfcc).toBe(fx.params.nMfcc);
    let worst = 0;
    for (let t = 0; t < m.frames; t++) {
      worst = Math.max(worst, maxAbsDiff(m.data.subarray(t * m.nMfcc, (t + 1) * m.nMfcc), fx.mfcc[t]));
    }
    expect(worst).toBeLessThan(COEFF_TOLERANCE);
  });

  it('sums the frames whose centre falls in each 0.5 s window', () => {
    const params = MfccSumParams.parse({ ...fx.params, summary: 'sum' });
    const w = mfccSumWindows(pcm, params);
    expect(w.dim).toBe(fx.params.nMfcc);
    expect(w.vectors.length).toBe(fx.windowSums.length);
    w.vectors.forEach((v, k) => {
      expect(w.startSeconds[k]).toBeCloseTo(k * fx.params.hopSeconds, 9);
      expect(maxAbsDiff(v, fx.windowSums[k])).toBeLessThan(WINDOW_SUM_TOLERANCE);
    });
  });

  it('summarises windows as mean and deviation of frames and of frame-to-frame differences', () => {
    const params = MfccSumParams.parse({ ...fx.params, summary: 'mean-std-delta' });
    const w = mfccSumWindows(pcm, params);
    const n = fx.params.nMfcc;
    expect(w.dim).toBe(4 * n);
    // Window 1 from librosa's frames directly: centres t·hop in [11025, 22050) are frames 22..43.
    const t0 = Math.ceil(11025 / fx.params.hop);
    const t1 = Math.ceil(22050 / fx.params.hop);
    const frames = fx.mfcc.slice(t0, t1);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
    for (const k of [0, 1, n - 1]) {
      const col = frames.map((f) => f[k]);
      const diffs = col.slice(1).map((x, i) => x - col[i]);
      expect(w.vectors[1][k]).toBeCloseTo(mean(col), 2);
      expect(w.vectors[1][n + k]).toBeCloseTo(std(col), 2);
      expect(w.vectors[1][2 * n + k]).toBeCloseTo(mean(diffs), 2);
      expect(w.vectors[1][3 * n + k]).toBeCloseTo(std(diffs), 2);
    }
  });
});

describe('MFCC parameters', () => {
  it('defaults to librosa.feature.mfcc\'s', () => {
    expect(MfccParams.parse({})).toEqual({ sampleRate: 22050, nFft: 2048, hop: 512, nMels: 128, nMfcc: 20, fMin: 0, topDb: 80 });
  });

  it('rejects rather than clamps', () => {
    expect(() => new Mfcc({ nMels: 40, nMfcc: 41 })).toThrow(/nMfcc/);
    expect(() => new Mfcc({ nFft: 1000 })).toThrow(/power of two/);
    expect(() => new Mfcc({ hop: 4096 })).toThrow(/hop/);
    expect(() => new Mfcc({ fMax: 20_000 })).toThrow(/fMax/);
    expect(() => MfccSumParams.parse({ windowSeconds: 0.01 })).toThrow(/window/);
  });

  it('makes no window from a clip shorter than one window, and frames as librosa counts them', () => {
    const params = MfccSumParams.parse({});
    expect(mfccSumWindows(new Float32Array(11024), params).vectors).toHaveLength(0);
    expect(mfccSumWindows(new Float32Array(11025), params).vectors).toHaveLength(1);
    expect(new Mfcc().frameCount(66150)).toBe(1 + Math.floor(66150 / 512));
  });
});
