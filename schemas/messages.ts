/**
 * Message shapes on every topic. Binary payloads (PCM, feature vectors, ciphertexts, keys) are the
 * Kafka record value; the envelope below rides in the `blindear-envelope` header as JSON and is
 * validated with these schemas on both ends. Types are `z.infer` of the schemas, never duplicated.
 */
import { z } from 'zod';

export const SessionId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'session ids are 1-128 chars of [A-Za-z0-9._:-]');
export type SessionId = z.infer<typeof SessionId>;

const Seq = z.number().int().nonnegative();

/** Where a play may begin or end, stream seconds, and how sharp a change the client heard there (0–1). */
export const BoundaryHint = z.object({
  t: z.number().nonnegative(),
  strength: z.number().min(0).max(1),
});
export type BoundaryHint = z.infer<typeof BoundaryHint>;

/** Client zone: a chunk of mono float32 PCM (little endian) from an ingest connector. */
export const AudioChunkEnvelope = z.object({
  session: SessionId,
  seq: Seq,
  sampleRate: z.number().int().positive(),
  /** Index of the chunk's first sample since the session's start. */
  startSample: z.number().int().nonnegative(),
  /** True on the last chunk of a finite source: downstream stages flush. */
  final: z.boolean().default(false),
  /** Wall-clock ms when the chunk's last sample was captured (latency measurement). */
  capturedAtMs: z.number().nonnegative(),
  /** The source reconnected before this chunk: audio before `startSample` is missing, windowing restarts here. */
  discontinuity: z.boolean().default(false),
});
export type AudioChunkEnvelope = z.infer<typeof AudioChunkEnvelope>;

/**
 * Client zone: `count` consecutive feature windows (float32 little endian, `count` × `dim` values), as many
 * as one query ciphertext carries. Never leaves the client zone.
 */
export const FeatureWindowEnvelope = z.object({
  session: SessionId,
  /** Index k of the first window: window k starts at k * hopSeconds of the session's audio. */
  seq: Seq,
  count: z.number().int().positive().default(1),
  /** Index of the session's window before this batch (-1 for the first): lets the decider tell a gap from a loss. */
  prev: z.number().int().min(-1).default(-1),
  dim: z.number().int().positive(),
  modelId: z.string().min(1),
  startSeconds: z.number().nonnegative(),
  final: z.boolean().default(false),
  /** Wall-clock ms when the last window's last sample was captured. */
  capturedAtMs: z.number().nonnegative(),
  /** Where a play may begin or end in these windows' audio (silence edges, fade bottoms, spectral changes), sharpest first. */
  boundaries: z.array(BoundaryHint).max(64).default([]),
  /**
   * Each window's landmarks for the position check (catalogues with a position table): u32 little-endian
   * words, code << 11 | STFT frame from the window's start, base64; sealed before they leave the zone.
   */
  landmarks: z.array(z.base64().max(16384)).max(64).optional(),
});
export type FeatureWindowEnvelope = z.infer<typeof FeatureWindowEnvelope>;

/** An Ed25519 public key as base64 SPKI DER (44 bytes). */
export const SigningPublicKey = z.string().regex(/^[A-Za-z0-9+/]{59}=$/, 'an Ed25519 public key, base64 SPKI DER');
/** An Ed25519 signature, base64 (64 bytes). */
export const Signature = z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'an Ed25519 signature, base64');

/**
 * Server zone, compacted by session: the session's evaluation (Galois) keys. Never a secret key.
 * Signed by the session's own Ed25519 key (pipeline/he/key-signature.ts): a worker pins the first signing
 * key it sees for a session and refuses records, tombstones included, that it did not sign.
 */
export const SessionKeysEnvelope = z.object({
  session: SessionId,
  paramsId: z.string().regex(/^[0-9a-f]{16,64}$/),
  modelId: z.string().min(1),
  createdAtMs: z.number().nonnegative(),
  signingKey: SigningPublicKey,
  /** Over (session, paramsId, modelId, createdAtMs, sha256 of the value). */
  signature: Signature,
});
export type SessionKeysEnvelope = z.infer<typeof SessionKeysEnvelope>;

