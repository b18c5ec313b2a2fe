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
 * Play checks (catalogues with a position table): a play the decisions would log is first checked in
 * time, as a fingerprint matcher's offset histogram does. Its track's two best-scoring segments are asked
 * for by position query (sent on the queries topic; the server cannot tell which records), and the
 * decision's own landmarks, which windowing sent sealed with the query, must align with one of them
 * (z ≥ PLAY_CHECK_Z). The answer comes back on this partition like scores; until then the play
 * waits in the state (`checks`), so a restart or a rebalance continues the check where it stood. A play
 * whose check fails is not logged (a second check is made if a later decision names it again); a check
 * unanswered for CHECK_TIMEOUT_MS leaves the play to the decisions alone.
 *
 * A sharded catalogue's query is answered by every shard's worker group, each with its classes' scores:
 * the parts wait (shard-parts.ts) until every shard has answered, each checked against this client's own
 * catalogue, and the merged scores are decided as one answer.
 */
import type { CatalogManifest } from '../../schemas/catalog.js';
import type { LandmarkParams } from '../../schemas/feature-landmark.js';
import type { AirplayEvent, DecideState, OpenPlay, PositionCheck, Prediction } from '../../schemas/messages.js';
import { decodeFrames, encodeFrames } from '../../schemas/frames.js';
import { SILENCE_EDGE_STRENGTH } from '../dsp/boundaries.js';
import { BlindearError } from '../errors.js';
import { hintsFromNote, openLandmarks, openNote, queryMac, verifyQueryMac } from '../he/client/service-key.js';
import type { PositionClient } from '../he/client/position-client.js';
import {
  bestAlignment, landmarkWordsFromBase64, nearDuplicateTracks, padCandidates, landmarkWordsToBase64, packLandmarks, PLAY_CHECK_Z, POSITION_CANDIDATES, positionCandidates, positionQuery, unpackLandmarks,
} from '../model/position.js';
import type { Segment } from '../model/segment-templates.js';
import { queryHypotheses, queryProbes, queryVectorsPerWindow, type Decider } from '../features/registry.js';
import { bestOverHypotheses } from '../features/types.js';
import { AirplayTracker, type ClosedUnchecked, type PlayEvent, type TrackInfo } from '../model/airplay.js';
import type { StreamDecision } from '../model/stream-decisions.js';
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
  /**
   * Plays are checked by position query before they are logged (catalogues with a position table, not
   * sharded): the records of the named track's best segments are fetched, and the decision's landmarks
   * must align with one of them in time.
   */
  position?: { client: PositionClient; segments: Segment[]; slots: number; bitShare?: readonly number[]; params: LandmarkParams };
}

/**
 * A check still unanswered after this long is settled without its answer: the play is logged on the
 * decisions alone, as without a position table (a server that withholds answers gains nothing over one
 * without the table).
 */
