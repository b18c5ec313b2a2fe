/**
 * The client's round trip for one clip's windows: encrypt, have the ciphertexts scored (in process, or
 * by Kafka workers), decrypt, decide. Shared by `blindear identify` and the evaluation harness.
 */
import type { Decider } from '../../features/registry.js';
import type { Decision, FeatureWindows } from '../../features/types.js';
import type { ClientSession } from './session.js';

/** Scores one clip's query ciphertexts: returns, per ciphertext, its result ciphertexts. */
export type RemoteScorer = (ciphertexts: Uint8Array[], windowsPerCiphertext: number[]) => Promise<Uint8Array[][]>;

export async function decideEncrypted(
  windows: FeatureWindows, clipSeconds: number, client: ClientSession, score: RemoteScorer, decide: Decider,
): Promise<Decision> {
  const enc = client.encryptWindows(windows.vectors);
  const results = await score(enc.ciphertexts, enc.windowsPerCiphertext);
  const scores = await client.decryptScores(results, windows.vectors.length);
  return decide(scores, windows.startSeconds, clipSeconds);
}
