/**
 * Encrypt proxy (client zone): feature windows → query ciphertexts under the session's own key. The
 * secret key never leaves this process; only ciphertexts go out to the server zone.
 *
 * A query ciphertext has room for several windows (the layout packs them side by side) and costs the
 * server the same however many it carries, so windows are batched per session until the ciphertext is
 * full, the batch spans `maxBatchSeconds` of audio (bounding latency), or the stream ends.
 */
import { BlindearError } from '../errors.js';
import type { ClientSession } from '../he/client/index.js';
import { defineStage, type Outbound } from '../runtime/stage.js';
import { float32FromBytes } from './ingest.js';

interface Batch {
  firstSeq: number;
  vectors: Float32Array[];
  capturedAtMs: number;
}

export function createEncryptStage(deps: {
  sessions: ReadonlyMap<string, ClientSession>; modelId: string; dim: number; hopSeconds: number; maxBatchSeconds: number;
}) {
  const batches = new Map<string, Batch>();
  return defineStage({
    name: 'encrypt',
    input: 'features',
    async process(msg, ctx) {
      const { session, seq, dim, modelId, final, capturedAtMs } = msg.envelope;
      const client = deps.sessions.get(session);
      if (!client) return [];
      if (modelId !== deps.modelId) throw new BlindearError('BLINDEAR_ERR_MODEL_MISMATCH', `window for model ${modelId}, session uses ${deps.modelId}`);
      if (dim !== deps.dim || msg.value.length !== dim * 4) throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `window of ${msg.value.length} bytes, expected ${deps.dim} float32`);
      let batch = batches.get(session);
      if (batch && seq !== batch.firstSeq + batch.vectors.length) {
        throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `window ${seq} out of order (expected ${batch.firstSeq + batch.vectors.length})`);
      }
      if (!batch) { batch = { firstSeq: seq, vectors: [], capturedAtMs }; batches.set(session, batch); }
      batch.vectors.push(float32FromBytes(msg.value));
      batch.capturedAtMs = capturedAtMs;
      const perCiphertext = client.layout.windowsPerCiphertext;
      const full = batch.vectors.length >= perCiphertext || batch.vectors.length * deps.hopSeconds >= deps.maxBatchSeconds;
      if (!full && !final) return [];
      batches.delete(session);
      const { ciphertexts, windowsPerCiphertext } = client.encryptWindows(batch.vectors);
      let at = batch.firstSeq;
      return ciphertexts.map((value, i): Outbound<'queries'> => {
        ctx.metrics.ciphertextBytes.inc({ stage: 'encrypt', direction: 'out' }, value.length);
        const out: Outbound<'queries'> = {
          topic: 'queries',
          key: session,
          envelope: { session, seq: at, count: windowsPerCiphertext[i], paramsId: client.paramsId, modelId, final: final && i === ciphertexts.length - 1, capturedAtMs: batch.capturedAtMs },
          value,
        };
        at += windowsPerCiphertext[i];
        return out;
      });
    },
  });
}
