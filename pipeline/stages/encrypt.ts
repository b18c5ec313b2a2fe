/**
 * Encrypt proxy (client zone): feature windows → query ciphertexts under the session's own key. The
 * secret key never leaves this process; only ciphertexts go out to the server zone.
 */
import { BlindearError } from '../errors.js';
import type { ClientSession } from '../he/client/index.js';
import { defineStage } from '../runtime/stage.js';
import { float32FromBytes } from './ingest.js';

export function createEncryptStage(deps: { sessions: ReadonlyMap<string, ClientSession>; modelId: string; dim: number }) {
  return defineStage({
    name: 'encrypt',
    input: 'features',
    async process(msg, ctx) {
      const { session, seq, dim, modelId, final, capturedAtMs } = msg.envelope;
      const client = deps.sessions.get(session);
      if (!client) return [];
      if (modelId !== deps.modelId) throw new BlindearError('BLINDEAR_ERR_MODEL_MISMATCH', `window for model ${modelId}, session uses ${deps.modelId}`);
      if (dim !== deps.dim || msg.value.length !== dim * 4) throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `window of ${msg.value.length} bytes, expected ${deps.dim} float32`);
      const { ciphertexts } = client.encryptWindows([float32FromBytes(msg.value)]);
      ctx.metrics.ciphertextBytes.inc({ stage: 'encrypt', direction: 'out' }, ciphertexts[0].length);
      return [{
        topic: 'queries' as const,
        key: session,
        envelope: { session, seq, count: 1, paramsId: client.paramsId, modelId, final, capturedAtMs },
        value: ciphertexts[0],
      }];
    },
  });
}
