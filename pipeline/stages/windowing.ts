/**
 * Windowing (client zone): audio chunks of the sessions on this instance's partitions → feature windows
 * on the catalogue's grid, batched as many per record as one query ciphertext carries.
 *
 * The state per session (a bounded tail of audio) is rebuilt from the audio topic: offsets are committed
 * only up to the oldest chunk a session still needs, so an instance that takes over a partition (after a
 * restart or a rebalance) reads those chunks again and continues on the same grid. A reconnected source
 * (`discontinuity`) restarts the session's windower at the new position: no window straddles the outage.
 */
import { BlindearError } from '../errors.js';
import type { FeatureExtractor } from '../features/extractor.js';
import { StreamWindower, type StreamWindow } from '../features/stream-windower.js';
import { boundaryHints } from '../dsp/boundaries.js';
import { NOTE_HINTS } from '../he/client/service-key.js';
import { landmarkWordsToBase64 } from '../model/position.js';
import { defineStage, type Outbound, type TableView } from '../runtime/stage.js';
import { float32FromBytes } from './ingest.js';

interface Chunk {
  offset: bigint;
  startSample: number;
  endSample: number;
  capturedAtMs: number;
}

interface SessionWindowing {
  partition: number;
  /** Where the session's window grid starts (its record's windowPhaseSeconds). */
  phaseSeconds: number;
  windower: StreamWindower;
  chunks: Chunk[];
  batch: { windows: StreamWindow[]; prev: number } | null;
  /** The batch sent last: sent again, marked final, when a stream ends without a new window. */
  lastBatch: { windows: StreamWindow[]; prev: number } | null;
  /** Last window emitted, -1 before the first. */
  lastEmitted: number;
  lastAudioMs: number;
}

export interface WindowingDeps {
  extractor: FeatureExtractor;
  modelId: string;
  /** Windows one query ciphertext carries. */
  windowsPerQuery: number;
  /** A batch is sent once it spans this much audio, full or not (bounds latency). */
  maxBatchSeconds: number;
  /**
   * The session when this client service holds it, with where its window grid starts (asked once per
   * session an instance meets); undefined for another service's session. Absent: every session, phase 0.
   */
  session?(tables: TableView, session: string, partition: number): Promise<{ windowPhaseSeconds: number } | undefined>;
  /**
   * A window's landmarks for the position check, packed (pipeline/model/position.ts), from its PCM: given
   * for catalogues with a position table.
   */
  landmarks?(pcm: Float32Array): Uint32Array;
}

/** A session without audio for this long is dropped from memory. */
const IDLE_SESSION_MS = 10 * 60_000;

