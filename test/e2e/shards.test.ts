/**
 * A catalogue beyond one process, through the real broker: an LWE catalogue of 12 real tracks split by
 * `blindear shard-catalog` into 2 shards, each served by a scoring worker group of its own
 * (`blindear-scorer-shard-<i>-of-2`); `blindear stream` on the whole catalogue fans every query out to
 * both groups and merges their parts. Its decisions must be the unsharded catalogue's on the same audio
 * (scored in process with the whole model); with one shard group away, the parts it waits for are
 * dead-lettered after the bound with the missing shard named, instead of waiting for ever.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { encodeWav } from '../../connectors/wav.js';
import { createSigner, openScoringClients, signSessionKeys } from '../../pipeline/he/client/index.js';
import { newMacKey, serviceKeyFromBytes } from '../../pipeline/he/client/service-key.js';
import { catalogueEngine } from '../../pipeline/he/server/index.js';
import { PIPELINE_SAMPLE_RATE } from '../../pipeline/features/registry.js';
import { loadManifest, loadModel } from '../../pipeline/model/catalog-store.js';
import { decodeRecord, encodeRecord } from '../../pipeline/runtime/codec.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import { createMetrics } from '../../pipeline/runtime/metrics.js';
import type { EnvelopeOf, Inbound, Outbound, Stage, StageContext } from '../../pipeline/runtime/stage.js';
import { buildClientStage } from '../../pipeline/service/client-service.js';
import { ClientSessions, macKeyContext, secretKeyContext } from '../../pipeline/stages/client-sessions.js';
import { audioChunkRecord } from '../../pipeline/stages/ingest.js';
import { createScorerStage } from '../../pipeline/stages/scorer.js';
import { SessionKeyStore } from '../../pipeline/stages/session-key-store.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import { Prediction, type ClientSessionRecord } from '../../schemas/messages.js';
import { DLQ_HEADERS, TOPICS, dlqName, type TopicKey } from '../../schemas/topics.js';
import { freeLoopbackPort, testBrokers } from '../helpers/broker.js';
import { testCatalog } from '../helpers/catalog.js';
import { runCli, startCli, waitFor } from '../helpers/cli.js';
import { MUSIC_DIR, REPO, tracksPerPackage } from '../helpers/music.js';

const { Kafka, logLevel } = kafkajs;
const WORK = join(REPO, '.cache', 'test-e2e-shards');
const GROUPS = ['blindear-scorer-shard-0-of-2', 'blindear-scorer-shard-1-of-2'];

function viaKafka<K extends TopicKey>(out: Outbound, topic: K, offset: number): Inbound<K> {
  const rec = encodeRecord(out);
  const message = { key: Buffer.from(String(rec.key)), value: rec.value === null || rec.value === undefined ? null : Buffer.from(rec.value as Buffer | string), headers: rec.headers, offset: String(offset), timestamp: '0', attributes: 0, size: 0 } as kafkajs.KafkaMessage;
  return { key: String(rec.key), partition: 0, offset: String(offset), ...decodeRecord(topic, message) };
}

/** The unsharded catalogue's decisions on `pcm`: the client stages and the whole model's scorer, in process. */
async function unshardedDecisions(dir: string, pcm: Float32Array): Promise<Prediction[]> {
  const manifest: CatalogManifest = await loadManifest(dir);
  const clients = await openScoringClients(dir, manifest);
  const engine = await catalogueEngine(manifest, await loadModel(dir, manifest));
  const serviceKey = serviceKeyFromBytes(randomBytes(32));
  const session = 'reference';
  const first = await clients.create();
  const record: ClientSessionRecord = {
    session, station: 'test', modelId: manifest.modelId, paramsId: clients.paramsId, keyId: serviceKey.keyId,
    sealedSecretKey: first.sealSecretKey((plain) => serviceKey.seal(plain, secretKeyContext(session))),
    sealedMacKey: serviceKey.seal(newMacKey(), macKeyContext(session)), sealedSigningKey: serviceKey.seal(new Uint8Array(48), 'unused'), createdAtMs: 0, windowPhaseSeconds: 0,
  };
  const tables = new Map<string, unknown>([[`clientSessions/${session}`, record]]);
  const ctx: StageContext = {
    logger: createLogger('silent'), metrics: createMetrics(), now: () => Date.now(),
    tables: {
      get: <T extends TopicKey>(topic: T, key: string) => tables.get(`${topic}/${key}`) as EnvelopeOf<T> | undefined,
      fetch: async <T extends TopicKey>(topic: T, key: string) => tables.get(`${topic}/${key}`) as EnvelopeOf<T> | undefined,
    },
  };
  const sessions = new ClientSessions(manifest, clients, serviceKey);
  const opts = { stages: [], clusters: undefined as never, producers: undefined as never, manifest, clients, serviceKey, logger: ctx.logger, metrics: ctx.metrics, retry: undefined as never };
  const keys = new SessionKeyStore(engine);
  const material = first.publicMaterial();
  keys.put(session, { envelope: signSessionKeys(createSigner(), { session, paramsId: clients.paramsId, modelId: manifest.modelId, createdAtMs: 0 }, material), value: material });
  const stages: [Stage<TopicKey>, TopicKey][] = [
    [buildClientStage('windowing', opts, sessions), 'audio'],
    [buildClientStage('encrypt', opts, sessions), 'features'],
    [createScorerStage({ engine, modelId: manifest.modelId, keys, rateLimit: null }) as unknown as Stage<TopicKey>, 'queries'],
    [buildClientStage('decide', opts, sessions), 'scores'],
  ];
  let records: Outbound[] = [];
  for (let at = 0, seq = 0; at < pcm.length; at += 22050, seq++) {
    records.push(audioChunkRecord({ session, seq, startSample: at, sampleRate: 22050, pcm: pcm.slice(at, at + 22050), final: at + 22050 >= pcm.length, capturedAtMs: 1 }));
  }
  for (const [stage, topic] of stages) {
    const next: Outbound[] = [];
    for (const [i, r] of records.entries()) {
      const got = await stage.process(viaKafka(r, topic, i), ctx);
      for (const o of got) if (o.topic === 'decideState' || o.topic === 'clientSessions') tables.set(`${o.topic}/${o.key}`, o.envelope);
      next.push(...got);
    }
    records = next;
  }
  await engine.close();
  return records.filter((o) => o.topic === 'predictions').map((o) => o.envelope as Prediction);
}

