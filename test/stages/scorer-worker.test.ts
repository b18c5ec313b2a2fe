/**
 * The scoring worker process against hostile producers, through the real broker (issue #17, point 5):
 * a query without keys does not hold its partition (a live session behind it on the same partition is
 * scored while it waits) and is scored once its keys come; a refused key record is dead-lettered once,
 * not again when a worker restarts and re-reads the whole session-keys topic.
 */
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientSession, createSigner, signSessionKeys } from '../../pipeline/he/client/index.js';
import { loadManifest } from '../../pipeline/model/catalog-store.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import { ENVELOPE_HEADER, TOPICS, dlqName } from '../../schemas/topics.js';
import { testBrokers } from '../helpers/broker.js';
import { testCatalog } from '../helpers/catalog.js';
import { runCli, startCli, waitFor } from '../helpers/cli.js';
import { tracksPerPackage } from '../helpers/music.js';

const { Kafka, Partitioners, logLevel } = kafkajs;

/** Two session ids the default partitioner puts on the same partition of a 2-partition topic. */
function samePartition(prefix: string): [string, string] {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = [0, 1].map((partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
  const of = (key: string): number => partitioner({ topic: TOPICS.queries.name, partitionMetadata, message: { key, value: null } });
  const a = `${prefix}-a`;
  for (let i = 0; ; i++) if (of(`${prefix}-b${i}`) === of(a)) return [a, `${prefix}-b${i}`];
}

describe('scoring worker under hostile producers (real broker)', () => {
  let brokers: string[];
  let manifest: CatalogManifest;
  let catalogDir: string;
  let client: ClientSession;
  let worker: ReturnType<typeof startCli> | undefined;
  const kafka = (): kafkajs.Kafka => new Kafka({ brokers, clientId: 'scorer-worker-test', logLevel: logLevel.NOTHING });
  const run = Date.now().toString(36);

  async function endOf(topic: string): Promise<number> {
    const admin = kafka().admin();
    await admin.connect();
    try { return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0); } finally { await admin.disconnect(); }
  }

  async function scoredSessions(): Promise<Set<string>> {
    const admin = kafka().admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(TOPICS.scores.name);
    await admin.disconnect();
    const total = ends.reduce((n, e) => n + Number(e.high) - Number(e.low), 0);
    const seen = new Set<string>();
    let n = 0;
    const consumer = kafka().consumer({ groupId: `scorer-worker-test-${Math.random()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPICS.scores.name, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => { n++; seen.add(message.key?.toString() ?? ''); } });
    await waitFor(() => (n >= total ? true : undefined), 'the scores topic read', 60_000);
    await consumer.disconnect();
    return seen;
  }

  async function startWorker(): Promise<void> {
    worker = startCli(['worker', 'scorer', '--brokers', brokers.join(','), '--catalog', catalogDir, '--log-level', 'warn']);
    const admin = kafka().admin();
    await admin.connect();
    try {
      await waitFor(async () => {
        if (worker!.child.exitCode !== null) throw new Error(worker!.stderr());
        const { groups } = await admin.describeGroups(['blindear-scorer']);
        return groups[0]?.state === 'Stable' && groups[0].members.length >= 1 ? true : undefined;
      }, 'the worker in its group', 120_000, 250);
    } finally {
      await admin.disconnect();
    }
  }

  beforeAll(async () => {
    brokers = testBrokers();
    const cat = await testCatalog('landmark', tracksPerPackage(4));
    catalogDir = cat.dir;
    manifest = await loadManifest(cat.dir);
    client = await ClientSession.create(manifest.he, { classes: manifest.classes.track.length, dim: manifest.dim });
    const topics = await runCli(['topics', '--brokers', brokers.join(','), '--partitions', '2']);
    expect(topics.code, topics.stderr).toBe(0);
    await startWorker();
  });

  afterAll(async () => {
    await worker?.stop();
    client?.dispose();
  });

  it('a keyless query does not hold its partition, and is scored when its keys arrive', async () => {
    const [late, live] = samePartition(`park-${run}`);
    const producer = kafka().producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const [ct] = client.encryptWindows([new Float32Array(manifest.dim).fill(0.01)]).ciphertexts;
    const query = (session: string) => ({ key: session, value: Buffer.from(ct), headers: { [ENVELOPE_HEADER]: JSON.stringify({ session, seq: 0, count: 1, paramsId: client.paramsId, modelId: manifest.modelId, final: true, capturedAtMs: Date.now() }) } });
    const keys = (session: string) => {
      const value = client.publicMaterial();
      const envelope = signSessionKeys(createSigner(), { session, paramsId: client.paramsId, modelId: manifest.modelId, createdAtMs: Date.now() }, value);
      return { key: session, value: Buffer.from(value), headers: { [ENVELOPE_HEADER]: JSON.stringify(envelope) } };
    };
    await producer.send({ topic: TOPICS.sessionKeys.name, messages: [keys(live)] });
    // The keyless query first, then the live session's, on the same partition.
    await producer.send({ topic: TOPICS.queries.name, messages: [query(late)] });
    await producer.send({ topic: TOPICS.queries.name, messages: [query(live)] });
    await waitFor(async () => ((await scoredSessions()).has(live) ? true : undefined), 'the live session scored behind a parked query', 60_000, 500);
    expect((await scoredSessions()).has(late)).toBe(false);
    await producer.send({ topic: TOPICS.sessionKeys.name, messages: [keys(late)] });
    await waitFor(async () => ((await scoredSessions()).has(late) ? true : undefined), 'the parked query scored once its keys came', 60_000, 500);
    await producer.disconnect();
  });

  it('a refused key record is dead-lettered once, not again when a worker restarts', async () => {
    const dlq = dlqName(TOPICS.sessionKeys.name);
    const before = await endOf(dlq);
    const producer = kafka().producer();
    await producer.connect();
    const session = `unsigned-${run}`;
    await producer.send({ topic: TOPICS.sessionKeys.name, messages: [{ key: session, value: Buffer.alloc(64, 1), headers: { [ENVELOPE_HEADER]: JSON.stringify({ session, paramsId: client.paramsId, modelId: manifest.modelId, createdAtMs: 1 }) } }] });
    await producer.disconnect();
    await waitFor(async () => ((await endOf(dlq)) === before + 1 ? true : undefined), 'one dead letter', 60_000, 250);
    await worker!.stop();
    await startWorker();
    // The restarted worker has re-read the whole topic once a later record reaches it: send a marker.
    const marker = `marker-${run}`;
    const p2 = kafka().producer();
    await p2.connect();
    await p2.send({ topic: TOPICS.sessionKeys.name, messages: [{ key: marker, value: Buffer.alloc(64, 2), headers: { [ENVELOPE_HEADER]: '{}' } }] });
    await p2.disconnect();
    await waitFor(async () => ((await endOf(dlq)) >= before + 2 ? true : undefined), 'the marker dead-lettered', 60_000, 250);
    expect(await endOf(dlq)).toBe(before + 2);
  });
});
