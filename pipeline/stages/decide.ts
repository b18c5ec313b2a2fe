/**
 * Decrypt and decide (client zone): encrypted scores → checked against the queries this service sent →
 * decrypted (the scores never leave the client zone) → decisions over the last windows → prediction
 * records and the airplay log. Its state per session (the last windows' scores, the open play, the last
 * window decided) is written to the compacted `decide-state` topic with every output, so the instance that
 * gets the partition next continues exactly there and never decides a window twice.
 *
 * Nothing from the server zone is trusted: a record must carry the MAC this service made for the query's
 * fields (session, windows, predecessor, final flag), must be the next one of its session (a replay or a
 * duplicate is dropped, a gap is reported), and must decrypt to scores the model can produce.
 *
 * A sharded catalogue's query is answered by every shard's worker group, each with its classes' scores:
 * the parts wait (shard-parts.ts) until every shard has answered, each checked against this client's own
 * catalogue, and the merged scores are decided as one answer.
 */
import { EnrolmentNearDuplicates, type CatalogManifest } from '../../schemas/catalog.js';
import type { AirplayEvent, DecideState, Prediction } from '../../schemas/messages.js';
import { decodeFrames } from '../../schemas/frames.js';
import { SILENCE_EDGE_STRENGTH } from '../dsp/boundaries.js';
import { BlindearError } from '../errors.js';
import { hintsFromNote, openNote, verifyQueryMac } from '../he/client/service-key.js';
import { queryHypotheses, queryProbes, queryVectorsPerWindow, type Decider } from '../features/registry.js';
import { bestOverHypotheses } from '../features/types.js';
import { AirplayTracker, type PlayEvent, type TrackInfo } from '../model/airplay.js';
import { probePresence } from '../model/presence.js';
import { StreamDecisions, type ScoredWindow } from '../model/stream-decisions.js';
import { defineStage, type Inbound, type Outbound, type StageContext } from '../runtime/stage.js';
import { DEFAULT_SHARD_WAIT, ShardParts, type GivenUp, type ShardWaitLimits } from './shard-parts.js';
import type { ClientSessions } from './client-sessions.js';
import { predictionOf } from './predictions.js';

export interface DecideDeps {
  manifest: CatalogManifest;
  decider: Decider;
  sessions: ClientSessions;
  decisions: { span: number; emitEvery: number; windowSeconds: number };
  hopSeconds: number;
  /** |score| above this cannot come from the model: the result was not computed on this client's query. */
  scoreBound: number;
  confidence(raw: number): number;
  /** A sharded catalogue: how long and how much the parts of a query wait for their other shards. */
  shardWait?: Partial<ShardWaitLimits>;
  /** Dead-letters the parts of a query not every shard answered (found off the partition's path). */
  deadLetter?(msg: Inbound<'scores'>, err: BlindearError): Promise<void>;
}

const f64ToB64 = (a: Float64Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function b64ToF64(s: string): Float64Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float64Array(b.length >> 3);
  new Uint8Array(out.buffer).set(b.subarray(0, out.length * 8));
  return out;
}

/**
 * Decisions in a row that must miss a play before it ends: a decision spans 30 s, and one or two of them
 * miss a track sped up a few percent or talked over (one was enough to split a play in two).
 */
const MISSES_TO_END = 3;

