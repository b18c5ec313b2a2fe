/**
 * Landmarks: pairs of spectral peaks (anchor f1 at frame t1, partner at f1 + df, t1 + dt), Shazam-style.
 * A landmark is kept as a 21-bit code of its full-resolution (f1, df, dt); bucketing into the d features
 * (hashed or a structured grid) happens later, so one extraction serves every feature dimension.
 */
import type { LandmarkPairParams, LandmarkParams } from '../../schemas/feature-landmark.js';
import { findPeaks, stftFrames, STFT_HOP, type Peaks } from './spectral-peaks.js';

/** Landmarks sorted by nothing in particular; `time` is the anchor's STFT frame (fractional for shifts). */
export interface Landmarks {
  time: Float32Array;
  code: Uint32Array;
  /** STFT frames covered by the analysed audio (unshifted). */
  frames: number;
}

/** Full-resolution code: f1 (0..256) << 12 | (df + 64) << 5 | dt (1..31). */
export function encodeLandmark(f1: number, df: number, dt: number): number {
  return (f1 << 12) | ((df + 64) << 5) | dt;
}

export function decodeLandmark(code: number): { f1: number; df: number; dt: number } {
  return { f1: code >>> 12, df: ((code >>> 5) & 127) - 64, dt: code & 31 };
}

/** Pairs each peak with up to `fanout` of the next `lookAhead` peaks lying 1..maxDt frames later and within ±maxDf bins. */
export function pairPeaks(peaks: Peaks, pairing: LandmarkPairParams, timeOffset = 0): Landmarks {
  const { frame, bin } = peaks;
  const n = frame.length;
  const time: number[] = [];
  const code: number[] = [];
  for (let i = 0; i < n; i++) {
    let made = 0;
    const last = Math.min(n - 1, i + pairing.lookAhead);
    for (let j = i + 1; j <= last && made < pairing.fanout; j++) {
      const dt = frame[j] - frame[i];
      if (dt > pairing.maxDtFrames) break; // sorted by frame: later partners are even further
      const df = bin[j] - bin[i];
      if (dt < 1 || Math.abs(df) > pairing.maxDfBins) continue;
      time.push(frame[i] + timeOffset);
      code.push(encodeLandmark(bin[i], df, dt));
      made++;
    }
  }
  return { time: Float32Array.from(time), code: Uint32Array.from(code), frames: peaks.frames };
}

/**
 * Query side: landmarks of pcm (11025 Hz), the union of `queryShifts` STFT framings (one when absent), as
 * the catalogue's union: a landmark several framings find is kept once per framing.
 */
export function extractLandmarks(pcm11025: Float32Array, params: Pick<LandmarkParams, 'peaks' | 'pairing'> & { queryShifts?: number }): Landmarks {
  return extractLandmarksShifted(pcm11025, params, params.queryShifts ?? 1);
}

/**
 * Catalogue side: the union of the landmarks of `shifts` STFT framings (offsets hop·s/shifts samples),
 * so a query framed anywhere finds its landmarks in the catalogue (repeatability 33% → ~90% clean).
 */
export function extractLandmarksShifted(
  pcm11025: Float32Array, params: Pick<LandmarkParams, 'peaks' | 'pairing'>, shifts: number,
): Landmarks {
  const parts: Landmarks[] = [];
  for (let s = 0; s < shifts; s++) {
    const o = Math.floor((s * STFT_HOP) / shifts);
    parts.push(pairPeaks(findPeaks(pcm11025, params.peaks, o), params.pairing, o / STFT_HOP));
  }
  return concatLandmarks(parts, stftFrames(pcm11025.length));
}

export function concatLandmarks(parts: Landmarks[], frames: number): Landmarks {
  const total = parts.reduce((a, p) => a + p.code.length, 0);
  const time = new Float32Array(total);
  const code = new Uint32Array(total);
  let at = 0;
  for (const p of parts) {
    time.set(p.time, at);
    code.set(p.code, at);
    at += p.code.length;
  }
  return { time, code, frames };
}

/** Maps landmark codes to feature indices 0..d−1 for the given bucketing. */
export type Bucketer = (code: number) => number;

/** Hashes a small non-negative triple into 0..d−1 (Fibonacci hashing of its packed bits). */
function hashTriple(a: number, b: number, c: number, d: number): number {
  const mixed = Math.imul((a << 20) ^ (b << 10) ^ c, 0x9e3779b1) >>> 0;
  return Math.floor((mixed * d) / 4294967296);
}

