/**
 * The scorer against hostile server-zone input (issue #17, points 4 and 5), in memory with real keys,
 * real ciphertexts and the real codecs: keys are found by the record key and must be signed by the
 * session; a query without keys is parked (its partition keeps moving) and scored when they come, or
 * dead-lettered after a bounded wait; the key store is bounded; a session's budget is enforced. A position
 * query is answered with exactly the record asked for, and refused when malformed or unanswerable.
 */
import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlindearError, isBlindearError } from '../../pipeline/errors.js';
import { ClientSession, createSigner, importSigner, selfCertifiedSessionId, signSessionKeys, signTombstone, type SessionSigner } from '../../pipeline/he/client/index.js';
import { PositionClient } from '../../pipeline/he/client/position-client.js';
import { positionHint } from '../../pipeline/he/position-pir.js';
import { PositionEngine, ScoringEngine } from '../../pipeline/he/server/index.js';
import { loadManifest, loadModel, loadPositionTable } from '../../pipeline/model/catalog-store.js';
import { decodeFrames, encodeFrames } from '../../schemas/frames.js';
import { decodeRecord, encodeRecord } from '../../pipeline/runtime/codec.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import { createMetrics } from '../../pipeline/runtime/metrics.js';
import { NO_TABLES, type Inbound, type Outbound, type StageContext } from '../../pipeline/runtime/stage.js';
import { createScorerStage } from '../../pipeline/stages/scorer.js';
import { SessionKeyStore } from '../../pipeline/stages/session-key-store.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import { waitFor } from '../helpers/cli.js';
import { testCatalog } from '../helpers/catalog.js';
import { tracksPerPackage } from '../helpers/music.js';

const metrics = createMetrics();
const ctx: StageContext = { logger: createLogger('silent'), metrics, tables: NO_TABLES, now: () => Date.now() };

