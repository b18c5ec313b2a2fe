/**
 * Decrypt and decide (client zone): encrypted scores of a session → decrypted per-window scores (which
 * never leave this process) → decisions over the last windows → prediction records.
 */
import type { CatalogManifest } from '../../schemas/catalog.js';
import { decodeFrames } from '../../schemas/frames.js';
import { BlindearError } from '../errors.js';
import type { ClientSession } from '../he/client/index.js';
import type { StreamDecisions } from '../model/stream-decisions.js';
import { defineStage } from '../runtime/stage.js';
import { predictionOf } from './predictions.js';

export interface DecryptSession {
  client: ClientSession;
  decisions: StreamDecisions;
  hopSeconds: number;
}

export function createDecryptStage(deps: { sessions: ReadonlyMap<string, DecryptSession>; manifest: CatalogManifest }) {
  return defineStage({
    name: 'decrypt',
    input: 'scores',
    async process(msg, ctx) {
      const { session, seq, count, parts, final, capturedAtMs, paramsId } = msg.envelope;
      const s = deps.sessions.get(session);
      if (!s) return [];
      if (paramsId !== s.client.paramsId) throw new BlindearError('BLINDEAR_ERR_HE_PARAMS_MISMATCH', `scores for ${paramsId}`);
      let frames: Uint8Array[];
      try {
        frames = decodeFrames(msg.value, Math.max(parts, 1));
      } catch (err) {
        throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', (err as Error).message);
      }
      if (frames.length !== parts) throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `envelope says ${parts} parts, value has ${frames.length}`);
      ctx.metrics.ciphertextBytes.inc({ stage: 'decrypt', direction: 'in' }, msg.value.length);
      const scores = await s.client.decryptScores([frames], count);
      const windows = scores.map((sc, i) => ({ seq: seq + i, startSeconds: (seq + i) * s.hopSeconds, scores: sc, capturedAtMs }));
      const decisions = s.decisions.add(windows, final);
      const now = ctx.now();
      return decisions.map((d) => {
        const p = predictionOf(session, d, deps.manifest, now);
        ctx.metrics.predictions.inc({ outcome: p.outcome });
        ctx.metrics.predictionLatencySeconds.observe(p.latencyMs / 1000);
        return { topic: 'predictions' as const, key: session, envelope: p };
      });
    },
  });
}
