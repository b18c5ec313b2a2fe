/**
 * Dead-letters each refused record of a table topic once, although every scorer instance reads the
 * whole table at every start. Two rules: only the instance that owns partition p of the work topic
 * (same key → same partition index) sends the dead letters of the table's partition p, in offset order;
 * and the dead-letter topic itself is the record of how far that went: its partition p (same key, same
 * partition) ends with the highest source offset sent, read back (one record per partition) at start
 * and whenever partitions move, so a restart does not send them again. Refused records met while their
 * partition has no owner here wait in a bounded list until it has one (or the next start sees them).
 * A refused record over 1 MiB is dead-lettered without its value (its size in a header): flagging it
 * must not cost the broker, or the producer the scores share, another copy of a flood.
 */
import type { KafkaMessage, Producer } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { DLQ_HEADERS, TOPICS, dlqName, type TopicKey } from '../../schemas/topics.js';
import type { BlindearError } from '../errors.js';
import { FETCH_WAIT_MS, type KafkaClient } from './kafka.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { deadLetterHeaders, sendDeadLetter } from './run-stage.js';
import { topicOffsets } from './topics-admin.js';

interface Pending {
  source: { topic: TopicKey; partition: number; record: KafkaMessage };
  err: BlindearError;
}

const MAX_PENDING = 256;
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
const MAX_DEAD_LETTER_VALUE = 1024 * 1024;

export class DeadLetterLedger {
  private readonly watermark = new Map<number, bigint>();
  private owned = new Set<number>();
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private chain: Promise<void> = Promise.resolve();

  private constructor(
    private readonly kafka: KafkaClient,
    private readonly producer: Producer,
    private readonly groupId: string,
    private readonly topic: TopicKey,
    private readonly stageName: string,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Reads the watermarks from the end of the dead-letter topic. `groupId` names a throwaway reader group. */
  static async open(opts: { kafka: KafkaClient; producer: Producer; groupId: string; topic: TopicKey; stageName: string; logger: Logger; metrics: Metrics }): Promise<DeadLetterLedger> {
    const ledger = new DeadLetterLedger(opts.kafka, opts.producer, opts.groupId, opts.topic, opts.stageName, opts.logger, opts.metrics);
    await ledger.refreshWatermarks();
    return ledger;
  }

  /** The partitions this instance owns now (from its work consumer's assignment). */
  setOwned(partitions: Iterable<number>): Promise<void> {
    this.owned = new Set(partitions);
    // Another instance may have sent dead letters of these partitions while it owned them.
    this.chain = this.chain.then(() => this.refreshWatermarks()).catch(() => undefined);
    const ready = this.pending.filter((p) => this.owned.has(p.source.partition));
    this.pending = this.pending.filter((p) => !this.owned.has(p.source.partition));
    this.pendingBytes = this.pending.reduce((n, p) => n + (p.source.record.value?.length ?? 0), 0);
    for (const p of ready) this.enqueue(p);
    return this.chain;
  }

  /** Highest source offset + 1 per partition, from the last record of each dead-letter partition. */
  private async refreshWatermarks(): Promise<void> {
    const dlq = dlqName(TOPICS[this.topic].name);
    const admin = this.kafka.admin();
    await admin.connect();
    let ends: { partition: number; offset: string; low: string }[];
    try {
      ends = (await topicOffsets(admin, dlq)).filter((p) => BigInt(p.offset) > BigInt(p.low));
    } finally {
      await admin.disconnect();
    }
    if (ends.length === 0) return;
    const groupId = `${this.groupId}-${randomUUID()}`;
    const consumer = this.kafka.consumer({ groupId, maxWaitTimeInMs: FETCH_WAIT_MS, maxBytesPerPartition: TOPICS[this.topic].maxMessageBytes + 65536, allowAutoTopicCreation: false });
    const wanted = new Map(ends.map((e) => [e.partition, BigInt(e.offset) - 1n]));
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: dlq, fromBeginning: false });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer from the dead-letter topic within 30 s')), 30_000);
        consumer.on(consumer.events.GROUP_JOIN, () => {
          for (const [partition, offset] of wanted) consumer.seek({ topic: dlq, partition, offset: String(offset) });
        });
        consumer.run({
          eachMessage: async ({ partition, message }) => {
            if (BigInt(message.offset) !== wanted.get(partition)) return;
            wanted.delete(partition);
            const h = message.headers?.[DLQ_HEADERS.offset];
            const source = Number(Buffer.isBuffer(h) ? h.toString('utf8') : String(h ?? ''));
            if (Number.isInteger(source) && BigInt(source) + 1n > (this.watermark.get(partition) ?? 0n)) this.watermark.set(partition, BigInt(source) + 1n);
            if (wanted.size === 0) { clearTimeout(timer); resolve(); }
          },
        }).catch(reject);
      });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'dead-letter watermarks not read: refused key records may be dead-lettered again');
    } finally {
      await consumer.disconnect().catch(() => undefined);
      const admin2 = this.kafka.admin();
      try { await admin2.connect(); await admin2.deleteGroups([groupId]); } catch { /* best effort */ } finally { await admin2.disconnect(); }
    }
  }

  /** Dead-letters `source` unless already done (below the watermark) or owned elsewhere (then it waits). */
  deadLetter(source: Pending['source'], err: BlindearError): Promise<void> {
    if (BigInt(source.record.offset) < (this.watermark.get(source.partition) ?? 0n)) return Promise.resolve();
    if (!this.owned.has(source.partition)) {
      const bytes = source.record.value?.length ?? 0;
      if (this.pending.length < MAX_PENDING && this.pendingBytes + bytes <= MAX_PENDING_BYTES) {
        this.pending.push({ source, err });
        this.pendingBytes += bytes;
      }
      return Promise.resolve();
    }
    this.enqueue({ source, err });
    return this.chain;
  }

  private enqueue(p: Pending): void {
    this.chain = this.chain.then(async () => {
      const { partition, record } = p.source;
      const offset = BigInt(record.offset);
      if (offset < (this.watermark.get(partition) ?? 0n)) return;
      this.logger.warn({ code: p.err.code, partition, offset: record.offset, session: record.key?.toString('utf8') }, p.err.message);
      const value = record.value;
      const slim = value && value.length > MAX_DEAD_LETTER_VALUE
        ? { ...p.source, record: { ...record, value: null, headers: { ...record.headers, 'blindear-dlq-value-bytes': String(value.length) } } as KafkaMessage }
        : p.source;
      await sendDeadLetter(this.producer, slim, this.stageName, p.err);
      this.metrics.deadLetters.inc({ stage: this.stageName, code: p.err.code });
      this.watermark.set(partition, offset + 1n);
    }).catch((err: unknown) => { this.logger.warn({ err: (err as Error).message }, 'dead letter not sent'); });
  }
}