async function deadLetters(brokers: string[], session: string, want: number): Promise<{ code: string; reason: string }[]> {
  const kafka = new Kafka({ brokers, clientId: 'shards-dlq', logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `shards-dlq-${Date.now()}`, maxWaitTimeInMs: 500 });
  const out: { code: string; reason: string }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: dlqName(TOPICS.scores.name), fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.key?.toString() !== session) return;
      out.push({ code: String(message.headers?.[DLQ_HEADERS.code]), reason: String(message.headers?.[DLQ_HEADERS.reason]) });
    },
  });
  try {
    await waitFor(() => (out.length >= want ? true : undefined), `${want} dead letters of ${session}`, 60_000, 250);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

describe('a catalogue in two shards served by two worker groups, through Kafka', () => {
  let brokers: string[];
  let wholeDir: string;
  const sharded = join(WORK, 'catalog');
  const workers: { stop(): Promise<number | null>; stderr(): string }[] = [];
  const ports: number[] = [];
  let programme: string;
  let pcm: Float32Array;
  const enrolled = tracksPerPackage(4);
  const FIRST = 3;
  const run = randomBytes(3).toString('hex');

  const startShard = async (i: number): Promise<void> => {
    const port = await freeLoopbackPort();
    ports[i] = port;
    workers[i] = startCli(['worker', 'scorer', '--brokers', brokers.join(','), '--catalog', join(sharded, `shard-${i}-of-2`), '--metrics-port', String(port), '--log-level', 'warn']);
  };
  const groupMembers = async (): Promise<Map<string, number>> => {
    const admin = new Kafka({ brokers, clientId: 'shards-admin', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups(GROUPS);
      return new Map(groups.map((g) => [g.groupId, g.state === 'Stable' ? g.members.length : 0]));
    } finally {
      await admin.disconnect();
    }
  };

  beforeAll(async () => {
    brokers = testBrokers();
    wholeDir = (await testCatalog('landmark', enrolled, {}, 'lwe')).dir;
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(WORK, { recursive: true });
    const split = await runCli(['shard-catalog', '--catalog', wholeDir, '--shards', '2', '--out', sharded, '--log-level', 'warn']);
    expect(split.code, split.stderr).toBe(0);
    expect(split.stdout.trim().split('\n')).toHaveLength(2);
    // Two tracks of the catalogue back to back, 30 and 35 s: each fills two 15 s windows, so a decision of
    // two windows hears one track. (Not `Hv2.ogg`, enrolled[2]: `Humanitarian.ogg` is another version of
    // it, and the scores alone, all a sharded catalogue has, cannot tell them apart.)
    const a = await decodeFile(join(MUSIC_DIR, enrolled[FIRST]), { sampleRate: PIPELINE_SAMPLE_RATE });
    const b = await decodeFile(join(MUSIC_DIR, enrolled[7]), { sampleRate: PIPELINE_SAMPLE_RATE });
    pcm = new Float32Array(65 * PIPELINE_SAMPLE_RATE);
    pcm.set(a.subarray(25 * 22050, 55 * 22050), 0);
    pcm.set(b.subarray(30 * 22050, 65 * 22050), 30 * 22050);
    programme = join(WORK, 'programme.wav');
    writeFileSync(programme, encodeWav(pcm, PIPELINE_SAMPLE_RATE));
    const topics = await runCli(['topics', '--brokers', brokers.join(','), '--partitions', '2']);
    expect(topics.code, topics.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const w of workers) await w?.stop();
  });

  it('a worker refuses the whole catalogue of a sharded one, naming the shard folders', async () => {
    const res = await runCli(['worker', 'scorer', '--brokers', brokers.join(','), '--catalog', sharded, '--log-level', 'warn']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/BLINDEAR_ERR_CONFIG_INVALID/);
    expect(res.stderr).toMatch(/shard-0-of-2/);
  });

  it('with one shard group away, the parts wait a bounded time and are dead-lettered naming the missing shard', async () => {
    await startShard(0);
    await waitFor(async () => ((await groupMembers()).get(GROUPS[0]) === 1 ? true : undefined), 'shard 0 group joined', 120_000, 500);
    const session = `shards-missing-${run}`;
    const short = join(WORK, 'short.wav');
    writeFileSync(short, encodeWav(pcm.subarray(0, 20 * 22050), PIPELINE_SAMPLE_RATE));
    // A bound of 5 s (BLINDEAR_SHARD_WAIT_MS, inherited by the child process; 30 s by default).
    process.env.BLINDEAR_SHARD_WAIT_MS = '5000';
    const stream = startCli(['stream', short, '--catalog', sharded, '--brokers', brokers.join(','), '--session', session, '--log-level', 'warn']);
    delete process.env.BLINDEAR_SHARD_WAIT_MS;
    stream.child.stdout.removeAllListeners('data');
    let stdout = '';
    stream.child.stdout.on('data', (c) => { stdout += c; });
    try {
      const dead = await deadLetters(brokers, session, 1);
      expect(dead[0].code).toBe('BLINDEAR_ERR_SCORES_INCOMPLETE');
      expect(dead[0].reason).toMatch(/no answer from shard 1 of 2/);
      expect(stdout).toBe(''); // nothing decided on half the catalogue
    } finally {
      await stream.stop();
    }
  });

  it('decides as the unsharded catalogue, each shard group scoring every query', async () => {
    await startShard(1);
    await waitFor(async () => {
      const m = await groupMembers();
      return m.get(GROUPS[0]) === 1 && m.get(GROUPS[1]) === 1 ? true : undefined;
    }, 'both shard groups joined', 120_000, 500);
    const session = `shards-e2e-${run}`;
    const res = await runCli(['stream', programme, '--catalog', sharded, '--brokers', brokers.join(','), '--session', session, '--log-level', 'warn'], { timeoutMs: 300_000 });
    expect(res.code, res.stderr.slice(-3000)).toBe(0);
    const got = res.stdout.trim().split('\n').map((l) => Prediction.parse(JSON.parse(l)));
    const reference = await unshardedDecisions(wholeDir, pcm);
    // Every decision of the unsharded catalogue, the same windows, outcome and track (the end marker aside).
    const summary = (ps: Prediction[]) => ps.filter((p) => !p.final).map((p) => `${p.fromSeq}-${p.toSeq} ${p.outcome} ${p.match?.path ?? ''}`);
    expect(summary(got)).toEqual(summary(reference));
    expect(got.some((p) => p.match?.path === enrolled[FIRST])).toBe(true);
    expect(got.some((p) => p.match?.path === enrolled[7])).toBe(true);
    expect(got.at(-1)!.final).toBe(true);
    // Both groups scored queries: each shard answered every query of the session.
    for (const port of ports) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('blindear_messages_total{stage="scorer",outcome="processed"}'));
      expect(Number(line?.split(' ').pop() ?? 0), `worker on :${port}`).toBeGreaterThan(0);
    }
  });
});
