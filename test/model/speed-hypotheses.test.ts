/**
 * Query-side speed hypotheses on real music. A station plays a track a few percent fast or slow; the
 * client buckets each window as if played at 0.97, 1 and 1.03 and keeps each class's best score. Checked
 * against what the excerpts are (their source track), not against the product's own answers: the sped-up
 * excerpts' own track scores higher than without the hypotheses, the encrypted path gives the clear
 * decision, streamed windows are the whole clip's, and a CKKS catalogue refuses them.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { changeSpeed } from '../../pipeline/eval/distortions.js';
import { QueryScorer } from '../../pipeline/eval/query-scorer.js';
import { landmarkWindows } from '../../pipeline/features/landmark.js';
import { StreamWindower } from '../../pipeline/features/stream-windower.js';
import { createExtractor, segmentsOf } from '../../pipeline/features/registry.js';
import { bestOverHypotheses, hypothesisSlices, type LinearModel } from '../../pipeline/features/types.js';
import { loadManifest, loadModel } from '../../pipeline/model/catalog-store.js';
import { enrollCatalog, LWE_PROBE_SECONDS, LWE_QUERY_SPEEDS } from '../../pipeline/model/enroll.js';
import { scoreInClear } from '../../pipeline/model/segment-templates.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import { testCatalog } from '../helpers/catalog.js';
import { MUSIC_DIR, tracksPerPackage } from '../helpers/music.js';

describe('speed hypotheses (LWE catalogue, enrol --scheme lwe)', () => {
  const tracks = tracksPerPackage(4);
  let dir: string;
  let manifest: CatalogManifest;
  let model: LinearModel;
  /** 10 s excerpts at ±4 % speed, of tracks in the catalogue: [track index, pcm]. */
  const excerpts: { track: number; percent: number; pcm: Float32Array }[] = [];

  beforeAll(async () => {
    dir = (await testCatalog('landmark', tracks, {}, 'lwe')).dir;
    manifest = await loadManifest(dir);
    model = await loadModel(dir, manifest);
    const sr = createExtractor(manifest).sampleRate;
    for (const [i, t] of tracks.entries()) {
      const pcm = await decodeFile(join(MUSIC_DIR, t), { sampleRate: sr });
      const track = manifest.tracks.findIndex((m) => m.path.endsWith(t.split('/').pop()!));
      if (track < 0) continue;
      for (const percent of [4, -4]) {
        const at = Math.floor(pcm.length * (i % 2 ? 0.3 : 0.55));
        excerpts.push({ track, percent, pcm: changeSpeed(pcm.subarray(at, at + 11 * sr), percent).subarray(0, 10 * sr) });
      }
    }
  }, 600_000);

  it('an LWE catalogue carries three hypotheses and 5 s probes unless told otherwise; CKKS refuses both', async () => {
    expect(manifest.feature.kind === 'landmark' && manifest.feature.params.querySpeeds).toEqual(LWE_QUERY_SPEEDS);
    expect(createExtractor(manifest).hypotheses).toBe(3);
    await expect(enrollCatalog({
      inputs: [join(MUSIC_DIR, tracks[0])], catalogDir: join(dir, '..', 'refused'), kind: 'landmark',
      params: { querySpeeds: [0.97, 1, 1.03] }, scheme: 'ckks', logger: createLogger('silent'),
    })).rejects.toMatchObject({ code: 'BLINDEAR_ERR_CONFIG_INVALID' });
    await expect(enrollCatalog({
      inputs: [join(MUSIC_DIR, tracks[0])], catalogDir: join(dir, '..', 'refused'), kind: 'landmark',
      params: { probeSeconds: 5 }, scheme: 'ckks', logger: createLogger('silent'),
    })).rejects.toMatchObject({ code: 'BLINDEAR_ERR_CONFIG_INVALID', message: expect.stringContaining('probe') });
  });

  it('a sped-up excerpt\'s own track scores higher with the hypotheses than at speed 1 alone', () => {
    const extractor = createExtractor(manifest);
    const segments = segmentsOf(manifest);
    let higher = 0;
    let marginWith = 0;
    let marginWithout = 0;
    for (const e of excerpts) {
      const w = extractor.windows(e.pcm);
      expect(w.vectors[0].length).toBe(3 * extractor.dim);
      // Hypothesis 1 (speed 1) alone: the middle d-slice of each window.
      const atOne = scoreInClear(model, { dim: w.dim, vectors: w.vectors.map((v) => hypothesisSlices(v, w.dim)[1]), startSeconds: w.startSeconds });
      const best = scoreInClear(model, w);
      const ownAndOther = (scores: Float64Array[]) => {
        let own = -Infinity;
        let other = -Infinity;
        for (const s of scores) s.forEach((x, c) => {
          if (segments[c].track === e.track) own = Math.max(own, x);
          else other = Math.max(other, x);
        });
        return { own, other };
      };
      const a = ownAndOther(atOne);
      const b = ownAndOther(best);
      if (b.own > a.own) higher++;
      marginWith += b.own - b.other;
      marginWithout += a.own - a.other;
    }
    expect(excerpts.length).toBeGreaterThanOrEqual(6);
    expect(higher).toBeGreaterThanOrEqual(excerpts.length - 1);
    expect(marginWith).toBeGreaterThan(marginWithout);
  });

  it('the encrypted path decides as the clear scores do, and names the excerpts\' own tracks', async () => {
    const scorer = await QueryScorer.open(dir);
    let right = 0;
    try {
      for (const e of excerpts) {
        const out = await scorer.identify(e.pcm);
        expect(out.encrypted.track).toBe(out.plain.track);
        expect(out.encrypted.bestTrack).toBe(out.plain.bestTrack);
        expect(Math.abs(out.encrypted.confidence - out.plain.confidence)).toBeLessThan(0.05);
        if (out.encrypted.track === e.track) right++;
        expect(out.encrypted.track === null || out.encrypted.track === e.track, 'a wrong track').toBe(true);
      }
    } finally {
      scorer.dispose();
    }
    expect(right).toBeGreaterThanOrEqual(Math.ceil(0.8 * excerpts.length));
  }, 120_000);

  it('streamed in 0.5 s chunks, every window with its hypotheses equals the whole clip\'s, and each probe the whole clip\'s 5 s window there', async () => {
    const extractor = createExtractor(manifest);
    const spec = manifest.feature;
    if (spec.kind !== 'landmark') throw new Error('a landmark catalogue expected');
    expect(spec.params.probeSeconds).toBe(LWE_PROBE_SECONDS);
    const P = extractor.probes;
    expect(P).toBe(3);
    const sr = extractor.sampleRate;
    const pcm = (await decodeFile(join(MUSIC_DIR, tracks[0]), { sampleRate: sr })).subarray(0, 60 * sr);
    const whole = extractor.windows(pcm);
    // The probes' oracle: the whole clip windowed at the probe's length and hop, by the same kind.
    const short = landmarkWindows(pcm, { ...spec.params, windowSeconds: LWE_PROBE_SECONDS, hopSeconds: LWE_PROBE_SECONDS }, Float32Array.from(spec.idf));
    const sw = new StreamWindower(extractor, 0);
    const got = [];
    const chunk = sr / 2;
    for (let at = 0; at < pcm.length; at += chunk) got.push(...sw.push(pcm.subarray(at, Math.min(pcm.length, at + chunk)), at, at + chunk >= pcm.length));
    expect(got.map((g) => g.seq)).toEqual(whole.vectors.map((_, k) => k));
    const per = 3 * extractor.dim;
    const worstOf = (a: Float32Array, b: Float32Array): number => {
      expect(a.length).toBe(b.length);
      let worst = 0;
      for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k] - b[k]));
      return worst;
    };
    for (const g of got) {
      expect(g.vector.length).toBe((1 + P) * per);
      expect(worstOf(whole.vectors[g.seq], g.vector.subarray(0, per)), `window ${g.seq}`).toBeLessThan(1e-6);
      for (let p = 0; p < P; p++) {
        const ref = short.vectors[g.seq * P + p];
        expect(worstOf(ref, g.vector.subarray((1 + p) * per, (2 + p) * per)), `window ${g.seq} probe ${p}`).toBeLessThan(1e-6);
        expect(ref.some((x) => x !== 0)).toBe(true);
      }
    }
  });

  it('keeps each class\'s best score over a window\'s hypotheses, window by window', () => {
    const s = (...x: number[]) => Float64Array.from(x);
    expect(bestOverHypotheses([s(1, 5), s(3, 2), s(0, 0), s(-1, 4), s(2, 1), s(0, 9)], 3)).toEqual([s(3, 5), s(2, 9)]);
    expect(() => bestOverHypotheses([s(1), s(2)], 3)).toThrow(RangeError);
  });
});
