/** Consumer lag of a group on a topic: end offsets minus committed offsets, per partition. */
import { TOPICS, type TopicKey } from '../../schemas/topics.js';
import type { KafkaClient } from './kafka.js';
import { topicOffsets } from './topics-admin.js';

export async function groupLag(kafka: KafkaClient, groupId: string, topic: TopicKey): Promise<{ partition: number; lag: number }[]> {
  const name = TOPICS[topic].name;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await topicOffsets(admin, name);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [name] });
    return ends.map((e) => {
      const c = committed?.partitions.find((p) => p.partition === e.partition);
      const at = c && Number(c.offset) >= 0 ? Number(c.offset) : Number(e.low);
      return { partition: e.partition, lag: Math.max(0, Number(e.high) - at) };
    });
  } finally {
    await admin.disconnect();
  }
}

/** Resolves once the group has committed up to the topic's end on every partition. */
export async function waitForGroupCaughtUp(kafka: KafkaClient, groupId: string, topic: TopicKey, pollMs = 500): Promise<void> {
  for (;;) {
    const lag = await groupLag(kafka, groupId, topic);
    if (lag.every((l) => l.lag === 0)) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
