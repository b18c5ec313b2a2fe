/**
 * Multinomial logistic regression, full-batch L-BFGS, trained on standardised features with the
 * standardisation folded back into W and b: the exported LinearModel scores raw window vectors
 * (s = W·x + b), so the encrypted part stays one matrix-vector product and the client sends x as made.
 * Deterministic: zero initialisation, fixed iteration order, no randomness, so one input gives one model.
 */
import { z } from 'zod';
import type { LinearModel } from '../features/types.js';

export const LogisticRegressionOptions = z.object({
  /** L2 penalty on W (not b), on the standardised scale; the loss is the mean cross-entropy per window. */
  l2: z.number().nonnegative().default(1e-4),
  maxIterations: z.number().int().positive().max(100_000).default(100),
  /** Stop when the largest gradient component falls below this. */
  gradientTolerance: z.number().positive().default(1e-4),
  /** Stop when an iteration lowers the loss by less than this fraction. */
  lossTolerance: z.number().nonnegative().default(1e-9),
  /** L-BFGS history length. */
  memory: z.number().int().min(1).max(100).default(10),
  /**
   * 'balanced' weighs each class's windows by n / (C · n_c), so long tracks do not win per-window
   * argmax ties by prior alone (sklearn's class_weight='balanced').
   */
  classWeight: z.enum(['none', 'balanced']).default('none'),
});
export type LogisticRegressionOptions = z.infer<typeof LogisticRegressionOptions>;

export interface TrainingReport {
  iterations: number;
  evaluations: number;
  loss: number;
  gradientNorm: number;
}

/** Per-feature mean and standard deviation (a constant feature gets deviation 1, i.e. is only centred). */
function standardiser(X: Float32Array[], d: number): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (const x of X) for (let j = 0; j < d; j++) mean[j] += x[j];
  for (let j = 0; j < d; j++) mean[j] /= X.length;
  for (const x of X) for (let j = 0; j < d; j++) std[j] += (x[j] - mean[j]) ** 2;
  for (let j = 0; j < d; j++) {
    const s = Math.sqrt(std[j] / X.length);
    std[j] = s > 1e-12 * Math.max(1, Math.abs(mean[j])) ? s : 1;
  }
  return { mean, std };
}

/**
 * Mean weighted cross-entropy + (l2/2)·|W|² and its gradient; θ = [W (C×d row-major), b (C)].
 * The inner products are unrolled by four: V8 does not vectorise, and this alone made an evaluation
 * ≈30% faster here (21k windows × 80 features × 66 classes).
 */
