/**
 * Oracle tests of the full encrypted path (client encode → encrypt → save; server load → evaluate →
 * save; client load → decrypt → decode): decrypted scores equal the plaintext W·x + b within a stated
 * tolerance, and the argmax of every window is the same.
 *
 * Tolerance: max |decrypted − clear| ≤ TOL × (max − min of the clear scores of that window), with
 * TOL = 1e-5 for the default set (2^40 scales; measured ≈ 3e-8 on dense models and up to 2.4e-6 on
 * sparse histogram models, whose score range is small; the noise is random with each fresh key) and
 * 5e-3 for the small N = 4096 sets (2^30 and 2^25/2^20 scales; typically ≈ 1e-4, up to 1.6e-3 in the tail
 * over fresh keys and windows).
 */
import { describe, expect, it } from 'vitest';
import type { LinearModel } from '../../pipeline/features/types.js';
import type { ScoringEngineOptions } from '../../pipeline/he/server/index.js';
import type { HeParams } from '../../schemas/he.js';
import {
  argmax, clearScores, compare, randomModel, randomWindows, rng, sparseHistogramModel, sparseHistogramWindows, topGap,
} from './helpers.js';
import { P4, P4_SINGLE, P8, roundTrip } from './fixtures.js';

const TOL = new Map<HeParams, number>([[P8, 1e-5], [P4, 5e-3], [P4_SINGLE, 5e-3]]);

async function check(params: HeParams, model: LinearModel, windows: Float32Array[], engineOptions: ScoringEngineOptions = {}) {
  const r = await roundTrip(params, model, windows, engineOptions);
  let worst = 0;
  windows.forEach((x, w) => {
    const ref = clearScores(model, x);
    const { maxAbsError, range } = compare(r.scores[w], ref);
    worst = Math.max(worst, maxAbsError / range);
    // Same argmax wherever the clear margin between the top two exceeds twice the noise bound (a closer
    // pair may legitimately swap under approximate arithmetic); topGap is that margin.
    if (topGap(ref) > 2 * TOL.get(params)! * range) expect(argmax(r.scores[w]), `window ${w}`).toBe(argmax(ref));
  });
  expect(worst).toBeLessThan(TOL.get(params)!);
  return { ...r, worst };
}

describe('random models, both layout regimes', () => {
  it('C < slots, many windows per ciphertext (C=64, d=20, N=4096)', async () => {
    const model = randomModel(64, 20, 1);
    const r = await check(P4, model, randomWindows(50, 20, 2));
    expect(r.layout).toMatchObject({ mode: 'blocked', outputCiphertexts: 1 });
    expect(r.layout.windowsPerCiphertext).toBeGreaterThan(8);
    expect(r.windowsPerCiphertext).toEqual([24, 24, 2]);
  });

  it('d not a power of two (C=300, d=33, N=4096)', async () => {
    const r = await check(P4, randomModel(300, 33, 3), randomWindows(13, 33, 4));
    expect(r.layout.period).toBe(33);
  });

  it('C ≥ slots, several output ciphertexts, periodic (C=4096, d=128, N=4096)', async () => {
    const r = await check(P4, randomModel(4096, 128, 5), randomWindows(2, 128, 6));
    expect(r.layout).toMatchObject({ mode: 'periodic', outputCiphertexts: 2, windowsPerCiphertext: 1 });
    expect(r.resultBytes.length).toBe(4);
  });

  it('C ≥ slots, several output ciphertexts, blocked (C=5000, d=20, N=4096)', async () => {
    const r = await check(P4, randomModel(5000, 20, 7), randomWindows(12, 20, 8));
    expect(r.layout.mode).toBe('blocked');
    expect(r.layout.outputCiphertexts).toBeGreaterThanOrEqual(3);
  });

  it('a model split into shards, one SEAL instance each, scores as one (C=5000, d=128, N=4096, 1 output per shard)', async () => {
    const model = randomModel(5000, 128, 21);
    // One output's diagonals: 128 plaintexts of 4096 coefficients × 2 primes × 8 bytes = 8 MiB.
    const r = await check(P4, model, randomWindows(3, 128, 22), { maxShardBytes: 8 * 2 ** 20 });
    expect(r.layout.outputCiphertexts).toBeGreaterThan(1);
    expect(r.shards).toBe(r.layout.outputCiphertexts);
  });

  it('d = 1: no rotation, no Galois keys (C=10, d=1, N=4096)', async () => {
    const r = await check(P4, randomModel(10, 1, 9), randomWindows(5, 1, 10));
    expect(r.layout.babySteps * r.layout.giantSteps).toBe(1);
  });

  it('one data prime, no rescale (C=200, d=20 and C=3000, d=100, N=4096)', async () => {
    await check(P4_SINGLE, randomModel(200, 20, 11), randomWindows(20, 20, 12));
    await check(P4_SINGLE, randomModel(3000, 100, 13), randomWindows(3, 100, 14));
  });

  it('default parameters (C=1000, d=20 and C=200, d=100, N=8192)', async () => {
    const r = await check(P8, randomModel(1000, 20, 15), randomWindows(30, 20, 16));
    expect(r.worst).toBeLessThan(1e-6);
    await check(P8, randomModel(200, 100, 17), randomWindows(5, 100, 18));
  });
});

describe('realistic models at the default parameters', () => {
  it('MFCC-sum windows against a seed-style logistic model (C=64, d=20)', async () => {
    // Sums of 22 frames of 20 MFCCs: c0 in the thousands, the others in the hundreds; weights scaled
    // to the features as a logistic regression on raw sums ends up.
    const r = rng(21);
    const sigma = Array.from({ length: 20 }, (_, k) => (k === 0 ? 2000 : 300 / (1 + k / 4)));
    const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const model: LinearModel = {
      classes: 64,
      dim: 20,
      weights: Float32Array.from({ length: 64 * 20 }, (_, i) => (0.02 * gauss()) / sigma[i % 20]),
      bias: Float32Array.from({ length: 64 }, () => 0.5 * gauss()),
    };
    const windows = Array.from({ length: 40 }, () => Float32Array.from(sigma, (s) => s * gauss() - (s === 2000 ? 4000 : 0)));
    const res = await check(P8, model, windows);
    expect(res.layout.windowsPerCiphertext).toBe(32);
  });

  it('sparse non-negative landmark histograms (C=2000, d=512)', async () => {
    const model = sparseHistogramModel(2000, 512, 0.03, 22);
    const windows = sparseHistogramWindows(model, 4, 0.6, 0.03, 23);
    const res = await check(P8, model, windows);
    // The query's own segment wins, as in clear.
    expect(res.scores.every((s) => Math.max(...s) > 0.3)).toBe(true);
  });
});
