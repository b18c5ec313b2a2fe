/**
 * Alignment-free spectral peaks: 2-D local maxima of the log-magnitude STFT (11025 Hz, 512-point
 * symmetric Hann frames, hop 256, no centring) that stand a few nats above the local mean.
 * The filters are separable sliding-window algorithms, O(n) per line whatever the window size, and use
 * scipy.ndimage's 'nearest' edge mode (the edge value repeats), so they equal scipy's results.
 */
import { Fft, hannSymmetric } from './fft.js';
import type { LandmarkPeakParams } from '../../schemas/feature-landmark.js';

export const PEAK_SAMPLE_RATE = 11025;
export const STFT_SIZE = 512;
export const STFT_HOP = 256;
export const STFT_BINS = STFT_SIZE / 2 + 1;
/** Bins at each end that never hold a peak (DC and Nyquist neighbourhoods). */
const EDGE_BINS = 2;

/** Row-major frames × bins matrix. */
export interface Spectrogram {
  frames: number;
  bins: number;
  data: Float32Array;
}

/** Number of full STFT frames in n samples (at least one: short input is zero-padded). */
export function stftFrames(n: number): number {
  return n < STFT_SIZE ? 1 : 1 + Math.floor((n - STFT_SIZE) / STFT_HOP);
}

const HANN = hannSymmetric(STFT_SIZE);
const FFT = new Fft(STFT_SIZE);

/** log(|STFT| + 1e-3) of pcm (11025 Hz) starting at sample `offset`. */
export function logMagnitudeStft(pcm: Float32Array, offset = 0): Spectrogram {
  const n = Math.max(0, pcm.length - offset);
  const frames = stftFrames(n);
  const data = new Float32Array(frames * STFT_BINS);
  const frame = new Float64Array(STFT_SIZE);
  const mag = new Float64Array(STFT_BINS);
  for (let t = 0; t < frames; t++) {
    const s = offset + t * STFT_HOP;
    for (let i = 0; i < STFT_SIZE; i++) {
      const k = s + i;
      frame[i] = k < pcm.length ? pcm[k] * HANN[i] : 0;
    }
    FFT.magnitudeSpectrum(frame, mag);
    const row = t * STFT_BINS;
    for (let k = 0; k < STFT_BINS; k++) data[row + k] = Math.log(mag[k] + 1e-3);
  }
  return { frames, bins: STFT_BINS, data };
}

/**
 * Sliding maximum over [i − r, i + r] (clamped to the line, which is 'nearest' mode for a max) of the
 * line src[start + j·stride], j < n, written to dst at the same positions. Monotonic deque: O(n).
 */
function slidingMaxLine(
  src: Float32Array, dst: Float32Array, start: number, stride: number, n: number, r: number, deque: Int32Array,
): void {
  let head = 0;
  let tail = 0;
  for (let j = 0; j < n + r; j++) {
    if (j < n) {
      const v = src[start + j * stride];
      while (tail > head && src[start + deque[tail - 1] * stride] <= v) tail--;
      deque[tail++] = j;
    }
    const i = j - r;
    if (i >= 0) {
      while (deque[head] < i - r) head++;
      dst[start + i * stride] = src[start + deque[head] * stride];
    }
  }
}

/**
 * Sliding mean over [i − r, i + r] with 'nearest' edges (the edge value counts once per position it
 * replaces), by a running sum over the edge-extended line: O(n).
 */
function slidingMeanLine(
  src: Float32Array, dst: Float32Array, start: number, stride: number, n: number, r: number,
): void {
  const size = 2 * r + 1;
  const at = (j: number) => src[start + (j < 0 ? 0 : j >= n ? n - 1 : j) * stride];
  let sum = 0;
  for (let j = -r; j <= r; j++) sum += at(j);
  for (let i = 0; i < n; i++) {
    dst[start + i * stride] = sum / size;
    sum += at(i + r + 1) - at(i - r);
  }
}

