/**
 * The "landmark" feature kind: landmark counts per 0.5 s block, summed over windows on a fixed grid from
 * the clip start (window k starts at k·hopSeconds), x = sqrt(counts)·idf, L2-normalised.
 * The idf comes from the catalogue (enrolment), so a query is always windowed like its catalogue.
 */
import { LANDMARK_BLOCK_SECONDS, landmarkProbes, type LandmarkParams } from '../../schemas/feature-landmark.js';
import { extractLandmarks, makeBucketer, speedBucketer, type Bucketer, type Landmarks, type MultiBucketer } from '../dsp/landmarks.js';
import { resample22050To11025 } from '../dsp/resample.js';
import { PEAK_SAMPLE_RATE, STFT_HOP, STFT_SIZE } from '../dsp/spectral-peaks.js';
import type { FeatureExtractor } from './extractor.js';
import type { FeatureWindows } from './types.js';

export const LANDMARK_INPUT_SAMPLE_RATE = 22050;
const FRAME_SECONDS = STFT_HOP / PEAK_SAMPLE_RATE;

/** Landmarks of a clip plus its length: what the client keeps between extraction and windowing. */
export interface ClipLandmarks {
  landmarks: Landmarks;
  /** Seconds from the window grid's zero to the clip's end. */
  durationSeconds: number;
  /** Where the window grid's zero lies in the clip's frames, in seconds (0: its first sample). */
  originSeconds?: number;
}

/** Samples at 22050 Hz between STFT frames (hop 256 at 11025 Hz): a slice starting on this grid frames the audio as the whole clip does. */
export const LANDMARK_FRAME_SAMPLES = 2 * STFT_HOP;

/** Query-side extraction from 22050 Hz mono PCM: the union of the catalogue's `queryShifts` STFT framings. */
export function queryLandmarks(pcm22050: Float32Array, params: LandmarkParams): ClipLandmarks {
  const pcm = resample22050To11025(pcm22050);
  return { landmarks: extractLandmarks(pcm, params), durationSeconds: pcm22050.length / LANDMARK_INPUT_SAMPLE_RATE };
}

/**
 * Audio a window's landmarks need after its end: an anchor in its last frame pairs with peaks up to
 * `maxDtFrames` later, and whether those are peaks depends on the frames within the peak and local-mean
 * neighbourhoods around them; plus one STFT frame and the resampler's half-length (111 taps), rounded up.
 */
export function landmarkContextSeconds(params: LandmarkParams): number {
  const halo = Math.max(params.peaks.maxFrames, params.peaks.meanSize) >> 1;
  const samples = (params.pairing.maxDtFrames + halo) * STFT_HOP + STFT_SIZE;
  return Math.ceil((samples / PEAK_SAMPLE_RATE + 56 / LANDMARK_INPUT_SAMPLE_RATE) * 100) / 100;
}

/**
 * Audio a block's landmarks need before it: a landmark pairs its anchor with later peaks only, so only
 * the peak and local-mean neighbourhoods, one STFT frame and the resampler's half-length reach back.
 */
export function landmarkLeadContextSeconds(params: LandmarkParams): number {
  const halo = Math.max(params.peaks.maxFrames, params.peaks.meanSize) >> 1;
  const samples = halo * STFT_HOP + STFT_SIZE;
  return Math.ceil((samples / PEAK_SAMPLE_RATE + 56 / LANDMARK_INPUT_SAMPLE_RATE) * 100) / 100;
}

/** Blocks in a clip: a trailing partial block counts as one. */
export function blockCount(durationSeconds: number): number {
  return Math.max(1, Math.ceil(durationSeconds / LANDMARK_BLOCK_SECONDS - 1e-6));
}

/**
 * Dense counts, blocks × d (row-major): landmark anchors falling in each 0.5 s block, per bucket. A
 * multi-bucketer, when given (the catalogue's speed spread), counts a landmark once in each bucket it names.
 */
export function blockCounts(clip: ClipLandmarks, d: number, bucket: Bucketer, many?: MultiBucketer): { blocks: number; counts: Float32Array } {
  const blocks = blockCount(clip.durationSeconds);
  const counts = new Float32Array(blocks * d);
  const { time, code } = clip.landmarks;
  const origin = clip.originSeconds ?? 0;
  const out = new Int32Array(64);
  for (let i = 0; i < code.length; i++) {
    const t = time[i] * FRAME_SECONDS - origin;
    if (t < 0) continue; // before the grid's zero: another window's, in the audio before this one
    const b = Math.min(blocks - 1, Math.floor(t / LANDMARK_BLOCK_SECONDS));
    if (many) {
      const n = many(code[i], out);
      for (let k = 0; k < n; k++) counts[b * d + out[k]] += 1;
    } else {
      counts[b * d + bucket(code[i])] += 1;
    }
  }
  return { blocks, counts };
}

