/**
 * Windowing (client zone): audio chunks of a session → feature windows on the catalogue's grid. Holds a
 * StreamWindower per session; a chunk of a session this process does not serve is filtered.
 */
import { BlindearError } from '../errors.js';
import type { FeatureExtractor } from '../features/extractor.js';
import { StreamWindower } from '../features/stream-windower.js';
import { defineStage, type Outbound } from '../runtime/stage.js';
import { float32FromBytes } from './ingest.js';

export function createWindowingStage(deps: { extractor: FeatureExtractor; modelId: string; serves(session: string): boolean }) {
  const windowers = new Map<string, StreamWindower>();
  return defineStage({
    name: 'windowing',
    input: 'audio',
    async process(msg, ctx) {
      const { session, sampleRate, startSample, final, capturedAtMs } = msg.envelope;
      if (!deps.serves(session)) return [];
      if (sampleRate !== deps.extractor.sampleRate) {
        throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `audio at ${sampleRate} Hz, the catalogue's features need ${deps.extractor.sampleRate} Hz`);
      }
      if (msg.value.length % 4 !== 0) throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', 'PCM payload is not whole float32 samples');
      let w = windowers.get(session);
      if (!w) { w = new StreamWindower(deps.extractor); windowers.set(session, w); }
      const windows = w.push(float32FromBytes(msg.value), startSample, final);
      if (final) windowers.delete(session);
      ctx.metrics.audioSeconds.inc({ stage: 'windowing' }, msg.value.length / 4 / sampleRate);
      const out: Outbound<'features'>[] = windows.map((win, i) => ({
        topic: 'features',
        key: session,
        envelope: { session, seq: win.seq, dim: deps.extractor.dim, modelId: deps.modelId, startSeconds: win.startSeconds, final: final && i === windows.length - 1, capturedAtMs },
        value: new Uint8Array(win.vector.buffer, win.vector.byteOffset, win.vector.byteLength),
      }));
      if (final && out.length === 0) {
        // The stream ended without a new window: still tell downstream the session is over.
        throw new BlindearError('BLINDEAR_ERR_AUDIO_TOO_SHORT', `session ${session} ended before its first window`);
      }
      return out;
    },
  });
}
