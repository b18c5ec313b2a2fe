/**
 * The live windower on real music with the landmark features: cut into the chunks ingest sends, a stream
 * gives exactly the windows of the whole clip (same landmarks, so the same counts), which is what the
 * catalogue was enrolled from. This holds only if the extractor's stated right context covers every
 * landmark of a window: its peaks' neighbourhoods and its partners' reach past the window's end.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import type { FeatureExtractor } from '../../pipeline/features/extractor.js';
import { LANDMARK_INPUT_SAMPLE_RATE, landmarkExtractor, queryLandmarks } from '../../pipeline/features/landmark.js';
import { StreamWindower } from '../../pipeline/features/stream-windower.js';
import { LandmarkParams } from '../../schemas/feature-landmark.js';
import { MUSIC_DIR, tracksPerPackage } from '../helpers/music.js';

const SR = LANDMARK_INPUT_SAMPLE_RATE;

describe('landmark windows streamed from real music', () => {
  const params = LandmarkParams.parse({});
  const idf = new Float32Array(params.d).fill(1);
  const extractor = landmarkExtractor(params, idf);
  // The same extractor without its blockwise path: each batch of windows extracted at its end.
  const atWindowEnd: FeatureExtractor = { ...extractor, blockwise: undefined };

  it('needs less than the 1.5 s it used to wait for, and more than the partners\' reach alone', () => {
    expect(extractor.contextSeconds).toBeLessThan(1.2);
    expect(extractor.contextSeconds).toBeGreaterThan((params.pairing.maxDtFrames * 256) / 11025);
  });

  const worstDiff = (a: Float32Array, b: Float32Array): number => {
    let worst = 0;
    for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k] - b[k]));
    return worst;
  };
  const streamed = (ex: FeatureExtractor, pcm: Float32Array, chunkSeconds: number, startSample = 0, groupSeconds?: number, phaseSeconds?: number) => {
    const sw = new StreamWindower(ex, startSample, { groupSeconds, phaseSeconds });
    const chunk = Math.round(chunkSeconds * SR);
    const got: { seq: number; startSeconds: number; vector: Float32Array }[] = [];
    for (let at = startSample; at < pcm.length; at += chunk) got.push(...sw.push(pcm.subarray(at, Math.min(pcm.length, at + chunk)), at, at + chunk >= pcm.length));
    return got;
  };
  let music: Float32Array;
  beforeAll(async () => {
    const [track] = tracksPerPackage(1);
    music = (await decodeFile(join(MUSIC_DIR, track), { sampleRate: SR })).subarray(0, 100 * SR);
  });

  it.each([
    ['block by block', 0.5, 100],
    ['block by block', 1, 100],
    ['block by block', 0.37, 37.3],
    ['block by block', 0.5, 9],
    ['at each window\'s end', 0.5, 100],
    ['at each window\'s end', 0.37, 100],
  ])('%s, in chunks of %s s of a %s s clip, every window equals the whole clip\'s', (path, chunkSeconds, seconds) => {
    const pcm = music.subarray(0, Math.round(seconds * SR));
    const whole = extractor.windows(pcm);
    const got = streamed(path === 'block by block' ? extractor : atWindowEnd, pcm, chunkSeconds);
    expect(got.map((g) => g.seq)).toEqual(whole.vectors.map((_, k) => k));
    for (const g of got) expect(worstDiff(whole.vectors[g.seq], g.vector), `window ${g.seq}`).toBeLessThan(1e-6);
  });

  it.each([1, 2.5, 15])('block groups of %s s give the same windows', (groupSeconds) => {
    const whole = extractor.windows(music);
    const got = streamed(extractor, music, 0.5, 0, groupSeconds);
    expect(got.map((g) => g.seq)).toEqual(whole.vectors.map((_, k) => k));
    for (const g of got) expect(worstDiff(whole.vectors[g.seq], g.vector), `window ${g.seq}`).toBeLessThan(1e-6);
  });

  it.each([
    ['block by block', 4.5],
    ['at each window\'s end', 11],
  ])('%s, with the window grid %s s into the stream, every window equals the whole clip\'s on that grid', (path, phase) => {
    const whole = extractor.windows(music, phase * SR);
    const got = streamed(path === 'block by block' ? extractor : atWindowEnd, music, 0.5, 0, undefined, phase);
    expect(got.map((g) => g.seq)).toEqual(whole.vectors.map((_, k) => k));
    expect(got[0].startSeconds).toBe(phase);
    for (const g of got) expect(worstDiff(whole.vectors[g.seq], g.vector), `window ${g.seq}`).toBeLessThan(1e-6);
  });

  it('joins a stream under way: from the window after its first one on, the whole clip\'s windows', () => {
    const whole = extractor.windows(music);
    const join = Math.round(22.3 * SR);
    const got = streamed(extractor, music, 0.5, join);
    const first = Math.ceil(join / (params.hopSeconds * SR));
    expect(got.map((g) => g.seq)).toEqual(whole.vectors.map((_, k) => k).filter((k) => k >= first));
    for (const g of got.slice(1)) expect(worstDiff(whole.vectors[g.seq], g.vector), `window ${g.seq}`).toBeLessThan(1e-6);
  });
  it('keeps each window\'s landmarks from the same extraction: the whole clip\'s landmarks in the window, to a frame', () => {
    const pcm = music.subarray(0, 62 * SR);
    const sw = new StreamWindower(extractor, 0, { landmarks: true });
    const chunk = Math.round(0.5 * SR);
    const got: { seq: number; startSeconds: number; landmarks?: Uint32Array }[] = [];
    for (let at = 0; at < pcm.length; at += chunk) got.push(...sw.push(pcm.subarray(at, Math.min(pcm.length, at + chunk)), at, at + chunk >= pcm.length));
    expect(got.length).toBe(extractor.windows(pcm).vectors.length);
    const all = queryLandmarks(pcm, params).landmarks;
    const frame = 256 / 11025;
    for (const w of got) {
      // The whole clip's landmarks whose anchors fall in the window, as (code, frame from the window's start).
      const want: [number, number][] = [];
      for (let i = 0; i < all.code.length; i++) {
        const t = all.time[i] * frame - w.startSeconds;
        if (t >= 0 && t < params.windowSeconds) want.push([all.code[i], t / frame]);
      }
      const have = Array.from(w.landmarks!, (x) => [x >>> 11, x & 2047] as [number, number]);
      expect(have.length, `window ${w.seq}`).toBe(want.length);
      expect(have.length).toBeGreaterThan(100);
      const byCode = (a: [number, number], b: [number, number]) => a[0] - b[0] || a[1] - b[1];
      have.sort(byCode);
      want.sort(byCode);
      have.forEach((h, i) => {
        expect(h[0]).toBe(want[i][0]);
        expect(Math.abs(h[1] - want[i][1])).toBeLessThanOrEqual(1);
      });
    }
  });
});
