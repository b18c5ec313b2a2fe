/**
 * A flood of refused large records dead-lettered in batches, on the real broker: a batch over the dead
 * letter topic's size limit is refused by the broker, so the ledger's batches must stay under it and every
 * record must still arrive, in order, with its reason.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { BlindearError } from '../../pipeline/errors.js';
import { createClusters } from '../../pipeline/runtime/clusters.js';
import { sendDeadLetterBatch } from '../../pipeline/runtime/dead-letter-ledger.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import { ensureZoneTopics } from '../../pipeline/runtime/topics-admin.js';
import { DLQ_HEADERS, dlqName, TOPICS } from '../../schemas/topics.js';
import { testBrokers } from '../helpers/broker.js';

describe('dead letters of a flood of large records', () => {
  it('arrive all and in order, however far their sum exceeds the topic\'s record size limit', async () => {
    const logger = createLogger('silent');
    const clusters = createClusters({ brokers: testBrokers(), clientId: 'dead-letters-test' }, logger, 'test');
    await ensureZoneTopics(clusters, 2);
    const key = `flood-${randomBytes(4).toString('hex')}`;
    const MiB = 1024 * 1024;
    // 20 queries of 1 MiB: 2.5 times the 8 MiB a record (and a batch) of the queries' dead letters may hold.
    const n = 20;
    expect(n * MiB).toBeGreaterThan(2 * TOPICS.queries.maxMessageBytes);
    const items = Array.from({ length: n }, (_, i) => {
      const record: KafkaMessage = { key: Buffer.from(key), value: Buffer.alloc(MiB, i), headers: {}, timestamp: String(Date.now()), offset: String(i), attributes: 0 };
      return { source: { topic: 'queries' as const, partition: 0, record }, stageName: 'scorer', err: new BlindearError('BLINDEAR_ERR_MODEL_MISMATCH', `query ${i} was made for another catalogue`) };
    });
    const producer = clusters.server.producer();
    await producer.connect();
    try {
      await sendDeadLetterBatch(producer, items);
    } finally {
      await producer.disconnect();
    }
    const consumer = new Kafka({ brokers: testBrokers(), clientId: 'dead-letters-read', logLevel: logLevel.NOTHING })
      .consumer({ groupId: `${key}-read`, maxWaitTimeInMs: 250, maxBytesPerPartition: TOPICS.queries.maxMessageBytes + 65536 });
    const got: { first: number; length: number; code: string; offset: string }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: dlqName(TOPICS.queries.name), fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() !== key) return;
        got.push({ first: message.value![0], length: message.value!.length, code: String(message.headers?.[DLQ_HEADERS.code]), offset: String(message.headers?.[DLQ_HEADERS.offset]) });
      },
    });
    try {
      const deadline = Date.now() + 60_000;
      while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    } finally {
      await consumer.disconnect();
    }
    expect(got).toHaveLength(n);
    expect(got.map((g) => g.first)).toEqual(items.map((_, i) => i));
    expect(got.map((g) => g.offset)).toEqual(items.map((_, i) => String(i)));
    expect(new Set(got.map((g) => g.length))).toEqual(new Set([MiB]));
    expect(new Set(got.map((g) => g.code))).toEqual(new Set(['BLINDEAR_ERR_MODEL_MISMATCH']));
  });
});
