import { describe, expect, it } from 'vitest';
import { decodeLandmark, encodeLandmark, extractLandmarks, makeBucketer } from '../../pipeline/dsp/landmarks.js';
import { decimateBy2 } from '../../pipeline/dsp/resample.js';
import { findPeaks, maxFilter2d, PEAK_SAMPLE_RATE, STFT_HOP, STFT_SIZE, uniformFilter2d } from '../../pipeline/dsp/spectral-peaks.js';
import { seededRandom } from '../../pipeline/model/calibrate.js';
import { LandmarkParams } from '../../schemas/feature-landmark.js';

/** scipy.ndimage 'nearest' mode: indices clamp to the edge. */
const clamp = (i: number, n: number) => (i < 0 ? 0 : i >= n ? n - 1 : i);

function naiveFilter(a: Float32Array, rows: number, cols: number, sr: number, sc: number, op: 'max' | 'mean'): Float64Array {
  const out = new Float64Array(a.length);
  const rr = (sr - 1) / 2;
  const rc = (sc - 1) / 2;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      let acc = op === 'max' ? -Infinity : 0;
      for (let dy = -rr; dy <= rr; dy++) {
        for (let dx = -rc; dx <= rc; dx++) {
          const v = a[clamp(y + dy, rows) * cols + clamp(x + dx, cols)];
          acc = op === 'max' ? Math.max(acc, v) : acc + v;
        }
      }
      out[y * cols + x] = op === 'max' ? acc : acc / (sr * sc);
    }
  }
  return out;
}

function randomMatrix(rows: number, cols: number, seed: number, levels?: number): Float32Array {
  const r = seededRandom(seed);
  // a few discrete levels too, so ties (plateaus) are exercised
  return Float32Array.from({ length: rows * cols }, () => (levels ? Math.floor(r() * levels) : r() * 10 - 5));
}

describe('sliding-window filters (O(n)) equal a naive reference', () => {
  const shapes: [number, number, number, number][] = [
    [40, 37, 15, 31], [9, 70, 31, 31], [64, 5, 3, 7], [1, 50, 5, 5], [33, 33, 1, 1], [20, 257, 15, 31],
  ];
  for (const [rows, cols, sr, sc] of shapes) {
    it(`max and mean, ${rows}×${cols}, window ${sr}×${sc}`, () => {
      for (const levels of [undefined, 3]) {
        const a = randomMatrix(rows, cols, rows * 1000 + cols + (levels ?? 0), levels);
        const mx = maxFilter2d(a, rows, cols, sr, sc);
        const nm = naiveFilter(a, rows, cols, sr, sc, 'max');
        for (let i = 0; i < a.length; i++) expect(mx[i]).toBe(Math.fround(nm[i]));
        const mean = uniformFilter2d(a, rows, cols, sr, sc);
        const nmean = naiveFilter(a, rows, cols, sr, sc, 'mean');
        for (let i = 0; i < a.length; i++) expect(Math.abs(mean[i] - nmean[i])).toBeLessThan(1e-4);
      }
    });
  }
  it('rejects even sizes', () => {
    expect(() => maxFilter2d(new Float32Array(4), 2, 2, 2, 1)).toThrow(RangeError);
  });
});

describe('resample 22050 → 11025', () => {
  const n = 22050;
  const tone = (f: number) => Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / 22050));
  const interiorRms = (x: Float32Array, ref?: (i: number) => number) => {
    let s = 0;
    let m = 0;
    for (let i = 200; i < x.length - 200; i++) {
      const e = ref ? x[i] - ref(i) : x[i];
      s += e * e;
      m++;
    }
    return Math.sqrt(s / m);
  };
  it('keeps a 1 kHz tone (sample-exact, no delay)', () => {
    const y = decimateBy2(tone(1000));
    expect(y.length).toBe(n / 2);
    const err = interiorRms(y, (i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 11025));
    expect(err).toBeLessThan(0.5 * 1e-3); // < −60 dB of the tone
  });
  it('removes an 8 kHz tone (it would alias to 3025 Hz)', () => {
    const y = decimateBy2(tone(8000));
    expect(interiorRms(y) / (0.5 / Math.SQRT2)).toBeLessThan(1e-3); // ≥ 60 dB down
  });
});

