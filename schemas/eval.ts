/**
 * The recognition-quality evaluation (`blindear eval`, DESIGN.md §5): the query conditions it measures
 * and the report it writes (`eval.json`). Every figure of the report can be recomputed from its
 * `queries`, and every query can be drawn again from the seeds it records.
 */
import { z } from 'zod';
import { HeParams, LweParams } from './he.js';

/** What is done to a query excerpt before it is identified. */
export const Distortion = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('clean') }),
  /** White Gaussian noise at this SNR relative to the excerpt's own power. */
  z.object({ kind: z.literal('white'), snrDb: z.number() }),
  /** A mix of several never-enrolled tracks ("babble", a pub's background music) at this SNR. */
  z.object({ kind: z.literal('babble'), snrDb: z.number() }),
  /** Lossy re-encode and decode back. */
  z.object({ kind: z.literal('codec'), codec: z.enum(['mp3', 'opus']), bitrateKbps: z.number().int().min(8).max(320) }),
  /** Played faster (percent > 0) or slower by resampling: tempo and pitch change together, as a sped-up broadcast. */
  z.object({ kind: z.literal('speed'), percent: z.number().min(-20).max(20) }),
  /** Tempo changed by this percent with the pitch kept (WSOLA time stretch), as a DJ's tempo control. */
  z.object({ kind: z.literal('tempo'), percent: z.number().min(-20).max(20) }),
  /** A voice talking over the music (synthetic speech, espeak-ng) at this music-to-voice ratio in dB. */
  z.object({ kind: z.literal('speech'), snrDb: z.number() }),
  /** Telephone band-pass 300–3400 Hz. */
  z.object({ kind: z.literal('bandpass') }),
  /** Telephone band-pass, then G.711 μ-law at 8 kHz and back. */
  z.object({ kind: z.literal('telephone') }),
  /** Level change in dB; samples beyond full scale are clipped. */
  z.object({ kind: z.literal('gain'), db: z.number().min(-60).max(40) }),
]);
export type Distortion = z.infer<typeof Distortion>;

export const EvalCondition = z.object({
  /** e.g. `10s-white-10dB`; parsed from and formatted to by pipeline/eval/conditions.ts. */
  name: z.string(),
  seconds: z.number().positive(),
  distortion: Distortion,
});
export type EvalCondition = z.infer<typeof EvalCondition>;

/** One decision as the report keeps it: catalogue track indices, null for "unknown". */
export const EvalAnswer = z.object({
  track: z.number().int().nonnegative().nullable(),
  /** Best track even when the answer is unknown. */
  bestTrack: z.number().int().nonnegative(),
  confidence: z.number(),
  offsetSeconds: z.number(),
  /** The decision's ranking (before the unknown threshold), best first, at most 3. */
  top3: z.array(z.number().int().nonnegative()).max(3),
  /** The position query's alignment of the query with the best track's records, in standard deviations over chance. */
  positionZ: z.number().optional(),
  /** The scores' answer before the position query checked it (null: "unknown"). */
  scoreTrack: z.number().int().nonnegative().nullable().optional(),
  /** Each candidate track's best alignment (z over chance), the speed hypothesis it was found at, its hits and the query's landmarks under that hypothesis, best first. */
  positionTracks: z.array(z.object({
    track: z.number().int().nonnegative(), z: z.number(), speed: z.number().positive().optional(),
    hits: z.number().int().nonnegative().optional(), landmarks: z.number().int().nonnegative().optional(),
  })).max(8).optional(),
});
export type EvalAnswer = z.infer<typeof EvalAnswer>;

export const EvalQuery = z.object({
  condition: z.string(),
  /** Catalogue track index of the excerpt, or null for a never-enrolled track. */
  truth: z.number().int().nonnegative().nullable(),
  /** Where the excerpt was taken: a catalogue path, or a path under the negatives folder. */
  source: z.string(),
  startSeconds: z.number().nonnegative(),
  /** The answer through encryption (the product's path) and the clear-text scorer's answer. */
  encrypted: EvalAnswer,
  plain: EvalAnswer,
  windows: z.number().int().nonnegative(),
  /** Server-side scoring time of the query's ciphertexts, wall-clock ms (on a shared machine it includes waiting for a core). */
  serverMs: z.number().nonnegative(),
});
export type EvalQuery = z.infer<typeof EvalQuery>;

