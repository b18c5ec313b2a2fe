/**
 * The client's round trip for one clip's windows: encrypt, have the ciphertexts scored (in process, or
 * by Kafka workers), decrypt, decide; then, where the catalogue has a position table and a position
 * answerer is at hand, place the answer's offset with the position query (pipeline/model/position.ts).
 * Shared by `blindear identify` and the evaluation harness.
 */
import type { Decider } from '../../features/registry.js';
import { bestOverHypotheses, hypothesisSlices, type Decision, type FeatureWindows } from '../../features/types.js';
import { padCandidates, placeOffset, POSITION_CANDIDATES, POSITION_TRACKS, positionCandidates, type PositionLayout, type PositionQuery } from '../../model/position.js';
import type { Segment } from '../../model/segment-templates.js';
import type { ScoringClient } from '../types.js';
import type { PositionClient } from './position-client.js';

/** Scores one clip's query ciphertexts: returns, per ciphertext, its result ciphertexts. */
export type RemoteScorer = (ciphertexts: Uint8Array[], windowsPerCiphertext: number[]) => Promise<Uint8Array[][]>;

/** Answers position queries (one answer per query, in order). */
export type PositionAnswerer = (queries: Uint8Array[]) => Promise<Uint8Array[]>;

/** What placing an answer's offset needs: the query's own landmarks, the table's client and its server. */
export interface Positioning extends PositionLayout {
  query: PositionQuery;
  client: PositionClient;
  answer: PositionAnswerer;
  segments: Segment[];
}

/** Query ciphertexts in flight at once: a long clip's ciphertexts and results are never all held together. */
const CIPHERTEXTS_PER_ROUND = 8;

export async function decideEncrypted(
  windows: FeatureWindows, clipSeconds: number, client: ScoringClient, score: RemoteScorer, decide: Decider, positioning?: Positioning,
): Promise<Decision> {
  // Rounds on the ciphertext grid: each round packs exactly the windows the whole clip would put in
  // those ciphertexts, so the scores are the same; only the decrypted scores (C per window) accumulate.
  // A window with K query hypotheses is K vectors to score; each class keeps its best over them.
  const vectors = windows.vectors.flatMap((v) => hypothesisSlices(v, windows.dim));
  const K = vectors.length / Math.max(1, windows.vectors.length);
  const perRound = client.windowsPerQuery * CIPHERTEXTS_PER_ROUND;
  const scores: Float64Array[] = [];
  for (let from = 0; from < vectors.length; from += perRound) {
    const part = vectors.slice(from, from + perRound);
    const enc = client.encryptWindows(part);
    const results = await score(enc.ciphertexts, enc.windowsPerCiphertext);
    scores.push(...(await client.decryptScores(results, part.length)));
  }
  const best = bestOverHypotheses(scores, K);
  const decision = decide(best, windows.startSeconds, clipSeconds);
  return positioning ? placeEncrypted(decision, best, positioning) : decision;
}

/**
 * Fetches the records of the candidate tracks' best segments by position queries (the server learns
 * neither which nor whose), checks the answer against them and places the offset. Each query of a batch is one class's: answers are checked by length
 * when opened, and a record that does not align leaves the scores' offset.
 */
export async function placeEncrypted(decision: Decision, scores: ArrayLike<number>[], p: Positioning): Promise<Decision> {
  const own = positionCandidates(decision, scores, p.segments, POSITION_CANDIDATES, POSITION_TRACKS);
  if (own.length === 0) return decision;
  const classes = padCandidates(own, POSITION_CANDIDATES * POSITION_TRACKS);
  const queries = classes.map((k) => p.client.query(k));
  const answers = await p.answer(queries.map((q) => q.bytes));
  if (answers.length !== queries.length) throw new RangeError(`${answers.length} position answers for ${queries.length} queries`);
  const records = queries.map((q, i) => q.open(answers[i]));
  return placeOffset(decision, p.query, classes, records, p.segments, p);
}
