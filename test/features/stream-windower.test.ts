import { describe, expect, it } from 'vitest';
import type { FeatureExtractor } from '../../pipeline/features/extractor.js';
import { StreamWindower } from '../../pipeline/features/stream-windower.js';

// A transparent extractor: window k's vector is [sum of its samples, sum of samples `context` around it],
// so a stream cut at any point must reproduce the whole-clip windows exactly, context included.
function sumExtractor(sampleRate: number, windowSeconds: number, hopSeconds: number, contextSeconds: number): FeatureExtractor {
  const win = Math.round(windowSeconds * sampleRate);
  const hop = Math.round(hopSeconds * sampleRate);
  const ctx = Math.round(contextSeconds * sampleRate);
  return {
    kind: 'mfcc-sum', dim: 2, hypotheses: 1, probes: 0, sampleRate, windowSeconds, hopSeconds, contextSeconds, frameSamples: 1,
    // Windows on the grid `lead` + k·hop of the slice it is given (the FeatureExtractor contract).
    windows(pcm, lead = 0) {
      const vectors: Float32Array[] = [];
      const startSeconds: number[] = [];
      for (let k = 0; lead + k * hop < pcm.length; k++) {
        const at = lead + k * hop;
        let inside = 0; let around = 0;
        for (let i = at; i < Math.min(pcm.length, at + win); i++) inside += pcm[i];
        for (let i = Math.max(0, at - ctx); i < Math.min(pcm.length, at + win + ctx); i++) around += pcm[i];
        vectors.push(Float32Array.of(inside, around));
        startSeconds.push((k * hop) / sampleRate);
      }
      return { dim: 2, vectors, startSeconds };
    },
  };
}

describe('StreamWindower', () => {
  const rate = 100;
  const clip = Float32Array.from({ length: 1234 }, (_, i) => ((i * 7919) % 101) / 101);

  it.each([
    [1.5, 0.5, 0.3, 37],
    [0.5, 0.5, 0.05, 100],
    [3, 1, 1.2, 250],
  ])('window %s s hop %s s context %s s in chunks of %s samples equals the whole clip', (w, h, c, chunk) => {
    const ex = sumExtractor(rate, w, h, c);
    const whole = ex.windows(clip);
    const sw = new StreamWindower(ex);
    const got: { seq: number; vector: Float32Array }[] = [];
    for (let at = 0; at < clip.length; at += chunk) {
      const part = clip.subarray(at, Math.min(clip.length, at + chunk));
      got.push(...sw.push(part, at, at + chunk >= clip.length));
    }
    expect(got.map((g) => g.seq)).toEqual(whole.vectors.map((_, k) => k));
    // Windows far from the end see their full context, so they match the whole-clip ones exactly.
    got.forEach((g, k) => {
      expect(g.vector[0]).toBeCloseTo(whole.vectors[k][0], 3);
      expect(g.vector[1]).toBeCloseTo(whole.vectors[k][1], 3);
    });
  });

  it('holds a bounded tail of audio over a long stream', () => {
    const ex = sumExtractor(rate, 1.5, 0.5, 0.5);
    const sw = new StreamWindower(ex);
    let emitted = 0;
    for (let at = 0; at < 100_000; at += 50) emitted += sw.push(new Float32Array(50).fill(0.1), at, false).length;
    expect(emitted).toBeGreaterThan(1900);
    expect((sw as unknown as { buffer: Float32Array }).buffer.length).toBeLessThan(10 * rate);
  });

  it('fills a gap with silence and ignores overlapping samples', () => {
    const ex = sumExtractor(rate, 0.5, 0.5, 0);
    const sw = new StreamWindower(ex);
    const a = sw.push(new Float32Array(100).fill(1), 0, false);
    const b = sw.push(new Float32Array(100).fill(1), 150, true); // 50 samples missing
    const all = [...a, ...b];
    expect(all.map((w) => w.vector[0])).toEqual([50, 50, 0, 50, 50]);
    const c = new StreamWindower(ex);
    c.push(new Float32Array(100).fill(1), 0, false);
    const d = c.push(new Float32Array(100).fill(2), 50, true); // first 50 overlap: dropped
    // Windows 0 and 1 came out of the first push; only samples 100..149 (value 2) are new.
    expect(d.map((w) => w.vector[0])).toEqual([100]);
  });

  it('joins a stream under way on the same grid: from its first full window on, the whole clip\'s windows', () => {
    const ex = sumExtractor(rate, 1.5, 0.5, 0.3);
    const whole = ex.windows(clip);
    const join = 437; // not on the grid
    const sw = new StreamWindower(ex, join);
    const got: { seq: number; vector: Float32Array }[] = [];
    for (let at = join; at < clip.length; at += 40) got.push(...sw.push(clip.subarray(at, Math.min(clip.length, at + 40)), at, at + 40 >= clip.length));
    // The first window is the first grid point inside the audio; later windows see their full context.
    expect(got[0].seq).toBe(Math.ceil(join / 50));
    expect(got.map((g) => g.seq)).toEqual(whole.vectors.map((_, k) => k).filter((k) => k >= Math.ceil(join / 50)));
    for (const g of got.slice(1)) {
      expect(g.vector[0]).toBeCloseTo(whole.vectors[g.seq][0], 3);
      expect(g.vector[1]).toBeCloseTo(whole.vectors[g.seq][1], 3);
    }
    // What a restart must read again starts no earlier than the join.
    expect(sw.keepFromSample()).toBeGreaterThanOrEqual(join);
  });
});
