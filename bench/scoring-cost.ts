/**
 * Scenario 1: server cost of encrypted scoring s = W·x + b, per window and per 15 s of audio, at C classes
 * for the two feature shapes (seed-style MFCC sum, landmark defaults), next to a plaintext Float32 matvec
 * of the same shape in the same run. Random models of the shape: CKKS cost depends on the shape, not on
 * the values. Cost is CPU time of this process around ScoringEngine.score() (validation included): the
 * one-core figure; wall time is reported beside it.
 *
 * "Per 15 s" = the query ciphertexts 15 s of audio needs when its windows are packed as full as the
 * layout allows (ceil(windows / B)); server ms per audio second and real-time streams per core follow.
 */
import { ClientSession } from '../pipeline/he/client/index.js';
import { ScoringEngine } from '../pipeline/he/server/index.js';
import { operationCounts } from '../pipeline/he/layout.js';
import type { LinearModel } from '../pipeline/features/types.js';
import { LandmarkParams } from '../schemas/feature-landmark.js';
import { MfccSumParams, mfccSumDim } from '../schemas/feature-mfcc.js';
import type { HeParams } from '../schemas/he.js';
import { heParamsFor, MEAN_QUERY_HE_PARAMS, meanQueryScales } from '../pipeline/model/enroll.js';
import { mdTable, now, rng, round, timeLoop } from './util.js';

export interface FeatureShape {
  name: 'mfcc-sum' | 'landmark';
  /** Row label when it differs from the kind's defaults. */
  label?: string;
  d: number;
  windowSeconds: number;
  hopSeconds: number;
  /** Encryption parameters when not the kind's enrolment default (heParamsFor). */
  he?: HeParams;
  /** Input and weight scales balanced for the model and windows, as enrolment does for mean queries. */
  balancedScales?: boolean;
}

/**
 * The seed's MFCC shape (20 summed MFCCs per 0.5 s window), scored window by window and as the mean of a
 * 15 s query's 30 windows (query 'mean': one product per 15 s, the seed's query length), and the landmark
 * kind's defaults.
 */
export function featureShapes(): FeatureShape[] {
  const m = MfccSumParams.parse({ summary: 'sum' });
  const l = LandmarkParams.parse({});
  const span = m.meanOfWindows * m.hopSeconds;
  return [
    { name: 'mfcc-sum', d: mfccSumDim(m), windowSeconds: m.windowSeconds, hopSeconds: m.hopSeconds },
    { name: 'mfcc-sum', label: `mfcc-sum, mean of ${m.meanOfWindows} windows`, d: mfccSumDim(m), windowSeconds: span, hopSeconds: span, he: MEAN_QUERY_HE_PARAMS, balancedScales: true },
    { name: 'landmark', d: l.d, windowSeconds: l.windowSeconds, hopSeconds: l.hopSeconds },
  ];
}

export function randomModel(C: number, d: number, seed: number): LinearModel {
  const r = rng(seed);
  const s = 1 / Math.sqrt(d);
  return {
    classes: C,
    dim: d,
    weights: Float32Array.from({ length: C * d }, () => (2 * r() - 1) * s),
    bias: Float32Array.from({ length: C }, () => 0.05 * (2 * r() - 1)),
  };
}

export function randomWindows(n: number, d: number, seed: number): Float32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const x = Float32Array.from({ length: d }, () => r());
    const norm = Math.hypot(...x) || 1;
    return x.map((v) => v / norm);
  });
}

/** The plaintext baseline: scores = W·x + b in Float32, the way a server that sees the features would. */
export function matvec(m: LinearModel, x: Float32Array, out: Float32Array): void {
  const { classes: C, dim: d, weights: w, bias } = m;
  for (let c = 0; c < C; c++) {
    let acc = bias[c];
    const row = c * d;
    for (let k = 0; k < d; k++) acc += w[row + k] * x[k];
    out[c] = acc;
  }
}

