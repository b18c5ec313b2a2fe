/**
 * Message shapes on every topic. Binary payloads (PCM, feature vectors, ciphertexts, keys) are the
 * Kafka record value; the envelope below rides in the `blindear-envelope` header as JSON and is
 * validated with these schemas on both ends. Types are `z.infer` of the schemas, never duplicated.
 */
import { z } from 'zod';

export const SessionId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'session ids are 1-128 chars of [A-Za-z0-9._:-]');
export type SessionId = z.infer<typeof SessionId>;

const Seq = z.number().int().nonnegative();

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
});
export type AudioChunkEnvelope = z.infer<typeof AudioChunkEnvelope>;

/** Client zone: one feature window (float32 little endian vector of `dim` values). Never leaves the client zone. */
export const FeatureWindowEnvelope = z.object({
  session: SessionId,
  /** Window index k: the window starts at k * hopSeconds of the session's audio. */
  seq: Seq,
  dim: z.number().int().positive(),
  modelId: z.string().min(1),
  startSeconds: z.number().nonnegative(),
  final: z.boolean().default(false),
  capturedAtMs: z.number().nonnegative(),
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
  seq: Seq,
  count: z.number().int().positive(),
  paramsId: z.string().regex(/^[0-9a-f]{16,64}$/),
  modelId: z.string().min(1),
  final: z.boolean().default(false),
  capturedAtMs: z.number().nonnegative(),
});
export type QueryEnvelope = z.infer<typeof QueryEnvelope>;

/** Server zone: the encrypted scores for one query; the value frames one or more result ciphertexts. */
export const ScoresEnvelope = QueryEnvelope.extend({
  parts: z.number().int().positive(),
  scoredAtMs: z.number().nonnegative(),
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
  /** The session's last decision: its audio has ended. */
  final: z.boolean().default(false),
  /** Milliseconds from the capture of the newest window's audio to this decision. */
  latencyMs: z.number().nonnegative(),
  decidedAtMs: z.number().nonnegative(),
});
export type Prediction = z.infer<typeof Prediction>;
