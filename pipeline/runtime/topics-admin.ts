/** Creates every topic of schemas/topics.ts (and its dead-letter twin) with an explicit partition count. */
import { TOPICS, dlqName, type Zone } from '../../schemas/topics.js';
import type { Clusters } from './clusters.js';
import type { KafkaClient } from './kafka.js';

/** Creates each zone's topics on that zone's cluster. */
export async function ensureZoneTopics(clusters: Clusters, partitions: number): Promise<string[]> {
  if (clusters.shared) return ensureTopics(clusters.client, partitions);
  return [...await ensureTopics(clusters.client, partitions, 'client'), ...await ensureTopics(clusters.server, partitions, 'server')];
}

/** Attempts at creating the missing topics while another process creates them too (each re-lists first). */
const CREATE_ATTEMPTS = 5;

type AdminError = { type?: string; message?: string; retriable?: boolean; errors?: unknown[] };

/** An admin call's error followed by the per-topic errors it aggregates (kafkajs's KafkaJSAggregateError). */
function adminErrors(err: unknown): AdminError[] {
  return [err, ...((err as AdminError).errors ?? [])] as AdminError[];
}

/**
 * Another process creating the same topics at the same moment (a second service starting, `blindear
 * topics` beside a running monitor) makes the broker answer "already exists" or, while it propagates the
 * new topics' metadata, "does not host this topic-partition": both pass once the topics exist, so the
 * call lists the topics again and creates what is still missing.
 */
function racedCreation(err: unknown): boolean {
  return adminErrors(err).some((e) => e.retriable === true || /TOPIC_ALREADY_EXISTS|UNKNOWN_TOPIC_OR_PARTITION|LEADER_NOT_AVAILABLE/.test(e.type ?? ''));
}

export async function ensureTopics(kafka: KafkaClient, partitions: number, zone?: Zone): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created: string[] = [];
    for (let attempt = 1; ; attempt++) {
      try {
        created.push(...await createMissing(admin, partitions, zone));
        return created;
      } catch (err) {
        if (attempt >= CREATE_ATTEMPTS || !racedCreation(err)) throw err;
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

async function createMissing(admin: ReturnType<KafkaClient['admin']>, partitions: number, zone?: Zone): Promise<string[]> {
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
    const all = adminErrors(err);
    const denied = (e: AdminError): boolean => /AUTHORIZATION_FAILED|not authorized/i.test(`${e.type ?? ''} ${e.message ?? ''}`);
    if ((err as AdminError).errors?.length ? all.slice(1).every(denied) : denied(all[0])) return [];
    throw err;
  }
  return missing.map((t) => t.topic);
}

/** Attempts at reading a topic's offsets while its partitions' leaders settle. */
const OFFSET_ATTEMPTS = 6;

/**
 * A topic's offsets per partition (admin.fetchTopicOffsets), read again while the broker answers that it
 * is not (yet) a partition's leader: right after the topics are created or a broker restarts, leadership
 * is still moving and kafkajs passes that retriable error up from this call instead of retrying it.
 */
export async function topicOffsets(admin: ReturnType<KafkaClient['admin']>, topic: string): Promise<{ partition: number; offset: string; high: string; low: string }[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      const moving = adminErrors(err).some((e) => e.retriable === true || /NOT_LEADER|LEADER_NOT_AVAILABLE|UNKNOWN_TOPIC_OR_PARTITION/.test(e.type ?? ''));
      if (attempt >= OFFSET_ATTEMPTS || !moving) throw err;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}
