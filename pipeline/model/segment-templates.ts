/**
 * Catalogue model of the landmark kind: one class per track segment (segmentSeconds long, a new one every
 * segmentHopSeconds), row = sqrt(summed landmark counts)·idf, L2-normalised, bias 0. The counts come from
 * the union of several STFT framings (catalogueShifts). idf = log((1 + C) / (1 + df)) + 1, document =
 * segment. When the catalogue would exceed maxClasses, the segment hop grows by 0.5 s steps (keeping the
 * overlap segmentSeconds − segmentHopSeconds) until it fits.
 */
import { LANDMARK_BLOCK_SECONDS, type LandmarkParams } from '../../schemas/feature-landmark.js';
import { extractLandmarksShifted, makeBucketer } from '../dsp/landmarks.js';
import { resample22050To11025 } from '../dsp/resample.js';
import { blockCounts, LANDMARK_INPUT_SAMPLE_RATE, type ClipLandmarks } from '../features/landmark.js';
import type { FeatureWindows, LinearModel } from '../features/types.js';

export interface Segment {
  track: number;
  startSeconds: number;
  /** Where the segment ends (the last one of a track stops at the track's end). */
  endSeconds: number;
}

export interface SegmentTemplates {
  model: LinearModel;
  segments: Segment[];
  idf: Float32Array;
  /** Segment length and hop actually used (the hop may have grown to respect maxClasses). */
  segmentSeconds: number;
  segmentHopSeconds: number;
  trackDurations: number[];
}

/** Catalogue-side landmarks of one track (22050 Hz mono PCM), union over the catalogue shifts. */
export function catalogueLandmarks(pcm22050: Float32Array, params: LandmarkParams): ClipLandmarks {
  const pcm = resample22050To11025(pcm22050);
  return {
    landmarks: extractLandmarksShifted(pcm, params, params.catalogueShifts),
    durationSeconds: pcm22050.length / LANDMARK_INPUT_SAMPLE_RATE,
  };
}

function segmentsOf(duration: number, hop: number): number {
  return Math.max(1, Math.ceil(duration / hop - 1e-6));
}

/** Segment length and hop that keep Σ ceil(duration / hop) ≤ maxClasses. */
export function segmentLayout(durations: number[], params: LandmarkParams): { segmentSeconds: number; segmentHopSeconds: number } {
  const overlap = params.segmentSeconds - params.segmentHopSeconds;
  let hop = params.segmentHopSeconds;
  const count = (h: number) => durations.reduce((a, d) => a + segmentsOf(d, h), 0);
  if (durations.length > params.maxClasses) throw new RangeError(`${durations.length} tracks exceed maxClasses=${params.maxClasses}`);
  while (count(hop) > params.maxClasses) hop += LANDMARK_BLOCK_SECONDS;
  return { segmentSeconds: hop + overlap, segmentHopSeconds: hop };
}

/** Builds the templates from catalogue-side landmarks (what enrolment caches). */
export function buildSegmentTemplatesFromLandmarks(tracks: ClipLandmarks[], params: LandmarkParams): SegmentTemplates {
  const d = params.d;
  const durations = tracks.map((t) => t.durationSeconds);
  const layout = segmentLayout(durations, params);
  const hb = Math.round(layout.segmentHopSeconds / LANDMARK_BLOCK_SECONDS);
  const lb = Math.round(layout.segmentSeconds / LANDMARK_BLOCK_SECONDS);
  const C = durations.reduce((a, dur) => a + segmentsOf(dur, layout.segmentHopSeconds), 0);
  const weights = new Float32Array(C * d);
  const segments: Segment[] = [];
  const bucket = makeBucketer(params);
  tracks.forEach((track, ti) => {
    const { blocks, counts } = blockCounts(track, d, bucket);
    const n = segmentsOf(track.durationSeconds, layout.segmentHopSeconds);
    for (let k = 0; k < n; k++) {
      const row = segments.length * d;
      const a = Math.min(k * hb, blocks);
      const e = Math.min(k * hb + lb, blocks);
      for (let b = a; b < e; b++) {
        const src = b * d;
        for (let j = 0; j < d; j++) weights[row + j] += counts[src + j];
      }
      segments.push({
        track: ti,
        startSeconds: k * layout.segmentHopSeconds,
        endSeconds: Math.min(track.durationSeconds, k * layout.segmentHopSeconds + layout.segmentSeconds),
      });
    }
  });
  const df = new Float64Array(d);
  for (let c = 0; c < C; c++) for (let j = 0; j < d; j++) if (weights[c * d + j] > 0) df[j]++;
  const idf = new Float32Array(d);
  for (let j = 0; j < d; j++) idf[j] = Math.log((1 + C) / (1 + df[j])) + 1;
  for (let c = 0; c < C; c++) {
    const row = weights.subarray(c * d, (c + 1) * d);
    let ss = 0;
    for (let j = 0; j < d; j++) {
      const x = Math.sqrt(row[j]) * idf[j];
      row[j] = x;
      ss += x * x;
    }
    const inv = 1 / (Math.sqrt(ss) + 1e-9);
    for (let j = 0; j < d; j++) row[j] *= inv;
  }
  return {
    model: { classes: C, dim: d, weights, bias: new Float32Array(C) },
    segments,
    idf,
    ...layout,
    trackDurations: durations,
  };
}

/** Enrolment entry point: whole tracks as 22050 Hz mono PCM. */
export function buildSegmentTemplates(tracks: { pcm: Float32Array }[], params: LandmarkParams): SegmentTemplates {
  return buildSegmentTemplatesFromLandmarks(tracks.map((t) => catalogueLandmarks(t.pcm, params)), params);
}

/**
 * s = W·x + b in clear, for tests, tuning and the plaintext oracle of the encrypted path. Skips zero
 * features (landmark windows are sparse), so the cost is C × nnz per window.
 */
export function scoreInClear(model: LinearModel, windows: FeatureWindows): Float64Array[] {
  const { classes: C, dim: d, weights, bias } = model;
  if (windows.dim !== d) throw new RangeError(`windows have dim ${windows.dim}, model expects ${d}`);
  return windows.vectors.map((x) => {
    const idx: number[] = [];
    for (let k = 0; k < d; k++) if (x[k] !== 0) idx.push(k);
    const nz = Int32Array.from(idx);
    const vals = Float64Array.from(idx, (k) => x[k]);
    const s = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const row = c * d;
      let acc = bias[c];
      for (let i = 0; i < nz.length; i++) acc += weights[row + nz[i]] * vals[i];
      s[c] = acc;
    }
    return s;
  });
}
