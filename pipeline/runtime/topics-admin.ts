/** Creates every topic of schemas/topics.ts (and its dead-letter twin) with an explicit partition count. */
import { TOPICS, dlqName, type Zone } from '../../schemas/topics.js';
import type { Clusters } from './clusters.js';
import type { KafkaClient } from './kafka.js';

/** Creates each zone's topics on that zone's cluster. */
export async function ensureZoneTopics(clusters: Clusters, partitions: number): Promise<string[]> {
  if (clusters.shared) return ensureTopics(clusters.client, partitions);
  return [...await ensureTopics(clusters.client, partitions, 'client'), ...await ensureTopics(clusters.server, partitions, 'server')];
}

export async function ensureTopics(kafka: KafkaClient, partitions: number, zone?: Zone): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = Object.values(TOPICS).filter((t) => !zone || t.zone === zone).flatMap((t) => [
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