export const CHECK_TIMEOUT_MS = 120_000;
/** A decision with fewer landmarks than this is not checked (a 15 s window of music has 130–330). */
const MIN_CHECK_LANDMARKS = 40;
/** Checks the decide state holds in flight (schemas/messages.ts DecideState.checks). */
const MAX_CHECKS_IN_FLIGHT = 8;
/** Cover records whose answers the state recognises (answers come back within a few decisions). */
const MAX_COVERS = 16;
/** Windows of landmarks the decide state keeps (a decision spans two). */
const KEPT_LANDMARK_WINDOWS = 4;


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

  function trackerOf(session: string): AirplayTracker {
    return new AirplayTracker(session, trackInfo, { hopSeconds: deps.hopSeconds, spanSeconds, missesToEnd: MISSES_TO_END, confidence: deps.confidence, checkPlays: !!deps.position });
  }

  function emit(out: Outbound[], e: PlayEvent, station: string, session: string, originMs: number, now: number, ctx: StageContext): void {
    out.push({ topic: 'airplay', key: session, envelope: airplayEvent(e, station, session, originMs, now) });
    ctx.metrics.plays.inc({ station, event: e.event });
  }

  let lastSentAtMs = 0;

  /** Always POSITION_CANDIDATES classes (a track of one segment repeats it): every position record looks alike. */
  const padded = (classes: number[]): number[] => padCandidates(classes, POSITION_CANDIDATES);

  /** One position record for `classes` (padded), MAC'd, on the queries topic; the queries' seeds are returned. */
  function sendPositionQueries(
    classes: number[], d: StreamDecision, session: string, paramsId: string, macKey: Uint8Array, ctx: StageContext, out: Outbound[],
  ): { queries: { seed: Uint8Array; bytes: Uint8Array }[]; sentAtMs: number } {
    const queries = padded(classes).map((k) => deps.position!.client.query(k));
    // Unique per record (two checks can go out for one decision): the answer is matched by (seq, sentAtMs).
    const sentAtMs = lastSentAtMs = Math.max(ctx.now(), lastSentAtMs + 1);
    const fields = { session, seq: d.toSeq, count: queries.length, prev: -1, final: false, capturedAtMs: sentAtMs, paramsId, modelId: manifest.modelId, kind: 'position' as const };
    out.push({ topic: 'queries', key: session, envelope: { ...fields, mac: queryMac(macKey, fields) }, value: encodeFrames(queries.map((q) => q.bytes)) });
    ctx.metrics.ciphertextBytes.inc({ stage: 'decide', direction: 'out' }, queries.reduce((a, q) => a + q.bytes.length, 0));
    return { queries, sentAtMs };
  }

  /**
   * Cover: a decision that asked for no check still sends one position record, for its best track's
   * segments, so the server sees the same record after every decision and cannot tell when a play began.
   * Its answer is dropped.
   */
  function sendCover(d: StreamDecision, scored: Map<number, Float64Array>, session: string, paramsId: string, macKey: Uint8Array, ctx: StageContext, out: Outbound[]): { seq: number; sentAtMs: number } | null {
    const scores: Float64Array[] = [];
    for (let s = d.fromSeq; s <= d.toSeq; s++) {
      const sc = scored.get(s);
      if (sc) scores.push(sc);
    }
    const classes = positionCandidates(d.decision, scores, deps.position!.segments);
    if (classes.length === 0) return null;
    return { seq: d.toSeq, sentAtMs: sendPositionQueries(classes, d, session, paramsId, macKey, ctx, out).sentAtMs };
  }

  /**
   * Asks for the position checks the last decision made wanted: the open play's, and those of plays it
   * closed before they were logged. A check needs the decision's landmarks; without them (windows sent
   * before the service checked plays) the play is logged on the decisions alone.
   */
  function askChecks(
    tracker: AirplayTracker, list: PositionCheck[], play: OpenPlay | null, closed: ClosedUnchecked[], d: StreamDecision, landmarks: DecideState['landmarks'],
    scored: Map<number, Float64Array>, session: string, paramsId: string, macKey: Uint8Array, ctx: StageContext, out: Outbound[],
  ): { list: PositionCheck[]; play: OpenPlay | null; events: PlayEvent[] } {
    const events: PlayEvent[] = [];
    let next = [...list];
    for (const c of closed) {
      const inFlight = next.find((k) => k.playId === c.play.playId);
      if (inFlight) next = next.map((k) => (k === inFlight ? { ...k, closed: c } : k));
      else {
        const made = c.play.check === 'wanted' ? ask(c.play, d, landmarks, scored, session, paramsId, macKey, ctx, out) : null;
        if (made) next.push({ ...made, closed: c });
        else events.push(...tracker.checked(c.play, true, c.endSeconds).events);
      }
    }
    if (play?.check === 'wanted') {
      const made = ask(play, d, landmarks, scored, session, paramsId, macKey, ctx, out);
      if (made) {
        const id = play.playId;
        next = [...next.filter((k) => k.playId !== id), made];
        play = { ...play, check: 'pending', checks: play.checks + 1 };
      } else {
        const r = tracker.checked(play, true);
        play = r.play;
        events.push(...r.events);
      }
    }
    // The oldest give way when more are in flight than the state holds (their plays are then logged unchecked).
    while (next.length > MAX_CHECKS_IN_FLIGHT) {
      const dropped = next.shift()!;
      if (dropped.closed) events.push(...tracker.checked(dropped.closed.play, true, dropped.closed.endSeconds).events);
    }
    return { list: next, play, events };
  }

  /** One play's check: the position queries for its track's best segments under decision `d`, sent on the queries topic. */
  function ask(
    play: OpenPlay, d: StreamDecision, landmarks: DecideState['landmarks'], scored: Map<number, Float64Array>,
    session: string, paramsId: string, macKey: Uint8Array, ctx: StageContext, out: Outbound[],
  ): PositionCheck | null {
    const p = deps.position!;
    const windows: Uint32Array[] = [];
    const starts: number[] = [];
    const scores: Float64Array[] = [];
    for (let s = d.fromSeq; s <= d.toSeq; s++) {
      const l = landmarks.find((x) => x.seq === s);
      const sc = scored.get(s);
      if (!l || !sc) return null;
      windows.push(landmarkWordsFromBase64(l.words));
      starts.push((s - d.fromSeq) * deps.hopSeconds);
      scores.push(sc);
    }
    const laid = unpackLandmarks(windows, starts);
    const classes = positionCandidates({ ...d.decision, track: play.track }, scores, p.segments);
    // Too few landmarks to tell (near silence, windows sent without them): the decisions alone decide.
    if (classes.length === 0 || laid.code.length < MIN_CHECK_LANDMARKS) return null;
    const { queries, sentAtMs } = sendPositionQueries(classes, d, session, paramsId, macKey, ctx, out);
    return {
      playId: play.playId, track: play.track, seq: d.toSeq, sentAtMs, classes: padded(classes),
      seeds: queries.map((q) => Buffer.from(q.seed).toString('base64')),
      words: landmarkWordsToBase64(packLandmarks(laid)), audioStartSeconds: d.audioStartSeconds, durationSeconds: d.audioEndSeconds - d.audioStartSeconds, closed: null,
    };
  }

  /** Checks unanswered for CHECK_TIMEOUT_MS: settled without the answer (see CHECK_TIMEOUT_MS). */
  function settleOverdue(
    list: PositionCheck[], play: OpenPlay | null, tracker: AirplayTracker, station: string, session: string, originMs: number, ctx: StageContext, out: Outbound[],
  ): { list: PositionCheck[]; play: OpenPlay | null } {
    const now = ctx.now();
    const keep: PositionCheck[] = [];
    for (const c of list) {
      if (now - c.sentAtMs < CHECK_TIMEOUT_MS) { keep.push(c); continue; }
      ctx.metrics.integrityErrors.inc({ reason: 'unanswered' });
      ctx.logger.warn({ session, track: c.track, sentAtMs: c.sentAtMs }, 'position check unanswered: the play is logged on the decisions alone');
      const r = c.closed ? tracker.checked(c.closed.play, true, c.closed.endSeconds) : play?.playId === c.playId ? tracker.checked(play, true) : null;
      if (!r) continue;
      if (!c.closed) play = r.play;
      for (const e of r.events) emit(out, e, station, session, originMs, now, ctx);
    }
    return { list: keep, play };
  }

  /** A position answer: the records open under the check's seeds, the landmarks align with one (passed) or not. */
  function answered(msg: Inbound<'scores'>, state: DecideState, station: string, ctx: StageContext): Outbound[] {
    const p = deps.position;
    const env = msg.envelope;
    if (state.covers.some((c) => c.seq === env.seq && c.sentAtMs === env.capturedAtMs)) {
      ctx.logger.trace({ session: env.session, seq: env.seq }, 'the answer to a cover record: dropped');
      return [];
    }
    const check = state.checks.find((c) => c.seq === env.seq && c.sentAtMs === env.capturedAtMs);
    if (!p || !check) {
      ctx.metrics.integrityErrors.inc({ reason: 'replay' });
      ctx.logger.debug({ session: env.session, seq: env.seq }, 'a position answer no check awaits: dropped');
      return [];
    }
    let frames: Uint8Array[];
    try {
      frames = decodeFrames(msg.value, check.classes.length);
    } catch (err) {
      throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `position answer: ${(err as Error).message}`);
    }
    if (frames.length !== check.classes.length) throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `${frames.length} position records for ${check.classes.length} queries`);
    const records = frames.map((f, i) => p.client.open(Buffer.from(check.seeds[i], 'base64'), f));
    const query = positionQuery(unpackLandmarks([landmarkWordsFromBase64(check.words)], [0]), check.durationSeconds, p.params);
    const best = bestAlignment(query, check.classes, records, p.slots, p.bitShare);
    const z = best?.a.z ?? 0;
    const passed = z >= PLAY_CHECK_Z;
    ctx.metrics.playChecks.inc({ outcome: passed ? 'passed' : 'failed' });
    ctx.logger.info({ session: env.session, track: check.track, title: manifest.tracks[check.track]?.title, z: Math.round(z * 100) / 100, passed, streamSeconds: check.audioStartSeconds }, 'position check');
    const tracker = trackerOf(env.session);
    const out: Outbound[] = [];
    const now = ctx.now();
    let play = state.play;
    if (check.closed) {
      for (const e of tracker.checked(check.closed.play, passed, check.closed.endSeconds).events) emit(out, e, station, env.session, state.originMs, now, ctx);
    } else if (play && play.playId === check.playId) {
      const r = tracker.checked(play, passed);
      play = r.play;
      for (const e of r.events) emit(out, e, station, env.session, state.originMs, now, ctx);
    }
    const next: DecideState = { ...state, play, checks: state.checks.filter((c) => c !== check) };
    out.push({ topic: 'decideState', key: env.session, envelope: next });
    return out;
  }

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
      if (!verifyQueryMac(macKey, { session, seq, count, prev, final, capturedAtMs, paramsId, modelId, kind: env.kind }, env.mac)) {
        ctx.metrics.integrityErrors.inc({ reason: 'mac' });
        throw new BlindearError('BLINDEAR_ERR_SCORES_FORGED', `session ${session} windows ${seq}+${count}: MAC does not match`);
      }
      const state: DecideState = ctx.tables.get('decideState', session)
        ?? { session, lastSeq: -1, sinceEmit: 0, recent: [], play: null, boundaries: [], probes: [], originMs: record.createdAtMs, ended: false, landmarks: [], checks: [], covers: [] };
      if (env.kind === 'position') return answered(msg, state, record.station, ctx);
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
      // The windows' landmarks this service sealed into the query (for play checks); kept for the last windows.
      const sealedLandmarks = deps.position && env.landmarks ? openLandmarks(macKey, { session, seq }, env.landmarks, count) : null;
      const landmarks = [...state.landmarks, ...(sealedLandmarks ?? []).map((w, i) => ({ seq: seq + i, words: landmarkWordsToBase64(w) }))]
        .filter((l, i, all) => all.findIndex((o) => o.seq === l.seq) === i).slice(-KEPT_LANDMARK_WINDOWS);
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
      const tracker = trackerOf(session);
      const out: Outbound[] = [];
      let play = state.play;
      let checks = settleOverdue(state.checks, play, tracker, record.station, session, state.originMs, ctx, out);
      play = checks.play;
      const scored = new Map([...restored, ...windows].map((w) => [w.seq, w.scores]));
      let covers = state.covers;
      for (const d of decided) {
        const p: Prediction = predictionOf(session, d, manifest, now);
        ctx.metrics.predictions.inc({ outcome: p.outcome });
        ctx.metrics.predictionLatencySeconds.observe(p.latencyMs / 1000);
        if (p.outcome === 'unknown') ctx.metrics.unknownWindows.inc({ station: record.station });
        out.push({ topic: 'predictions', key: session, envelope: p });
        const step = tracker.step(play, d, now, boundaries, probes);
        play = step.play;
        const origin = d.capturedAtMs - d.audioEndSeconds * 1000;
        for (const e of step.events) emit(out, e, record.station, session, origin, now, ctx);
        if (deps.position) {
          // Plays the decisions would log wait for their position check: asked for here, answered later.
          const sent = out.length;
          const asked = askChecks(tracker, checks.list, play, step.closed, d, landmarks, scored, session, client.paramsId, macKey, ctx, out);
          play = asked.play;
          checks = { list: asked.list, play };
          for (const e of asked.events) emit(out, e, record.station, session, origin, now, ctx);
          if (!out.slice(sent).some((o) => o.topic === 'queries')) {
            const cover = sendCover(d, scored, session, client.paramsId, macKey, ctx, out);
            if (cover) covers = [...covers, cover].slice(-MAX_COVERS);
          }
        }
      }
      const snap = decisions.snapshot();
      const next: DecideState = {
        session, lastSeq: snap.lastSeq, sinceEmit: snap.sinceEmit, play, boundaries, probes, originMs: state.originMs, ended: final,
        recent: snap.recent.map((w) => ({ seq: w.seq, startSeconds: w.startSeconds, capturedAtMs: w.capturedAtMs, scores: f64ToB64(w.scores) })),
        landmarks, checks: checks.list, covers,
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

/** The catalogue's tracks as the airplay log needs them: length, and whether the scores' calibration found near-duplicates. */
function airplayTracks(manifest: CatalogManifest): TrackInfo[] {
  const lookalike = nearDuplicateTracks(manifest.enrolment);
  return manifest.tracks.map((t, i) => ({ durationSeconds: t.durationSeconds, lookalike: lookalike.has(i) }));
}
