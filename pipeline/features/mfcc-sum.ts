/**
 * The "mfcc-sum" feature kind, the users' MFCC windowing stage: MFCC frames of the whole clip, grouped
 * into windows on a fixed grid from the clip start. Window k covers samples [k·hop, k·hop + window) and
 * takes the MFCC frames whose centre falls inside it (≈21.5 frames per 0.5 s at hop 512, so 21 or 22).
 * Only windows that fit entirely inside the clip are made; a clip shorter than one window gives none.
 */
import { type MfccSumParams, mfccSumDim } from '../../schemas/feature-mfcc.js';
import { Mfcc, type MfccFrames } from '../dsp/mfcc.js';
import type { FeatureWindows } from './types.js';

/** First frame index whose centre t·hop is at or after `sample`. */
function firstFrameAtOrAfter(sample: number, hop: number): number {
  return Math.ceil(sample / hop);
}

/** Writes one window's summary of frames [t0, t1) into `out`. */
function summarise(m: MfccFrames, t0: number, t1: number, summary: MfccSumParams['summary'], out: Float32Array): void {
  const { nMfcc, data } = m;
  const n = t1 - t0;
  for (let k = 0; k < nMfcc; k++) {
    let sum = 0;
    let sq = 0;
    for (let t = t0; t < t1; t++) {
      const v = data[t * nMfcc + k];
      sum += v;
      sq += v * v;
    }
    if (summary === 'sum') {
      out[k] = sum;
      continue;
    }
    // Mean and population deviation: unlike the seed's sum, independent of whether 21 or 22 frames fell in.
    const mean = sum / n;
    out[k] = mean;
    out[nMfcc + k] = Math.sqrt(Math.max(0, sq / n - mean * mean));
    if (summary !== 'mean-std-delta') continue;
    let dSum = 0;
    let dSq = 0;
    for (let t = t0 + 1; t < t1; t++) {
      const d = data[t * nMfcc + k] - data[(t - 1) * nMfcc + k];
      dSum += d;
      dSq += d * d;
    }
    const dn = Math.max(1, n - 1);
    const dMean = dSum / dn;
    out[2 * nMfcc + k] = dMean;
    out[3 * nMfcc + k] = Math.sqrt(Math.max(0, dSq / dn - dMean * dMean));
  }
}

/**
 * Feature windows of one clip (mono PCM at params.sampleRate). `mfcc` lets a caller reuse one extractor's
 * tables across many clips; it must have been built from the same parameters.
 */
export function mfccSumWindows(pcm: Float32Array, params: MfccSumParams, mfcc: Mfcc = new Mfcc(params)): FeatureWindows {
  return windowsFromFrames(mfcc.compute(pcm), pcm.length, params);
}

/**
 * Means of `m` consecutive windows (the client's 'mean' query): group g averages windows [g·m, g·m + m).
 * A clip shorter than one group gives one group of all its windows, as a short clip gives one short window
 * in the other kinds.
 */
export function meanOfWindows(fw: FeatureWindows, m: number): FeatureWindows {
  const groups = fw.vectors.length >= m ? Math.floor(fw.vectors.length / m) : Math.min(1, fw.vectors.length);
  const vectors: Float32Array[] = [];
  const startSeconds: number[] = [];
  for (let g = 0; g < groups; g++) {
    const members = fw.vectors.slice(g * m, g * m + m);
    const v = new Float32Array(fw.dim);
    for (const x of members) for (let k = 0; k < fw.dim; k++) v[k] += x[k] / members.length;
    vectors.push(v);
    startSeconds.push(fw.startSeconds[g * m]);
  }
  return { dim: fw.dim, vectors, startSeconds };
}

/**
 * The windows of a clip of `samples` samples whose MFCC frames are already computed (lets one MFCC pass
 * serve several summaries, e.g. when comparing them on the same audio).
 */
export function windowsFromFrames(frames: MfccFrames, samples: number, params: MfccSumParams): FeatureWindows {
  if (frames.sampleRate !== params.sampleRate || frames.nMfcc !== params.nMfcc) {
    throw new RangeError('MFCC frames were made with other parameters than the windows ask for');
  }
  const dim = mfccSumDim(params);
  const win = Math.round(params.windowSeconds * params.sampleRate);
  const hop = Math.round(params.hopSeconds * params.sampleRate);
  const vectors: Float32Array[] = [];
  const startSeconds: number[] = [];
  for (let k = 0; k * hop + win <= samples; k++) {
    const start = k * hop;
    const t0 = firstFrameAtOrAfter(start, frames.hop);
    const t1 = Math.min(frames.frames, firstFrameAtOrAfter(start + win, frames.hop));
    const v = new Float32Array(dim);
    summarise(frames, t0, t1, params.summary, v);
    vectors.push(v);
    startSeconds.push(start / params.sampleRate);
  }
  return { dim, vectors, startSeconds };
}