describe('peaks and landmarks on tone bursts', () => {
  // Hann-shaped 60 ms bursts at bin-centred frequencies, 0.25 s apart, over very quiet noise.
  const bins = [40, 80, 100];
  const centres = [0.5, 0.75, 1.0];
  const n = Math.round(1.6 * PEAK_SAMPLE_RATE);
  const rand = seededRandom(3);
  const pcm = Float32Array.from({ length: n }, () => (rand() - 0.5) * 1e-4);
  bins.forEach((k, b) => {
    const f = (k * PEAK_SAMPLE_RATE) / STFT_SIZE;
    const len = Math.round(0.06 * PEAK_SAMPLE_RATE);
    const start = Math.round(centres[b] * PEAK_SAMPLE_RATE) - len / 2;
    for (let i = 0; i < len; i++) {
      const env = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (len - 1));
      pcm[start + i] += 0.3 * env * Math.sin((2 * Math.PI * f * (start + i)) / PEAK_SAMPLE_RATE);
    }
  });
  const params = LandmarkParams.parse({});
  // frame t covers samples [t·hop, t·hop + 512): its centre is at t·hop + 256
  const frameOf = (sec: number) => (sec * PEAK_SAMPLE_RATE - STFT_SIZE / 2) / STFT_HOP;

  it('finds one peak per burst, at its bin and frame', () => {
    const p = findPeaks(pcm, params.peaks);
    expect(p.frame.length).toBe(3);
    bins.forEach((k, b) => {
      expect(p.bin[b]).toBe(k);
      expect(Math.abs(p.frame[b] - frameOf(centres[b]))).toBeLessThanOrEqual(1);
      expect(p.prominence[b]).toBeGreaterThan(params.peaks.deltaNats);
    });
  });

  const fanout3 = { ...params, queryShifts: 1, pairing: { ...params.pairing, fanout: 3 } };
  it('pairs them into (f1, df, dt) landmarks with fanout', () => {
    const lm = extractLandmarks(pcm, fanout3);
    const got = Array.from(lm.code, (c) => decodeLandmark(c)).map((x) => [x.f1, x.df]);
    expect(got).toEqual([[40, 40], [40, 60], [80, 20]]);
    const dts = Array.from(lm.code, (c) => decodeLandmark(c).dt);
    expect(Math.abs(dts[0] - 0.25 / (STFT_HOP / PEAK_SAMPLE_RATE))).toBeLessThanOrEqual(1);
    const one = extractLandmarks(pcm, { ...params, queryShifts: 1, pairing: { ...params.pairing, fanout: 1 } });
    expect(one.code.length).toBe(2);
  });

  it('a query of four framings finds each landmark once per framing, within a frame', () => {
    const four = extractLandmarks(pcm, { ...fanout3, queryShifts: 4 });
    expect(four.code.length).toBe(12);
    const one = extractLandmarks(pcm, fanout3);
    const pair = (c: number) => { const x = decodeLandmark(c); return `${x.f1},${x.df}`; };
    for (let i = 0; i < one.code.length; i++) {
      // The same pair of peaks in every framing: f1 and df as found alone, dt and the time within a frame.
      const copies = Array.from(four.code.keys()).filter((k) => pair(four.code[k]) === pair(one.code[i]));
      expect(copies.length).toBe(4);
      for (const k of copies) {
        expect(Math.abs(decodeLandmark(four.code[k]).dt - decodeLandmark(one.code[i]).dt)).toBeLessThanOrEqual(1);
        expect(Math.abs(four.time[k] - one.time[i])).toBeLessThanOrEqual(1);
      }
    }
    // The framings are a quarter hop apart: times are whole frames plus 0, 1/4, 1/2 or 3/4.
    expect(new Set(Array.from(four.time, (t) => Math.round((t % 1) * 4))).size).toBe(4);
  });

  it('buckets: hashed into [0, d), grid cells without collisions across far cells', () => {
    const lm = extractLandmarks(pcm, fanout3);
    const h = makeBucketer({ d: 512, bucketMode: 'hash', codeShift: 1 });
    for (const c of lm.code) expect(h(c)).toBeGreaterThanOrEqual(0), expect(h(c)).toBeLessThan(512);
    const g = makeBucketer({ d: 512, bucketMode: 'grid', grid: [16, 8, 4], codeShift: 1 });
    const cells = new Set(Array.from(lm.code, g));
    expect(cells.size).toBe(3);
  });

  it("'ratio' buckets keep most landmarks in place when the playback is 2 % or 4 % faster or slower", () => {
    const r = makeBucketer({ d: 2048, bucketMode: 'ratio', codeShift: 1, ratioCode: { f1Step: 0.25, ratioStep: 0.05, productStep: 0.08 } });
    const h = makeBucketer({ d: 2048, bucketMode: 'hash', codeShift: 1 });
    for (const speed of [1.02, 0.98, 1.04, 0.96]) {
      let keptRatio = 0;
      let keptHash = 0;
      let n = 0;
      // every landmark of a grid over the usual ranges, moved as the speed change moves it (rounded to bins and frames)
      for (let f1 = 8; f1 < 200; f1 += 3) for (let df = -40; df <= 40; df += 7) for (let dt = 4; dt <= 28; dt += 3) {
        const f2 = f1 + df;
        if (f2 < 3 || f2 > 250) continue;
        const g1 = Math.round(f1 * speed);
        const moved = encodeLandmark(g1, Math.round(f2 * speed) - g1, Math.min(31, Math.round(dt / speed)));
        const code = encodeLandmark(f1, df, dt);
        n++;
        if (r(code) === r(moved)) keptRatio++;
        if (h(code) === h(moved)) keptHash++;
      }
      expect(keptRatio / n, `speed ${speed}`).toBeGreaterThan(0.5);
      expect(keptRatio).toBeGreaterThan(2 * keptHash);
    }
  });
});
