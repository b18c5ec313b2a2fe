/**
 * Binds one stage to Kafka: subscribe, decode + validate, process with retries, produce the outputs,
 * and only then let the offset be committed (at-least-once; consumers de-duplicate by session and seq).
 * A message that fails validation, or fails for good, goes to `<input topic>.dlq` with its original
 * bytes and the reason in headers; the stage keeps running.
 */
import type { Consumer, KafkaMessage, Producer } from 'kafkajs';
import { DLQ_HEADERS, TOPICS, dlqName, type TopicKey } from '../../schemas/topics.js';
import { BlindearError, isBlindearError } from '../errors.js';
import { decodeRecord, encodeRecord } from './codec.js';
import type { KafkaClient } from './kafka.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { withRetry, type RetryPolicy } from './retry.js';
import type { Outbound, Stage, StageContext } from './stage.js';

export interface RunStageOptions<K extends TopicKey> {
  kafka: KafkaClient;
  producer: Producer;
  stage: Stage<K>;
  groupId: string;
  logger: Logger;
  metrics: Metrics;
  retry: RetryPolicy;
  fromBeginning?: boolean;
  /**
   * Start at the input topic's end as it is now (not at the group's committed offset): for the
   * per-session consumer groups of a client, which only want records produced after they started.
   */
  startAtCurrentEnd?: boolean;
  /** Partitions processed concurrently by this consumer (order is kept within a partition). */
  partitionsConsumedConcurrently?: number;
}

export interface RunningStage {
  consumer: Consumer;
  /** Resolves once the consumer has joined its group and owns partitions. */
  joined: Promise<void>;
  stop(): Promise<void>;
}

export function createProducer(kafka: KafkaClient): Producer {
  // Idempotent: a retried send after a broker hiccup never duplicates a record within a partition.
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
}

/** Sends the outputs of one input message; records of one topic go in one request, in order. */
export async function sendOutputs(producer: Producer, outputs: readonly Outbound[]): Promise<void> {
  if (outputs.length === 0) return;
  const byTopic = new Map<TopicKey, ReturnType<typeof encodeRecord>[]>();
  for (const o of outputs) {
    const list = byTopic.get(o.topic) ?? [];
    list.push(encodeRecord(o));
    byTopic.set(o.topic, list);
  }
  await producer.sendBatch({
    acks: -1,
    topicMessages: [...byTopic].map(([topic, messages]) => ({ topic: TOPICS[topic].name, messages })),
  });
}

/** A null value under `key`: on a compacted topic, compaction then drops the key's records. */
export async function sendTombstone(producer: Producer, topic: TopicKey, key: string): Promise<void> {
  await producer.send({ topic: TOPICS[topic].name, acks: -1, messages: [{ key, value: null }] });
}

export type { Producer };

export async function sendDeadLetter(
  producer: Producer,
  source: { topic: TopicKey; partition: number; record: KafkaMessage },
  stageName: string,
  err: BlindearError,
): Promise<void> {
  const spec = TOPICS[source.topic];
  await producer.send({
    topic: dlqName(spec.name),
    acks: -1,
    messages: [{
      key: source.record.key,
      value: source.record.value,
      headers: {
        ...source.record.headers,
        [DLQ_HEADERS.code]: err.code,
        [DLQ_HEADERS.reason]: err.message.slice(0, 1000),
        [DLQ_HEADERS.stage]: stageName,
        [DLQ_HEADERS.topic]: spec.name,
        [DLQ_HEADERS.partition]: String(source.partition),
        [DLQ_HEADERS.offset]: source.record.offset,
      },
    }],
  });
}

export async function runStage<K extends TopicKey>(opts: RunStageOptions<K>): Promise<RunningStage> {
  const { kafka, producer, stage, logger, metrics } = opts;
  const spec = TOPICS[stage.input];
  const log = logger.child({ stage: stage.name });
  const consumer = kafka.consumer({
    groupId: opts.groupId,
    maxBytesPerPartition: spec.maxMessageBytes + 65536,
    maxBytes: Math.max(spec.maxMessageBytes * 2, 10 * 1024 * 1024),
    sessionTimeout: 45_000,
    heartbeatInterval: 3_000,
    allowAutoTopicCreation: false,
  });
  let stopping = false;
  const ctx: StageContext = { logger: log, metrics, now: () => Date.now() };

  let ends: { partition: number; offset: string }[] = [];
  if (opts.startAtCurrentEnd) {
    const admin = kafka.admin();
    await admin.connect();
    try { ends = await admin.fetchTopicOffsets(spec.name); } finally { await admin.disconnect(); }
  }
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  // Seek once the group exists: a consumer that kafkajs restarts right after run() (a coordinator still
  // loading on a busy broker) throws "not initialized" on seek, so seek again when it joins.
  let sought = ends.length === 0;
  const seekToEnds = (): void => {
    if (sought) return;
    try {
      for (const e of ends) consumer.seek({ topic: spec.name, partition: e.partition, offset: e.offset });
      sought = true;
    } catch (err) {
      log.debug({ err: err instanceof Error ? err.message : String(err) }, 'seek deferred until the group is joined');
    }
  };
  consumer.on(consumer.events.GROUP_JOIN, seekToEnds);
  await consumer.connect();
  await consumer.subscribe({ topic: spec.name, fromBeginning: opts.fromBeginning ?? true });
  await consumer.run({
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 1,
    eachMessage: async ({ partition, message, heartbeat }) => {
      const started = process.hrtime.bigint();
      const source = { topic: stage.input, partition, record: message };
      try {
        const decoded = decodeRecord(stage.input, message);
        const outputs = await withRetry(
          opts.retry,
          async () => {
            await heartbeat();
            return stage.process({ key: message.key?.toString('utf8') ?? '', partition, offset: message.offset, ...decoded }, ctx);
          },
          () => stopping,
        );
        await sendOutputs(producer, outputs);
        metrics.messages.inc({ stage: stage.name, outcome: outputs.length ? 'processed' : 'filtered' });
      } catch (err) {
        if (!isBlindearError(err)) throw err; // a programmer error: crash loudly, kafkajs re-delivers
        log.warn({ code: err.code, partition, offset: message.offset, session: message.key?.toString('utf8') }, err.message);
        await sendDeadLetter(producer, source, stage.name, err);
        metrics.deadLetters.inc({ stage: stage.name, code: err.code });
        metrics.messages.inc({ stage: stage.name, outcome: 'dead_letter' });
      } finally {
        metrics.stageSeconds.observe({ stage: stage.name }, Number(process.hrtime.bigint() - started) / 1e9);
      }
    },
  });
  seekToEnds();
  log.info({ topic: spec.name, groupId: opts.groupId }, 'stage running');
  return {
    consumer,
    joined,
    async stop() {
      stopping = true;
      await consumer.disconnect();
      await stage.close?.();
    },
  };
}
