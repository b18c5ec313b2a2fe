/**
 * Dead-letters each refused record of a table topic once, although every scorer instance reads the
 * whole table at every start. Two rules: only the instance that owns partition p of the work topic
 * (same key → same partition index) sends the dead letters of the table's partition p, and a watermark
 * per partition — the committed offsets of a consumer group that never has members — remembers how far
 * dead letters were sent, so a restart does not send them again. Refused records met while their
 * partition has no owner here wait in a bounded list until it has one (or the next start sees them).
 */
import type { KafkaMessage, Producer } from 'kafkajs';
import { TOPICS, type TopicKey } from '../../schemas/topics.js';
import type { BlindearError } from '../errors.js';
import type { KafkaClient } from './kafka.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { sendDeadLetter } from './run-stage.js';

interface Pending {
  source: { topic: TopicKey; partition: number; record: KafkaMessage };
  err: BlindearError;
}

const MAX_PENDING = 256;
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

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

  /** Reads the watermarks of `groupId` (a group no consumer ever joins). */
  static async open(opts: { kafka: KafkaClient; producer: Producer; groupId: string; topic: TopicKey; stageName: string; logger: Logger; metrics: Metrics }): Promise<DeadLetterLedger> {
    const ledger = new DeadLetterLedger(opts.kafka, opts.producer, opts.groupId, opts.topic, opts.stageName, opts.logger, opts.metrics);
    const admin = opts.kafka.admin();
    await admin.connect();
    try {
      const [t] = await admin.fetchOffsets({ groupId: opts.groupId, topics: [TOPICS[opts.topic].name] });
      for (const p of t?.partitions ?? []) if (Number(p.offset) >= 0) ledger.watermark.set(p.partition, BigInt(p.offset));
    } finally {
      await admin.disconnect();
    }
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

  private async refreshWatermarks(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const [t] = await admin.fetchOffsets({ groupId: this.groupId, topics: [TOPICS[this.topic].name] });
      for (const p of t?.partitions ?? []) {
        const o = Number(p.offset) >= 0 ? BigInt(p.offset) : 0n;
        if (o > (this.watermark.get(p.partition) ?? 0n)) this.watermark.set(p.partition, o);
      }
    } finally {
      await admin.disconnect();
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
      await sendDeadLetter(this.producer, p.source, this.stageName, p.err);
      this.metrics.deadLetters.inc({ stage: this.stageName, code: p.err.code });
      this.watermark.set(partition, offset + 1n);
      const admin = this.kafka.admin();
      try {
        await admin.connect();
        await admin.setOffsets({ groupId: this.groupId, topic: TOPICS[this.topic].name, partitions: [{ partition, offset: String(offset + 1n) }] });
      } catch (err) {
        this.logger.debug({ err: (err as Error).message }, 'dead-letter watermark not saved: the next start may send this one again');
      } finally {
        await admin.disconnect();
      }
    }).catch((err: unknown) => { this.logger.warn({ err: (err as Error).message }, 'dead letter not sent'); });
  }
}
