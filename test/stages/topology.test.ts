/**
 * The stage list run in memory, in topology order, through the real codecs (zod on both ends), real
 * audio and real encryption: no broker, no mock of kafkajs. Each record an upstream stage emits is
 * encoded as a Kafka record and decoded by the next stage, as the runtime does.
 */
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { isBlindearError } from '../../pipeline/errors.js';
import { ClientSession, createSigner, openPositionClient, scoringClients, signSessionKeys } from '../../pipeline/he/client/index.js';
import { PositionEngine, ScoringEngine } from '../../pipeline/he/server/index.js';
import { createExtractor } from '../../pipeline/features/registry.js';
import { loadManifest, loadModel, loadPositionTable } from '../../pipeline/model/catalog-store.js';
import { drawExcerpt, seededRandom } from '../../pipeline/model/calibrate.js';
import { scoreInClear } from '../../pipeline/model/segment-templates.js';
import { decodeRecord, encodeRecord } from '../../pipeline/runtime/codec.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import { createMetrics } from '../../pipeline/runtime/metrics.js';
import type { EnvelopeOf, Inbound, Outbound, Stage, StageContext } from '../../pipeline/runtime/stage.js';
import { ClientSessions, macKeyContext, secretKeyContext } from '../../pipeline/stages/client-sessions.js';
import { buildClientStage } from '../../pipeline/service/client-service.js';
import { newMacKey, serviceKeyFromBytes } from '../../pipeline/he/client/service-key.js';
import type { ClientSessionRecord } from '../../schemas/messages.js';
import { randomBytes } from 'node:crypto';
import { audioChunkRecord } from '../../pipeline/stages/ingest.js';
import { createScorerStage } from '../../pipeline/stages/scorer.js';
import { SessionKeyStore } from '../../pipeline/stages/session-key-store.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import type { TopicKey } from '../../schemas/topics.js';
import { testCatalog } from '../helpers/catalog.js';
import { MUSIC_DIR, tracksPerPackage } from '../helpers/music.js';

/** The tables the runtime would restore and update: here, what the stages wrote, in memory. */
const tables = new Map<string, unknown>();
const ctx: StageContext = {
  logger: createLogger('silent'),
  metrics: createMetrics(),
  now: () => Date.now(),
  tables: {
    get: <T extends TopicKey>(topic: T, key: string) => tables.get(`${topic}/${key}`) as EnvelopeOf<T> | undefined,
    fetch: async <T extends TopicKey>(topic: T, key: string) => tables.get(`${topic}/${key}`) as EnvelopeOf<T> | undefined,
  },
};
const applyTables = (outs: readonly Outbound[]): void => {
  for (const o of outs) if (o.topic === 'decideState' || o.topic === 'clientSessions') tables.set(`${o.topic}/${o.key}`, o.envelope);
};

/** What the runtime does between two stages: encode to a Kafka record, decode from it. */
function viaKafka<K extends TopicKey>(out: Outbound, topic: K, offset: number): Inbound<K> {
  expect(out.topic).toBe(topic);
  const rec = encodeRecord(out);
  const message = { key: Buffer.from(String(rec.key)), value: rec.value === null || rec.value === undefined ? null : Buffer.from(rec.value as Buffer | string), headers: rec.headers, offset: String(offset), timestamp: '0', attributes: 0, size: 0 } as KafkaMessage;
  return { key: String(rec.key), partition: 0, offset: String(offset), ...decodeRecord(topic, message) };
}

async function runThrough<K extends TopicKey>(stage: Stage<K>, inputs: Outbound[]): Promise<Outbound[]> {
  const outs: Outbound[] = [];
  for (const [i, o] of inputs.entries()) {
    const got = await stage.process(viaKafka(o, stage.input, i), ctx);
    applyTables(got);
    outs.push(...got);
  }
  return outs;
}

