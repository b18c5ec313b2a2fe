/**
 * Threshold calibration at enrolment (landmark kind). Excerpts are cut from the catalogue's own tracks
 * (random offsets, some with white noise); each is decided with its own track masked out, which makes it
 * an impostor: a song the catalogue does not hold. The threshold is the confidence that impostors exceed
 * with probability targetFalseAccept: either their empirical quantile or (default) an exponential tail fitted
 * between their median and 90th percentile. On top of it each track gets its own threshold, the highest
 * impostor confidence that named it (scaled). Game packages hold near-duplicate tracks (renamed copies, variants);
 * a track voting nearly as much as the excerpt's own track is masked with it. Negatives (never-enrolled songs) are for evaluation only, never here.
 */
import type { LandmarkParams } from '../../schemas/feature-landmark.js';
import { decideLandmarkVote, type SegmentHubStats } from './landmark-vote.js';
import type { Segment } from './segment-templates.js';

/** A calibration excerpt after scoring: per-window scores and window starts, and the true track. */
export interface ScoredExcerpt {
  scores: ArrayLike<number>[];
  windowStartSeconds: number[];
  clipSeconds: number;
  track: number;
}

export interface Calibration {
  threshold: number;
  /** The (1 − targetFalseAccept) quantile of the impostor confidences, and the exponential-tail estimate. */
  empiricalThreshold: number;
  tailThreshold: number;
  targetFalseAccept: number;
  impostor: { n: number; mean: number; p50: number; p95: number; max: number };
  /** Unmasked decisions on the same excerpts: how many find their track, how many pass the threshold. */
  genuine: { n: number; correct: number; acceptedCorrect: number };
  /** Tracks found to be near-duplicates of each other ([track, ...its duplicates]). */
  nearDuplicates: number[][];
  /**
   * Per catalogue track: the confidence an answer naming it must reach, the larger of the threshold and
   * trackThresholdScale × the highest confidence of an impostor trial that named it.
   */
  trackThresholds: number[];
  /** The highest impostor trials: which track the masked excerpt was mistaken for (diagnostics). */
  worstImpostors: { excerpt: number; track: number; mistakenFor: number; confidence: number }[];
}

/** Another track voting at least this fraction of the own track's vote on an excerpt is a near-duplicate. */
export const DUPLICATE_VOTE_RATIO = 0.5;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export function calibrateThreshold(
  excerpts: ScoredExcerpt[],
  segments: Segment[],
  params: Pick<LandmarkParams, 'topK' | 'zMin' | 'windowSeconds' | 'targetFalseAccept' | 'voteKernel' | 'thresholdMethod' | 'confidence' | 'trackThresholdScale'>,
  hub?: SegmentHubStats,
): Calibration {
  const p = { ...params, threshold: -Infinity };
  const imp: number[] = [];
  const trials: { excerpt: number; track: number; mistakenFor: number; confidence: number }[] = [];
  const gen: { conf: number; ok: boolean }[] = [];
  // pass 1: unmasked decisions; near-duplicates (another track voting ≥ DUPLICATE_VOTE_RATIO of the
  // own track's vote on any excerpt the own track wins) are pooled per track and made symmetric.
  const dups = new Map<number, Set<number>>();
  const link = (a: number, b: number) => {
    if (!dups.has(a)) dups.set(a, new Set());
    dups.get(a)!.add(b);
  };
  const opts = (e: ScoredExcerpt) => ({ clipSeconds: e.clipSeconds, hub });
  for (const e of excerpts) {
    const g = decideLandmarkVote(e.scores, e.windowStartSeconds, segments, p, opts(e));
    gen.push({ conf: g.confidence, ok: g.bestTrack === e.track });
    if (g.bestTrack === e.track && g.ranking.length > 0) {
      const own = g.ranking[0].vote;
      for (const r of g.ranking.slice(1)) if (r.vote >= DUPLICATE_VOTE_RATIO * own) { link(e.track, r.track); link(r.track, e.track); }
    }
  }
  // pass 2: impostor trials, the excerpt's track and its near-duplicates masked
  for (const [k, e] of excerpts.entries()) {
    const mask = [e.track, ...(dups.get(e.track) ?? [])];
    const i = decideLandmarkVote(e.scores, e.windowStartSeconds, segments, p, { ...opts(e), maskTracks: mask });
    imp.push(i.confidence);
    trials.push({ excerpt: k, track: e.track, mistakenFor: i.bestTrack, confidence: i.confidence });
  }
  const sorted = [...imp].sort((a, b) => a - b);
  const empirical = quantile(sorted, 1 - params.targetFalseAccept);
  // Exponential tail fitted between the median and the 90th percentile: P(X > x) = ½·exp(−(x − p50)/s).
  // Robust to the top few trials, which on game music are near-copies inside the catalogue (genuine
  // matches that the duplicate rule missed) rather than impostors.
  const p50 = quantile(sorted, 0.5);
  const p90 = quantile(sorted, 0.9);
  const scale = Math.max((p90 - p50) / Math.log(5), 1e-6);
  const tail = p50 + scale * Math.log(0.5 / Math.min(0.5, params.targetFalseAccept));
  const threshold = params.thresholdMethod === 'empirical' ? empirical : tail;
  const mean = imp.reduce((a, v) => a + v, 0) / Math.max(1, imp.length);
  // Some tracks attract impostors (noisy excerpts of other songs land on them with large margins): an
  // answer naming such a track must beat what its impostors reached at enrolment.
  const tracks = segments.reduce((a, sg) => Math.max(a, sg.track + 1), 0);
  const trackThresholds = new Array<number>(tracks).fill(threshold);
  for (const t of trials) {
    trackThresholds[t.mistakenFor] = Math.max(trackThresholds[t.mistakenFor], params.trackThresholdScale * t.confidence);
  }
  return {
    threshold,
    empiricalThreshold: empirical,
    tailThreshold: tail,
    targetFalseAccept: params.targetFalseAccept,
    impostor: { n: imp.length, mean, p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted[sorted.length - 1] ?? 0 },
    genuine: {
      n: gen.length,
      correct: gen.filter((g) => g.ok).length,
      acceptedCorrect: gen.filter((g) => g.ok && g.conf >= threshold).length,
    },
    trackThresholds,
    nearDuplicates: [...dups].filter(([, b]) => b.size > 0).map(([a, b]) => [a, ...b]),
    worstImpostors: trials.sort((a, b) => b.confidence - a.confidence).slice(0, 10),
  };
}