export function createWindowingStage(deps: WindowingDeps) {
  const { extractor } = deps;
  const sessions = new Map<string, SessionWindowing>();
  const rate = extractor.sampleRate;

  /** Wall clock at which `sample` was captured, from the chunk that holds it. */
  const capturedAt = (s: SessionWindowing, sample: number): number => {
    for (let i = s.chunks.length - 1; i >= 0; i--) {
      const c = s.chunks[i];
      if (sample > c.startSample || i === 0) return Math.max(0, c.capturedAtMs - (Math.max(0, c.endSample - sample) / rate) * 1000);
    }
    return Date.now();
  };

  const flush = (session: string, s: SessionWindowing, final: boolean): Outbound<'features'>[] => {
    const b = s.batch;
    if (!b || b.windows.length === 0) return [];
    s.batch = null;
    s.lastBatch = b;
    const first = b.windows[0];
    const last = b.windows[b.windows.length - 1];
    // Boundary hints from the new audio of these windows (a hop each), with 4 s of analysis context: the
    // sharpest ones, as many as the query's sealed note carries.
    const from = s.windower.startOf(b.windows[0].seq);
    const to = s.windower.startOf(last.seq + 1);
    const seen = s.windower.audio(from - 4 * rate, to + Math.round(1.5 * rate));
    const boundaries = boundaryHints(seen.pcm, rate).map((h) => ({ t: Math.round((h.t + seen.start / rate) * 100) / 100, strength: Math.round(h.strength * 1000) / 1000 }))
      .filter((h) => h.t >= from / rate && h.t < to / rate).slice(0, NOTE_HINTS);
    // Each window's vector: its hypotheses' d-vectors stacked, then its probes' (hypotheses × (1 + probes) × dim).
    const per = extractor.hypotheses * (1 + extractor.probes) * extractor.dim;
    const values = new Float32Array(b.windows.length * per);
    b.windows.forEach((w, i) => values.set(w.vector, i * per));
    s.lastEmitted = last.seq;
    // Each window's landmarks (from its own audio) for the play check, when the catalogue has one.
    // (From the windower's own extraction; an extractor that does not keep them extracts them again here.)
    const landmarks = deps.landmarks && b.windows.map((w) => {
      let words = w.landmarks;
      if (!words) {
        const a = s.windower.audio(s.windower.startOf(w.seq), s.windower.windowEndSample(w.seq));
        words = a.start === s.windower.startOf(w.seq) ? deps.landmarks!(a.pcm) : new Uint32Array(0);
      }
      return landmarkWordsToBase64(words);
    });
    return [{
      topic: 'features',
      key: session,
      envelope: {
        session, seq: first.seq, count: b.windows.length, prev: b.prev, dim: extractor.dim, modelId: deps.modelId,
        startSeconds: first.startSeconds, final, capturedAtMs: capturedAt(s, s.windower.windowEndSample(last.seq)), boundaries,
        ...(landmarks ? { landmarks } : {}),
      },
      value: new Uint8Array(values.buffer),
    }];
  };

  return defineStage({
    name: 'windowing',
    input: 'audio',
    async process(msg, ctx) {
      const { session, sampleRate, startSample, final, capturedAtMs, discontinuity } = msg.envelope;
      if (sampleRate !== rate) {
        throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `audio at ${sampleRate} Hz, the catalogue's features need ${rate} Hz`);
      }
      if (msg.value.length % 4 !== 0) throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', 'PCM payload is not whole float32 samples');
      const pcm = float32FromBytes(msg.value);
      let s = sessions.get(session);
      // Another client service's session on the shared audio topic: its own windowing makes its windows.
      let phaseSeconds = s?.phaseSeconds ?? 0;
      if (!s && deps.session) {
        const held = await deps.session(ctx.tables, session, msg.partition);
        if (!held) return [];
        phaseSeconds = held.windowPhaseSeconds;
      }
      const out: Outbound<'features'>[] = [];
      if (s && discontinuity) {
        // The source reconnected: what was batched goes out, the windower starts again at the new position.
        out.push(...flush(session, s, false));
        s.windower = new StreamWindower(extractor, startSample, { phaseSeconds, landmarks: !!deps.landmarks });
        s.chunks = [];
      }
      if (!s) {
        s = { partition: msg.partition, phaseSeconds, windower: new StreamWindower(extractor, startSample, { phaseSeconds, landmarks: !!deps.landmarks }), chunks: [], batch: null, lastBatch: null, lastEmitted: -1, lastAudioMs: 0 };
        // Joining a stream under way: the window before the first one this windower makes was someone else's.
        if (startSample > 0) s.lastEmitted = s.windower.next - 1;
        sessions.set(session, s);
      }
      const endSample = startSample + pcm.length;
      s.chunks.push({ offset: BigInt(msg.offset), startSample, endSample, capturedAtMs });
      s.lastAudioMs = ctx.now();
      const windows = s.windower.push(pcm, startSample, final);
      ctx.metrics.audioSeconds.inc({ stage: 'windowing' }, pcm.length / rate);
      for (const w of windows) {
        s.batch ??= { windows: [], prev: s.lastEmitted };
        s.batch.windows.push(w);
        const full = s.batch.windows.length >= deps.windowsPerQuery || s.batch.windows.length * extractor.hopSeconds >= deps.maxBatchSeconds;
        if (full) out.push(...flush(session, s, false));
      }
      if (final) {
        const last = flush(session, s, true);
        if (last.length === 0 && out.length > 0) out[out.length - 1].envelope.final = true;
        else if (last.length === 0 && s.lastBatch) {
          // The stream ended right after a batch went out: send that batch again as the session's end
          // (the decider takes a final repeat of its last windows as the end of the stream).
          s.batch = s.lastBatch;
          last.push(...flush(session, s, true));
        }
        out.push(...last);
        sessions.delete(session);
        if (out.length === 0 && startSample === 0) throw new BlindearError('BLINDEAR_ERR_AUDIO_TOO_SHORT', `session ${session} ended before its first window`);
        // The end of a stream joined at its last chunk: read again after a restart whose commit had not
        // landed; its windows and its end were sent before.
        if (out.length === 0) ctx.logger.debug({ session, startSample }, 'end of a stream already windowed: nothing to send');
      } else {
        // Keep the chunks from the one holding the oldest sample still needed.
        const keep = s.windower.keepFromSample(s.batch ? s.batch.windows[0].seq : s.windower.next);
        while (s.chunks.length > 1 && s.chunks[1].startSample <= keep) s.chunks.shift();
      }
      ctx.metrics.activeSessions.set({ stage: 'windowing' }, sessions.size);
      return out;
    },
    retainFrom(partition) {
      let min: bigint | undefined;
      const idleBefore = Date.now() - IDLE_SESSION_MS;
      for (const [key, s] of sessions) {
        if (s.partition !== partition || s.chunks.length === 0) continue;
        // A source gone quiet for long no longer holds the partition's commits back; its audio, if it
        // comes back, starts a new windower (as after a reconnect).
        if (s.lastAudioMs < idleBefore) { sessions.delete(key); continue; }
        if (min === undefined || s.chunks[0].offset < min) min = s.chunks[0].offset;
      }
      return min?.toString();
    },
    revoked(partitions) {
      for (const [k, s] of sessions) if (partitions.includes(s.partition)) sessions.delete(k);
    },
  });
}
