/**
 * Materialises a compacted topic (session keys) into memory: every instance reads the whole topic from
 * the beginning in a group of its own, so whichever partitions of the queries topic it is assigned, it
 * already holds the keys of those sessions. Invalid records are dead-lettered, never kept.
 */
import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import { TOPICS, type TopicKey } from '../../schemas/topics.js';
import { isBlindearError } from '../errors.js';
import { decodeRecord } from './codec.js';
import type { KafkaClient } from './kafka.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { sendDeadLetter } from './run-stage.js';
import type { EnvelopeOf } from './stage.js';

export interface TableReader {
  stop(): Promise<void>;
}

export async function materializeTable<K extends TopicKey>(opts: {
  kafka: KafkaClient;
  producer: Producer;
  topic: K;
  logger: Logger;
  metrics: Metrics;
  groupPrefix: string;
  /** Called for every valid record in offset order; a tombstone (empty value) calls with null. */
  onRecord(key: string, entry: { envelope: EnvelopeOf<K>; value: Buffer } | null): void;
}): Promise<TableReader> {
  const spec = TOPICS[opts.topic];
  const groupId = `${opts.groupPrefix}-${randomUUID()}`;
  const consumer = opts.kafka.consumer({
    groupId,
    maxBytesPerPartition: spec.maxMessageBytes + 65536,
    allowAutoTopicCreation: false,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: spec.name, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const key = message.key?.toString('utf8') ?? '';
      if (!message.value || message.value.length === 0) { opts.onRecord(key, null); return; }
      try {
        opts.onRecord(key, decodeRecord(opts.topic, message));
      } catch (err) {
        if (!isBlindearError(err)) throw err;
        opts.logger.warn({ code: err.code, partition, offset: message.offset, session: key }, err.message);
        await sendDeadLetter(opts.producer, { topic: opts.topic, partition, record: message }, 'scorer', err);
        opts.metrics.deadLetters.inc({ stage: 'scorer', code: err.code });
      }
    },
  });
  return {
    async stop() {
      await consumer.disconnect();
      // The group is this instance's alone: delete it so restarts don't pile up empty groups.
      const admin = opts.kafka.admin();
      try { await admin.connect(); await admin.deleteGroups([groupId]); } catch { /* best effort */ } finally { await admin.disconnect(); }
    },
  };
}