/**
 * In place: sqrt(counts)·scale ('idf' norm, no mean given) or (sqrt(counts / total) − mean)·scale, then
 * L2-normalised. `scale` and `mean` come from the catalogue (see segment-templates.ts).
 */
export function weightAndNormalise(v: Float32Array, scale: Float32Array, mean?: Float32Array): Float32Array {
  let total = 0;
  if (mean) for (let k = 0; k < v.length; k++) total += v[k];
  const inv0 = mean ? 1 / Math.max(total, 1e-9) : 1;
  let ss = 0;
  for (let k = 0; k < v.length; k++) {
    const x = (Math.sqrt(v[k] * inv0) - (mean ? mean[k] : 0)) * scale[k];
    v[k] = x;
    ss += x * x;
  }
  const inv = 1 / (Math.sqrt(ss) + 1e-9);
  for (let k = 0; k < v.length; k++) v[k] *= inv;
  return v;
}

/** Window starts (in blocks) of a clip of `blocks` blocks; one (possibly partial) window at least. */
export function windowStartBlocks(blocks: number, params: Pick<LandmarkParams, 'windowSeconds' | 'hopSeconds'>): number[] {
  const wb = Math.round(params.windowSeconds / LANDMARK_BLOCK_SECONDS);
  const hb = Math.round(params.hopSeconds / LANDMARK_BLOCK_SECONDS);
  if (blocks <= wb) return [0];
  const n = Math.floor((blocks - wb) / hb) + 1;
  return Array.from({ length: n }, (_, k) => k * hb);
}

/** Windows of already-extracted landmarks (the bench re-windows cached landmarks with this). */
export function windowsFromLandmarks(
  clip: ClipLandmarks, params: LandmarkParams, idf: Float32Array, mean?: Float32Array, bucket: Bucketer = makeBucketer(params),
): FeatureWindows {
  if (params.featureNorm !== 'idf' && !mean) throw new RangeError(`featureNorm '${params.featureNorm}' needs the catalogue mean`);
  const d = params.d;
  if (idf.length !== d) throw new RangeError(`idf has length ${idf.length}, expected d=${d}`);
  const { blocks, counts } = blockCounts(clip, d, bucket);
  const wb = Math.round(params.windowSeconds / LANDMARK_BLOCK_SECONDS);
  const vectors: Float32Array[] = [];
  const startSeconds: number[] = [];
  for (const s of windowStartBlocks(blocks, params)) {
    const v = new Float32Array(d);
    const e = Math.min(blocks, s + wb);
    for (let b = s; b < e; b++) {
      const row = b * d;
      for (let k = 0; k < d; k++) v[k] += counts[row + k];
    }
    vectors.push(weightAndNormalise(v, idf, params.featureNorm === 'idf' ? undefined : mean));
    startSeconds.push(s * LANDMARK_BLOCK_SECONDS);
  }
  return { dim: d, vectors, startSeconds };
}

/**
 * The query's bucketers, one per speed hypothesis (querySpeeds): a window is bucketed as if played at each
 * speed and the client keeps each class's best score over them (bestOverHypotheses).
 */
export function hypothesisBucketers(params: LandmarkParams): Bucketer[] {
  const bucket = makeBucketer(params);
  return params.querySpeeds.map((s) => (s === 1 ? bucket : speedBucketer(bucket, s)));
}

/**
 * Query windows with every speed hypothesis: each window's vector is its K hypotheses' d-vectors stacked
 * (K·d floats, each d-slice weighted and normalised on its own); startSeconds as for one.
 */
export function hypothesisWindows(clip: ClipLandmarks, params: LandmarkParams, idf: Float32Array, mean?: Float32Array, buckets: Bucketer[] = hypothesisBucketers(params)): FeatureWindows {
  if (buckets.length === 1) return windowsFromLandmarks(clip, params, idf, mean, buckets[0]);
  const each = buckets.map((b) => windowsFromLandmarks(clip, params, idf, mean, b));
  const d = params.d;
  const vectors = each[0].vectors.map((_, i) => {
    const v = new Float32Array(buckets.length * d);
    each.forEach((w, h) => v.set(w.vectors[i], h * d));
    return v;
  });
  return { dim: d, vectors, startSeconds: each[0].startSeconds };
}

/**
 * The kind's entry point for queries: 22050 Hz mono PCM → feature windows, weighted with the catalogue's
 * idf (per-feature scale) and, unless featureNorm is 'idf', centred on the catalogue's mean. The window
 * grid starts `leadSamples` into the PCM (a slice that starts on the frame grid, before the windows' grid).
 */
