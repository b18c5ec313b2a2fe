/**
 * The client's decision after decryption (landmark kind). Per window: z-normalise the C segment scores;
 * the top K segments vote, weight max(z − zMin, 0), for the query start offsets at which the window
 * overlaps the segment (kernel 'box': only where the overlap is maximal; 'overlap': weighted by
 * sqrt(overlap fraction), which locates the offset inside segments longer than the window); votes add across windows (time consistency, as Shazam's offset
 * histogram). Answer = best (track, offset) bin; confidence = its vote minus the best vote of any other
 * track, per √windows ('margin'), times (1 − other / best)² ('sharp'); unknown below the threshold. A looping track may win at any of its repeats: the
 * margin is only over other tracks.
 */
import { LANDMARK_BLOCK_SECONDS, type LandmarkParams } from '../../schemas/feature-landmark.js';
import type { Decision } from '../features/types.js';
import type { Segment } from './segment-templates.js';

export interface VoteOptions {
  /** Clip length: windows cut short by the clip's end overlap less of a segment. */
  clipSeconds?: number;
  /** Scores of these tracks' segments are ignored (impostor trials at calibration). */
  maskTracks?: readonly number[];
  /**
   * Per-segment mean and std of scores over query-like windows of other tracks (hubness): scores become
   * (s − mean) / std before the per-window z-scores, so segments that match everything stop voting.
   */
  hub?: SegmentHubStats;
  /** Per track: the confidence an answer naming it must reach (besides params.threshold). */
  trackThresholds?: ArrayLike<number>;
}

export interface SegmentHubStats {
  mean: Float32Array;
  std: Float32Array;
}

const BLOCK = LANDMARK_BLOCK_SECONDS;
/** Offsets whose vote is at least this fraction of the best track's best vote are candidates for the fit. */
const OFFSET_CANDIDATE = 0.5;

export function decideLandmarkVote(
  scores: ArrayLike<number>[],
  windowStartSeconds: number[],
  segments: Segment[],
  params: Pick<LandmarkParams, 'topK' | 'zMin' | 'threshold' | 'windowSeconds' | 'voteKernel' | 'confidence'>,
  opts: VoteOptions = {},
): Decision {
  const C = segments.length;
  if (scores.length !== windowStartSeconds.length) throw new RangeError('one start time per score vector expected');
  let tracks = 0;
  const durations: number[] = [];
  for (const s of segments) {
    tracks = Math.max(tracks, s.track + 1);
    durations[s.track] = Math.max(durations[s.track] ?? 0, s.endSeconds);
  }
  const winLen = windowStartSeconds.map((q) =>
    opts.clipSeconds === undefined ? params.windowSeconds : Math.max(BLOCK, Math.min(params.windowSeconds, opts.clipSeconds - q)));
  const pad = Math.max(...winLen, params.windowSeconds) + BLOCK;
  const base: number[] = [];
  const nbins: number[] = [];
  let total = 0;
  for (let t = 0; t < tracks; t++) {
    base.push(total);
    const n = Math.ceil(((durations[t] ?? 0) + 2 * pad) / BLOCK) + 2;
    nbins.push(n);
    total += n;
  }
  const acc = new Float64Array(total + 1);
  /** Votes added bin by bin (overlap kernel), as opposed to `acc`, a difference array (box kernel). */
  const dense = new Float64Array(total + 1);
  const K = Math.min(params.topK, C);
  const topIdx = new Int32Array(K);
  const topVal = new Float64Array(K);

  const hub = opts.hub;
  const masked = new Uint8Array(C);
  if (opts.maskTracks?.length) {
    const m = new Set(opts.maskTracks);
    for (let c = 0; c < C; c++) if (m.has(segments[c].track)) masked[c] = 1;
  }
  if (hub && (hub.mean.length !== C || hub.std.length !== C)) throw new RangeError('hub statistics do not match the catalogue');
  scores.forEach((raw, j) => {
    if (raw.length !== C) throw new RangeError(`window ${j} has ${raw.length} scores, catalogue has ${C} segments`);
    let s: ArrayLike<number> = raw;
    if (hub) {
      const h = new Float64Array(C);
      for (let c = 0; c < C; c++) h[c] = (raw[c] - hub.mean[c]) / hub.std[c];
      s = h;
    }
    let n = 0;
    let sum = 0;
    let sum2 = 0;
    for (let c = 0; c < C; c++) {
      if (masked[c]) continue;
      const v = s[c];
      sum += v;
      sum2 += v * v;
      n++;
    }
    if (n < 2) return;
    const mu = sum / n;
    const sd = Math.sqrt(Math.max(0, sum2 / n - mu * mu)) + 1e-9;
    // top K by score (insertion into a small sorted buffer)
    let filled = 0;
    for (let c = 0; c < C; c++) {
      if (masked[c]) continue;
      const v = s[c];
      if (filled === K && v <= topVal[K - 1]) continue;
      let p = filled < K ? filled++ : K - 1;
      while (p > 0 && topVal[p - 1] < v) {
        topVal[p] = topVal[p - 1];
        topIdx[p] = topIdx[p - 1];
        p--;
      }
      topVal[p] = v;
      topIdx[p] = c;
    }
    const q = windowStartSeconds[j];
    const w = winLen[j];
    for (let i = 0; i < filled; i++) {
      const wgt = (topVal[i] - mu) / sd - params.zMin;
      if (!(wgt > 0)) break;
      const seg = segments[topIdx[i]];
      const L = seg.endSeconds - seg.startSeconds;
      const lo = seg.startSeconds - q + Math.min(0, L - w);
      const hi = Math.max(seg.startSeconds - q + Math.max(0, L - w), lo + BLOCK);
      if (params.voteKernel === 'box') {
        const b0 = Math.max(0, Math.floor((lo + pad) / BLOCK + 1e-9));
        const b1 = Math.min(nbins[seg.track], Math.ceil((hi + pad) / BLOCK - 1e-9));
        if (b1 <= b0) continue;
        acc[base[seg.track] + b0] += wgt;
        acc[base[seg.track] + b1] -= wgt;
      } else {
        // weight × sqrt(overlap of window and segment / the shorter of the two), at each bin's offset:
        // neighbouring segments' partial overlaps then locate the offset inside a long segment.
        const from = seg.startSeconds - q - w;
        const to = seg.endSeconds - q;
        const b0 = Math.max(0, Math.floor((from + pad) / BLOCK));
        const b1 = Math.min(nbins[seg.track] - 1, Math.ceil((to + pad) / BLOCK));
        const norm = Math.max(BLOCK, Math.min(w, L));
        for (let b = b0; b < b1; b++) {
          const o = b * BLOCK - pad + q;
          const ov = Math.min(o + w, seg.endSeconds) - Math.max(o, seg.startSeconds);
          if (ov > 0) dense[base[seg.track] + b] += wgt * Math.sqrt(Math.min(1, ov / norm));
        }
      }
    }
  });

  // prefix sums per track (the difference array never crosses a track's range)
  const trackBest = new Float64Array(tracks);
  const trackArg = new Int32Array(tracks);
  for (let t = 0; t < tracks; t++) {
    let run = 0;
    let best = -1;
    for (let b = 0; b < nbins[t]; b++) {
      run += acc[base[t] + b];
      const v = run + dense[base[t] + b];
      acc[base[t] + b] = v;
      if (v > best + 1e-12) {
        best = v;
        trackArg[t] = b;
      }
    }
    trackBest[t] = Math.max(0, best);
  }
  const order = Array.from({ length: tracks }, (_, t) => t).sort((a, b) => trackBest[b] - trackBest[a]);
  const top = order[0] ?? 0;
  const best = trackBest[top] ?? 0;
  const other = order.length > 1 ? trackBest[order[1]] : 0;
  // 'sharp': the margin shrinks by (1 − other/best)², so a query whose best track wins by much in
  // absolute votes but little relatively (noisy queries drawn to tracks that match anything) is doubted.
  const margin = (best - other) / Math.sqrt(Math.max(1, scores.length));
  const confidence = params.confidence === 'sharp' && best > 0 ? margin * (1 - other / best) ** 2 : margin;
  let offsetSeconds = 0;
  if (best > 0) {
    const row = acc.subarray(base[top], base[top] + nbins[top]);
    offsetSeconds = fitOffset(row, best, pad, scores, windowStartSeconds, winLen, segments, top);
    offsetSeconds = Math.min(Math.max(0, offsetSeconds), durations[top] ?? 0);
  }
  const ranking = order.slice(0, 5).filter((t) => trackBest[t] > 0).map((t) => ({ track: t, vote: trackBest[t] }));
  return {
    track: best > 0 && confidence >= Math.max(params.threshold, opts.trackThresholds?.[top] ?? -Infinity) ? top : null,
    bestTrack: top,
    confidence,
    offsetSeconds,
    ranking,
  };
}