const rate = z.number().min(0).max(1).nullable();

/** Counts over one condition's queries, taken from the encrypted answers. */
export const ConditionSummary = z.object({
  name: z.string(),
  seconds: z.number(),
  n: z.number().int().nonnegative(),
  /** Accepted and right. */
  top1: z.number().int().nonnegative(),
  /** The right track within the ranking's first 3, before the threshold. */
  top3: z.number().int().nonnegative(),
  /** Answered unknown: for known excerpts these are the false rejects. */
  unknown: z.number().int().nonnegative(),
  /** Of the unknown answers, those whose best-ranked track was right (the threshold turned them down). */
  rejectedRight: z.number().int().nonnegative(),
  /** Accepted and not the excerpt's track (for never-enrolled excerpts: false accepts). */
  wrong: z.number().int().nonnegative(),
  /** Right answers whose offset is within ±2 s of the excerpt's start (null when the kind has no offsets). */
  offsetWithin2s: z.number().int().nonnegative().nullable(),
  /** Queries whose encrypted answer (track or unknown) differs from the clear-text one. */
  encryptedDiffers: z.number().int().nonnegative(),
  /** The clear-text answers' top-1, for reference. */
  plainTop1: z.number().int().nonnegative(),
  rates: z.object({ top1: rate, top3: rate, unknown: rate, wrong: rate, offsetWithin2s: rate }),
});
export type ConditionSummary = z.infer<typeof ConditionSummary>;

export const EVAL_REPORT_FORMAT = 'blindear-eval';

export const EvalReport = z.object({
  format: z.literal(EVAL_REPORT_FORMAT),
  version: z.literal(1),
  createdAt: z.string(),
  seeds: z.object({
    /** Seed of the query plan, excerpts and noise. */
    queries: z.number().int(),
    /** Seed the catalogue's calibration excerpts were drawn with, when it records one. */
    enrolment: z.number().int().nullable(),
  }),
  musicDir: z.string(),
  negativesDir: z.string(),
  querySource: z.object({
    /** Top-level folders queries were drawn from (held-out packages), or null for every enrolled track. */
    packages: z.array(z.string()).nullable(),
    tracks: z.number().int().nonnegative(),
  }),
  catalogue: z.object({
    dir: z.string(),
    /** Enrolled by this run (false when an existing catalogue was given). */
    enrolledHere: z.boolean(),
    enrolSeconds: z.number().nullable(),
    modelId: z.string(),
    kind: z.enum(['landmark', 'mfcc-sum']),
    tracks: z.number().int().positive(),
    classes: z.number().int().positive(),
    dim: z.number().int().positive(),
    he: HeParams,
    /** How the catalogue's queries were scored (catalog.json `scheme`); `lwe` also gives its parameters. */
    scheme: z.enum(['ckks', 'lwe']).default('ckks'),
    lwe: LweParams.optional(),
    /** The decision's unknown threshold: landmark confidence, or the MFCC vote share. */
    threshold: z.object({ name: z.enum(['confidence', 'minVoteShare']), value: z.number() }),
    params: z.record(z.string(), z.unknown()),
  }),
  /** Never-enrolled tracks: one half of the negatives folder makes babble, the other half the unknown queries. */
  negatives: z.object({
    queryTracks: z.array(z.string()),
    babbleTracks: z.array(z.string()),
    babbleVoices: z.number().int().positive(),
    summary: ConditionSummary,
  }),
  conditions: z.array(ConditionSummary),
  /** Conditions asked for that could not be run, with the reason (e.g. a codec ffmpeg lacks). */
  unavailable: z.array(z.object({ condition: z.string(), reason: z.string() })),
  /** Files that could not be used (undecodable, missing, too short), with the reason. */
  skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
  /** Query slots that got no excerpt (track shorter than the excerpt, or no stretch above −45 dBFS). */
  undrawn: z.number().int().nonnegative(),
  timing: z.object({
    wallSeconds: z.number(),
    workers: z.number().int().positive(),
    queries: z.number().int().nonnegative(),
    meanServerMs: z.number().nullable(),
  }),
  queries: z.array(EvalQuery),
});
export type EvalReport = z.infer<typeof EvalReport>;