/** Largest |a − ref| and the clear top-2 margin, both over the clear score range. */
export function errorAndMargin(a: ArrayLike<number>, ref: ArrayLike<number>): { errorOfRange: number; marginOfRange: number } {
  let err = 0;
  let lo = Infinity;
  let hi = -Infinity;
  let second = -Infinity;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(a[i] - ref[i]));
    lo = Math.min(lo, ref[i]);
    if (ref[i] > hi) { second = hi; hi = ref[i]; } else if (ref[i] > second) second = ref[i];
  }
  const range = hi - lo || 1;
  return { errorOfRange: err / range, marginOfRange: (hi - second) / range };
}

const argmax = (v: ArrayLike<number>): number => {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[b]) b = i;
  return b;
};

export interface ScoringRow {
  shape: string;
  C: number;
  d: number;
  layout: string;
  windowsPerCt: number;
  multiplyPlain: number;
  rotations: number;
  engineBuildMs: number;
  cpuMsPerCt: number;
  wallMsPerCt: number;
  msPerWindow: number;
  ctsPer15s: number;
  msPer15s: number;
  msPerAudioSecond: number;
  streamsPerCore: number;
  plainMsPerWindow: number;
  plainMsPer15s: number;
  slowdown: number;
  argmaxAgree: string;
  /** Largest |decrypted − clear| over the window's clear score range. */
  maxErrorOfRange: number;
  /** Agreement among the windows whose clear top-2 margin exceeds twice that error. */
  argmaxAgreeBeyondError: string;
}

async function scoringCase(shapeParams: HeParams, shape: FeatureShape, C: number, reps: number): Promise<ScoringRow> {
  const { d } = shape;
  const model = randomModel(C, d, C * 31 + d);
  // Mean queries: the scales enrolment would balance for this model and windows of this kind.
  const params = shape.balancedScales ? { ...shapeParams, ...meanQueryScales(model, randomWindows(64, d, C + d)) } : shapeParams;
  let t = now();
  const engine = await ScoringEngine.create(params, model);
  const engineBuildMs = now() - t;
  const client = await ClientSession.create(params, { classes: C, dim: d });
  const keys = await engine.loadSessionKeys(client.publicMaterial());
  try {
    const L = engine.layout;
    const B = L.windowsPerCiphertext;
    const windows = randomWindows((reps + 1) * B, d, C + d);
    const batches = Array.from({ length: reps + 1 }, (_, q) => windows.slice(q * B, (q + 1) * B));
    const queries = batches.map((b) => client.encryptWindows(b).ciphertexts[0]);
    const results: Uint8Array[][] = [await engine.score(keys, queries[0])]; // warm-up: JIT, SEAL pools, isolated parsers
    let q = 1;
    const timed = await timeLoop(async () => results.push(await engine.score(keys, queries[q++])), { minRuns: reps, minWallMs: 0 });
    // Every decrypted argmax must equal the plaintext one (CKKS is approximate).
    let agree = 0;
    const ref = new Float32Array(C);
    const checked: { same: boolean; errorOfRange: number; marginOfRange: number }[] = [];
    for (const [i, out] of results.entries()) {
      const scores = await client.decryptScores([out], batches[i].length);
      batches[i].forEach((x, w) => {
        matvec(model, x, ref);
        const same = argmax(scores[w]) === argmax(ref);
        if (same) agree++;
        checked.push({ same, ...errorAndMargin(scores[w], ref) });
      });
    }
    const maxErrorOfRange = Math.max(...checked.map((c) => c.errorOfRange));
    const clear = checked.filter((c) => c.marginOfRange > 2 * maxErrorOfRange);
    // Plaintext baseline, same shape.
    let n = 0;
    const plain = await timeLoop(() => matvec(model, windows[n++ % windows.length], ref), { minWallMs: 100 });
    const plainMsPerWindow = plain.cpuMs;

    const ops = operationCounts(L);
    const cpuMsPerCt = timed.cpuMs;
    const windowsPer15s = Math.round(15 / shape.hopSeconds);
    const ctsPer15s = Math.ceil(windowsPer15s / B);
    const msPer15s = ctsPer15s * cpuMsPerCt;
    const msPerAudioSecond = msPer15s / 15;
    return {
      shape: `${shape.label ?? shape.name} (d=${d}, ${shape.windowSeconds} s windows, ${windowsPer15s} per 15 s${shape.balancedScales ? `; inputs 2^${params.scaleBits}, weights 2^${params.weightScaleBits}` : ''})`,
      C, d,
      layout: `${L.mode} B=${B} out=${L.outputCiphertexts}`,
      windowsPerCt: B,
      multiplyPlain: engine.footprint.plaintexts,
      rotations: ops.rotations,
      engineBuildMs: round(engineBuildMs, 0),
      cpuMsPerCt: round(cpuMsPerCt),
      wallMsPerCt: round(timed.wallMs),
      msPerWindow: round(cpuMsPerCt / B, 2),
      ctsPer15s,
      msPer15s: round(msPer15s),
      msPerAudioSecond: round(msPerAudioSecond, 2),
      streamsPerCore: round(1000 / msPerAudioSecond, 1),
      plainMsPerWindow: round(plainMsPerWindow, 4),
      plainMsPer15s: round(plainMsPerWindow * windowsPer15s, 3),
      slowdown: round(msPer15s / (plainMsPerWindow * windowsPer15s), 0),
      argmaxAgree: `${agree}/${(reps + 1) * B}`,
      maxErrorOfRange: Number(maxErrorOfRange.toPrecision(2)),
      argmaxAgreeBeyondError: `${clear.filter((c) => c.same).length}/${clear.length}`,
    };
  } finally {
    keys.dispose();
    client.dispose();
    engine.dispose();
  }
}