/**
 * The query's offset in the winning track. Votes are flat wherever a window lies wholly inside a segment
 * (segments are longer than windows), so the vote curve alone only places the query within a segment.
 * A segment's cosine score grows with the share of the window it overlaps, though: for each candidate
 * offset (bins voting ≥ OFFSET_CANDIDATE of the best) predict every window's overlap fraction with each
 * of the track's segments and keep the offset whose prediction correlates best with the scores; equal
 * fits are resolved by their centre.
 */
function fitOffset(
  row: Float64Array, best: number, pad: number, scores: ArrayLike<number>[], starts: number[], winLen: number[],
  segments: Segment[], track: number,
): number {
  const own: number[] = [];
  segments.forEach((seg, c) => { if (seg.track === track) own.push(c); });
  const floor = best * OFFSET_CANDIDATE - 1e-9;
  const n = own.length;
  const x = new Float64Array(n);
  let bestFit = -Infinity;
  let fitFrom = -1;
  let fitTo = -1;
  for (let b = 0; b < row.length; b++) {
    if (row[b] < floor) continue;
    const o = b * BLOCK - pad;
    let fit = 0;
    for (let j = 0; j < scores.length; j++) {
      const q0 = o + starts[j];
      const q1 = q0 + winLen[j];
      let sx = 0;
      let sy = 0;
      for (let i = 0; i < n; i++) {
        const seg = segments[own[i]];
        x[i] = Math.max(0, Math.min(q1, seg.endSeconds) - Math.max(q0, seg.startSeconds)) / winLen[j];
        sx += x[i];
        sy += scores[j][own[i]];
      }
      const mx = sx / n;
      const my = sy / n;
      let sxy = 0;
      let sxx = 0;
      for (let i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (scores[j][own[i]] - my);
        sxx += (x[i] - mx) ** 2;
      }
      // Covariance over √variance of the prediction: a correlation without the per-window score spread,
      // so windows that hear more of the track weigh more.
      if (sxx > 1e-12) fit += sxy / Math.sqrt(sxx);
    }
    if (fit > bestFit + 1e-9) {
      bestFit = fit;
      fitFrom = fitTo = b;
    } else if (fit > bestFit - 1e-9 && fitTo === b - 1) {
      fitTo = b;
    }
  }
  return fitFrom < 0 ? 0 : ((fitFrom + fitTo) / 2) * BLOCK - pad;
}
