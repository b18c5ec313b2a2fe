/**
 * The client's round trip for one clip's windows: encrypt, have the ciphertexts scored (in process, or
 * by Kafka workers), decrypt, decide. Shared by `blindear identify` and the evaluation harness.
 */
import type { Decider } from '../../features/registry.js';
import { bestOverHypotheses, hypothesisSlices, type Decision, type FeatureWindows } from '../../features/types.js';
import type { ScoringClient } from '../types.js';

/** Scores one clip's query ciphertexts: returns, per ciphertext, its result ciphertexts. */
export type RemoteScorer = (ciphertexts: Uint8Array[], windowsPerCiphertext: number[]) => Promise<Uint8Array[][]>;

/** Query ciphertexts in flight at once: a long clip's ciphertexts and results are never all held together. */
const CIPHERTEXTS_PER_ROUND = 8;

export async function decideEncrypted(
  windows: FeatureWindows, clipSeconds: number, client: ScoringClient, score: RemoteScorer, decide: Decider,
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
  return decide(bestOverHypotheses(scores, K), windows.startSeconds, clipSeconds);
}