export async function runScoringCost(opts: { classes: number[]; reps: number; log: (s: string) => void }): Promise<{ rows: ScoringRow[]; markdown: string }> {
  const rows: ScoringRow[] = [];
  for (const shape of featureShapes()) {
    for (const C of opts.classes) {
      // Each kind under the parameters its catalogues are enrolled with (pipeline/model/enroll.ts).
      const row = await scoringCase(shape.he ?? heParamsFor(shape.name, shape.hopSeconds, shape.d), shape, C, opts.reps);
      opts.log(`scoring ${shape.name} C=${C}: ${row.cpuMsPerCt} ms/ct, ${row.msPerAudioSecond} ms per audio s`);
      rows.push(row);
    }
  }
  const markdown = [
    '## 1. Encrypted scoring (server, one core)',
    '',
    `Main-thread CPU ms of one ScoringEngine.score() call (query validation + W·x + b + result serialisation), mean of ${opts.reps} after a warm-up; wall ms beside it. ` +
      'Error = largest |decrypted − clear| over the clear score range of the window, worst window; the last column counts only windows whose clear top-2 margin exceeds twice that error (closer pairs may swap under approximate arithmetic). B = windows packed per query ciphertext. "per 15 s" = ceil(windows in 15 s / B) queries. Plain = Float32 W·x + b in JS, same shape, same run.',
    '',
    mdTable(
      ['shape', 'C', 'layout', 'mul / rot per ct', 'engine build ms', 'CPU ms / ct (wall)', 'ms / window', 'cts per 15 s', 'ms per 15 s', 'server ms per audio s', 'real-time streams per core', 'plain ms / window', 'plain ms per 15 s', 'HE / plain', 'argmax = plain', 'max error / range', 'argmax = plain where margin > 2× error'],
      rows.map((r) => [r.shape, r.C, r.layout, `${r.multiplyPlain} / ${r.rotations}`, r.engineBuildMs, `${r.cpuMsPerCt} (${r.wallMsPerCt})`, r.msPerWindow, r.ctsPer15s, r.msPer15s, r.msPerAudioSecond, r.streamsPerCore, r.plainMsPerWindow, r.plainMsPer15s, `${r.slowdown}×`, r.argmaxAgree, r.maxErrorOfRange, r.argmaxAgreeBeyondError]),
    ),
  ].join('\n');
  return { rows, markdown };
}
