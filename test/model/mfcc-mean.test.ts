// The seed-shape 'mean' query: the client averages a 15 s span's MFCC windows into one query vector, the
// server scores it under one-prime N = 4096 parameters, and the argmax of the mean scores answers.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { createDecider, createExtractor } from '../../pipeline/features/registry.js';
import { meanOfWindows, mfccSumWindows } from '../../pipeline/features/mfcc-sum.js';
import { ClientSession } from '../../pipeline/he/client/index.js';
import { ScoringEngine } from '../../pipeline/he/server/index.js';
import { drawExcerpt, seededRandom } from '../../pipeline/model/calibrate.js';
import { loadManifest, loadModel } from '../../pipeline/model/catalog-store.js';
import { MEAN_QUERY_HE_PARAMS } from '../../pipeline/model/enroll.js';
import { scoreWindow } from '../../pipeline/model/logistic-regression.js';
import { decideMfccMean } from '../../pipeline/model/mfcc-vote.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import { MfccSumParams } from '../../schemas/feature-mfcc.js';
import { testCatalog } from '../helpers/catalog.js';
import { MUSIC_DIR, tracksPerPackage } from '../helpers/music.js';

describe('meanOfWindows', () => {
  const fw = { dim: 2, vectors: [0, 1, 2, 3, 4].map((k) => Float32Array.of(k, 10 * k)), startSeconds: [0, 0.5, 1, 1.5, 2] };

  it('averages consecutive groups and drops an incomplete last group', () => {
    const m = meanOfWindows(fw, 2);
    expect(m.vectors.map((v) => Array.from(v))).toEqual([[0.5, 5], [2.5, 25]]);
    expect(m.startSeconds).toEqual([0, 1]);
  });

  it('gives one group of every window when the clip is shorter than a group', () => {
    const m = meanOfWindows(fw, 30);
    expect(m.vectors.map((v) => Array.from(v))).toEqual([[2, 20]]);
  });
});

describe('decideMfccMean', () => {
  it('answers the argmax of the averaged scores with its softmax probability', () => {
    const d = decideMfccMean([Float64Array.of(0, 4, 0), Float64Array.of(0, 2, 6)], { minProbability: 0.5 });
    // mean scores (0, 3, 3): a tie between 1 and 2, resolved to the lower index, probability < 0.5
    expect(d.bestTrack).toBe(1);
    expect(d.track).toBeNull();
    const e = decideMfccMean([Float64Array.of(0, 6, 0)], { minProbability: 0.5 });
    expect(e.track).toBe(1);
    expect(e.confidence).toBeCloseTo(Math.exp(6) / (Math.exp(6) + 2), 9);
  });
});

describe('mfcc-sum catalogue with mean queries, on real music', () => {
  const enrolled = tracksPerPackage(4);
  let manifest: CatalogManifest;
  let dir: string;
  let client: ClientSession;
  let engine: ScoringEngine;

  beforeAll(async () => {
    ({ dir } = await testCatalog('mfcc-sum', enrolled, { summary: 'sum', query: 'mean' }));
    manifest = await loadManifest(dir);
    engine = await ScoringEngine.create(manifest.he, await loadModel(dir, manifest));
    client = await ClientSession.create(manifest.he, { classes: manifest.classes.track.length, dim: manifest.dim });
  }, 300_000);
  afterAll(() => {
    client?.dispose();
    engine?.dispose();
  });

  it('enrols under the one-prime N = 4096 parameters and one 15 s query per window', () => {
    expect(manifest.he).toMatchObject({ polyModulusDegree: MEAN_QUERY_HE_PARAMS.polyModulusDegree, coeffModulusBits: MEAN_QUERY_HE_PARAMS.coeffModulusBits });
    const ex = createExtractor(manifest);
    expect(ex.windowSeconds).toBeCloseTo(15, 9);
    expect(ex.hopSeconds).toBeCloseTo(15, 9);
  });

  it('decrypts the mean of the windows\' clear scores, and names most 15 s excerpts', async () => {
    const keys = await engine.loadSessionKeys(client.publicMaterial());
    const params = MfccSumParams.parse(manifest.feature.params);
    const model = await loadModel(dir, manifest);
    const extractor = createExtractor(manifest);
    const decide = createDecider(manifest);
    const rand = seededRandom(11);
    let right = 0;
    try {
      for (const [track, path] of enrolled.entries()) {
        const pcm = await decodeFile(join(MUSIC_DIR, path), { sampleRate: extractor.sampleRate });
        const ex = drawExcerpt(pcm, extractor.sampleRate, 15, rand)!;
        const w = extractor.windows(ex.pcm);
        expect(w.vectors).toHaveLength(1);
        // By linearity: score of the mean window = mean of the windows' scores.
        const perWindow = mfccSumWindows(ex.pcm, params).vectors.map((x) => scoreWindow(model, x));
        const clear = perWindow[0].map((_, c) => perWindow.reduce((a, s) => a + s[c], 0) / perWindow.length);
        const enc = client.encryptWindows(w.vectors);
        const dec = await client.decryptScores([await engine.score(keys, enc.ciphertexts[0])], 1);
        const range = Math.max(...clear) - Math.min(...clear);
        const err = Math.max(...Array.from(dec[0], (v, i) => Math.abs(v - clear[i])));
        // One prime, the scales balanced for these windows (17 / 25 bits): up to 8e-4 of the range measured, 3e-3 allowed;
        // the argmax must agree wherever the clear margin exceeds twice that.
        expect(err).toBeLessThan(3e-3 * range);
        const sorted = [...clear].sort((a, b) => b - a);
        const answer = decide(dec, w.startSeconds, 15).bestTrack;
        if (sorted[0] - sorted[1] > 2 * 3e-3 * range) expect(answer).toBe(clear.indexOf(sorted[0]));
        if (answer === track) right++;
      }
    } finally {
      keys.dispose();
    }
    // The seed's method: weak, but far above chance (1 in 12) on 15 s of clean audio of enrolled tracks.
    expect(right).toBeGreaterThanOrEqual(Math.ceil(enrolled.length / 2));
  }, 120_000);
});