export function landmarkWindows(pcm22050: Float32Array, params: LandmarkParams, idf: Float32Array, mean?: Float32Array, leadSamples = 0): FeatureWindows {
  const clip = queryLandmarks(pcm22050, params);
  const lead = leadSamples / LANDMARK_INPUT_SAMPLE_RATE;
  return hypothesisWindows({ ...clip, originSeconds: lead, durationSeconds: clip.durationSeconds - lead }, params, idf, mean);
}

/**
 * The landmark kind bound to a catalogue's parameters and idf. Blockwise: a window is the sum of its 0.5 s
 * blocks' landmark counts, so a live windower can count each block's landmarks as its audio (and context)
 * arrives and only sum and weight them when the window's last block is in.
 */
export function landmarkExtractor(params: LandmarkParams, idf: Float32Array): FeatureExtractor {
  const buckets = hypothesisBucketers(params);
  const K = buckets.length;
  const d = params.d;
  const blockSamples = Math.round(LANDMARK_BLOCK_SECONDS * LANDMARK_INPUT_SAMPLE_RATE);
  return {
    kind: 'landmark',
    dim: params.d,
    hypotheses: K,
    probes: landmarkProbes(params),
    sampleRate: LANDMARK_INPUT_SAMPLE_RATE,
    windowSeconds: params.windowSeconds,
    hopSeconds: params.hopSeconds,
    contextSeconds: landmarkContextSeconds(params),
    frameSamples: LANDMARK_FRAME_SAMPLES,
    windows: (pcm, lead) => landmarkWindows(pcm, params, idf, undefined, lead),
    blockwise: {
      blockSamples,
      leadContextSeconds: landmarkLeadContextSeconds(params),
      blockFeatures: (pcm, leadSamples, blocks) => blockwiseLandmarks(pcm, leadSamples, blocks, false).features,
      window(blocks) {
        if (params.featureNorm !== 'idf') throw new RangeError(`featureNorm '${params.featureNorm}' needs the catalogue mean`);
        const v = new Float32Array(K * d);
        for (const b of blocks) for (let i = 0; i < b.length; i++) v[b[i]] += 1;
        for (let h = 0; h < K; h++) weightAndNormalise(v.subarray(h * d, (h + 1) * d), idf);
        return v;
      },
      landmarks: {
        blockFeatures: (pcm, leadSamples, blocks) => {
          const r = blockwiseLandmarks(pcm, leadSamples, blocks, true);
          return { features: r.features, landmarks: r.landmarks! };
        },
        window(blocks) {
          // A block's words hold code << 11 | its start offset in 1/64 frames; a window's, code << 11 | frame.
          const out: number[] = [];
          blocks.forEach((b, i) => {
            const base = (i * LANDMARK_BLOCK_SECONDS) / FRAME_SECONDS;
            for (const w of b) out.push(((w >>> 11) << 11 | Math.round(base + (w & 2047) / 64)) >>> 0);
          });
          return Uint32Array.from(out);
        },
      },
    },
  };

  /** Block features of `blocks` blocks from `leadSamples` into `pcm`, and with `keep` each block's landmarks. */
  function blockwiseLandmarks(pcm: Float32Array, leadSamples: number, blocks: number, keep: boolean): { features: Int32Array[]; landmarks?: Uint32Array[] } {
    const { time, code } = queryLandmarks(pcm, params).landmarks;
    // The same block of each anchor as blockCounts gives a clip whose grid starts `leadSamples` in.
    const origin = leadSamples / LANDMARK_INPUT_SAMPLE_RATE;
    const lists: number[][] = Array.from({ length: blocks }, () => []);
    const marks: number[][] = Array.from({ length: keep ? blocks : 0 }, () => []);
    for (let i = 0; i < code.length; i++) {
      const t = time[i] * FRAME_SECONDS - origin;
      if (t < 0) continue;
      const b = Math.floor(t / LANDMARK_BLOCK_SECONDS);
      if (b >= blocks) continue;
      // Hypothesis h's bucket k is feature h·d + k of the stacked window.
      for (let h = 0; h < K; h++) lists[b].push(h * d + buckets[h](code[i]));
      if (keep && code[i] < 2 ** 21) marks[b].push(((code[i] << 11) | Math.round(((t - b * LANDMARK_BLOCK_SECONDS) / FRAME_SECONDS) * 64)) >>> 0);
    }
    return { features: lists.map((l) => Int32Array.from(l)), ...(keep ? { landmarks: marks.map((m) => Uint32Array.from(m)) } : {}) };
  }
}

/** Seconds of audio each window actually covers (the last ones may be cut by the clip's end). */
export function windowLengths(windows: FeatureWindows, durationSeconds: number, windowSeconds: number): number[] {
  return windows.startSeconds.map((s) => Math.max(LANDMARK_BLOCK_SECONDS, Math.min(windowSeconds, durationSeconds - s)));
}
