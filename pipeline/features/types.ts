/**
 * What every feature kind produces from a clip of PCM: one vector per window on a fixed grid
 * (window k starts at k * hopSeconds from the clip start). The encrypted part scores each vector
 * against the catalogue's linear model; nothing else of the features leaves the client.
 */
export interface FeatureWindows {
  /** Feature dimension d (the model's). */
  dim: number;
  /**
   * One vector per window: d floats, or with K query hypotheses (e.g. landmark speed hypotheses) K·d,
   * the hypotheses' d-vectors stacked; each is scored on its own and a class keeps its best score.
   */
  vectors: Float32Array[];
  /** Start of each window in seconds from the clip start. */
  startSeconds: number[];
}

/** A linear catalogue model: scores = W · x + b, C classes × d features, W row-major. */
export interface LinearModel {
  classes: number;
  dim: number;
  weights: Float32Array;
  bias: Float32Array;
}

/** The client's answer for one query or one stretch of a stream, after decryption. */
export interface Decision {
  /** Index into the catalogue's tracks, or null for "unknown". */
  track: number | null;
  /** Best track even when rejected, for diagnostics and top-k reports. */
  bestTrack: number;
  confidence: number;
  /** Where in the track the query's first window starts, in seconds. */
  offsetSeconds: number;
  /** Runner-up tracks with their raw vote, best first (top-3 reports). */
  ranking: { track: number; vote: number }[];
  /**
   * The position query's alignment of the query against the best track's records (pipeline/model/position.ts),
   * where one was made: its z-score over chance, whether the answer is a track or "unknown".
   */
  position?: {
    z: number; hits: number; speed: number;
    /** The scores' answer before the alignment checked it. */
    scoreTrack?: number | null;
    /**
     * Each candidate track's best alignment, the speed hypothesis it was found at, its hits and the query's
     * landmarks under that hypothesis; best (by decisionZ) first.
     */
    tracks?: { track: number; z: number; speed: number; hits: number; landmarks: number }[];
  };
}

/** A window vector's hypotheses (views of its d-slices). */
export function hypothesisSlices(v: Float32Array, d: number): Float32Array[] {
  if (v.length % d !== 0 || v.length === 0) throw new RangeError(`a window of ${v.length} features is not a whole number of ${d}-vectors`);
  return Array.from({ length: v.length / d }, (_, h) => v.subarray(h * d, (h + 1) * d));
}

/**
 * Scores of K hypotheses per window (window i's at i·K … i·K + K − 1) → one score vector per window, each
 * class's best over the hypotheses. K = 1 returns the input.
 */
export function bestOverHypotheses(scores: Float64Array[], K: number): Float64Array[] {
  if (K === 1) return scores;
  if (scores.length % K !== 0) throw new RangeError(`${scores.length} score vectors are not whole windows of ${K} hypotheses`);
  const out: Float64Array[] = [];
  for (let i = 0; i < scores.length; i += K) {
    const best = Float64Array.from(scores[i]);
    for (let h = 1; h < K; h++) {
      const s = scores[i + h];
      for (let c = 0; c < best.length; c++) if (s[c] > best[c]) best[c] = s[c];
    }
    out.push(best);
  }
  return out;
}
