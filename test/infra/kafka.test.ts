// The project's Kafka infrastructure against a real broker (test/global-setup.ts starts it via infra/kafka.sh).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import type { Admin, Consumer, KafkaMessage, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBrokerDir, testBrokers } from '../helpers/broker.js';

const { Kafka, logLevel } = kafkajs;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Polls `condition` until it holds or `timeoutMs` passes (kafkajs testHelpers' waitFor, no fixed sleeps). */
async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Received {
  key: string;
  seq: number;
  partition: number;
  value: Buffer;
}

/** Value layout: 4-byte big-endian sequence number within its key, then random bytes (all 256 byte values likely). */
function encodeValue(seq: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(seq);
  return Buffer.concat([head, payload]);
}

describe('real Kafka broker (infra/kafka.sh)', () => {
  const kafka = new Kafka({ clientId: 'blindear-infra-test', brokers: testBrokers(), logLevel: logLevel.NOTHING });
  const suffix = randomBytes(4).toString('hex');
  const topic = `blindear.infra-test-${suffix}.v1`;
  let admin: Admin;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await consumer?.disconnect();
    await producer?.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });

  it('delivers keyed binary messages exactly once, in order per key, through a consumer group', async () => {
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true })).toBe(true);
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    expect(metadata.partitions).toHaveLength(2);

    const keys = ['session-a', 'session-b', 'session-c', 'session-d'];
    const perKey = 5;
    const sent = new Map<string, Buffer>(); // `${key}/${seq}` -> value
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    // Four sends of five messages, keys interleaved inside each send.
    for (let round = 0; round < perKey; round++) {
      const messages = keys.map((key) => {
        const value = encodeValue(round, randomBytes(64));
        sent.set(`${key}/${round}`, value);
        return { key, value };
      });
      await producer.send({ topic, messages });
    }
    expect(sent.size).toBe(20);

    const received: Received[] = [];
    const groupId = `blindear-infra-test-${suffix}`;
    consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250 }); // short fetches: disconnect waits for the one in flight
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }: { partition: number; message: KafkaMessage }) => {
        if (message.key === null || message.value === null) throw new Error('message without key or value');
        received.push({ key: message.key.toString('utf8'), seq: message.value.readUInt32BE(0), partition, value: message.value });
      },
    });
    await waitFor(() => received.length >= sent.size, 60_000, () => `${sent.size} messages (got ${received.length})`);

    // Commits are right: the group's committed offset reaches the end of each partition, and the ends sum to 20.
    const ends = await admin.fetchTopicOffsets(topic);
    const endOf = new Map(ends.map((p) => [p.partition, p.high]));
    expect(ends.reduce((sum, p) => sum + Number(p.high), 0)).toBe(sent.size);
    let committed = '';
    await waitFor(
      async () => {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
        committed = JSON.stringify(offsets.partitions);
        return offsets.partitions.every((p) => p.offset === endOf.get(p.partition));
      },
      30_000,
      () => `committed offsets ${committed} to reach the ends ${JSON.stringify(ends)}`,
    );
    await consumer.disconnect();
    consumer = undefined;

    // Exactly once: each sent message arrived, once, byte for byte.
    const seen = new Set<string>();
    for (const m of received) {
      const id = `${m.key}/${m.seq}`;
      expect(seen.has(id), `duplicate ${id}`).toBe(false);
      seen.add(id);
      expect(m.value.equals(sent.get(id) ?? Buffer.alloc(0)), `bytes of ${id}`).toBe(true);
    }
    expect(seen.size).toBe(sent.size);

    // Per-key order, and one partition per key.
    for (const key of keys) {
      const ofKey = received.filter((m) => m.key === key);
      expect(ofKey.map((m) => m.seq)).toEqual([0, 1, 2, 3, 4]);
      expect(new Set(ofKey.map((m) => m.partition)).size).toBe(1);
    }
  });

  it.skipIf(testBrokerDir() === undefined)('infra/kafka.sh status reports the running broker', async () => {
    const [address] = testBrokers();
    const port = address.split(':').at(-1) ?? '';
    const dir = testBrokerDir() ?? '';
    const { stdout } = await promisify(execFile)('bash', ['infra/kafka.sh', 'status', '--port', port, '--dir', dir], { cwd: ROOT });
    expect(stdout.trim()).toMatch(new RegExp(`^running pid=\\d+ bootstrap=127\\.0\\.0\\.1:${port} dir=`));
  });
});