/** Header of a session-keys tombstone (null value): the session's own signature over its end. */
export const SESSION_TOMBSTONE_HEADER = 'blindear-tombstone';
export const SessionKeysTombstone = z.object({
  session: SessionId,
  endedAtMs: z.number().nonnegative(),
  signature: Signature,
});
export type SessionKeysTombstone = z.infer<typeof SessionKeysTombstone>;

/** Server zone: one query ciphertext packing `count` consecutive windows starting at window `seq`. */
export const QueryEnvelope = z.object({
  session: SessionId,
  /**
   * Absent or 'scores': window ciphertexts scored against the catalogue. 'position': one position query
   * (an encrypted one-hot over the classes, pipeline/he/position-pir.ts) answered with one record.
   */
  kind: z.enum(['scores', 'position']).optional(),
  seq: Seq,
  count: z.number().int().positive(),
  paramsId: z.string().regex(/^[0-9a-f]{16,64}$/),
  modelId: z.string().min(1),
  final: z.boolean().default(false),
  capturedAtMs: z.number().nonnegative(),
  /** The session's window before this query (-1 for the first). */
  prev: z.number().int().min(-1).optional(),
  /**
   * HMAC-SHA256 (hex) of the fields above under a key only the client holds: the server echoes it with the
   * scores, and the client drops scores whose seq, count, prev or final it did not send.
   */
  mac: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /**
   * A note from the client to itself, sealed (AES-256-GCM) under the session's key: the server sees a
   * fixed-size opaque value and echoes it; the client reads the play-boundary hints it left there (8 at
   * most, each as time and strength).
   */
  note: z.base64().max(256).optional(),
  /**
   * The windows' landmarks, sealed like the note (AES-256-GCM, a fixed size per window): the client reads
   * them back with the scores to check a play by the position query.
   */
  landmarks: z.base64().max(262144).optional(),
});
export type QueryEnvelope = z.infer<typeof QueryEnvelope>;

/**
 * Which part of a sharded catalogue's scores a record holds: shard `index` of `count`, classes
 * `firstClass` .. `firstClass + classes - 1`. The client checks it against its own catalogue's shards.
 */
export const ScoresShard = z.object({
  index: z.number().int().nonnegative(),
  count: z.number().int().min(2).max(4096),
  firstClass: z.number().int().nonnegative(),
  classes: z.number().int().positive(),
});
export type ScoresShard = z.infer<typeof ScoresShard>;

/** Server zone: the encrypted scores for one query; the value frames one or more result ciphertexts. */
export const ScoresEnvelope = QueryEnvelope.extend({
  parts: z.number().int().positive(),
  scoredAtMs: z.number().nonnegative(),
  /** Set by a shard's worker group: this record holds that shard's classes only. */
  shard: ScoresShard.optional(),
});
export type ScoresEnvelope = z.infer<typeof ScoresEnvelope>;

export const Match = z.object({
  path: z.string(),
  title: z.string(),
  confidence: z.number(),
  offsetSeconds: z.number(),
});
export type Match = z.infer<typeof Match>;

/** Client zone (and delivery sinks): a decision over a stretch of a session's audio, after decryption. */
export const Prediction = z.object({
  session: SessionId,
  /** First and last window index the decision used. */
  fromSeq: Seq,
  toSeq: Seq,
  /** Audio time covered, seconds since the session's start. */
  audioStartSeconds: z.number().nonnegative(),
  audioEndSeconds: z.number().nonnegative(),
  outcome: z.enum(['match', 'unknown']),
  match: Match.nullable(),
  /**
   * The session's last decision: its audio has ended. When the audio ends right after a decision, that
   * decision is sent once more (same windows, same answer) with `final` set: an end marker, not a new one.
   */
  final: z.boolean().default(false),
  /** Milliseconds from the capture of the newest window's audio to this decision. */
  latencyMs: z.number().nonnegative(),
  decidedAtMs: z.number().nonnegative(),
});
export type Prediction = z.infer<typeof Prediction>;

/** Whether `p` is a stream's end marker: the decision just before it sent again with `final` (see `final`). */
export function isEndMarker(p: Prediction, before: Prediction | undefined): boolean {
  return p.final && before !== undefined && before.session === p.session && before.fromSeq === p.fromSeq && before.toSeq === p.toSeq
    && before.outcome === p.outcome && JSON.stringify(before.match) === JSON.stringify(p.match);
}