function checkSize(size: number): number {
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0) throw new RangeError(`filter size must be odd >= 1, got ${size}`);
  return (size - 1) >> 1;
}

/** scipy.ndimage.maximum_filter(a, size=(sizeRows, sizeCols), mode='nearest') on a row-major matrix. */
export function maxFilter2d(a: Float32Array, rows: number, cols: number, sizeRows: number, sizeCols: number): Float32Array {
  const rr = checkSize(sizeRows);
  const rc = checkSize(sizeCols);
  const tmp = new Float32Array(a.length);
  const out = new Float32Array(a.length);
  const deque = new Int32Array(Math.max(rows, cols) + 1);
  for (let y = 0; y < rows; y++) slidingMaxLine(a, tmp, y * cols, 1, cols, rc, deque);
  for (let x = 0; x < cols; x++) slidingMaxLine(tmp, out, x, cols, rows, rr, deque);
  return out;
}

/** scipy.ndimage.uniform_filter(a, size=(sizeRows, sizeCols), mode='nearest') on a row-major matrix. */
export function uniformFilter2d(a: Float32Array, rows: number, cols: number, sizeRows: number, sizeCols: number): Float32Array {
  const rr = checkSize(sizeRows);
  const rc = checkSize(sizeCols);
  const tmp = new Float32Array(a.length);
  const out = new Float32Array(a.length);
  for (let y = 0; y < rows; y++) slidingMeanLine(a, tmp, y * cols, 1, cols, rc);
  for (let x = 0; x < cols; x++) slidingMeanLine(tmp, out, x, cols, rows, rr);
  return out;
}

/** Peaks sorted by (frame, bin). */
export interface Peaks {
  frame: Int32Array;
  bin: Int32Array;
  /** How far each peak stands above the local mean, in nats (> deltaNats). */
  prominence: Float32Array;
  /** STFT frames analysed. */
  frames: number;
}

/**
 * Peaks of pcm (11025 Hz) from sample `offset` on: local maxima over maxFrames × maxBins that exceed the
 * local mean (meanSize × meanSize) by deltaNats; the two lowest and highest bins are excluded.
 */
export function findPeaks(pcm11025: Float32Array, params: LandmarkPeakParams, offset = 0): Peaks {
  const S = logMagnitudeStft(pcm11025, offset);
  const { frames, bins, data: L } = S;
  const base = uniformFilter2d(L, frames, bins, params.meanSize, params.meanSize);
  for (let t = 0; t < frames; t++) {
    const row = t * bins;
    for (let k = 0; k < EDGE_BINS; k++) {
      L[row + k] = -1e9;
      L[row + bins - 1 - k] = -1e9;
    }
  }
  const mx = maxFilter2d(L, frames, bins, params.maxFrames, params.maxBins);
  const fr: number[] = [];
  const bn: number[] = [];
  const pr: number[] = [];
  for (let i = 0; i < L.length; i++) {
    if (L[i] === mx[i] && L[i] - base[i] > params.deltaNats) {
      fr.push(Math.floor(i / bins));
      bn.push(i % bins);
      pr.push(L[i] - base[i]);
    }
  }
  return { frame: Int32Array.from(fr), bin: Int32Array.from(bn), prominence: Float32Array.from(pr), frames };
}

/** The peaks standing more than `deltaNats` above their local mean (same as finding them with that delta). */
export function strongerPeaks(peaks: Peaks, deltaNats: number): Peaks {
  const keep: number[] = [];
  for (let i = 0; i < peaks.frame.length; i++) if (peaks.prominence[i] > deltaNats) keep.push(i);
  return {
    frame: Int32Array.from(keep, (i) => peaks.frame[i]),
    bin: Int32Array.from(keep, (i) => peaks.bin[i]),
    prominence: Float32Array.from(keep, (i) => peaks.prominence[i]),
    frames: peaks.frames,
  };
}
