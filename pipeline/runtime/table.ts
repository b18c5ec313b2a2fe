/**
 * Materialises a compacted topic (session keys) into memory: every instance reads the whole topic from
 * the beginning in a group of its own, so whichever partitions of the queries topic it is assigned, it
 * already holds the keys of those sessions. Invalid records are dead-lettered, never kept.
 */
import { randomUUID } from 'node:crypto';
import type { KafkaMessage, Producer } from 'kafkajs';
import { TOPICS, type TopicKey } from '../../schemas/topics.js';
import { isBlindearError, type BlindearError } from '../errors.js';
import { decodeRecord } from './codec.js';
import { FETCH_WAIT_MS, type KafkaClient } from './kafka.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { sendDeadLetter } from './run-stage.js';
import type { EnvelopeOf } from './stage.js';

export interface TableReader {
  stop(): Promise<void>;
}

export interface TableRecordMeta {
  partition: number;
  offset: string;
  headers: Record<string, string>;
}

export async function materializeTable<K extends TopicKey>(opts: {
  kafka: KafkaClient;
  producer: Producer;
  topic: K;
  logger: Logger;
  metrics: Metrics;
  groupPrefix: string;
  /**
   * Called for every valid record in offset order; a tombstone (empty value) calls with null. Returning
   * (or throwing) a BlindearError refuses the record: it is dead-lettered.
   */
  onRecord(key: string, entry: { envelope: EnvelopeOf<K>; value: Buffer } | null, meta: TableRecordMeta): void | BlindearError;
  /**
   * Dead-letters a refused record; default: always. Every instance reads the whole table, so a caller
   * with several instances passes one that sends each record once (see dead-letter-ledger.ts).
   */
  deadLetter?(source: { topic: K; partition: number; record: KafkaMessage }, err: BlindearError): Promise<void>;
}): Promise<TableReader> {
  const spec = TOPICS[opts.topic];
  const groupId = `${opts.groupPrefix}-${randomUUID()}`;
  const consumer = opts.kafka.consumer({
    groupId,
    maxBytesPerPartition: spec.maxMessageBytes + 65536,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: FETCH_WAIT_MS,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: spec.name, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const key = message.key?.toString('utf8') ?? '';
      const headers: Record<string, string> = {};
      for (const [name, v] of Object.entries(message.headers ?? {})) {
        const one = Array.isArray(v) ? v[0] : v;
        if (one !== undefined) headers[name] = Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
      }
      const meta = { partition, offset: message.offset, headers };
      let refused: BlindearError | undefined;
      try {
        const entry = !message.value || message.value.length === 0 ? null : decodeRecord(opts.topic, message);
        refused = opts.onRecord(key, entry, meta) ?? undefined;
      } catch (err) {
        if (!isBlindearError(err)) throw err;
        refused = err;
      }
      if (!refused) return;
      const source = { topic: opts.topic, partition, record: message };
      if (opts.deadLetter) { await opts.deadLetter(source, refused); return; }
      opts.logger.warn({ code: refused.code, partition, offset: message.offset, session: key }, refused.message);
      await sendDeadLetter(opts.producer, source, 'scorer', refused);
      opts.metrics.deadLetters.inc({ stage: 'scorer', code: refused.code });
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
