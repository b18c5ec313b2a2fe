/** Ingest: turns decoded PCM chunks of a source into audio records of one session. */
import type { Outbound } from '../runtime/stage.js';

export function audioChunkRecord(opts: {
  session: string; seq: number; startSample: number; sampleRate: number; pcm: Float32Array; final: boolean; capturedAtMs: number; discontinuity?: boolean;
}): Outbound<'audio'> {
  return {
    topic: 'audio',
    key: opts.session,
    envelope: { session: opts.session, seq: opts.seq, sampleRate: opts.sampleRate, startSample: opts.startSample, final: opts.final, capturedAtMs: opts.capturedAtMs, discontinuity: opts.discontinuity ?? false },
    value: new Uint8Array(opts.pcm.buffer, opts.pcm.byteOffset, opts.pcm.byteLength),
  };
}

/** Float32 little-endian bytes to a typed array, copying so the vector owns aligned memory. */
export function float32FromBytes(value: Uint8Array): Float32Array {
  const out = new Float32Array(value.byteLength >> 2);
  new Uint8Array(out.buffer).set(value.subarray(0, out.length * 4));
  return out;
}
