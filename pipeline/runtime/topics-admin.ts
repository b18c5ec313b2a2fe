/** Creates every topic of schemas/topics.ts (and its dead-letter twin) with an explicit partition count. */
import { TOPICS, dlqName } from '../../schemas/topics.js';
import type { KafkaClient } from './kafka.js';

export async function ensureTopics(kafka: KafkaClient, partitions: number): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = Object.values(TOPICS).flatMap((t) => [
      {
        topic: t.name,
        numPartitions: partitions,
        configEntries: [
          { name: 'cleanup.policy', value: t.compacted ? 'compact' : 'delete' },
          { name: 'max.message.bytes', value: String(t.maxMessageBytes) },
        ],
      },
      {
        // Dead letters keep the original bytes plus a few headers: same size limit, never compacted.
        topic: dlqName(t.name),
        numPartitions: partitions,
        configEntries: [{ name: 'max.message.bytes', value: String(t.maxMessageBytes + 65536) }],
      },
    ]);
    const missing = wanted.filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return [];
    try {
      await admin.createTopics({ topics: missing, waitForLeaders: true });
    } catch (err) {
      // Under broker ACLs a principal sees (and may create) only its zone's topics: an operator creates
      // them all (`blindear topics` as an admin principal); what this one cannot see is not its business.
      const all = [err, ...((err as { errors?: unknown[] }).errors ?? [])] as { type?: string; message?: string }[];
      const denied = (e: { type?: string; message?: string }): boolean => /AUTHORIZATION_FAILED|not authorized/i.test(`${e.type ?? ''} ${e.message ?? ''}`);
      if ((err as { errors?: unknown[] }).errors?.length ? all.slice(1).every(denied) : denied(all[0])) return [];
      throw err;
    }
    return missing.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}
