/**
 * Tables: compacted topics a stage reads as key → latest value, held only for the input partitions the
 * instance is assigned. A table topic has the input topic's partition count and the same key (the session),
 * so a session's table records sit on the same partition index as its input records. On assignment the
 * partitions are restored from the beginning up to their end offsets; the stage's own writes are applied
 * as they are sent. Partitions that leave the instance are dropped.
 */
import { randomUUID } from 'node:crypto';
import { TOPICS, type TopicKey } from '../../schemas/topics.js';
import { decodeRecord } from './codec.js';
import { FETCH_WAIT_MS } from './kafka.js';
import type { Clusters } from './clusters.js';
import { clusterOf } from './clusters.js';
import type { Logger } from './logger.js';
import type { EnvelopeOf, Outbound, TableView } from './stage.js';
import { topicOffsets } from './topics-admin.js';

interface Entry {
  partition: number;
  value: unknown;
}

export class StateTables implements TableView {
  private readonly data = new Map<TopicKey, Map<string, Entry>>();

  constructor(private readonly clusters: Clusters, readonly topics: readonly TopicKey[], private readonly logger: Logger) {
    for (const t of topics) this.data.set(t, new Map());
  }

  get<T extends TopicKey>(topic: T, key: string): EnvelopeOf<T> | undefined {
    return this.data.get(topic)?.get(key)?.value as EnvelopeOf<T> | undefined;
  }

  private readonly refreshed = new Map<string, Promise<void>>();

  async fetch<T extends TopicKey>(topic: T, key: string, partition: number): Promise<EnvelopeOf<T> | undefined> {
    const hit = this.get(topic, key);
    if (hit !== undefined || !this.data.has(topic)) return hit;
    // One re-read per table partition at a time, and callers share it; but a re-read that began before a
    // caller's miss may end before a record written just before that miss (50 stations opening at once
    // write their records and first audio within the same second), so such a caller waits for it, looks
    // again, and on a second miss reads once more: a miss after a re-read begun after it is final.
    const id = `${topic}/${partition}`;
    const inflight = this.refreshed.get(id);
    if (inflight) {
      await inflight;
      const again = this.get(topic, key);
      if (again !== undefined) return again;
    }
    let p = this.refreshed.get(id);
    if (!p || p === inflight) {
      const read: Promise<void> = this.restoreTopic(topic, [partition], false).finally(() => {
        if (this.refreshed.get(id) === read) this.refreshed.delete(id);
      });
      this.refreshed.set(id, read);
      p = read;
    }
    await p;
    return this.get(topic, key);
  }

  get size(): number {
    let n = 0;
    for (const m of this.data.values()) n += m.size;
    return n;
  }

  /** Applies what the stage wrote (after it was sent): later reads see it. */
  apply(outputs: readonly Outbound[], partition: number): void {
    for (const o of outputs) {
      const m = this.data.get(o.topic);
      if (m) m.set(o.key, { partition, value: o.envelope });
    }
  }

  drop(partitions: readonly number[]): void {
    const gone = new Set(partitions);
    for (const m of this.data.values()) for (const [k, e] of m) if (gone.has(e.partition)) m.delete(k);
  }

  /** Reads every partition of every table topic (a process that serves named stations rather than partitions). */
  async restoreAll(): Promise<void> {
    for (const topic of this.topics) {
      const admin = clusterOf(this.clusters, topic).admin();
      await admin.connect();
      let partitions: number[];
      try { partitions = (await topicOffsets(admin, TOPICS[topic].name)).map((o) => o.partition); } finally { await admin.disconnect(); }
      await this.restoreTopic(topic, partitions);
    }
  }

  /** Reads every table topic's `partitions` from the beginning to their current end. */
  async restore(partitions: readonly number[]): Promise<void> {
    if (this.topics.length === 0 || partitions.length === 0) return;
    this.drop(partitions);
    for (const topic of this.topics) await this.restoreTopic(topic, partitions);
  }

  private async restoreTopic(topic: TopicKey, partitions: readonly number[], log = true): Promise<void> {
    const kafka = clusterOf(this.clusters, topic);
    const name = TOPICS[topic].name;
    const admin = kafka.admin();
    await admin.connect();
    let ends: { partition: number; offset: string; low: string }[];
    try {
      const offsets = await topicOffsets(admin, name);
      ends = offsets.filter((o) => partitions.includes(o.partition)).map((o) => ({ partition: o.partition, offset: o.high, low: o.low }));
    } finally {
      await admin.disconnect();
    }
    const pending = new Map(ends.filter((e) => BigInt(e.offset) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.offset)]));
    if (pending.size === 0) return;
    const started = Date.now();
    const m = this.data.get(topic)!;
    let records = 0;
    const groupId = `blindear-restore-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: FETCH_WAIT_MS, allowAutoTopicCreation: false, maxBytesPerPartition: TOPICS[topic].maxMessageBytes + 65536 });
    await consumer.connect();
    try {
      let lastActivity = Date.now();
      let watchdog: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve, reject) => {
        // A compacted partition may end in offsets that no longer exist (removed tombstones): once nothing
        // has arrived for a while, what was read is the whole partition.
        watchdog = setInterval(() => { if (Date.now() - lastActivity > 10_000) resolve(); }, 500);
        const others = new Set<number>();
        consumer.subscribe({ topic: name, fromBeginning: true })
          .then(() => consumer.run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              lastActivity = Date.now();
              const want = pending.get(batch.partition);
              if (want === undefined) {
                // Not one of ours (or already complete): stop fetching it.
                if (!others.has(batch.partition)) { others.add(batch.partition); consumer.pause([{ topic: name, partitions: [batch.partition] }]); }
                return;
              }
              for (const message of batch.messages) {
                if (BigInt(message.offset) >= want) break;
                const key = message.key?.toString('utf8') ?? '';
                if (!message.value || message.value.length === 0) m.delete(key);
                else {
                  try {
                    m.set(key, { partition: batch.partition, value: decodeRecord(topic, message).envelope });
                  } catch (err) {
                    this.logger.warn({ topic: name, partition: batch.partition, offset: message.offset, err: (err as Error).message }, 'table record skipped');
                  }
                }
                records++;
              }
              if (BigInt(batch.highWatermark) >= want && BigInt(batch.lastOffset()) + 1n >= want) {
                pending.delete(batch.partition);
                consumer.pause([{ topic: name, partitions: [batch.partition] }]);
                if (pending.size === 0) resolve();
              }
            },
          }))
          .catch(reject);
      }).finally(() => clearInterval(watchdog));
    } finally {
      await consumer.disconnect().catch(() => undefined);
      const admin2 = kafka.admin();
      try { await admin2.connect(); await admin2.deleteGroups([groupId]); } catch { /* an idle empty group expires by itself */ } finally { await admin2.disconnect().catch(() => undefined); }
    }
    if (log) this.logger.info({ topic: name, partitions, records, ms: Date.now() - started }, 'table restored');
    else this.logger.debug({ topic: name, partitions, records, ms: Date.now() - started }, 'table partition read again');
  }
}
