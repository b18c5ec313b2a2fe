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

/** Query side: landmarks of one STFT framing of pcm (11025 Hz). */
export function extractLandmarks(pcm11025: Float32Array, params: Pick<LandmarkParams, 'peaks' | 'pairing'>): Landmarks {
  return pairPeaks(findPeaks(pcm11025, params.peaks), params.pairing);
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

export function makeBucketer(params: Pick<LandmarkParams, 'd' | 'bucketMode' | 'grid' | 'codeShift'>): Bucketer {
  const { d, codeShift: s } = params;
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
