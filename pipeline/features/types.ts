/**
 * What every feature kind produces from a clip of PCM: one vector per window on a fixed grid
 * (window k starts at k * hopSeconds from the clip start). The encrypted part scores each vector
 * against the catalogue's linear model; nothing else of the features leaves the client.
 */
export interface FeatureWindows {
  /** Feature dimension d: every vector has this length. */
  dim: number;
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
}