describe('stage topology in memory', () => {
  let manifest: CatalogManifest;
  let engine: ScoringEngine;
  let client: ClientSession;
  let keys: SessionKeyStore;
  let sessions: ClientSessions;
  let cat: { dir: string };
  const serviceKey = serviceKeyFromBytes(randomBytes(32));
  const session = 'topo-1';
  const enrolled = tracksPerPackage(4);
  const signer = createSigner();
  /** The session's keys as its client publishes them: signed with the session's own key. */
  const putKeys = (): void => {
    const value = client.publicMaterial();
    const put = keys.put(session, { envelope: signSessionKeys(signer, { session, paramsId: client.paramsId, modelId: manifest.modelId, createdAtMs: 0 }, value), value });
    expect(put.ok).toBe(true);
  };

  beforeAll(async () => {
    cat = await testCatalog('landmark', enrolled);
    manifest = await loadManifest(cat.dir);
    engine = await ScoringEngine.create(manifest.he, await loadModel(cat.dir, manifest));
    client = await ClientSession.create(manifest.he, { classes: manifest.classes.track.length, dim: manifest.dim });
    keys = new SessionKeyStore(engine);
    putKeys();
    // The session as ingest opens it: its secret and MAC keys sealed under the client service's key.
    const mac = newMacKey();
    const record: ClientSessionRecord = {
      session, station: 'test', modelId: manifest.modelId, paramsId: client.paramsId, keyId: serviceKey.keyId,
      sealedSecretKey: client.sealSecretKey((plain) => serviceKey.seal(plain, secretKeyContext(session))),
      sealedMacKey: serviceKey.seal(mac, macKeyContext(session)), sealedSigningKey: serviceKey.seal(signer.exportPrivateKey(), 'unused'), createdAtMs: 0,
      // Its window grid starts 7.5 s into the stream, as a monitor spreads its stations' windows.
      windowPhaseSeconds: 7.5,
    };
    applyTables([{ topic: 'clientSessions', key: session, envelope: record }]);
    sessions = new ClientSessions(manifest, scoringClients(manifest), serviceKey);
  });

  const stageOf = (name: 'windowing' | 'encrypt' | 'decide'): Stage<TopicKey> => buildClientStage(name, {
    stages: [], clusters: undefined as never, producers: undefined as never, manifest, clients: scoringClients(manifest), serviceKey, logger: ctx.logger, metrics: ctx.metrics, retry: undefined as never,
  }, sessions);

  it('audio → windows → queries → encrypted scores → a prediction naming the track and offset', async () => {
    const extractor = createExtractor(manifest);
    const track = enrolled[5];
    // With 2 s of silence 8 s in (a dropout): edges the client hears.
    const pcm = (await decodeFile(join(MUSIC_DIR, track), { sampleRate: extractor.sampleRate })).slice(40 * 22050, 80 * 22050);
    pcm.fill(0, 8 * 22050, 10 * 22050);
    const chunk = 22050;
    const audio: Outbound[] = [];
    for (let at = 0, seq = 0; at < pcm.length; at += chunk, seq++) {
      audio.push(audioChunkRecord({ session, seq, startSample: at, sampleRate: 22050, pcm: pcm.slice(at, at + chunk), final: at + chunk >= pcm.length, capturedAtMs: 1 }));
    }
    const features = await runThrough(stageOf('windowing'), audio);
    // The stream gives the windows a whole-clip extraction gives on the session's grid (7.5 s + k·hop).
    // (An end that brings no new window repeats the last record, marked final: the same windows again.)
    const seqs = new Set(features.flatMap((f) => {
      const e = f.envelope as { seq: number; count: number };
      return Array.from({ length: e.count }, (_, i) => e.seq + i);
    }));
    expect(seqs.size).toBe(extractor.windows(pcm, 7.5 * 22050).vectors.length);
    expect((features[0].envelope as { startSeconds: number }).startSeconds).toBe(7.5);
    expect((features.at(-1)!.envelope as { final: boolean }).final).toBe(true);
    // Each batch carries the sharpest boundary hints of its new audio, as many as the sealed note holds.
    const sent = features.flatMap((f) => {
      const e = f.envelope as { seq: number; count: number; boundaries: { t: number; strength: number }[] };
      expect(e.boundaries.length).toBeLessThanOrEqual(8);
      e.boundaries.forEach((h, i) => {
        // On the session's grid: window k starts at 7.5 s + k·hop.
        expect(h.t).toBeGreaterThanOrEqual(7.5 + e.seq * extractor.hopSeconds);
        expect(h.t).toBeLessThan(7.5 + (e.seq + e.count) * extractor.hopSeconds);
        if (i > 0) expect(h.strength).toBeLessThanOrEqual(e.boundaries[i - 1].strength);
      });
      return e.boundaries;
    });
    expect(sent.length).toBeGreaterThan(0);

    const queries = await runThrough(stageOf('encrypt'), features);
    expect(queries.length).toBeGreaterThan(0);

    putKeys();
    const scorer = createScorerStage({ engine, modelId: manifest.modelId, keys });
    const scores = await runThrough(scorer, queries);
    expect(scores).toHaveLength(queries.length);

    const decided = await runThrough(stageOf('decide'), scores);
    const preds = decided.filter((o) => o.topic === 'predictions').map((o) => o.envelope as { match: { path: string; offsetSeconds: number } | null; final: boolean; audioStartSeconds: number });
    // Decisions place their windows on the session's grid too.
    expect(preds[0].audioStartSeconds).toBe(7.5);
    // The airplay log: one play of the track, started and ended.
    const plays = decided.filter((o) => o.topic === 'airplay').map((o) => o.envelope as { event: string; path: string; offsetSeconds: number });
    expect(plays.map((p) => p.event)).toEqual(['started', 'ended']);
    expect(plays[0].path).toBe(track);
    expect(Math.abs(plays[0].offsetSeconds - 40)).toBeLessThan(2 * extractor.hopSeconds);
    // The hints came back through the query's sealed note: the decider's state holds them, strengths and all.
    const state = decided.filter((o) => o.topic === 'decideState').at(-1)!.envelope as { boundaries: { t: number; strength: number }[] };
    const key = (h: { t: number; strength: number }): string => `${h.t.toFixed(2)}/${h.strength.toFixed(3)}`;
    expect(state.boundaries.map(key).sort()).toEqual(sent.filter((h) => h.t >= 0).map(key).sort());
    // Delivered twice (a redelivery after a crash), the scores decide nothing twice.
    expect(await runThrough(stageOf('decide'), scores)).toEqual([]);
    expect(preds.at(-1)!.final).toBe(true);
    const named = preds.filter((p) => p.match);
    expect(named.length).toBeGreaterThan(0);
    for (const p of named) expect(p.match!.path).toBe(track);
    // The first decision starts 7.5 s into the excerpt: 47.5 s into the track.
    expect(Math.abs(named[0].match!.offsetSeconds - 47.5)).toBeLessThan(2 * extractor.hopSeconds);
  });

  it('logs a play only once its position check aligns: the honest server\'s records pass, another segment\'s do not', async () => {
    const extractor = createExtractor(manifest);
    const track = enrolled[5];
    const pcm = (await decodeFile(join(MUSIC_DIR, track), { sampleRate: extractor.sampleRate })).slice(40 * 22050, 80 * 22050);
    const audio: Outbound[] = [];
    for (let at = 0, seq = 0; at < pcm.length; at += 22050, seq++) {
      audio.push(audioChunkRecord({ session, seq, startSample: at, sampleRate: 22050, pcm: pcm.slice(at, at + 22050), final: at + 22050 >= pcm.length, capturedAtMs: 1 }));
    }
    const positionClient = await openPositionClient(cat.dir, manifest);
    expect(positionClient).not.toBeNull();
    const checking = (name: 'windowing' | 'encrypt' | 'decide'): Stage<TopicKey> => buildClientStage(name, {
      stages: [], clusters: undefined as never, producers: undefined as never, manifest, clients: scoringClients(manifest), serviceKey, logger: ctx.logger, metrics: ctx.metrics, retry: undefined as never,
      positionClient,
    }, sessions);
    const features = await runThrough(checking('windowing'), audio);
    // Every window carries its landmarks (a 15 s window of music: well over a hundred).
    for (const f of features) {
      const e = f.envelope as { count: number; landmarks?: string[] };
      expect(e.landmarks).toHaveLength(e.count);
      for (const l of e.landmarks!) expect(Buffer.from(l, 'base64').length / 4).toBeGreaterThan(100);
    }
    const queries = await runThrough(checking('encrypt'), features);
    // Sealed at one size per window, whatever the window held.
    const sealedSizes = new Set(queries.map((q) => {
      const e = q.envelope as { count: number; landmarks?: string };
      return Buffer.from(e.landmarks!, 'base64').length / e.count;
    }));
    expect(sealedSizes.size).toBe(1);
    putKeys();
    const served = (await loadPositionTable(cat.dir, manifest))!;
    const honest = createScorerStage({ engine, modelId: manifest.modelId, keys, position: new PositionEngine(served.setup, served.table) });
    // A server that answers every position query from a table whose records are another segment's.
    const { classes, bytes } = served.setup;
    const shifted = new Uint8Array(served.table.length);
    for (let c = 0; c < classes; c++) shifted.set(served.table.subarray(((c + (classes >> 1)) % classes) * bytes, ((c + (classes >> 1)) % classes + 1) * bytes), c * bytes);
    const lying = createScorerStage({ engine, modelId: manifest.modelId, keys, position: new PositionEngine(served.setup, shifted) });
    const scores = await runThrough(honest, queries);

    for (const [server, logged] of [[honest, true], [lying, false]] as const) {
      tables.delete(`decideState/${session}`);
      const decided = await runThrough(checking('decide'), scores);
      // The decisions would log the play; nothing goes out before the check, which asks for the named track's best segments.
      expect(decided.filter((o) => o.topic === 'airplay')).toEqual([]);
      const preds = decided.filter((o) => o.topic === 'predictions');
      const asked = decided.filter((o) => o.topic === 'queries');
      // One position record per decision, check or cover alike: same count, same size.
      expect(asked).toHaveLength(preds.length);
      for (const a of asked) expect(a.envelope).toMatchObject({ session, kind: 'position', count: 2 });
      expect(new Set(asked.map((a) => (a.value as Uint8Array).length)).size).toBe(1);
      const state = tables.get(`decideState/${session}`) as { ended: boolean; checks: { seq: number; sentAtMs: number }[]; covers: unknown[] };
      expect(state.ended).toBe(true);
      expect(state.checks).toHaveLength(1);
      expect(state.covers).toHaveLength(asked.length - 1);
      const answers = await runThrough(server, asked);
      const after = await runThrough(checking('decide'), answers);
      const plays = after.filter((o) => o.topic === 'airplay').map((o) => o.envelope as { event: string; path: string });
      if (logged) {
        expect(plays.map((p) => p.event)).toEqual(['started', 'ended']);
        expect(plays[0].path).toBe(track);
      } else {
        expect(plays).toEqual([]);
      }
      expect((tables.get(`decideState/${session}`) as { checks: unknown[] }).checks).toEqual([]);
      // The answer delivered again finds no check waiting: nothing twice.
      expect(await runThrough(checking('decide'), answers)).toEqual([]);
    }
  });

  it('encrypted scores equal the plaintext ones on real windows, with the same argmax, at the catalogue\'s parameters', async () => {
    // Tolerance: |decrypted − clear| ≤ 5e-3 × the window's clear score range. The landmark default runs
    // one 60-bit data prime at 2^30 × 2^20 (≈1e-3 relative precision, README "Encrypted scoring"). The
    // argmax must be the same wherever the clear margin between the top two exceeds twice that bound.
    const extractor = createExtractor(manifest);
    const model = await loadModel(cat.dir, manifest);
    const rand = seededRandom(5);
    let windows = 0;
    let ties = 0;
    for (const track of enrolled.slice(0, 6)) {
      const pcm = await decodeFile(join(MUSIC_DIR, track), { sampleRate: extractor.sampleRate });
      const ex = drawExcerpt(pcm, extractor.sampleRate, 30, rand)!;
      const w = extractor.windows(ex.pcm);
      const clear = scoreInClear(model, w);
      const enc = client.encryptWindows(w.vectors);
      const results: Uint8Array[][] = [];
      for (const ct of enc.ciphertexts) results.push(await engine.score(await keys.get(session, { paramsId: client.paramsId, modelId: manifest.modelId }), ct));
      const dec = await client.decryptScores(results, w.vectors.length);
      dec.forEach((d, k) => {
        const c = clear[k];
        const range = Math.max(...c) - Math.min(...c);
        const err = Math.max(...Array.from(d, (v, i) => Math.abs(v - c[i])));
        expect(err).toBeLessThan(5e-3 * range);
        const sorted = Array.from(c).sort((a, b) => b - a);
        if (sorted[0] - sorted[1] > 2 * 5e-3 * range) expect(d.indexOf(Math.max(...d))).toBe(c.indexOf(Math.max(...c)));
        else ties++;
        windows++;
      });
    }
    expect(windows).toBeGreaterThanOrEqual(6);
    expect(ties).toBeLessThan(windows);
  });

  it('the decider drops scores whose MAC, session or range it cannot vouch for, and ignores sessions it does not hold', async () => {
    const extractor = createExtractor(manifest);
    const track = enrolled[2];
    const pcm = (await decodeFile(join(MUSIC_DIR, track), { sampleRate: extractor.sampleRate })).subarray(20 * 22050, 50 * 22050);
    const other = 'topo-2';
    const mac = newMacKey();
    const client2 = await ClientSession.create(manifest.he, { classes: manifest.classes.track.length, dim: manifest.dim });
    applyTables([{ topic: 'clientSessions', key: other, envelope: {
      session: other, station: 'test', modelId: manifest.modelId, paramsId: client.paramsId, keyId: serviceKey.keyId,
      sealedSecretKey: client2.sealSecretKey((plain) => serviceKey.seal(plain, secretKeyContext(other))),
      sealedMacKey: serviceKey.seal(mac, macKeyContext(other)), sealedSigningKey: serviceKey.seal(new Uint8Array(48), 'unused'), createdAtMs: 0, windowPhaseSeconds: 0,
    } }]);
    const material2 = client2.publicMaterial();
    expect(keys.put(other, { envelope: signSessionKeys(createSigner(), { session: other, paramsId: client2.paramsId, modelId: manifest.modelId, createdAtMs: 0 }, material2), value: material2 }).ok).toBe(true);
    const audio = [audioChunkRecord({ session: other, seq: 0, startSample: 0, sampleRate: 22050, pcm, final: true, capturedAtMs: 1 })];
    const queries = await runThrough(stageOf('encrypt'), await runThrough(stageOf('windowing'), audio));
    const scores = await runThrough(createScorerStage({ engine, modelId: manifest.modelId, keys }), queries);
    const decide = stageOf('decide');
    const codeOf = async (o: Outbound): Promise<string> => {
      try { const r = await decide.process(viaKafka(o, 'scores', 0), ctx); return r.length ? 'decided' : 'dropped'; } catch (e) { return isBlindearError(e) ? e.code : String(e); }
    };
    const env = scores[0].envelope as Record<string, unknown>;
    // The server echoes another final flag, another seq, or no MAC: refused.
    expect(await codeOf({ ...scores[0], envelope: { ...env, final: !env.final } as never })).toBe('BLINDEAR_ERR_SCORES_FORGED');
    expect(await codeOf({ ...scores[0], envelope: { ...env, seq: 1000 } as never })).toBe('BLINDEAR_ERR_SCORES_FORGED');
    expect(await codeOf({ ...scores[0], envelope: { ...env, mac: undefined } as never })).toBe('BLINDEAR_ERR_SCORES_FORGED');
    // Scores passed off as a position answer (or back): the MAC binds the kind.
    expect(await codeOf({ ...scores[0], envelope: { ...env, kind: 'position' } as never })).toBe('BLINDEAR_ERR_SCORES_FORGED');
    // Scores for a session this service does not hold: not its business.
    expect(await codeOf({ ...scores[0], key: 'stranger', envelope: { ...env, session: 'stranger' } as never })).toBe('dropped');
    // Another session's results under this session's envelope: they decrypt to noise far outside |s| ≤ 1.
    const foreign = (await runThrough(createScorerStage({ engine, modelId: manifest.modelId, keys }), await runThrough(stageOf('encrypt'), await runThrough(stageOf('windowing'), [audioChunkRecord({ session, seq: 0, startSample: 0, sampleRate: 22050, pcm, final: true, capturedAtMs: 1 })]))))[0];
    expect(await codeOf({ ...scores[0], value: foreign.value })).toMatch(/^BLINDEAR_ERR_(SCORES_OUT_OF_RANGE|HE_CIPHERTEXT_INVALID)$/);
    // The genuine record is decided once; its replay is dropped.
    expect(await codeOf(scores[0])).toBe('decided');
    applyTables(await decide.process(viaKafka(scores[0], 'scores', 0), ctx));
    expect(await codeOf(scores[0])).toBe('dropped');
  });

  it('the scorer flags, with the right codes, a query without keys, for another model, or forged', async () => {
    const scorer = createScorerStage({ engine, modelId: manifest.modelId, keys });
    const [valid] = client.encryptWindows([new Float32Array(manifest.dim).fill(0.01)]).ciphertexts;
    const query = (over: Partial<{ session: string; modelId: string }>, value: Uint8Array): Outbound => ({
      topic: 'queries', key: over.session ?? session, value,
      envelope: { session: over.session ?? session, seq: 0, count: 1, paramsId: client.paramsId, modelId: over.modelId ?? manifest.modelId, final: false, capturedAtMs: 0 },
    });
    let offset = 0; // each record its own offset, as on a partition
    const codeOf = async (o: Outbound): Promise<string> => {
      try { await scorer.process(viaKafka(o, 'queries', offset++), ctx); return 'none'; } catch (e) { return isBlindearError(e) ? `${e.code}${e.retriable ? ' (retriable)' : ''}` : String(e); }
    };
    putKeys();
    // A session without keys is parked (test/stages/scorer-hostile.test.ts), never retried in place.
    expect(await codeOf(query({ session: 'nobody' }, valid))).toBe('none');
    expect(scorer.parked).toBe(1);
    expect(await codeOf(query({ modelId: '0000000000000000' }, valid))).toBe('BLINDEAR_ERR_MODEL_MISMATCH');
    const forged = Uint8Array.from(valid); forged.fill(7, 64, 4096);
    expect(await codeOf(query({}, forged))).toMatch(/^BLINDEAR_ERR_HE_(CIPHERTEXT_INVALID|PARAMS_MISMATCH)$/);
    expect(await codeOf(query({}, valid.subarray(0, valid.length >> 1)))).toMatch(/^BLINDEAR_ERR_HE_CIPHERTEXT_INVALID$/);
    // And the engine still scores a valid query afterwards.
    expect(await codeOf(query({}, valid))).toBe('none');
  });

  it('a record that breaks its topic schema is rejected by the codec before any stage sees it', () => {
    const bad = { key: Buffer.from(session), value: Buffer.alloc(8), headers: { 'blindear-envelope': JSON.stringify({ session, seq: -1 }) }, offset: '0', timestamp: '0', attributes: 0, size: 0 } as unknown as KafkaMessage;
    expect(() => decodeRecord('queries', bad)).toThrow(/message does not match its topic schema/);
    const noHeader = { ...bad, headers: {} } as KafkaMessage;
    expect(() => decodeRecord('queries', noHeader)).toThrow(/missing blindear-envelope/);
  });
});
