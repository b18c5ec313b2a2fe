/**
 * A sharded LWE catalogue (`blindear shard-catalog`) in memory, on real audio: the split itself (shards'
 * model rows, hint rows and biases concatenate to the original), one scorer stage per shard, and the
 * decider merging the parts: the same decisions as the unsharded catalogue on the same queries, and every
 * forged, out-of-range or missing part refused with its code. The runtime's side (two worker groups
 * through the broker) is test/e2e/shards.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { BlindearError, isBlindearError } from '../../pipeline/errors.js';
import { createSigner, openScoringClients, signSessionKeys, type ScoringClients } from '../../pipeline/he/client/index.js';
import { newMacKey, serviceKeyFromBytes } from '../../pipeline/he/client/service-key.js';
import { catalogueEngine, type CatalogueEngine } from '../../pipeline/he/server/index.js';
import { createDecider, createExtractor } from '../../pipeline/features/registry.js';
import { loadLweHint, loadManifest, loadModel } from '../../pipeline/model/catalog-store.js';
import { shardCatalog, shardRanges, type ShardedCatalog } from '../../pipeline/model/shard-catalog.js';
import { decodeRecord, encodeRecord } from '../../pipeline/runtime/codec.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import { createMetrics } from '../../pipeline/runtime/metrics.js';
import type { EnvelopeOf, Inbound, Outbound, Stage, StageContext } from '../../pipeline/runtime/stage.js';
import { buildClientStage, decisionOptions } from '../../pipeline/service/client-service.js';
import { ClientSessions, macKeyContext, secretKeyContext } from '../../pipeline/stages/client-sessions.js';
import { createDecideStage } from '../../pipeline/stages/decide.js';
import { audioChunkRecord } from '../../pipeline/stages/ingest.js';
import { createScorerStage } from '../../pipeline/stages/scorer.js';
import { SessionKeyStore } from '../../pipeline/stages/session-key-store.js';
import { stageGroup, TOPOLOGY } from '../../pipeline/topology.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import type { ClientSessionRecord, Prediction } from '../../schemas/messages.js';
import type { TopicKey } from '../../schemas/topics.js';
import { testCatalog } from '../helpers/catalog.js';
import { MUSIC_DIR, REPO, tracksPerPackage } from '../helpers/music.js';

const OUT = join(REPO, '.cache', 'test-shards-memory');

/** Tables per decider, as the runtime would keep them for the partitions it owns. */
function contextWith(tables: Map<string, unknown>, clock = { now: Date.now() }): StageContext {
  return {
    logger: createLogger('silent'),
    metrics: createMetrics(),
    now: () => clock.now,
    tables: {
      get: <T extends TopicKey>(topic: T, key: string) => tables.get(`${topic}/${key}`) as EnvelopeOf<T> | undefined,
      fetch: async <T extends TopicKey>(topic: T, key: string) => tables.get(`${topic}/${key}`) as EnvelopeOf<T> | undefined,
    },
  };
}
const applyTables = (tables: Map<string, unknown>, outs: readonly Outbound[]): void => {
  for (const o of outs) if (o.topic === 'decideState' || o.topic === 'clientSessions') tables.set(`${o.topic}/${o.key}`, o.envelope);
};

/** What the runtime does between two stages: encode to a Kafka record, decode from it. */
function viaKafka<K extends TopicKey>(out: Outbound, topic: K, offset: number): Inbound<K> {
  const rec = encodeRecord(out);
  const message = { key: Buffer.from(String(rec.key)), value: rec.value === null || rec.value === undefined ? null : Buffer.from(rec.value as Buffer | string), headers: rec.headers, offset: String(offset), timestamp: '0', attributes: 0, size: 0 } as KafkaMessage;
  return { key: String(rec.key), partition: 0, offset: String(offset), ...decodeRecord(topic, message) };
}