function lossAndGradient(
  theta: Float64Array,
  Z: Float64Array,
  y: Int32Array,
  sampleWeight: Float64Array,
  C: number,
  d: number,
  l2: number,
  grad: Float64Array,
  work: { scores: Float64Array; z: Float64Array },
): number {
  const n = y.length;
  const { scores, z } = work;
  grad.fill(0);
  const bOff = C * d;
  let loss = 0;
  let totalWeight = 0;
  for (let i = 0; i < n; i++) {
    const zOff = i * d;
    for (let j = 0; j < d; j++) z[j] = Z[zOff + j];
    let max = -Infinity;
    for (let c = 0, wOff = 0; c < C; c++, wOff += d) {
      let s0 = theta[bOff + c];
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let j = 0;
      for (; j + 3 < d; j += 4) {
        s0 += theta[wOff + j] * z[j];
        s1 += theta[wOff + j + 1] * z[j + 1];
        s2 += theta[wOff + j + 2] * z[j + 2];
        s3 += theta[wOff + j + 3] * z[j + 3];
      }
      for (; j < d; j++) s0 += theta[wOff + j] * z[j];
      const s = s0 + s1 + (s2 + s3);
      scores[c] = s;
      if (s > max) max = s;
    }
    let sumExp = 0;
    for (let c = 0; c < C; c++) {
      const e = Math.exp(scores[c] - max);
      scores[c] = e;
      sumExp += e;
    }
    const yi = y[i];
    const wi = sampleWeight[yi];
    totalWeight += wi;
    loss += wi * (Math.log(sumExp) - Math.log(scores[yi]));
    // Residual p − onehot(y), weighted: the gradient of the cross-entropy with respect to the scores.
    const scale = wi / sumExp;
    scores[yi] -= sumExp;
    for (let c = 0, wOff = 0; c < C; c++, wOff += d) {
      const r = scores[c] * scale;
      let j = 0;
      for (; j + 3 < d; j += 4) {
        grad[wOff + j] += r * z[j];
        grad[wOff + j + 1] += r * z[j + 1];
        grad[wOff + j + 2] += r * z[j + 2];
        grad[wOff + j + 3] += r * z[j + 3];
      }
      for (; j < d; j++) grad[wOff + j] += r * z[j];
      grad[bOff + c] += r;
    }
  }
  const inv = 1 / totalWeight;
  let reg = 0;
  for (let k = 0; k < bOff; k++) {
    grad[k] = grad[k] * inv + l2 * theta[k];
    reg += theta[k] * theta[k];
  }
  for (let c = 0; c < C; c++) grad[bOff + c] *= inv;
  return loss * inv + 0.5 * l2 * reg;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * Trains C-class multinomial logistic regression on window vectors X (all of one length d) with labels
 * y in 0..C−1. Returns the model on the raw feature scale and, through `report`, how the optimiser ended.
 */
export function trainLogisticRegression(
  X: Float32Array[],
  y: Int32Array | number[],
  classes: number,
  options: z.input<typeof LogisticRegressionOptions> = {},
  report?: (r: TrainingReport) => void,
): LinearModel {
  const opts = LogisticRegressionOptions.parse(options);
  if (X.length === 0) throw new RangeError('no training windows');
  if (X.length !== y.length) throw new RangeError(`${X.length} windows but ${y.length} labels`);
  if (!Number.isInteger(classes) || classes < 2) throw new RangeError(`need at least 2 classes, got ${classes}`);
  const d = X[0].length;
  const n = X.length;
  const C = classes;
  const labels = new Int32Array(n);
  const counts = new Float64Array(C);
  for (let i = 0; i < n; i++) {
    if (X[i].length !== d) throw new RangeError(`window ${i} has ${X[i].length} features, expected ${d}`);
    for (let j = 0; j < d; j++) if (!Number.isFinite(X[i][j])) throw new RangeError(`window ${i} has a non-finite feature`);
    const c = y[i];
    if (!Number.isInteger(c) || c < 0 || c >= C) throw new RangeError(`label ${c} of window ${i} is outside 0..${C - 1}`);
    labels[i] = c;
    counts[c]++;
  }
  const sampleWeight = new Float64Array(C).fill(1);
  if (opts.classWeight === 'balanced') for (let c = 0; c < C; c++) sampleWeight[c] = counts[c] > 0 ? n / (C * counts[c]) : 0;

  const { mean, std } = standardiser(X, d);
  const Z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) Z[i * d + j] = (X[i][j] - mean[j]) / std[j];

  const P = C * (d + 1);
  const theta = new Float64Array(P);
  const grad = new Float64Array(P);
  const work = { scores: new Float64Array(C), z: new Float64Array(d) };
  const evaluate = (t: Float64Array, g: Float64Array) => lossAndGradient(t, Z, labels, sampleWeight, C, d, opts.l2, g, work);

  let loss = evaluate(theta, grad);
  let evaluations = 1;
  const S: Float64Array[] = [];
  const Yd: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(opts.memory);
  const dir = new Float64Array(P);
  const trial = new Float64Array(P);
  const trialGrad = new Float64Array(P);
  let iterations = 0;
  for (; iterations < opts.maxIterations && maxAbs(grad) > opts.gradientTolerance; iterations++) {
    // Two-loop recursion: dir = −H·grad, H scaled by the newest curvature pair.
    for (let k = 0; k < P; k++) dir[k] = -grad[k];
    for (let m = S.length - 1; m >= 0; m--) {
      alpha[m] = rho[m] * dot(S[m], dir);
      for (let k = 0; k < P; k++) dir[k] -= alpha[m] * Yd[m][k];
    }
    if (S.length > 0) {
      const last = S.length - 1;
      const gamma = dot(S[last], Yd[last]) / dot(Yd[last], Yd[last]);
      for (let k = 0; k < P; k++) dir[k] *= gamma;
    } else {
      // First step: a unit-length move along −grad, as the problem has no natural scale yet.
      const g = Math.sqrt(dot(grad, grad));
      for (let k = 0; k < P; k++) dir[k] /= g;
    }
    for (let m = 0; m < S.length; m++) {
      const beta = rho[m] * dot(Yd[m], dir);
      for (let k = 0; k < P; k++) dir[k] += S[m][k] * (alpha[m] - beta);
    }
    let slope = dot(grad, dir);
    if (!(slope < 0)) {
      // Not a descent direction (curvature history went stale): restart from steepest descent.
      S.length = 0; Yd.length = 0; rho.length = 0;
      for (let k = 0; k < P; k++) dir[k] = -grad[k];
      slope = dot(grad, dir);
    }
    // Backtracking line search with the Armijo condition; step 1 is L-BFGS's natural step.
    let step = 1;
    let trialLoss = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let k = 0; k < P; k++) trial[k] = theta[k] + step * dir[k];
      trialLoss = evaluate(trial, trialGrad);
      evaluations++;
      if (trialLoss <= loss + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(trialLoss < loss)) break; // no progress possible at double precision
    const s = new Float64Array(P);
    const yk = new Float64Array(P);
    for (let k = 0; k < P; k++) {
      s[k] = trial[k] - theta[k];
      yk[k] = trialGrad[k] - grad[k];
    }
    const sy = dot(s, yk);
    if (sy > 1e-12) {
      if (S.length === opts.memory) { S.shift(); Yd.shift(); rho.shift(); }
      S.push(s); Yd.push(yk); rho.push(1 / sy);
    }
    const improvement = loss - trialLoss;
    theta.set(trial);
    grad.set(trialGrad);
    loss = trialLoss;
    if (improvement < opts.lossTolerance * Math.max(1, Math.abs(loss))) { iterations++; break; }
  }
  report?.({ iterations, evaluations, loss, gradientNorm: maxAbs(grad) });

  // Fold standardisation in: W·((x − μ)/σ) + b = (W/σ)·x + (b − Σ_j W_j μ_j/σ_j).
  const weights = new Float32Array(C * d);
  const bias = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    let b = theta[C * d + c];
    for (let j = 0; j < d; j++) {
      const w = theta[c * d + j] / std[j];
      weights[c * d + j] = w;
      b -= w * mean[j];
    }
    bias[c] = b;
  }
  return { classes: C, dim: d, weights, bias };
}

/** Scores s = W·x + b of one window in double precision (the clear-text reference of the encrypted product). */
export function scoreWindow(model: LinearModel, x: ArrayLike<number>): Float64Array {
  const { classes: C, dim: d, weights, bias } = model;
  const s = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let acc = bias[c];
    for (let j = 0; j < d; j++) acc += weights[c * d + j] * x[j];
    s[c] = acc;
  }
  return s;
}
