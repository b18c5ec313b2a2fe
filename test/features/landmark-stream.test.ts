/**
 * The live windower on real music with the landmark features: cut into the chunks ingest sends, a stream
 * gives exactly the windows of the whole clip (same landmarks, so the same counts), which is what the
 * catalogue was enrolled from. This holds only if the extractor's stated right context covers every
 * landmark of a window: its peaks' neighbourhoods and its partners' reach past the window's end.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import type { FeatureExtractor } from '../../pipeline/features/extractor.js';
import { LANDMARK_FRAME_SAMPLES, LANDMARK_INPUT_SAMPLE_RATE, landmarkContextSeconds, landmarkWindows } from '../../pipeline/features/landmark.js';
import { StreamWindower } from '../../pipeline/features/stream-windower.js';
import { LandmarkParams } from '../../schemas/feature-landmark.js';
import { MUSIC_DIR, tracksPerPackage } from '../helpers/music.js';

const SR = LANDMARK_INPUT_SAMPLE_RATE;

describe('landmark windows streamed from real music', () => {
  const params = LandmarkParams.parse({});
  const idf = new Float32Array(params.d).fill(1);
  const extractor: FeatureExtractor = {
    kind: 'landmark', dim: params.d, sampleRate: SR, windowSeconds: params.windowSeconds, hopSeconds: params.hopSeconds,
    contextSeconds: landmarkContextSeconds(params), frameSamples: LANDMARK_FRAME_SAMPLES,
    windows: (pcm, lead) => landmarkWindows(pcm, params, idf, undefined, lead),
  };

  it('needs less than the 1.5 s it used to wait for, and more than the partners\' reach alone', () => {
    expect(extractor.contextSeconds).toBeLessThan(1.2);
    expect(extractor.contextSeconds).toBeGreaterThan((params.pairing.maxDtFrames * 256) / 11025);
  });

  it.each([0.5, 1, 0.37])('in chunks of %s s, every window equals the whole clip\'s', async (chunkSeconds) => {
    const [track] = tracksPerPackage(1);
    const pcm = (await decodeFile(join(MUSIC_DIR, track), { sampleRate: SR })).subarray(0, 100 * SR);
    const whole = extractor.windows(pcm);
    const sw = new StreamWindower(extractor);
    const chunk = Math.round(chunkSeconds * SR);
    const got: { seq: number; vector: Float32Array }[] = [];
    for (let at = 0; at < pcm.length; at += chunk) got.push(...sw.push(pcm.subarray(at, Math.min(pcm.length, at + chunk)), at, at + chunk >= pcm.length));
    expect(got.map((g) => g.seq)).toEqual(whole.vectors.map((_, k) => k));
    for (const g of got) {
      const w = whole.vectors[g.seq];
      let worst = 0;
      for (let k = 0; k < w.length; k++) worst = Math.max(worst, Math.abs(w[k] - g.vector[k]));
      expect(worst, `window ${g.seq}`).toBeLessThan(1e-6);
    }
  });
});