describe('a catalogue split into shards', () => {
  let whole: CatalogManifest;
  let wholeDir: string;
  let split: ShardedCatalog;
  const enrolled = tracksPerPackage(4);

  beforeAll(async () => {
    wholeDir = (await testCatalog('landmark', enrolled, {}, 'lwe')).dir;
    whole = await loadManifest(wholeDir);
    rmSync(OUT, { recursive: true, force: true });
    split = await shardCatalog({ catalogDir: wholeDir, shards: 2, outDir: OUT });
  });

  it('holds in its shards the rows of the model and of the hint, which concatenate to the original', async () => {
    const C = whole.classes.track.length;
    expect(split.manifest.shards).toEqual(shardRanges(C, 2));
    expect(split.manifest.modelId).toBe(whole.modelId);
    const model = await loadModel(wholeDir, whole);
    const hint = await loadLweHint(wholeDir, whole);
    const parts = await Promise.all(split.shards.map(async (s) => {
      const m = await loadManifest(s.dir);
      return { m, model: await loadModel(s.dir, m), hint: await loadLweHint(s.dir, m) };
    }));
    // Every shard keeps the whole's model id and LWE parameters, and only its classes.
    parts.forEach(({ m }, i) => {
      expect(m.modelId).toBe(whole.modelId);
      expect(m.lwe).toEqual(whole.lwe);
      expect(m.shard).toEqual({ index: i, count: 2, firstClass: split.manifest.shards![i].firstClass, totalClasses: C });
      expect(m.classes.track).toEqual(whole.classes.track.slice(m.shard!.firstClass, m.shard!.firstClass + m.classes.track.length));
    });
    const cat = <T extends Float32Array | Int32Array>(xs: T[], ctor: new (n: number) => T): T => {
      const out = new ctor(xs.reduce((n, x) => n + x.length, 0));
      let at = 0;
      for (const x of xs) { out.set(x as never, at); at += x.length; }
      return out;
    };
    expect(cat(parts.map((p) => p.model.weights), Float32Array)).toEqual(model.weights);
    expect(cat(parts.map((p) => p.model.bias), Float32Array)).toEqual(model.bias);
    expect(cat(parts.map((p) => p.hint.hint), Int32Array)).toEqual(hint.hint);
    expect(cat(parts.map((p) => p.hint.bias), Float32Array)).toEqual(hint.bias);
    // The client's copy of the whole catalogue is the original, byte for byte.
    for (const f of ['model.bin', 'lwe-hint.bin']) expect(readFileSync(join(OUT, f)).equals(readFileSync(join(wholeDir, f)))).toBe(true);
  });

  it('refuses what cannot be split, and names a group per shard', async () => {
    const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => (isBlindearError(e) ? e.code : String(e)));
    expect(await codeOf(shardCatalog({ catalogDir: wholeDir, shards: 1, outDir: join(OUT, 'x') }))).toBe('BLINDEAR_ERR_CONFIG_INVALID');
    expect(await codeOf(shardCatalog({ catalogDir: OUT, shards: 2, outDir: join(OUT, 'y') }))).toBe('BLINDEAR_ERR_CONFIG_INVALID');
    expect(await codeOf(shardCatalog({ catalogDir: (await testCatalog('landmark', enrolled)).dir, shards: 2, outDir: join(OUT, 'z') }))).toBe('BLINDEAR_ERR_CONFIG_INVALID');
    expect(shardRanges(10, 3)).toEqual([{ firstClass: 0, classes: 4 }, { firstClass: 4, classes: 3 }, { firstClass: 7, classes: 3 }]);
    expect(stageGroup(TOPOLOGY.scorer)).toBe('blindear-scorer');
    expect(stageGroup(TOPOLOGY.scorer, { index: 1, count: 2 })).toBe('blindear-scorer-shard-1-of-2');
    expect(() => stageGroup(TOPOLOGY.decide, { index: 1, count: 2 })).toThrow(/not sharded/);
  });

  describe('scored by one stage per shard and merged by the decider', () => {
    const serviceKey = serviceKeyFromBytes(randomBytes(32));
    const session = 'shards-1';
    let clients: ScoringClients;
    let sharded: CatalogManifest;
    let wholeEngine: CatalogueEngine;
    let shardEngines: CatalogueEngine[];
    let queries: Outbound[];
    let record: ClientSessionRecord;

    const keysFor = async (engine: CatalogueEngine): Promise<SessionKeyStore> => {
      const keys = new SessionKeyStore(engine);
      const signer = createSigner();
      const value = (await clients.create()).publicMaterial();
      expect(keys.put(session, { envelope: signSessionKeys(signer, { session, paramsId: clients.paramsId, modelId: whole.modelId, createdAtMs: 0 }, value), value }).ok).toBe(true);
      return keys;
    };
    const scoreAll = async (stage: Stage<'queries'>): Promise<Outbound[]> => {
      const out: Outbound[] = [];
      for (const [i, q] of queries.entries()) out.push(...await stage.process(viaKafka(q, 'queries', i), contextWith(new Map())));
      return out;
    };
    /** A decider of `manifest` with tables of its own, fed `records` in order; what it decided, and what it dead-lettered. */
    const decideAll = async (manifest: CatalogManifest, records: Outbound[], opts: { waitMs?: number; clock?: { now: number } } = {}) => {
      const tables = new Map<string, unknown>([[`clientSessions/${session}`, record]]);
      const ctx = contextWith(tables, opts.clock);
      const dead: { offset: string; code: string; reason: string }[] = [];
      const decide = createDecideStageFor(manifest, tables, dead, opts.waitMs);
      const outs: Outbound[] = [];
      const codes: string[] = [];
      for (const [i, r] of records.entries()) {
        try {
          const got = await decide.process(viaKafka(r, 'scores', i), ctx);
          applyTables(tables, got);
          outs.push(...got);
          codes.push(got.length ? 'decided' : 'held');
        } catch (e) {
          if (!isBlindearError(e)) throw e;
          codes.push(e.code);
        }
      }
      return { decide, ctx, outs, codes, dead, predictions: outs.filter((o) => o.topic === 'predictions').map((o) => o.envelope as Prediction) };
    };
    function createDecideStageFor(manifest: CatalogManifest, _tables: Map<string, unknown>, dead: { offset: string; code: string; reason: string }[], waitMs?: number) {
      const base = buildClientStage('decide', {
        stages: [], clusters: undefined as never, producers: undefined as never, manifest, clients, serviceKey, logger: createLogger('silent'), metrics: createMetrics(), retry: undefined as never,
      }, new ClientSessions(manifest, clients, serviceKey)) as unknown as Stage<'scores'>;
      if (waitMs === undefined) return base;
      // The same decider with a short wait and a dead-letter sink, as client-service.ts wires it.
      const extractor = createExtractor(manifest);
      return createDecideStage({
        manifest, decider: createDecider(manifest), sessions: new ClientSessions(manifest, clients, serviceKey),
        decisions: decisionOptions(extractor.windowSeconds, extractor.hopSeconds), hopSeconds: extractor.hopSeconds, scoreBound: 1.05, confidence: (r) => r,
        shardWait: { waitMs },
        deadLetter: async (msg, err: BlindearError) => { dead.push({ offset: msg.offset, code: err.code, reason: err.message }); },
      });
    }
    const summary = (ps: Prediction[]) => ps.map((p) => ({ from: p.fromSeq, to: p.toSeq, outcome: p.outcome, path: p.match?.path ?? null, offset: p.match?.offsetSeconds, confidence: p.match?.confidence, final: p.final }));

    beforeAll(async () => {
      sharded = await loadManifest(OUT);
      clients = await openScoringClients(OUT, sharded);
      wholeEngine = await catalogueEngine(whole, await loadModel(wholeDir, whole));
      shardEngines = await Promise.all(split.shards.map(async (s) => catalogueEngine(s.manifest, await loadModel(s.dir, s.manifest))));
      // Every shard answers queries made for the whole catalogue.
      for (const e of shardEngines) expect(e.paramsId).toBe(clients.paramsId);
      const first = await clients.create();
      const mac = newMacKey();
      record = {
        session, station: 'test', modelId: whole.modelId, paramsId: clients.paramsId, keyId: serviceKey.keyId,
        sealedSecretKey: first.sealSecretKey((plain) => serviceKey.seal(plain, secretKeyContext(session))),
        sealedMacKey: serviceKey.seal(mac, macKeyContext(session)), sealedSigningKey: serviceKey.seal(new Uint8Array(48), 'unused'), createdAtMs: 0, windowPhaseSeconds: 0,
      };
      // Two tracks back to back, through windowing and encrypt as the client service runs them.
      const extractor = createExtractor(whole);
      const a = await decodeFile(join(MUSIC_DIR, enrolled[1]), { sampleRate: extractor.sampleRate });
      const b = await decodeFile(join(MUSIC_DIR, enrolled[6]), { sampleRate: extractor.sampleRate });
      const pcm = new Float32Array(70 * 22050);
      pcm.set(a.subarray(30 * 22050, 65 * 22050), 0);
      pcm.set(b.subarray(20 * 22050, 55 * 22050), 35 * 22050);
      const tables = new Map<string, unknown>([[`clientSessions/${session}`, record]]);
      const ctx = contextWith(tables);
      const sessions = new ClientSessions(sharded, clients, serviceKey);
      const opts = { stages: [], clusters: undefined as never, producers: undefined as never, manifest: sharded, clients, serviceKey, logger: ctx.logger, metrics: ctx.metrics, retry: undefined as never };
      const audio: Outbound[] = [];
      for (let at = 0, seq = 0; at < pcm.length; at += 22050, seq++) {
        audio.push(audioChunkRecord({ session, seq, startSample: at, sampleRate: 22050, pcm: pcm.slice(at, at + 22050), final: at + 22050 >= pcm.length, capturedAtMs: 1 }));
      }
      const windowing = buildClientStage('windowing', opts, sessions) as unknown as Stage<TopicKey>;
      const encrypt = buildClientStage('encrypt', opts, sessions) as unknown as Stage<TopicKey>;
      const features: Outbound[] = [];
      for (const [i, o] of audio.entries()) features.push(...await windowing.process(viaKafka(o, 'audio', i), ctx));
      queries = [];
      for (const [i, o] of features.entries()) queries.push(...await encrypt.process(viaKafka(o, 'features', i), ctx));
      expect(queries.length).toBeGreaterThan(3);
    });

    it('decides exactly as the unsharded catalogue on the same queries, whichever shard answers first', async () => {
      const wholeScores = await scoreAll(createScorerStage({ engine: wholeEngine, modelId: whole.modelId, keys: await keysFor(wholeEngine), rateLimit: null }));
      const parts = await Promise.all(shardEngines.map(async (engine, i) => scoreAll(createScorerStage({
        engine, modelId: whole.modelId, keys: await keysFor(engine), rateLimit: null,
        shard: { index: i, count: 2, firstClass: split.manifest.shards![i].firstClass, classes: split.manifest.shards![i].classes },
      }))));
      expect(parts[0]).toHaveLength(queries.length);
      // The unsharded decisions (the unsharded catalogue's client: the original folder).
      const reference = await decideAll(whole, wholeScores);
      expect(reference.predictions.some((p) => p.match?.path === enrolled[1])).toBe(true);
      expect(reference.predictions.some((p) => p.match?.path === enrolled[6])).toBe(true);
      // Shard 1 runs ahead of shard 0 by two queries: parts of several queries wait at once.
      const interleaved: Outbound[] = [];
      for (let i = 0; i < queries.length + 2; i++) {
        if (i < queries.length) interleaved.push(parts[1][i]);
        if (i >= 2) interleaved.push(parts[0][i - 2]);
      }
      const got = await decideAll(sharded, interleaved);
      expect(summary(got.predictions)).toEqual(summary(reference.predictions));
      expect(got.codes.filter((c) => c.startsWith('BLINDEAR'))).toEqual([]);
      // Nothing waits any more: the partition's offsets may all be committed.
      expect(got.decide.retainFrom?.(0)).toBeUndefined();
      // A redelivery of every part decides nothing twice.
      const again = [];
      for (const [i, r] of interleaved.entries()) again.push(...await got.decide.process(viaKafka(r, 'scores', i), got.ctx));
      expect(again.filter((o) => o.topic === 'predictions')).toEqual([]);
      // And the unsharded catalogue's client refuses shard parts: it has no shards.
      const wrong = await decideAll(whole, [parts[0][0]]);
      expect(wrong.codes).toEqual(['BLINDEAR_ERR_SCORES_FORGED']);
    });

    it('refuses a part whose shard count, index or class range is not its catalogue\'s, or whose scores are out of range', async () => {
      const engine = shardEngines[0];
      const parts = await scoreAll(createScorerStage({ engine, modelId: whole.modelId, keys: await keysFor(engine), rateLimit: null, shard: { index: 0, count: 2, firstClass: 0, classes: split.manifest.shards![0].classes } }));
      const p = parts[0];
      const env = p.envelope as EnvelopeOf<'scores'>;
      const tagged = (shard: object): Outbound => ({ ...p, envelope: { ...env, shard } as never });
      const r = split.manifest.shards!;
      const cases: [string, Outbound][] = [
        ['three shards', tagged({ ...env.shard, count: 3 })],
        ['index beyond', tagged({ ...env.shard, index: 2 })],
        ['another range', tagged({ ...env.shard, firstClass: 1 })],
        ['fewer classes', tagged({ ...env.shard, classes: r[0].classes - 1 })],
        ['untagged', { ...p, envelope: { ...env, shard: undefined } as never }],
        // Shard 0's scores presented as shard 1's (same size when the halves are equal): decrypted with the
        // wrong hint rows they fall far outside |s| ≤ 1, or are the wrong length.
        ['other shard\'s classes', tagged({ index: 1, count: 2, firstClass: r[1].firstClass, classes: r[1].classes })],
      ];
      const codes = await Promise.all(cases.map(async ([, o]) => (await decideAll(sharded, [o])).codes[0]));
      expect(codes.slice(0, 5)).toEqual(Array(5).fill('BLINDEAR_ERR_SCORES_FORGED'));
      expect(codes[5]).toMatch(/^BLINDEAR_ERR_(SCORES_OUT_OF_RANGE|HE_CIPHERTEXT_INVALID)$/);
      // The genuine part is held, waiting for shard 1.
      expect((await decideAll(sharded, [p])).codes).toEqual(['held']);
    });

    it('a decider that stops while parts wait loses none: its successor reads them again from the held offset', async () => {
      const parts = await Promise.all(shardEngines.map(async (engine, i) => scoreAll(createScorerStage({
        engine, modelId: whole.modelId, keys: await keysFor(engine), rateLimit: null,
        shard: { index: i, count: 2, firstClass: split.manifest.shards![i].firstClass, classes: split.manifest.shards![i].classes },
      }))));
      // The partition as the broker holds it: shard 0 answers every query first, shard 1 after all of them.
      const partition = [...parts[0], ...parts[1]];
      const uninterrupted = await decideAll(sharded, partition);
      // The first instance reads shard 0's parts, then the partition moves (or the process dies).
      const first = await decideAll(sharded, partition.slice(0, parts[0].length));
      expect(first.predictions).toEqual([]);
      const held = first.decide.retainFrom?.(0);
      expect(held).toBe('0'); // the runtime commits no further than the first waiting part
      first.decide.revoked?.([0]);
      expect(first.decide.retainFrom?.(0)).toBeUndefined();
      // The next owner starts at the committed offset, with the decide-state table the first one wrote.
      const tables = new Map<string, unknown>([[`clientSessions/${session}`, record]]);
      const ctx = contextWith(tables);
      const next = buildClientStage('decide', {
        stages: [], clusters: undefined as never, producers: undefined as never, manifest: sharded, clients, serviceKey, logger: ctx.logger, metrics: ctx.metrics, retry: undefined as never,
      }, new ClientSessions(sharded, clients, serviceKey)) as unknown as Stage<'scores'>;
      const outs: Outbound[] = [];
      for (let i = Number(held); i < partition.length; i++) {
        const got = await next.process(viaKafka(partition[i], 'scores', i), ctx);
        applyTables(tables, got);
        outs.push(...got);
      }
      const preds = outs.filter((o) => o.topic === 'predictions').map((o) => o.envelope as Prediction);
      expect(summary(preds)).toEqual(summary(uninterrupted.predictions));
      expect(preds.length).toBeGreaterThan(0);
    });

    it('gives up a query one shard never answers: its parts dead-lettered with the missing shard named, the next windows decided', async () => {
      const parts = await Promise.all(shardEngines.map(async (engine, i) => scoreAll(createScorerStage({
        engine, modelId: whole.modelId, keys: await keysFor(engine), rateLimit: null,
        shard: { index: i, count: 2, firstClass: split.manifest.shards![i].firstClass, classes: split.manifest.shards![i].classes },
      }))));
      const clock = { now: 1_000_000 };
      // Shard 1 loses the second query; everything else arrives.
      const records = [parts[0][0], parts[1][0], parts[0][1]];
      const run = await decideAll(sharded, records, { waitMs: 5_000, clock });
      expect(run.codes).toEqual(['held', 'decided', 'held']);
      // The held part keeps the partition's commit at its offset (2) until it is given up.
      expect(run.decide.retainFrom?.(0)).toBe('2');
      // After the bound, the sweeper dead-letters it, naming the shard that did not answer.
      clock.now += 5_000;
      const deadline = Date.now() + 5_000;
      while (run.dead.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(run.dead).toHaveLength(1);
      expect(run.dead[0]).toMatchObject({ offset: '2', code: 'BLINDEAR_ERR_SCORES_INCOMPLETE' });
      expect(run.dead[0].reason).toMatch(/no answer from shard 1 of 2/);
      expect(run.decide.retainFrom?.(0)).toBeUndefined();
      // The third query's parts are decided (a gap is reported for the second).
      const next = [parts[0][2], parts[1][2]].map((o, i) => viaKafka(o, 'scores', 10 + i));
      expect(await run.decide.process(next[0], run.ctx)).toEqual([]);
      expect((await run.decide.process(next[1], run.ctx)).some((o) => o.topic === 'decideState')).toBe(true);
      await run.decide.close?.();
    });
  });
});