describe('scorer under hostile input', () => {
  let manifest: CatalogManifest;
  let engine: ScoringEngine;
  let client: ClientSession;
  let other: ClientSession;
  let query: Uint8Array;
  let offset = 0;

  beforeAll(async () => {
    const cat = await testCatalog('landmark', tracksPerPackage(4));
    manifest = await loadManifest(cat.dir);
    engine = await ScoringEngine.create(manifest.he, await loadModel(cat.dir, manifest));
    const shape = { classes: manifest.classes.track.length, dim: manifest.dim };
    client = await ClientSession.create(manifest.he, shape);
    other = await ClientSession.create(manifest.he, shape);
    [query] = client.encryptWindows([new Float32Array(manifest.dim).fill(0.01)]).ciphertexts;
  });

  afterAll(() => {
    client.dispose();
    other.dispose();
    engine.dispose();
  });

  const keyRecord = (session: string, signer: SessionSigner, from = client, createdAtMs = 1) => {
    const value = from.publicMaterial();
    return { envelope: signSessionKeys(signer, { session, paramsId: from.paramsId, modelId: manifest.modelId, createdAtMs }, value), value };
  };

  /** A query record through the real codec, under `key` (by default the envelope's session). */
  const queryRecord = (session: string, opts: { key?: string; seq?: number; count?: number; partition?: number; kind?: 'position'; value?: Uint8Array } = {}): Inbound<'queries'> => {
    const out: Outbound = {
      topic: 'queries', key: opts.key ?? session, value: opts.value ?? query,
      envelope: { session, ...(opts.kind ? { kind: opts.kind } : {}), seq: opts.seq ?? 0, count: opts.count ?? 1, paramsId: client.paramsId, modelId: manifest.modelId, final: false, capturedAtMs: 0 },
    };
    const rec = encodeRecord(out);
    const o = String(offset++);
    const message = { key: Buffer.from(String(rec.key)), value: rec.value as Buffer, headers: rec.headers, offset: o, timestamp: '0', attributes: 0 } as unknown as KafkaMessage;
    return { key: String(rec.key), partition: opts.partition ?? 0, offset: o, ...decodeRecord('queries', message) };
  };

  const codeOf = async (fn: () => Promise<unknown>): Promise<string> => {
    try { await fn(); return 'none'; } catch (e) { if (isBlindearError(e)) return e.code; throw e; }
  };

  it('answers a position query with its record, refuses one of the wrong length, and one its catalogue cannot answer', async () => {
    const keys = new SessionKeyStore(engine);
    expect(keys.put('pos', keyRecord('pos', createSigner())).ok).toBe(true);
    const served = await loadPositionTable((await testCatalog('landmark', tracksPerPackage(4))).dir, manifest);
    const position = new PositionEngine(served!.setup, served!.table);
    const pir = new PositionClient(served!.setup, positionHint(served!.setup, served!.table));
    const scorer = createScorerStage({ engine, position, modelId: manifest.modelId, keys, rateLimit: null });
    const k = 3;
    const q = pir.query(k);
    const [out] = await scorer.process(queryRecord('pos', { kind: 'position', value: encodeFrames([q.bytes]) }), ctx);
    expect(out.envelope).toMatchObject({ session: 'pos', kind: 'position', parts: 1 });
    const bytes = served!.setup.bytes;
    const recordOf = (c: number) => Array.from(served!.table.subarray(c * bytes, (c + 1) * bytes));
    expect(Array.from(q.open(decodeFrames(out.value as Uint8Array, 1)[0]))).toEqual(recordOf(k));
    // Two queries in one record (count 2): two records back, in order, each opened from its seed alone.
    const two = [pir.query(5), pir.query(1)];
    const [both] = await scorer.process(queryRecord('pos', { kind: 'position', count: 2, value: encodeFrames(two.map((t) => t.bytes)) }), ctx);
    const parts = decodeFrames(both.value as Uint8Array, 2);
    expect(parts.map((p, i) => Array.from(pir.open(two[i].seed, p)))).toEqual([recordOf(5), recordOf(1)]);
    // A count the value does not hold, a frame of the wrong length, an unframed value.
    expect(await codeOf(() => scorer.process(queryRecord('pos', { kind: 'position', count: 2, value: encodeFrames([q.bytes]) }), ctx))).toBe('BLINDEAR_ERR_MSG_SCHEMA');
    expect(await codeOf(() => scorer.process(queryRecord('pos', { kind: 'position', value: encodeFrames([new Uint8Array(40)]) }), ctx))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    expect(await codeOf(() => scorer.process(queryRecord('pos', { kind: 'position', value: new Uint8Array(2) }), ctx))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    const without = createScorerStage({ engine, modelId: manifest.modelId, keys, rateLimit: null });
    expect(await codeOf(() => without.process(queryRecord('pos', { kind: 'position', value: encodeFrames([q.bytes]) }), ctx))).toBe('BLINDEAR_ERR_CONFIG_INVALID');
  });

  it('looks keys up by the record key, which must be the envelope\'s session', async () => {
    const keys = new SessionKeyStore(engine);
    const signer = createSigner();
    expect(keys.put('live', keyRecord('live', signer)).ok).toBe(true);
    const scorer = createScorerStage({ engine, modelId: manifest.modelId, keys, rateLimit: null });
    expect(await scorer.process(queryRecord('live'), ctx)).toHaveLength(1);
    // A record under another key naming a live session is refused, whatever its envelope says.
    expect(await codeOf(() => scorer.process(queryRecord('live', { key: 'intruder' }), ctx))).toBe('BLINDEAR_ERR_MSG_SCHEMA');
    // Key records too: the record key is the session.
    const moved = keys.put('elsewhere', keyRecord('live', signer));
    expect(moved.ok ? 'ok' : moved.error.code).toBe('BLINDEAR_ERR_MSG_SCHEMA');
    await scorer.close?.();
  });

  it('with a batch dead-letter sink, refuses without waiting and holds the refused offsets until they are sent', async () => {
    const keys = new SessionKeyStore(engine);
    keys.put('live', keyRecord('live', createSigner()));
    const batches: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const scorer = createScorerStage({
      engine, modelId: manifest.modelId, keys, rateLimit: null,
      deadLetterBatch: async (items) => { await gate; batches.push(items.map((i) => i.err.code)); },
    });
    const bad = queryRecord('live', { key: 'intruder', partition: 1 });
    expect(await scorer.process(bad, ctx)).toEqual([]);
    expect(await scorer.process(queryRecord('live', { key: 'intruder2', partition: 1 }), ctx)).toEqual([]);
    expect(scorer.heldOffset(1)).toBe(bad.offset);
    // The partition moves on: the live session is scored while the dead letters are still in flight.
    expect(await scorer.process(queryRecord('live', { partition: 1 }), ctx)).toHaveLength(1);
    release();
    await waitFor(() => (batches.length > 0 && scorer.heldOffset(1) === undefined ? true : undefined), 'the refusals sent', 10_000, 10);
    expect(batches.flat()).toEqual(['BLINDEAR_ERR_MSG_SCHEMA', 'BLINDEAR_ERR_MSG_SCHEMA']);
    await scorer.close?.();
  });

  it('parks a query without keys (no wait in process), scores it when its keys come, and holds the commit meanwhile', async () => {
    const keys = new SessionKeyStore(engine);
    const emitted: Outbound[] = [];
    const dead: string[] = [];
    const scorer = createScorerStage({
      engine, modelId: manifest.modelId, keys, rateLimit: null,
      emit: async (o) => { emitted.push(...o); }, deadLetter: async (_m, e) => { dead.push(e.code); },
    });
    const first = queryRecord('late', { seq: 0, partition: 1 });
    expect(await scorer.process(first, ctx)).toEqual([]);
    expect(await scorer.process(queryRecord('late', { seq: 1, partition: 1 }), ctx)).toEqual([]);
    expect(scorer.parked).toBe(2);
    expect(scorer.heldOffset(1)).toBe(first.offset);
    expect(scorer.heldOffset(0)).toBeUndefined();
    // A redelivery of a parked record (after a rebalance) is not parked twice.
    expect(await scorer.process(first, ctx)).toEqual([]);
    expect(scorer.parked).toBe(2);
    // Another session on the same partition is not held up.
    const signer = createSigner();
    keys.put('busy', keyRecord('busy', signer));
    expect(await scorer.process(queryRecord('busy', { partition: 1 }), ctx)).toHaveLength(1);
    keys.put('late', keyRecord('late', createSigner()));
    await waitFor(() => (emitted.length === 2 ? true : undefined), 'the parked queries scored', 30_000, 20);
    await scorer.idle();
    expect(emitted.map((o) => (o.envelope as { seq: number }).seq)).toEqual([0, 1]);
    expect(scorer.parked).toBe(0);
    expect(scorer.heldOffset(1)).toBeUndefined();
    expect(dead).toEqual([]);
    await scorer.close?.();
  });

  it('dead-letters a parked query after the bounded wait, and refuses parking beyond its bounds', async () => {
    const keys = new SessionKeyStore(engine);
    const dead: { code: string; retriable: boolean }[] = [];
    const scorer = createScorerStage({
      engine, modelId: manifest.modelId, keys, rateLimit: null, parking: { parkMs: 300, perSession: 2 },
      deadLetter: async (_m, e) => { dead.push({ code: e.code, retriable: e.retriable }); },
    });
    for (let seq = 0; seq < 2; seq++) expect(await scorer.process(queryRecord('ghost', { seq }), ctx)).toEqual([]);
    expect(await codeOf(() => scorer.process(queryRecord('ghost', { seq: 2 }), ctx))).toBe('BLINDEAR_ERR_SESSION_UNKNOWN');
    await waitFor(() => (dead.length === 2 ? true : undefined), 'the parked queries dead-lettered', 30_000, 20);
    expect(dead).toEqual([{ code: 'BLINDEAR_ERR_SESSION_UNKNOWN', retriable: false }, { code: 'BLINDEAR_ERR_SESSION_UNKNOWN', retriable: false }]);
    expect(scorer.parked).toBe(0);
    await scorer.close?.();
  });

  it('pins the first signing key of a session: forged keys, forged tombstones and replays are refused', async () => {
    const keys = new SessionKeyStore(engine);
    const owner = createSigner();
    const thief = createSigner();
    const code = (r: ReturnType<SessionKeyStore['put']>): string => (r.ok ? 'ok' : r.error.code);
    expect(code(keys.put('s1', keyRecord('s1', owner, client, 10)))).toBe('ok');
    // Another session's valid keys, signed by someone else: refused, the answers keep their keys.
    expect(code(keys.put('s1', keyRecord('s1', thief, other, 20)))).toBe('BLINDEAR_ERR_SESSION_KEYS_FORGED');
    // A tampered value under the owner's signature.
    const tampered = keyRecord('s1', owner, client, 30);
    const bytes = Uint8Array.from(tampered.value); bytes[100] ^= 1;
    expect(code(keys.put('s1', { envelope: tampered.envelope, value: bytes }))).toBe('BLINDEAR_ERR_SESSION_KEYS_FORGED');
    // An older record of the owner's replayed.
    expect(code(keys.put('s1', keyRecord('s1', owner, client, 5)))).toBe('BLINDEAR_ERR_SESSION_KEYS_FORGED');
    // Tombstones: unsigned, or signed by another key, are refused; the owner's own ends the session.
    expect(code(keys.put('s1', null))).toBe('BLINDEAR_ERR_SESSION_KEYS_FORGED');
    expect(code(keys.put('s1', null, signTombstone(thief, 's1')))).toBe('BLINDEAR_ERR_SESSION_KEYS_FORGED');
    expect(keys.status('s1')).toBe('ready');
    const scorer = createScorerStage({ engine, modelId: manifest.modelId, keys, rateLimit: null });
    const [scored] = await scorer.process(queryRecord('s1'), ctx);
    // Still the owner's keys: the owner's client decrypts the scores to |s| ≤ 1 (cosines).
    const { decodeFrames } = await import('../../schemas/frames.js');
    const [dec] = await client.decryptScores([decodeFrames(scored.value!, (scored.envelope as { parts: number }).parts)], 1);
    expect(Math.max(...dec.map(Math.abs))).toBeLessThanOrEqual(1.01);
    // The owner's key survives an export and import (a client service persists it).
    const restored = importSigner(owner.exportPrivateKey());
    expect(code(keys.put('s1', null, signTombstone(restored, 's1')))).toBe('ok');
    expect(keys.status('s1')).toBe('absent');
    // After its end the session id stays pinned: nobody else can reopen it.
    expect(code(keys.put('s1', keyRecord('s1', thief, other, 40)))).toBe('BLINDEAR_ERR_SESSION_KEYS_FORGED');
    await scorer.close?.();
  });

  it('a self-certified session id cannot be squatted, even by a producer that writes first', () => {
    const keys = new SessionKeyStore(engine);
    const owner = createSigner();
    const id = selfCertifiedSessionId(owner);
    const squat = keys.put(id, keyRecord(id, createSigner(), other, 1));
    expect(squat.ok ? 'ok' : squat.error.code).toBe('BLINDEAR_ERR_SESSION_KEYS_FORGED');
    expect(keys.put(id, keyRecord(id, owner, client, 2)).ok).toBe(true);
  });

  it('bounds the key store by sessions and bytes; a dropped session answers with a clear code', async () => {
    const one = client.publicMaterial().length;
    const keys = new SessionKeyStore(engine, { maxSessions: 3, maxBytes: 2 * one + 10, maxRecordBytes: one + 10 });
    for (const s of ['a', 'b', 'c']) expect(keys.put(s, keyRecord(s, createSigner())).ok).toBe(true);
    expect(keys.size).toBe(2);
    expect(keys.heldBytes).toBeLessThanOrEqual(2 * one + 10);
    expect(keys.status('a')).toBe('evicted');
    const scorer = createScorerStage({ engine, modelId: manifest.modelId, keys, rateLimit: null });
    expect(await codeOf(() => scorer.process(queryRecord('a'), ctx))).toBe('BLINDEAR_ERR_SESSION_EVICTED');
    // An oversized record is refused before it is held.
    const big = new Uint8Array(one + 11);
    const signer = createSigner();
    const r = keys.put('d', { envelope: signSessionKeys(signer, { session: 'd', paramsId: client.paramsId, modelId: manifest.modelId, createdAtMs: 1 }, big), value: big });
    expect(r.ok ? 'ok' : r.error.code).toBe('BLINDEAR_ERR_MSG_TOO_LARGE');
    await scorer.close?.();
  });

  it('refuses a session over its scoring budget and counts it', async () => {
    const keys = new SessionKeyStore(engine);
    keys.put('greedy', keyRecord('greedy', createSigner()));
    const scorer = createScorerStage({ engine, modelId: manifest.modelId, keys, hopSeconds: 15, rateLimit: { burstSeconds: 30, perSecond: 0.001, maxSessions: 10 } });
    expect(await scorer.process(queryRecord('greedy'), ctx)).toHaveLength(1);
    expect(await scorer.process(queryRecord('greedy'), ctx)).toHaveLength(1);
    const before = (await metrics.rateLimited.get()).values[0]?.value ?? 0;
    expect(await codeOf(() => scorer.process(queryRecord('greedy'), ctx))).toBe('BLINDEAR_ERR_RATE_LIMITED');
    expect((await metrics.rateLimited.get()).values[0]?.value).toBe(before + 1);
    await scorer.close?.();
  });

  it('a refused error is a BlindearError the runtime dead-letters (not retriable)', () => {
    expect(new BlindearError('BLINDEAR_ERR_SESSION_KEYS_FORGED').retriable).toBe(false);
  });
});