export function createDecideStage(deps: DecideDeps) {
  const { manifest } = deps;
  const spanSeconds = (deps.decisions.span - 1) * deps.hopSeconds + deps.decisions.windowSeconds;
  const iso = (ms: number): string => new Date(ms).toISOString();
  const trackInfo = airplayTracks(manifest);
  /** Score vectors per window: the catalogue's query hypotheses, for the window and then each of its P probes. */
  const K = queryHypotheses(manifest);
  const P = queryProbes(manifest);
  const V = queryVectorsPerWindow(manifest);
  const probeSeconds = P > 0 ? deps.decisions.windowSeconds / P : 0;
  const shardParts = manifest.shards ? new ShardParts(manifest.shards, { ...DEFAULT_SHARD_WAIT, ...deps.shardWait }) : undefined;
  let ctxRef: StageContext | undefined;

  function checkBounds(scores: readonly Float64Array[], session: string, seq: number, ctx: StageContext): void {
    for (const sc of scores) {
      for (let i = 0; i < sc.length; i++) {
        if (!(Math.abs(sc[i]) <= deps.scoreBound)) {
          ctx.metrics.integrityErrors.inc({ reason: 'range' });
          throw new BlindearError('BLINDEAR_ERR_SCORES_OUT_OF_RANGE', `session ${session} window ${seq}: score ${sc[i].toFixed(3)} outside ±${deps.scoreBound}`);
        }
      }
    }
  }

  /** A query not every shard answered: its parts are dead-lettered with the missing shards named. */
  async function giveUp(g: GivenUp, ctx: StageContext): Promise<void> {
    ctx.metrics.integrityErrors.inc({ reason: 'incomplete' });
    ctx.logger.warn({ code: g.err.code, parts: g.parts.length }, g.err.message);
    for (const part of g.parts) {
      await deps.deadLetter?.(part, g.err);
      ctx.metrics.deadLetters.inc({ stage: 'decide', code: g.err.code });
    }
    g.release();
  }

  const sweeper = shardParts && setInterval(() => {
    const ctx = ctxRef;
    if (!ctx) return;
    const expired = shardParts.expired(ctx.now());
    if (expired.length) void (async () => { for (const g of expired) await giveUp(g, ctx); })().catch((err: unknown) => ctx.logger.error({ err }, 'dead-lettering incomplete scores failed'));
  }, Math.max(50, Math.min(1000, (deps.shardWait?.waitMs ?? DEFAULT_SHARD_WAIT.waitMs) / 4)));
  sweeper?.unref();

  return defineStage({
    name: 'decide',
    input: 'scores',
    // Parts waiting for their other shards hold the partition's committed offset back, and are dropped
    // here when the partition moves (its next owner reads them again).
    ...(shardParts ? {
      retainFrom: (partition: number) => shardParts.heldOffset(partition),
      revoked: (partitions: readonly number[]) => shardParts.revoke(partitions),
    } : {}),
    async close() {
      if (sweeper) clearInterval(sweeper);
    },
    async process(msg, ctx) {
      ctxRef = ctx;
      const env = msg.envelope;
      const { session, seq, count, parts, final, capturedAtMs, paramsId, modelId } = env;
      if (msg.key !== session) throw new BlindearError('BLINDEAR_ERR_SCORES_FORGED', `record key ${msg.key} carries scores for ${session}`);
      const record = await deps.sessions.owned(ctx.tables, session, msg.partition);
      if (!record) {
        // Not a session of this service (a one-shot client or another service shares the topic): not ours to judge.
        ctx.logger.debug({ session }, 'scores of a session this service does not hold: skipped');
        return [];
      }
      const { client, macKey } = await deps.sessions.get(record);
      const prev = env.prev ?? -2;
      if (!verifyQueryMac(macKey, { session, seq, count, prev, final, capturedAtMs, paramsId, modelId }, env.mac)) {
        ctx.metrics.integrityErrors.inc({ reason: 'mac' });
        throw new BlindearError('BLINDEAR_ERR_SCORES_FORGED', `session ${session} windows ${seq}+${count}: MAC does not match`);
      }
      const state: DecideState = ctx.tables.get('decideState', session)
        ?? { session, lastSeq: -1, sinceEmit: 0, recent: [], play: null, boundaries: [], probes: [], originMs: record.createdAtMs, ended: false };
      const endRepeat = final && !state.ended && seq + count - 1 === state.lastSeq && seq <= state.lastSeq;
      if (shardParts && final && state.ended && seq + count - 1 === state.lastSeq) {
        // The other shards' parts of the end marker: the first part to come closed the session.
        ctx.logger.debug({ session, seq }, 'another shard\'s part of the end marker: dropped');
        return [];
      }
      if (!endRepeat && (state.ended || seq <= state.lastSeq)) {
        ctx.metrics.integrityErrors.inc({ reason: 'replay' });
        ctx.logger.debug({ session, seq, lastSeq: state.lastSeq }, 'scores for windows already decided: dropped');
        return [];
      }
      if (paramsId !== client.paramsId) throw new BlindearError('BLINDEAR_ERR_HE_PARAMS_MISMATCH', `scores for ${paramsId}`);
      let frames: Uint8Array[];
      try {
        frames = decodeFrames(msg.value, Math.max(parts, 1));
      } catch (err) {
        throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', (err as Error).message);
      }
      if (frames.length !== parts) throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `envelope says ${parts} parts, value has ${frames.length}`);
      ctx.metrics.ciphertextBytes.inc({ stage: 'decide', direction: 'in' }, msg.value.length);
      let scores: Float64Array[];
      if (shardParts) {
        // A sharded catalogue: this record is one shard's classes; decide once every shard has answered.
        const range = shardParts.check(env.shard);
        if (endRepeat) {
          scores = []; // the end marker restates a decision: no scores needed, the first part to come closes it
        } else {
          if (!client.decryptShard || frames.length !== 1) throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `a shard's part is one LWE result, got ${frames.length} parts`);
          const part = client.decryptShard(frames[0], count * V, range.firstClass, range.classes);
          checkBounds(part, session, seq, ctx);
          const added = shardParts.add(msg, range.index, part, ctx.now());
          for (const g of added.givenUp) await giveUp(g, ctx);
          if (!added.merged) return [];
          scores = added.merged;
        }
      } else {
        if (env.shard) throw new BlindearError('BLINDEAR_ERR_SCORES_FORGED', `a part of shard ${env.shard.index} of ${env.shard.count}; this client's catalogue is not sharded`);
        scores = await client.decryptScores([frames], count * V);
        checkBounds(scores, session, seq, ctx);
      }
      if (!endRepeat && prev !== state.lastSeq && !(state.lastSeq === -1 && prev < seq)) {
        ctx.metrics.integrityErrors.inc({ reason: 'gap' });
        ctx.logger.warn({ session, seq, prev, lastSeq: state.lastSeq }, 'windows missing between the last decided and these scores');
      }
      // The windows' own vectors and their probes'; each class keeps its best score over the hypotheses.
      const own: Float64Array[] = [];
      const probeVectors: Float64Array[] = [];
      for (let i = 0; i < scores.length / V; i++) {
        own.push(...scores.slice(i * V, i * V + K));
        probeVectors.push(...scores.slice(i * V + K, (i + 1) * V));
      }
      scores = bestOverHypotheses(own, K);
      const probeScores = bestOverHypotheses(probeVectors, K);
      // The boundary hints this service sealed into the query; a note that does not open is ignored.
      const hints = hintsFromNote(env.note ? openNote(macKey, { session, seq }, env.note) ?? [] : []);
      const horizon = record.windowPhaseSeconds + (seq + count) * deps.hopSeconds - 4 * spanSeconds;
      const kept = state.boundaries.map((h) => (typeof h === 'number' ? { t: h, strength: SILENCE_EDGE_STRENGTH } : h));
      const boundaries = [...kept, ...hints].filter((h) => h.t >= horizon).sort((a, b) => a.t - b.t).slice(-256);
      // What each probe heard: window i's probe p starts p probe lengths into it.
      const heard = probeScores.map((sc, j) => {
        const w = Math.floor(j / P);
        return probePresence(sc, manifest.classes.track, record.windowPhaseSeconds + (seq + w) * deps.hopSeconds + (j % P) * probeSeconds, probeSeconds);
      });
      const probes = [...state.probes, ...heard].filter((p) => p.t >= horizon).slice(-64);
      const restored: ScoredWindow[] = state.recent.map((w) => ({ seq: w.seq, startSeconds: w.startSeconds, capturedAtMs: w.capturedAtMs, scores: b64ToF64(w.scores) }));
      const decisions = new StreamDecisions(deps.decider, deps.decisions, { recent: restored, sinceEmit: state.sinceEmit, lastSeq: state.lastSeq });
      // Window k starts at the session's phase + k·hop (windowing's grid).
      const windows = endRepeat ? [] : scores.map((sc, i) => ({ seq: seq + i, startSeconds: record.windowPhaseSeconds + (seq + i) * deps.hopSeconds, scores: sc, capturedAtMs }));
      const decided = decisions.add(windows, final);
      const now = ctx.now();
      const tracker = new AirplayTracker(session, trackInfo, { hopSeconds: deps.hopSeconds, spanSeconds, missesToEnd: MISSES_TO_END, confidence: deps.confidence });
      const out: Outbound[] = [];
      let play = state.play;
      for (const d of decided) {
        const p: Prediction = predictionOf(session, d, manifest, now);
        ctx.metrics.predictions.inc({ outcome: p.outcome });
        ctx.metrics.predictionLatencySeconds.observe(p.latencyMs / 1000);
        if (p.outcome === 'unknown') ctx.metrics.unknownWindows.inc({ station: record.station });
        out.push({ topic: 'predictions', key: session, envelope: p });
        const step = tracker.step(play, d, now, boundaries, probes);
        play = step.play;
        for (const e of step.events) {
          out.push({ topic: 'airplay', key: session, envelope: airplayEvent(e, record.station, session, d.capturedAtMs - d.audioEndSeconds * 1000, now) });
          ctx.metrics.plays.inc({ station: record.station, event: e.event });
        }
      }
      const snap = decisions.snapshot();
      const next: DecideState = {
        session, lastSeq: snap.lastSeq, sinceEmit: snap.sinceEmit, play, boundaries, probes, originMs: state.originMs, ended: final,
        recent: snap.recent.map((w) => ({ seq: w.seq, startSeconds: w.startSeconds, capturedAtMs: w.capturedAtMs, scores: f64ToB64(w.scores) })),
      };
      out.push({ topic: 'decideState', key: session, envelope: next });
      return out;
    },
  });

  /** `originMs`: wall clock of stream second 0, from the capture time of the decision's last window. */
  function airplayEvent(e: PlayEvent, station: string, session: string, originMs: number, now: number): AirplayEvent {
    const t = manifest.tracks[e.track];
    return {
      event: e.event, station, session, path: t.path, title: t.title,
      streamStartSeconds: round(e.streamStartSeconds), streamEndSeconds: e.streamEndSeconds === undefined ? undefined : round(e.streamEndSeconds),
      startedAt: iso(originMs + e.streamStartSeconds * 1000), endedAt: e.streamEndSeconds === undefined ? undefined : iso(originMs + e.streamEndSeconds * 1000),
      durationSeconds: round(e.durationSeconds), offsetSeconds: round(e.offsetSeconds), confidence: Math.round(e.confidence * 1000) / 1000,
      modelId: manifest.modelId, playId: e.playId, decidedAtMs: now,
    };
  }
}

const round = (x: number): number => Math.round(x * 100) / 100;

/** The catalogue's tracks as the airplay log needs them: length, and whether the enrolment found lookalikes. */
function airplayTracks(manifest: CatalogManifest): TrackInfo[] {
  const groups = EnrolmentNearDuplicates.safeParse(manifest.enrolment).data?.calibration.nearDuplicates ?? [];
  const lookalike = new Set(groups.filter((g) => g.length > 1).map((g) => g[0]));
  return manifest.tracks.map((t, i) => ({ durationSeconds: t.durationSeconds, lookalike: lookalike.has(i) }));
}