/**
 * Dead letters of many records in few requests (same headers as sendDeadLetter): a stage that refuses a
 * flood of records flags them without one awaited round trip each on its partition's path. A request holds
 * at most one record's size limit of dead letters (the broker refuses a larger batch), so a flood of large
 * records goes out in several, in order.
 */
export async function sendDeadLetterBatch(
  producer: Producer,
  items: readonly { source: { topic: TopicKey; partition: number; record: KafkaMessage }; stageName: string; err: BlindearError }[],
): Promise<void> {
  type Message = { key: Buffer | null; value: Buffer | null; headers: Record<string, string | Buffer> };
  let batch = new Map<string, Message[]>();
  let bytes = 0;
  const flush = async (): Promise<void> => {
    if (batch.size === 0) return;
    const topicMessages = [...batch].map(([topic, messages]) => ({ topic, messages }));
    batch = new Map();
    bytes = 0;
    await producer.sendBatch({ acks: -1, topicMessages });
  };
  for (const { source, stageName, err } of items) {
    const spec = TOPICS[source.topic];
    const headers: Record<string, string | Buffer> = {};
    for (const [k, v] of Object.entries(source.record.headers ?? {})) if (v !== undefined) headers[k] = Array.isArray(v) ? v[0] : v;
    Object.assign(headers, deadLetterHeaders(source, stageName, err));
    const size = (source.record.value?.length ?? 0) + (source.record.key?.length ?? 0)
      + Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length, 0);
    if (bytes > 0 && bytes + size > spec.maxMessageBytes) await flush();
    const name = dlqName(spec.name);
    const list = batch.get(name) ?? [];
    list.push({ key: source.record.key, value: source.record.value, headers });
    batch.set(name, list);
    bytes += size;
  }
  await flush();
}
