/** Shared helpers of the HE tests: a seeded PRNG, random models and windows, the clear oracle. */
import type { LinearModel } from '../../pipeline/features/types.js';

import { seededRandom } from '../../pipeline/model/calibrate.js';
import { scoreWindow } from '../../pipeline/model/logistic-regression.js';

/** The product's seeded PRNG (mulberry32): test data is repeatable from a seed. */
export const rng = seededRandom;

/** Dense model, weights and biases uniform in [-1, 1). */
export function randomModel(C: number, d: number, seed: number): LinearModel {
  const r = rng(seed);
  return {
    classes: C,
    dim: d,
    weights: Float32Array.from({ length: C * d }, () => 2 * r() - 1),
    bias: Float32Array.from({ length: C }, () => 0.2 * (2 * r() - 1)),
  };
}

/** Windows uniform in [-1, 1). */
export function randomWindows(n: number, d: number, seed: number): Float32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: d }, () => 2 * r() - 1));
}

/**
 * Landmark-histogram-like data: each row and each window is a sparse non-negative vector
 * (about `density` of the buckets hit, sqrt counts), L2-normalised; windows are noisy copies of rows.
 */
export function sparseHistogramModel(C: number, d: number, density: number, seed: number): LinearModel {
  const r = rng(seed);
  const weights = new Float32Array(C * d);
  for (let c = 0; c < C; c++) {
    let norm = 0;
    for (let k = 0; k < d; k++) {
      if (r() < density) {
        const v = Math.sqrt(1 + Math.floor(r() * 6));
        weights[c * d + k] = v;
        norm += v * v;
      }
    }
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < d; k++) weights[c * d + k] /= norm;
  }
  return { classes: C, dim: d, weights, bias: new Float32Array(C) };
}

export function sparseHistogramWindows(model: LinearModel, n: number, keep: number, density: number, seed: number): Float32Array[] {
  const r = rng(seed);
  const { classes: C, dim: d } = model;
  return Array.from({ length: n }, () => {
    const c = Math.floor(r() * C);
    const x = new Float32Array(d);
    let norm = 0;
    for (let k = 0; k < d; k++) {
      let v = r() < keep ? model.weights[c * d + k] : 0;
      if (r() < density / 2) v += Math.sqrt(1 + Math.floor(r() * 3)) * 0.1;
      x[k] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < d; k++) x[k] /= norm;
    return x;
  });
}

/** s = W·x + b in float64: the product's clear-text reference. */
export const clearScores = scoreWindow;

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** Largest |a − b| and the spread (max − min) of the reference b. */
export function compare(a: ArrayLike<number>, b: ArrayLike<number>): { maxAbsError: number; range: number } {
  let maxAbsError = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < b.length; i++) {
    maxAbsError = Math.max(maxAbsError, Math.abs(a[i] - b[i]));
    lo = Math.min(lo, b[i]);
    hi = Math.max(hi, b[i]);
  }
  return { maxAbsError, range: hi - lo };
}

/** Gap between the best and second-best score (how close an argmax is to a tie). */
export function topGap(v: ArrayLike<number>): number {
  let a = -Infinity;
  let b = -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (v[i] > a) {
      b = a;
      a = v[i];
    } else if (v[i] > b) b = v[i];
  }
  return a - b;
}
