/**
 * Topic creation raced by other processes, on a fresh real broker: several services (or `blindear topics`
 * beside a running monitor) create the same topics at the same moment. Every call succeeds, and every topic
 * of schemas/topics.ts and its dead-letter twin exists afterwards with the partitions asked for. (Under
 * heavy load the broker can also answer a caller's metadata request for a topic another caller is still
 * creating with "does not host this topic-partition"; ensureTopics then lists again and retries.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../pipeline/runtime/kafka.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import { ensureTopics } from '../../pipeline/runtime/topics-admin.js';
import { dlqName, TOPICS } from '../../schemas/topics.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';

describe('topics created by several processes at once', () => {
  let broker: TestBroker;
  beforeAll(async () => { broker = await startBroker(); }, 120_000);
  afterAll(async () => { await broker?.stop(); });

  it('every call succeeds and every topic exists, with its partitions', async () => {
    const logger = createLogger('silent');
    const clients = Array.from({ length: 4 }, (_, i) => createKafka({ brokers: broker.brokers, clientId: `race-${i}`, logger }));
    const wanted = Object.values(TOPICS).flatMap((t) => [t.name, dlqName(t.name)]).sort();
    const created = await Promise.all(clients.map((k) => ensureTopics(k, 3)));
    // What each caller found missing when it listed: at least one of them saw every topic missing.
    expect(created.some((c) => [...c].sort().join() === wanted.join())).toBe(true);
    const admin = clients[0].admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: wanted });
      expect(meta.topics.map((t) => t.name).sort()).toEqual(wanted);
      for (const t of meta.topics) expect(t.partitions, t.name).toHaveLength(3);
    } finally {
      await admin.disconnect();
    }
    // And once they exist, a further call creates nothing.
    expect(await ensureTopics(clients[1], 3)).toEqual([]);
  }, 120_000);
});
