/**
 * Consumer lag for operators: every `intervalMs`, reads the committed offsets of the process's consumer
 * groups and the end offsets of their topics through the admin API, and sets
 * `blindear_consumer_lag_records{group,topic,partition}`. Polling failures are logged at debug and
 * leave the last values in place (a broker outage shows as a flat lag, and in the broker's own health).
 */
import type { KafkaClient } from './kafka.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { topicOffsets } from './topics-admin.js';

export interface PartitionEnd { partition: number; low: string; high: string }
export interface PartitionCommit { partition: number; offset: string }
export interface LagRow { topic: string; partition: number; lag: number }

/**
 * Records between the committed offset and the end of each partition. A partition the group has not
 * committed on yet (offset -1) lags by everything still retained in it (high - low).
 */
export function lagOf(topic: string, commits: readonly PartitionCommit[], ends: readonly PartitionEnd[]): LagRow[] {
  const committed = new Map(commits.map((c) => [c.partition, Number(c.offset)]));
  return ends.map((e) => {
    const high = Number(e.high);
    const low = Number(e.low);
    const at = committed.get(e.partition);
    const from = at === undefined || at < 0 ? low : at;
    return { topic, partition: e.partition, lag: Math.max(0, high - from) };
  }).sort((a, b) => a.partition - b.partition);
}

export interface ConsumerLagOptions {
  kafka: KafkaClient;
  metrics: Metrics;
  /** The groups to report, asked at every poll (a client's groups come and go with its sessions). */
  groups: () => readonly string[];
  logger: Logger;
  intervalMs?: number;
}

export interface ConsumerLagPoller {
  /** One poll now (also what the timer runs). */
  poll(): Promise<void>;
  stop(): Promise<void>;
}

export function startConsumerLag(opts: ConsumerLagOptions): ConsumerLagPoller {
  const admin = opts.kafka.admin({ retry: { retries: 1 } });
  let connected: Promise<void> | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const pollOnce = async (): Promise<void> => {
    connected ??= admin.connect();
    await connected;
    const rows: { group: string; row: LagRow }[] = [];
    const ends = new Map<string, PartitionEnd[]>();
    for (const group of opts.groups()) {
      const offsets = await admin.fetchOffsets({ groupId: group });
      for (const { topic, partitions } of offsets) {
        if (!ends.has(topic)) ends.set(topic, await topicOffsets(admin, topic));
        for (const row of lagOf(topic, partitions, ends.get(topic)!)) rows.push({ group, row });
      }
    }
    // Replace the whole set at once: groups that ended disappear from the exposition.
    opts.metrics.consumerLag.reset();
    for (const { group, row } of rows) opts.metrics.consumerLag.set({ group, topic: row.topic, partition: String(row.partition) }, row.lag);
  };

  const poll = (): Promise<void> => {
    running ??= pollOnce()
      .catch((err: unknown) => {
        connected = undefined;
        opts.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'consumer lag poll failed');
      })
      .finally(() => { running = undefined; });
    return running;
  };

  const timer = setInterval(() => { if (!stopped) void poll(); }, opts.intervalMs ?? 10_000);
  timer.unref();
  void poll();
  return {
    poll,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await admin.disconnect().catch(() => undefined);
    },
  };
}