/** One play in the airplay log: a "started" event as soon as it is recognised, an "ended" event when it is over. */
export const AirplayEvent = z.object({
  event: z.enum(['started', 'ended']),
  station: z.string().min(1),
  session: SessionId,
  /** Catalogue path and title of the track (title from the file's tags, else its name). */
  path: z.string(),
  title: z.string(),
  /**
   * Seconds from the start of the station's source (for a file, its position in it) where the play began.
   * A "started" event places it from the first decision; the "ended" event from the first minute of them.
   */
  streamStartSeconds: z.number().nonnegative(),
  /** Where it ended (ended events only). */
  streamEndSeconds: z.number().nonnegative().optional(),
  /** ISO 8601 wall clock of the play's start and (ended events) end. */
  startedAt: z.iso.datetime(),
  endedAt: z.iso.datetime().optional(),
  /** Seconds heard so far (started) or in all (ended). */
  durationSeconds: z.number().nonnegative(),
  /** Position in the track at the play's start, seconds. */
  offsetSeconds: z.number(),
  /**
   * 0-1: the best decision's margin over the unknown threshold, mapped so 0.5 sits on the threshold; a
   * play is only logged above it.
   */
  confidence: z.number().min(0).max(1),
  modelId: z.string().min(1),
  /** Stable id of the play (session and first window): an "ended" event carries its "started" event's id. */
  playId: z.string().min(1),
  /** Wall clock ms when the event was decided. */
  decidedAtMs: z.number().nonnegative(),
});
export type AirplayEvent = z.infer<typeof AirplayEvent>;

/**
 * Client zone, compacted by session: what a client service needs to continue a session on any instance.
 * The secret key and the query MAC key are sealed (AES-256-GCM) under the client service's key, which
 * never goes to Kafka; `keyId` names which service key sealed them.
 */
export const ClientSessionRecord = z.object({
  session: SessionId,
  station: z.string().min(1),
  modelId: z.string().min(1),
  paramsId: z.string().regex(/^[0-9a-f]{16,64}$/),
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  sealedSecretKey: z.base64(),
  sealedMacKey: z.base64(),
  /** The session's Ed25519 key that signs its evaluation keys (PKCS#8), sealed the same way. */
  sealedSigningKey: z.base64(),
  createdAtMs: z.number().nonnegative(),
  /**
   * Where the session's window grid starts, seconds into its stream (window k starts at this + k·hop; less
   * than a hop). A monitor spreads its stations' phases so their windows do not all end at once.
   */
  windowPhaseSeconds: z.number().nonnegative().max(3600).default(0),
});
export type ClientSessionRecord = z.infer<typeof ClientSessionRecord>;

/** Client zone, compacted by session: how far ingest got, so a restarted monitor resumes a file source. */
export const IngestProgress = z.object({
  session: SessionId,
  station: z.string().min(1),
  /** Samples of the source sent so far (its position). */
  samples: z.number().int().nonnegative(),
  sampleRate: z.number().int().positive(),
  ended: z.boolean(),
  updatedAtMs: z.number().nonnegative(),
});
export type IngestProgress = z.infer<typeof IngestProgress>;

