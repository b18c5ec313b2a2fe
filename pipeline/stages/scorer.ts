/**
 * FHE scoring (server zone): a query ciphertext → the encrypted catalogue scores W·x + b, under the
 * session's evaluation keys. Sees only ciphertexts and keys; validation happens before any evaluation.
 */
import { encodeFrames } from '../../schemas/frames.js';
import { BlindearError } from '../errors.js';
import type { ScoringEngine } from '../he/server/index.js';
import { defineStage } from '../runtime/stage.js';
import type { SessionKeyStore } from './session-key-store.js';

export function createScorerStage(deps: { engine: ScoringEngine; modelId: string; keys: SessionKeyStore }) {
  return defineStage({
    name: 'scorer',
    input: 'queries',
    async process(msg, ctx) {
      const { session, modelId, paramsId } = msg.envelope;
      if (modelId !== deps.modelId) throw new BlindearError('BLINDEAR_ERR_MODEL_MISMATCH', `query for model ${modelId}, this worker serves ${deps.modelId}`);
      deps.engine.checkParamsId(paramsId);
      const keys = await deps.keys.get(session, { paramsId, modelId });
      const started = process.hrtime.bigint();
      const parts = await deps.engine.score(keys, msg.value);
      ctx.metrics.fheSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      const value = encodeFrames(parts);
      ctx.metrics.ciphertextBytes.inc({ stage: 'scorer', direction: 'in' }, msg.value.length);
      ctx.metrics.ciphertextBytes.inc({ stage: 'scorer', direction: 'out' }, value.length);
      return [{
        topic: 'scores' as const,
        key: session,
        envelope: { ...msg.envelope, parts: parts.length, scoredAtMs: ctx.now() },
        value,
      }];
    },
  });
}
