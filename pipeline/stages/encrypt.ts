/**
 * Encrypt proxy (client zone): batches of feature windows → one query ciphertext each under the session's
 * own key, with a MAC over the query's fields that only this client service can make or check. Stateless
 * beyond the sessions' keys (from the `client-sessions` table), so any instance can take any partition.
 */
import { BlindearError } from '../errors.js';
import { hintsToNote, queryMac, sealLandmarks, sealNote } from '../he/client/service-key.js';
import { landmarkWordsFromBase64 } from '../model/position.js';
import { defineStage, type Outbound } from '../runtime/stage.js';
import type { ClientSessions } from './client-sessions.js';
import { float32FromBytes } from './ingest.js';

/**
 * `vectorsPerWindow`: query vectors per window (the catalogue's speed hypotheses, for the window and each of
 * its probes), all in one query ciphertext.
 */
export function createEncryptStage(deps: { sessions: ClientSessions; modelId: string; dim: number; vectorsPerWindow: number }) {
  const K = deps.vectorsPerWindow;
  return defineStage({
    name: 'encrypt',
    input: 'features',
    async process(msg, ctx) {
      const { session, seq, count, prev, dim, modelId, final, capturedAtMs, boundaries, landmarks } = msg.envelope;
      if (landmarks && landmarks.length !== count) throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `${landmarks.length} windows of landmarks for ${count} windows`);
      const record = await deps.sessions.owned(ctx.tables, session, msg.partition);
      if (!record) {
        ctx.logger.debug({ session }, 'windows of a session this service does not hold: skipped');
        return [];
      }
      if (modelId !== deps.modelId) throw new BlindearError('BLINDEAR_ERR_MODEL_MISMATCH', `window for model ${modelId}, this service uses ${deps.modelId}`);
      if (dim !== deps.dim || msg.value.length !== count * K * dim * 4) {
        throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `${msg.value.length} bytes for ${count} windows of ${K} × ${deps.dim} float32`);
      }
      const { client, macKey } = await deps.sessions.get(record);
      const all = float32FromBytes(msg.value);
      const vectors = Array.from({ length: count * K }, (_, i) => all.subarray(i * dim, (i + 1) * dim));
      const encrypted = client.encryptWindows(vectors);
      const { ciphertexts } = encrypted;
      // A ciphertext carries whole windows: all K vectors of each.
      const windowsPerCiphertext = encrypted.windowsPerCiphertext.map((n) => {
        if (n % K !== 0) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `a query ciphertext holds ${n} vectors, not whole windows of ${K} vectors: this catalogue's scheme cannot carry its speed hypotheses and probes`);
        return n / K;
      });
      let at = seq;
      let before = prev;
      return ciphertexts.map((value, i): Outbound<'queries'> => {
        ctx.metrics.ciphertextBytes.inc({ stage: 'encrypt', direction: 'out' }, value.length);
        const fields = {
          session, seq: at, count: windowsPerCiphertext[i], prev: before, final: final && i === ciphertexts.length - 1,
          capturedAtMs, paramsId: client.paramsId, modelId,
        };
        before = at + fields.count - 1;
        at += fields.count;
        // The boundary hints ride along sealed: only this client service can read them when the scores return.
        const note = sealNote(macKey, { session, seq: fields.seq }, i === 0 ? hintsToNote(boundaries) : []);
        // So do the windows' landmarks, at a fixed size per window whatever the audio held.
        const sealed = landmarks && sealLandmarks(macKey, { session, seq: fields.seq }, landmarks.slice(fields.seq - seq, fields.seq - seq + fields.count).map(landmarkWordsFromBase64));
        return { topic: 'queries', key: session, envelope: { ...fields, mac: queryMac(macKey, fields), note, ...(sealed ? { landmarks: sealed } : {}) }, value };
      });
    },
  });
}