const OpenPlay = z.object({
  track: z.number().int().nonnegative(),
  playId: z.string(),
  streamStartSeconds: z.number().nonnegative(),
  lastEndSeconds: z.number().nonnegative(),
  startedAtMs: z.number().nonnegative(),
  offsetSeconds: z.number(),
  confidence: z.number().min(0).max(1),
  misses: z.number().int().nonnegative(),
  /** The play cannot have begun before this (where the play before it ended), stream seconds. */
  floorSeconds: z.number().nonnegative().default(0),
  /** Audio start of the first decision that named the track. */
  firstAudioStartSeconds: z.number().nonnegative().default(0),
  /** The play began after this: the first decision that named the track heard its beginning (offset 0) in its audio. */
  notBeforeSeconds: z.number().nonnegative().default(0),
  /** Where the track's beginning passed, from the first decisions' offsets (stream time - offset). */
  starts: z.array(z.number()).max(8).default([]),
  /** Least-squares sums over (decision audio start, offset): n, Σx, Σy, Σx², Σxy (the speed the track plays at). */
  fit: z.tuple([z.number(), z.number(), z.number(), z.number(), z.number()]).default([0, 0, 0, 0, 0]),
  /** Logged: its "started" event went out (a play first named weakly waits for a second decision). */
  confirmed: z.boolean().default(true),
  /**
   * The position check (catalogues with a position table): 'wanted' once the decisions would log the play,
   * 'pending' while the records are asked for, then 'passed' (logged) or 'failed' (never logged).
   */
  check: z.enum(['none', 'wanted', 'pending', 'passed', 'failed']).default('none'),
  /** The decisions would log it: only the position check is awaited. */
  ready: z.boolean().default(false),
  /** Position checks asked for this play so far. */
  checks: z.number().int().nonnegative().default(0),
});
export type OpenPlay = z.infer<typeof OpenPlay>;

/**
 * A play's position check in flight: the records of its track's best segments were asked for (one
 * position query each, under the secrets derived from `seeds`); its landmarks wait to be aligned with them.
 */
export const PositionCheck = z.object({
  playId: z.string(),
  track: z.number().int().nonnegative(),
  /** The MAC'd query: last window of the decision that asked, and the wall clock it was sent at. */
  seq: Seq,
  sentAtMs: z.number().nonnegative(),
  classes: z.array(z.number().int().nonnegative()).min(1).max(2),
  seeds: z.array(z.base64().max(64)).min(1).max(2),
  /** The decision's landmarks (packed as in FeatureWindowEnvelope, frames from `audioStartSeconds`). */
  words: z.base64().max(65536),
  audioStartSeconds: z.number().nonnegative(),
  durationSeconds: z.number().positive(),
  /** The play closed while the check was in flight: it is logged, start and end, if the check passes. */
  closed: z.object({ play: OpenPlay, endSeconds: z.number().nonnegative() }).nullable().default(null),
});
export type PositionCheck = z.infer<typeof PositionCheck>;

/**
 * What one probe window heard: the tracks whose segments stand out in its scores, as [track, z] (the
 * best z-score over the track's segments, among all classes' scores), strongest first.
 */
export const ProbePresence = z.object({
  /** Stream seconds where the probe starts, and its length. */
  t: z.number().nonnegative(),
  len: z.number().positive(),
  tracks: z.array(z.tuple([z.number().int().nonnegative(), z.number()])).max(16),
});
export type ProbePresence = z.infer<typeof ProbePresence>;

/** Client zone, compacted by session: the decider's state after each scores record (restored on rebalance). */
export const DecideState = z.object({
  session: SessionId,
  /** Last window decided; scores at or before it are redeliveries. */
  lastSeq: z.number().int().min(-1),
  sinceEmit: z.number().int().nonnegative(),
  recent: z.array(z.object({
    seq: Seq,
    startSeconds: z.number().nonnegative(),
    capturedAtMs: z.number().nonnegative(),
    /** Decrypted scores, float64 little endian, base64. */
    scores: z.base64(),
  })),
  play: OpenPlay.nullable(),
  /** Boundary hints of the recent audio, by time (a bare number: a state written before hints had a strength). */
  boundaries: z.array(z.union([z.number().nonnegative(), BoundaryHint])).max(256).default([]),
  /** What the probe windows of the recent audio heard (catalogues whose queries carry probes), by time. */
  probes: z.array(ProbePresence).max(64).default([]),
  /** Wall clock of the session's stream second 0 (for ISO times in the airplay log). */
  originMs: z.number().nonnegative(),
  ended: z.boolean().default(false),
  /** The recent windows' landmarks (packed, base64), for a play's position check. */
  landmarks: z.array(z.object({ seq: Seq, words: z.base64().max(16384) })).max(8).default([]),
  /** Position checks in flight. */
  checks: z.array(PositionCheck).max(8).default([]),
  /** Cover position records sent lately (a decision without a check sends one too): their answers are dropped. */
  covers: z.array(z.object({ seq: Seq, sentAtMs: z.number().nonnegative() })).max(16).default([]),
});
export type DecideState = z.infer<typeof DecideState>;
