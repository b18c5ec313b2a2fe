/**
 * The quality / server-cost front (`npm run bench -- --front`, bench/front.ts): which operating points
 * it measures, what the acceptance harness reports for each, and the point it writes to
 * bench/results/front.json (an array of FrontPoint). Rates are fractions in [0, 1].
 */
import { z } from 'zod';
import { EnrollKind } from './config.js';

const rate = z.number().min(0).max(1);
const count = z.number().int().nonnegative();
const seconds = z.number().nonnegative();

/** One operating point to measure: the enrolment options, passed as BLINDEAR_ENROLL_* to the harness's `blindear enroll`. */
export const FrontPointConfig = z.object({
  name: z.string().min(1),
  /** A short name for the chart's legend (its margin fits about 20 characters with the number). */
  label: z.string().min(1).max(18),
  kind: EnrollKind,
  /** Feature parameters over the kind's defaults (BLINDEAR_ENROLL_PARAMS). */
  params: z.record(z.string(), z.unknown()).default({}),
  /** Encryption parameters over heParamsFor's choice (BLINDEAR_ENROLL_HE). */
  he: z.record(z.string(), z.unknown()).default({}),
  /** How the catalogue's queries are scored (BLINDEAR_ENROLL_SCHEME). */
  scheme: z.enum(['ckks', 'lwe']).default('ckks'),
});
export type FrontPointConfig = z.infer<typeof FrontPointConfig>;
export type FrontPointConfigInput = z.input<typeof FrontPointConfig>;

/** One condition row of ../shared/eval/eval-cli.py's --out report, as it writes it. */
export const EvalCliRow = z.object({
  n: count,
  correct: count,
  unknown: count,
  wrong: count,
  missing: count,
  /** |answered offset − true offset| of each right answer, seconds. */
  offset_err: z.array(z.number()),
});
export type EvalCliRow = z.infer<typeof EvalCliRow>;

/** ../shared/eval/eval-cli.py's --out report. */
export const EvalCliReport = z.object({
  enroll_s: seconds,
  identify_s: seconds,
  rows: z.record(z.string(), EvalCliRow),
});
export type EvalCliReport = z.infer<typeof EvalCliReport>;

/** One condition of a point: counts as the harness gives them, plus the rates derived from them. */
export const FrontCondition = z.object({
  condition: z.string(),
  n: count,
  correct: count,
  unknown: count,
  wrong: count,
  missing: count,
  /** Right track (negatives: "unknown") / n. */
  rate,
  /** Share of the right answers whose offset is within ±2 s; null without right answers (negatives). */
  offsetWithin2s: rate.nullable(),
});
export type FrontCondition = z.infer<typeof FrontCondition>;

/** The node-seal parameters a point's catalogue was enrolled with. */
export const FrontHe = z.object({
  polyModulusDegree: z.number().int().positive(),
  coeffModulusBits: z.array(z.number().int().positive()),
  scaleBits: z.number().int().positive(),
  weightScaleBits: z.number().int().positive(),
});
export type FrontHe = z.infer<typeof FrontHe>;

export const FrontPoint = z.object({
  name: z.string().min(1),
  featureKind: EnrollKind,
  /** Feature dimension and catalogue classes (rows of W) of the enrolled model. */
  d: z.number().int().positive(),
  classes: z.number().int().positive(),
  windowSeconds: z.number().positive(),
  hopSeconds: z.number().positive(),
  /** Landmark catalogue segments (null for mfcc-sum: one class per track). */
  segmentSeconds: z.number().positive().nullable(),
  segmentHopSeconds: z.number().positive().nullable(),

  // Quality, through the CLI (eval-cli.py), fractions of the queries of each condition.
  top1Clean10s: rate,
  top1At20dB: rate,
  top1At10dB: rate,
  top1Mp3At20dB: rate,
  top1Clean5s: rate,
  top1At0dB5s: rate,
  /** Never-enrolled 10 s excerpts answered "unknown". */
  unknownRejected: rate,
  /** Known-track queries answered with another track (all conditions), and negatives answered with a track. */
  wrongAnswers: count,
  falseAccepts: count,
  /** Right answers with the offset within ±2 s: 10 s clean, and over every condition. */
  offsetWithin2sClean10s: rate.nullable(),
  offsetWithin2sAll: rate.nullable(),
  conditions: z.array(FrontCondition),

  // Server cost of the same catalogue, on real query ciphertexts (one core, main-thread CPU).
  layout: z.string(),
  /** Windows a query ciphertext can hold, and windows a stream packs per query. */
  windowsPerCiphertext: z.number().int().positive(),
  windowsPerQuery: z.number().int().positive(),
  queriesPerAudioSecond: z.number().positive(),
  serverMsPerQuery: z.number().nonnegative(),
  serverWallMsPerQuery: z.number().nonnegative(),
  serverMsPerAudioSecond: z.number().nonnegative(),
  streamsPerCore: z.number().nonnegative(),
  queryBytes: count,
  resultBytesPerQuery: count,
  /** Serialised query + result bytes per second of streamed audio. */
  bytesPerAudioSecond: z.number().nonnegative(),
  /** client.publicMaterial(): the Galois keys sent once per session (LWE: a marker). */
  keyBytesPerSession: count,
  /** How queries are scored; LWE catalogues' clients download the catalogue's hint once per catalogue version. */
  scheme: z.enum(['ckks', 'lwe']).default('ckks'),
  hintBytes: count.default(0),
  /** Decrypted argmax = clear W·x + b argmax, over the timed windows ("k/n"). */
  heArgmaxAgree: z.string(),
  cores: z.number().int().positive(),
  he: FrontHe,

  // How it was measured.
  enrolSeconds: seconds,
  identifySeconds: seconds,
  queries: count,
  identifyMsPerQuery: z.number().nonnegative(),
  timingSeconds: seconds,
  pointSeconds: seconds,
  music: z.string(),
  tracks: count,
  perCondition: count,
  negatives: count,
  seed: z.number().int(),
  mode: z.enum(['full', 'quick']),
  measuredAt: z.string(),
  config: FrontPointConfig,
});
export type FrontPoint = z.infer<typeof FrontPoint>;

/** bench/results/front.json. */
export const FrontReport = z.array(FrontPoint);
export type FrontReport = z.infer<typeof FrontReport>;