/** Small seeded PRNG (mulberry32): excerpts and noise are repeatable from a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Level in dBFS of the RMS of x. */
export function rmsDbfs(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return 10 * Math.log10(s / Math.max(1, x.length) + 1e-20);
}

/**
 * A random excerpt of `seconds` from pcm (any offset), redrawn while its RMS is below minDbfs (silence is
 * not a query). Returns null when the track is too short or no loud excerpt was found in `tries`.
 */
export function drawExcerpt(
  pcm: Float32Array, sampleRate: number, seconds: number, rand: () => number, minDbfs = -45, tries = 30,
): { pcm: Float32Array; startSeconds: number } | null {
  const n = Math.round(seconds * sampleRate);
  if (pcm.length < n) return null;
  for (let i = 0; i < tries; i++) {
    const off = Math.floor(rand() * (pcm.length - n + 1));
    const x = pcm.subarray(off, off + n);
    if (rmsDbfs(x) >= minDbfs) return { pcm: Float32Array.from(x), startSeconds: off / sampleRate };
  }
  return null;
}

/** Adds white Gaussian noise at the given SNR (dB, relative to the excerpt's own power). */
export function addWhiteNoise(x: Float32Array, snrDb: number, rand: () => number): Float32Array {
  let p = 0;
  for (let i = 0; i < x.length; i++) p += x[i] * x[i];
  p = p / Math.max(1, x.length) || 1e-9;
  const sigma = Math.sqrt(p / 10 ** (snrDb / 10));
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = sigma * Math.sqrt(-2 * Math.log(u));
    out[i] = x[i] + r * Math.cos(2 * Math.PI * v);
    if (i + 1 < x.length) out[i + 1] = x[i + 1] + r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/**
 * Pink (1/f) Gaussian noise, `n` samples: white noise through Paul Kellet's three-pole approximation of a
 * −3 dB/octave filter (mix it at an SNR with eval/distortions.ts's mixAtSnr).
 */
export function pinkNoise(n: number, rand: () => number): Float32Array {
  const noise = new Float32Array(n);
  let b0 = 0;
  let b1 = 0;
  let b2 = 0;
  for (let i = 0; i < n; i++) {
    const w = Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
    b0 = 0.99765 * b0 + w * 0.099046;
    b1 = 0.963 * b1 + w * 0.2965164;
    b2 = 0.57 * b2 + w * 1.0526913;
    noise[i] = b0 + b1 + b2 + w * 0.1848;
  }
  return noise;
}
