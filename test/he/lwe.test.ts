/**
 * Oracle tests of LWE scoring (pipeline/he/lwe.ts): the client's decryption of the server's W_q·c equals
 * the clear W·x + b within a stated tolerance, with the same argmax, on real landmark windows of an
 * enrolled catalogue and on random dense models with a bias; a batch of queries scores exactly as the
 * queries one by one; a query's secret never serialises.
 *
 * Tolerance: |decrypted − clear| ≤ 5e-3 × the window's clear score range, as for the N = 4096 CKKS sets.
 * Measured ≈ 5e-4 of the range: σ·S⁻¹ of LWE error and 10-bit weight quantisation, balanced.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { LweClient } from '../../pipeline/he/client/lwe-session.js';
import { LweScoringEngine } from '../../pipeline/he/server/lwe-engine.js';
import type { LinearModel } from '../../pipeline/features/types.js';
import { createExtractor } from '../../pipeline/features/registry.js';
import { loadManifest, loadModel } from '../../pipeline/model/catalog-store.js';
import { BlindearError } from '../../pipeline/errors.js';
import { testCatalog } from '../helpers/catalog.js';
import { MUSIC_DIR, tracksPerPackage } from '../helpers/music.js';
import { argmax, clearScores, compare, randomModel, randomWindows, topGap } from './helpers.js';

const TOL = 5e-3;

function check(model: LinearModel, windows: Float32Array[]): number {
  const engine = LweScoringEngine.create(model);
  const client = new LweClient(engine.setup, engine.hint(), model.bias);
  const queries = windows.map((x) => client.encrypt(x));
  const results = engine.scoreBatch(queries.map((q) => q.bytes));
  let worst = 0;
  windows.forEach((x, w) => {
    const scores = client.decrypt(queries[w], results[w]);
    const ref = clearScores(model, x);
    const { maxAbsError, range } = compare(scores, ref);
    worst = Math.max(worst, maxAbsError / range);
    if (topGap(ref) > 2 * TOL * range) expect(argmax(scores), `window ${w}`).toBe(argmax(ref));
  });
  expect(worst).toBeLessThan(TOL);
  return worst;
}

describe('LWE scoring', () => {
  it('dense model with a bias, unnormalised windows (C=300, d=33)', () => {
    check(randomModel(300, 33, 301), randomWindows(20, 33, 302));
  });

  it('a batch scores exactly as single queries; bad lengths are coded errors; the secret does not serialise', () => {
    const model = randomModel(50, 64, 303);
    const engine = LweScoringEngine.create(model);
    const client = new LweClient(engine.setup, engine.hint(), model.bias);
    const qs = randomWindows(3, 64, 304).map((x) => client.encrypt(x));
    const batch = engine.scoreBatch(qs.map((q) => q.bytes));
    qs.forEach((q, i) => expect(Array.from(engine.score(q.bytes))).toEqual(Array.from(batch[i])));
    expect(qs[0].bytes.byteLength).toBe(engine.queryBytes);
    expect(batch[0].byteLength).toBe(engine.resultBytes);
    expect(() => engine.score(new Uint8Array(10))).toThrow(BlindearError);
    expect(JSON.stringify(qs[0])).toBe(JSON.stringify({ bytes: 256 }));
  });

  it('the WASM SIMD kernel gives the plain-JS kernel\'s words (d = 33: rows padded to 8)', () => {
    const model = randomModel(70, 33, 305);
    const simd = LweScoringEngine.create(model, { kernel: 'simd' });
    const js = LweScoringEngine.create(model, { kernel: 'js', seed: simd.setup.seed });
    expect([simd.kernel, js.kernel]).toEqual(['simd', 'js']);
    expect(Array.from(simd.hint())).toEqual(Array.from(js.hint()));
    const client = new LweClient(simd.setup, simd.hint(), model.bias);
    const qs = randomWindows(5, 33, 306).map((x) => client.encrypt(x).bytes);
    const a = simd.scoreBatch(qs);
    const b = js.scoreBatch(qs);
    a.forEach((r, i) => expect(Array.from(r)).toEqual(Array.from(b[i])));
  });

  describe('real landmark windows of an enrolled catalogue', () => {
    let model: LinearModel;
    let windows: Float32Array[];

    beforeAll(async () => {
      const tracks = tracksPerPackage(4);
      const cat = await testCatalog('landmark', tracks);
      const manifest = await loadManifest(cat.dir);
      model = await loadModel(cat.dir, manifest);
      const extractor = createExtractor(manifest);
      windows = [];
      for (const track of tracks.slice(0, 6)) {
        const pcm = await decodeFile(join(MUSIC_DIR, track), { sampleRate: extractor.sampleRate });
        const at = Math.floor(pcm.length / 3);
        windows.push(...extractor.windows(pcm.subarray(at, at + 40 * extractor.sampleRate)).vectors);
      }
    });

    it('decrypts to the clear scores, with the clear argmax', () => {
      expect(windows.length).toBeGreaterThan(6);
      check(model, windows);
    });
  });
});
