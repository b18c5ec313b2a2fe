/**
 * Catalogue model of the landmark kind: one class per track segment (segmentSeconds long, a new one every
 * segmentHopSeconds), row = the segment's summed landmark counts weighted like a query window
 * (featureNorm: sqrt(counts)·idf, or sqrt(counts / total) centred on the catalogue mean), L2-normalised, bias 0. The counts come from
 * the union of several STFT framings (catalogueShifts). idf = log((1 + C) / (1 + df)) + 1, document =
 * segment. With catalogueSpeedSpread, each catalogue landmark also counts in the buckets it would take at
 * slightly faster or slower playback (dsp/landmarks.ts speedSpreadBucketer). When the catalogue would exceed maxClasses, the segment hop grows by 0.5 s steps (keeping the
 * overlap segmentSeconds − segmentHopSeconds) until it fits.
 */
import { LANDMARK_BLOCK_SECONDS, type LandmarkParams } from '../../schemas/feature-landmark.js';
import { extractLandmarks, extractLandmarksShifted, makeBucketer, speedFactors, speedSpreadBucketer, type Landmarks } from '../dsp/landmarks.js';
import { resample22050To11025 } from '../dsp/resample.js';
import { blockCounts, LANDMARK_INPUT_SAMPLE_RATE, windowsFromLandmarks, type ClipLandmarks } from '../features/landmark.js';
import { bestOverHypotheses, hypothesisSlices, type FeatureWindows, type LinearModel } from '../features/types.js';
import type { SegmentHubStats } from './landmark-vote.js';

export interface Segment {
  track: number;
  startSeconds: number;
  /** Where the segment ends (the last one of a track stops at the track's end). */
  endSeconds: number;
}

export interface SegmentTemplates {
  model: LinearModel;
  segments: Segment[];
  /** Per-feature scale: idf, or 1/std for 'standardised'. */
  idf: Float32Array;
  /** Per-feature mean of sqrt(counts / total) over the segments (zeros for featureNorm 'idf'). */
  mean: Float32Array;
  /** Segment length and hop actually used (the hop may have grown to respect maxClasses). */
  segmentSeconds: number;
  segmentHopSeconds: number;
  trackDurations: number[];
  /** Hubness statistics, when params.hubness and the tracks carried a single-framing extraction. */
  hub?: SegmentHubStats;
}

/** A catalogue track's landmarks: the union over framings, plus those a query of the track finds (queryShifts framings). */
export interface CatalogueTrackLandmarks extends ClipLandmarks {
  queryFraming?: Landmarks;
}

/** Hub statistics sample query-like windows of the catalogue every this many seconds. */
const HUB_WINDOW_HOP_SECONDS = 10;

