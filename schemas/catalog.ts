/**
 * The catalogue on disk: `catalog.json` (this schema) beside `model.bin` (float32 LE weights C×d
 * row-major, then the C biases). The manifest records the feature kind and parameters the catalogue was
 * enrolled with, so a query is always windowed the way its catalogue was, and the encryption parameters
 * its scores are computed under.
 */
import { z } from 'zod';
import { LandmarkParams } from './feature-landmark.js';
import { MfccSumParams } from './feature-mfcc.js';
import { HeParams, LweParams } from './he.js';

export const CATALOG_MANIFEST = 'catalog.json';
export const CATALOG_MODEL = 'model.bin';
/** LWE catalogues only: the hint H = W_q·A (C × n int32 LE) and the biases (C float32 LE), the client's download. */
export const CATALOG_LWE_HINT = 'lwe-hint.bin';
/** The position table (one record per class; the server's half of the position query). */
export const CATALOG_POSITION = 'position.bin';
/** The position table's LWE hint (the client's download for the position query). */
export const CATALOG_POSITION_HINT = 'position-hint.bin';

/**
 * A landmark catalogue's position table (pipeline/model/position.ts, pipeline/he/position-pir.ts): per
 * class (segment) a record of `slots` time slots of `slotSeconds`, each a `slotBits`-bit set of the
 * landmark codes that start in it. The client fetches the records of the answer's segments with an
 * LWE-encrypted one-hot query over the classes (private information retrieval: the server cannot tell
 * which) and aligns the query's own landmarks against them in the clear, so the answer's offset in the
 * track is placed to a fraction of a second. `seed` expands the query matrix; `deltaBits` is log2 of the
 * one-hot's scale (each record byte decrypts as a multiple of 2^deltaBits).
 */
export const PositionParams = z.object({
  slotSeconds: z.number().positive(),
  slotBits: z.number().int().positive().multipleOf(8),
  slots: z.number().int().positive(),
  n: z.number().int().positive(),
  seed: z.string().regex(/^[0-9a-f]{32}$/),
  deltaBits: z.number().int().min(16).max(28),
  /**
   * Each slot bit's share of the table's set bits, relative to the mean bit (length slotBits): the
   * alignment weighs a hit on a common bit less. Absent in catalogues enrolled before it: unweighted.
   */
  bitShare: z.array(z.number().nonnegative()).optional(),
}).refine((p) => !p.bitShare || p.bitShare.length === p.slotBits, { message: 'bitShare needs one entry per slot bit', path: ['bitShare'] });
export type PositionParams = z.infer<typeof PositionParams>;

export const CatalogTrack = z.object({
  /** Path as given at enrolment, relative to the enrolled folder. */
  path: z.string().min(1),
  title: z.string(),
  durationSeconds: z.number().positive(),
});
export type CatalogTrack = z.infer<typeof CatalogTrack>;

export const FeatureSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('mfcc-sum'), params: MfccSumParams }),
  z.object({
    kind: z.literal('landmark'),
    // Catalogues enrolled before the 'confidence', 'bucketMode' and 'queryShifts' choices existed were
    // calibrated with the plain margin, hashed codes and queries of one framing: read them that way.
    params: z.preprocess((v) => (v && typeof v === 'object' ? { confidence: 'margin', bucketMode: 'hash', queryShifts: 1, ...v } : v), LandmarkParams),
    /** Inverse document frequency per bucket: the client weights its query vectors with it. */
    idf: z.array(z.number()),
    /** Per track, the confidence an answer naming it must reach (calibrate.ts); absent: the threshold alone. */
    trackThresholds: z.array(z.number()).optional(),
  }),
]);
export type FeatureSpec = z.infer<typeof FeatureSpec>;

/** A contiguous range of a catalogue's classes (model rows) served by one shard. */
export const ShardRange = z.object({
  firstClass: z.number().int().nonnegative(),
  classes: z.number().int().positive(),
});
export type ShardRange = z.infer<typeof ShardRange>;