export function makeBucketer(params: Pick<LandmarkParams, 'd' | 'bucketMode' | 'grid' | 'codeShift'> & { ratioCode?: LandmarkParams['ratioCode'] }): Bucketer {
  const { d, codeShift: s } = params;
  if (params.bucketMode === 'ratio') {
    const { f1Step, ratioStep, productStep } = params.ratioCode ?? { f1Step: 0.25, ratioStep: 0.05, productStep: 0.08 };
    // Codes are integers in small ranges: tabulate the logs once.
    const ln = Float64Array.from({ length: 256 * 32 }, (_, i) => Math.log(Math.max(i, 1)));
    return (code) => {
      const f1 = Math.max(1, code >>> 12);
      const f2 = Math.max(1, f1 + ((code >>> 5) & 127) - 64);
      const dt = code & 31;
      const qf = Math.floor(ln[f1] / f1Step);
      const qr = Math.floor((ln[f2] - ln[f1]) / ratioStep) + 512;
      const qp = Math.floor(ln[f1 * dt] / productStep);
      return hashTriple(qf & 1023, qr & 1023, qp & 1023, d);
    };
  }
  if (params.bucketMode === 'grid') {
    const [nf, ndf, ndt] = params.grid ?? [0, 0, 0];
    if (nf * ndf * ndt !== d) throw new RangeError(`grid ${params.grid} does not multiply to d=${d}`);
    return (code) => {
      const f1 = code >>> 12;
      const df = ((code >>> 5) & 127) - 64;
      const dt = code & 31;
      const bf = Math.min(nf - 1, Math.max(0, Math.floor(((f1 - 2) * nf) / 253)));
      const bdf = Math.min(ndf - 1, Math.max(0, Math.floor(((df + 63) * ndf) / 127)));
      const bdt = Math.min(ndt - 1, Math.max(0, Math.floor(((dt - 1) * ndt) / 31)));
      return (bf * ndf + bdf) * ndt + bdt;
    };
  }
  return (code) => {
    const f1 = (code >>> 12) >> s;
    const df = (((code >>> 5) & 127) - 64) >> s;
    const dt = (code & 31) >> s;
    const h = (f1 << 12) | ((df + 64) << 5) | dt;
    const mixed = Math.imul(h, 0x9e3779b1) >>> 0;
    return Math.floor((mixed * d) / 4294967296);
  };
}

/**
 * Catalogue side of speed tolerance: a landmark counted in the buckets it would fall in had the track
 * been played at each of `speeds` (frequencies × s, time differences ÷ s, rounded back to bins and frames;
 * each distinct bucket once). With speed-tolerant buckets most speeds land in the landmark's own bucket,
 * so the template only spreads where a bucket boundary lies within the speed range.
 */
export type MultiBucketer = (code: number, out: Int32Array) => number;

export function speedSpreadBucketer(bucket: Bucketer, speeds: readonly number[]): MultiBucketer {
  return (code, out) => {
    const f1 = code >>> 12;
    const f2 = f1 + ((code >>> 5) & 127) - 64;
    const dt = code & 31;
    let n = 0;
    for (const s of speeds) {
      const g1 = Math.min(255, Math.round(f1 * s));
      const df = Math.max(-64, Math.min(63, Math.round(f2 * s) - g1));
      const b = bucket(encodeLandmark(g1, df, Math.max(1, Math.min(31, Math.round(dt / s)))));
      let seen = false;
      for (let i = 0; i < n; i++) if (out[i] === b) { seen = true; break; }
      if (!seen) out[n++] = b;
    }
    return n;
  };
}

/** Speed factors 1 ± k·step up to ±spread (just [1] for spread 0). */
export function speedFactors(spread: number, step: number): number[] {
  const k = Math.round(spread / step);
  return Array.from({ length: 2 * k + 1 }, (_, i) => 1 + (i - k) * step);
}

/**
 * Query side of speed tolerance: buckets a landmark heard at playback speed `s` where the catalogue holds
 * it (frequencies ÷ s, time differences × s, rounded back to bins and frames).
 */
export function speedBucketer(bucket: Bucketer, s: number): Bucketer {
  const one = speedSpreadBucketer(bucket, [1 / s]);
  const out = new Int32Array(1);
  return (code) => {
    one(code, out);
    return out[0];
  };
}