/** Catalogue-side landmarks of one track (22050 Hz mono PCM), union over the catalogue shifts. */
export function catalogueLandmarks(pcm22050: Float32Array, params: LandmarkParams): CatalogueTrackLandmarks {
  const pcm = resample22050To11025(pcm22050);
  const landmarks = extractLandmarksShifted(pcm, params, params.catalogueShifts);
  return {
    landmarks,
    durationSeconds: pcm22050.length / LANDMARK_INPUT_SAMPLE_RATE,
    queryFraming: params.hubness !== 'off' ? extractLandmarks(pcm, params) : undefined,
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
export function buildSegmentTemplatesFromLandmarks(tracks: CatalogueTrackLandmarks[], params: LandmarkParams): SegmentTemplates {
  const d = params.d;
  const durations = tracks.map((t) => t.durationSeconds);
  const layout = segmentLayout(durations, params);
  const hb = Math.round(layout.segmentHopSeconds / LANDMARK_BLOCK_SECONDS);
  const lb = Math.round(layout.segmentSeconds / LANDMARK_BLOCK_SECONDS);
  const C = durations.reduce((a, dur) => a + segmentsOf(dur, layout.segmentHopSeconds), 0);
  const weights = new Float32Array(C * d);
  const segments: Segment[] = [];
  const bucket = makeBucketer(params);
  const spread = params.catalogueSpeedSpread > 0
    ? speedSpreadBucketer(bucket, speedFactors(params.catalogueSpeedSpread, params.catalogueSpeedStep))
    : undefined;
  tracks.forEach((track, ti) => {
    const { blocks, counts } = blockCounts(track, d, bucket, spread);
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
  const mean = new Float32Array(d);
  if (params.featureNorm !== 'idf') {
    // rows → sqrt(counts / total); mean (and std) per feature over the segments
    const sum = new Float64Array(d);
    const sum2 = new Float64Array(d);
    for (let c = 0; c < C; c++) {
      const row = weights.subarray(c * d, (c + 1) * d);
      let total = 0;
      for (let j = 0; j < d; j++) total += row[j];
      const inv = 1 / Math.max(total, 1e-9);
      for (let j = 0; j < d; j++) {
        const h = Math.sqrt(row[j] * inv);
        row[j] = h;
        sum[j] += h;
        sum2[j] += h * h;
      }
    }
    for (let j = 0; j < d; j++) {
      mean[j] = sum[j] / C;
      if (params.featureNorm === 'standardised') {
        const sd = Math.sqrt(Math.max(0, sum2[j] / C - mean[j] * mean[j]));
        idf[j] = 1 / (sd + 1e-3);
      }
    }
  }
  for (let c = 0; c < C; c++) {
    const row = weights.subarray(c * d, (c + 1) * d);
    let ss = 0;
    for (let j = 0; j < d; j++) {
      const x = params.featureNorm === 'idf' ? Math.sqrt(row[j]) * idf[j] : (row[j] - mean[j]) * idf[j];
      row[j] = x;
      ss += x * x;
    }
    const inv = 1 / (Math.sqrt(ss) + 1e-9);
    for (let j = 0; j < d; j++) row[j] *= inv;
  }
  const model: LinearModel = { classes: C, dim: d, weights, bias: new Float32Array(C) };
  let hub: SegmentHubStats | undefined;
  if (params.hubness !== 'off' && tracks.every((t) => t.queryFraming)) {
    const hubParams = { ...params, hopSeconds: Math.max(params.hopSeconds, HUB_WINDOW_HOP_SECONDS) };
    hub = segmentHubStats(model, segments, tracks.map((t, ti) => ({
      track: ti,
      windows: windowsFromLandmarks({ landmarks: t.queryFraming!, durationSeconds: t.durationSeconds }, hubParams, idf, mean, bucket),
    })));
    if (params.hubness === 'mean') hub.std.fill(1);
  }
  return { model, segments, idf, mean, ...layout, trackDurations: durations, hub };
}

/**
 * Hubness statistics: per segment, mean and std of its scores over query-like windows (single STFT
 * framing, e.g. shift 0 of the catalogue's own tracks) from *other* tracks. Some segments (dense, broad
 * spectra) score high against everything; the client divides them out after decryption.
 */
export function segmentHubStats(
  model: LinearModel, segments: Segment[], windows: { track: number; windows: FeatureWindows }[],
): SegmentHubStats {
  const C = model.classes;
  const sum = new Float64Array(C);
  const sum2 = new Float64Array(C);
  const n = new Float64Array(C);
  for (const w of windows) {
    for (const s of scoreInClear(model, w.windows)) {
      for (let c = 0; c < C; c++) {
        if (segments[c].track === w.track) continue;
        sum[c] += s[c];
        sum2[c] += s[c] * s[c];
        n[c]++;
      }
    }
  }
  const mean = new Float32Array(C);
  const std = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const m = n[c] ? sum[c] / n[c] : 0;
    mean[c] = m;
    std[c] = Math.sqrt(Math.max(0, (n[c] ? sum2[c] / n[c] : 0) - m * m)) + 1e-3;
  }
  return { mean, std };
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
  const { dim: d } = model;
  if (windows.dim !== d) throw new RangeError(`windows have dim ${windows.dim}, model expects ${d}`);
  // Windows with query hypotheses: each class keeps its best score over them, as the client does after decryption.
  return windows.vectors.map((v) => bestOverHypotheses(scoreVectors(model, hypothesisSlices(v, d)), v.length / d)[0]);
}

function scoreVectors(model: LinearModel, vectors: Float32Array[]): Float64Array[] {
  const { classes: C, dim: d, weights, bias } = model;
  return vectors.map((x) => {
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