export const CatalogManifest = z
  .object({
    format: z.literal('blindear-catalog'),
    version: z.literal(1),
    /** Hash of the model bytes and the feature spec: queries name it, workers check it. */
    modelId: z.string().regex(/^[0-9a-f]{16}$/),
    createdAt: z.string(),
    feature: FeatureSpec,
    he: HeParams,
    /**
     * How queries are scored: 'ckks' (the `he` parameters, per-session evaluation keys) or 'lwe'
     * (linearly homomorphic LWE with the `lwe` parameters and the catalogue's hint; no evaluation keys).
     */
    scheme: z.enum(['ckks', 'lwe']).default('ckks'),
    lwe: LweParams.optional(),
    /** Landmark catalogues: the position table's layout (absent: offsets come from the segment scores). */
    position: PositionParams.optional(),
    tracks: z.array(CatalogTrack).min(1),
    /** One entry per model row: which track, and which stretch of it the class covers. */
    classes: z.object({
      track: z.array(z.number().int().nonnegative()),
      startSeconds: z.array(z.number().nonnegative()),
      endSeconds: z.array(z.number().nonnegative()),
    }),
    dim: z.number().int().positive(),
    /**
     * sha256 (hex) of each file of the catalogue beside the manifest (`model.bin`), verified on load: a
     * corrupted or swapped model of the right length is refused instead of scoring garbage.
     */
    checksums: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)).optional(),
    /** Files that could not be enrolled, with the reason. */
    skipped: z.array(z.object({ path: z.string(), reason: z.string() })).default([]),
    enrolment: z.record(z.string(), z.unknown()).default({}),
    /**
     * The whole catalogue served in shards (`blindear shard-catalog`): the contiguous class ranges, in
     * order, one per shard worker group. The client holds the whole catalogue and merges the parts.
     */
    shards: z.array(ShardRange).min(2).optional(),
    /**
     * A shard's folder: which slice of the whole catalogue (whose `modelId` and class count queries name)
     * this folder's `model.bin` and `lwe-hint.bin` hold. Its `classes` list only the slice's classes.
     */
    shard: z.object({
      index: z.number().int().nonnegative(),
      count: z.number().int().min(2),
      firstClass: z.number().int().nonnegative(),
      /** Classes of the whole catalogue. */
      totalClasses: z.number().int().positive(),
    }).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.classes.track.length !== m.classes.startSeconds.length || m.classes.track.length !== m.classes.endSeconds.length) ctx.addIssue({ code: 'custom', message: 'classes arrays differ in length', path: ['classes'] });
    if (m.classes.track.some((t) => t >= m.tracks.length)) ctx.addIssue({ code: 'custom', message: 'class refers to a missing track', path: ['classes'] });
    if (m.scheme === 'lwe' && !m.lwe) ctx.addIssue({ code: 'custom', message: "scheme 'lwe' needs the lwe parameters", path: ['lwe'] });
    if (m.shards) {
      let next = 0;
      for (const r of m.shards) { if (r.firstClass !== next) ctx.addIssue({ code: 'custom', message: 'shard ranges must be contiguous from class 0', path: ['shards'] }); next = r.firstClass + r.classes; }
      if (next !== m.classes.track.length) ctx.addIssue({ code: 'custom', message: `shard ranges cover ${next} classes of ${m.classes.track.length}`, path: ['shards'] });
      if (m.scheme !== 'lwe') ctx.addIssue({ code: 'custom', message: "only 'lwe' catalogues are served in shards", path: ['shards'] });
    }
    if (m.shard) {
      if (m.shard.index >= m.shard.count) ctx.addIssue({ code: 'custom', message: 'shard index beyond the shard count', path: ['shard'] });
      if (m.shard.firstClass + m.classes.track.length > m.shard.totalClasses) ctx.addIssue({ code: 'custom', message: 'shard classes beyond the whole catalogue', path: ['shard'] });
      if (m.shards) ctx.addIssue({ code: 'custom', message: 'a shard folder holds one shard', path: ['shard'] });
    }
    if (m.position && m.feature.kind !== 'landmark') ctx.addIssue({ code: 'custom', message: 'a position table needs landmark features', path: ['position'] });
    if (m.position && (m.shards || m.shard)) ctx.addIssue({ code: 'custom', message: 'a sharded catalogue has no position table', path: ['position'] });
    if (m.scheme === 'lwe' && m.feature.kind !== 'landmark') ctx.addIssue({ code: 'custom', message: "scheme 'lwe' needs unit-norm (landmark) features", path: ['scheme'] });
  });
export type CatalogManifest = z.infer<typeof CatalogManifest>;

/**
 * The part of a landmark catalogue's `enrolment` record the client reads: the calibration's groups of
 * near-duplicate tracks (each group: a track, then the tracks that vote nearly as high on its excerpts).
 */
export const EnrolmentNearDuplicates = z.object({
  calibration: z.object({ nearDuplicates: z.array(z.array(z.number().int().nonnegative())) }),
});

/**
 * The part of a landmark catalogue's `enrolment` record that marks lookalikes for the position decision:
 * per track, the mean z of its best alignments with impostor excerpts of other tracks (pipeline/model/position.ts).
 */
export const EnrolmentImpostors = z.object({
  impostors: z.object({
    excerpts: z.number().int().nonnegative(),
    seconds: z.number().positive(),
    snrDb: z.number(),
    top: z.number().int().positive(),
    z: z.array(z.number()),
  }),
});
