/**
 * Kafka security (issue #17, point 6): a broker of its own started with `infra/kafka.sh start --sasl`
 * (SASL/SCRAM-SHA-512, KRaft's StandardAuthorizer, no access without an ACL), the zone ACLs of
 * pipeline/runtime/acls.ts, and the runtime's own Kafka factory configured from BLINDEAR_KAFKA_SASL_*.
 * The server-zone principal reads queries and session keys and writes scores only; the client principal
 * the reverse; neither reads the other zone's topics; a wrong password gets nothing.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLoopbackPort, runKafkaSh } from '../../bench/util.js';
import { applyZoneAcls } from '../../pipeline/runtime/acls.js';
import { createKafka, type KafkaClient } from '../../pipeline/runtime/kafka.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import { ensureTopics } from '../../pipeline/runtime/topics-admin.js';
import { loadConfig } from '../../schemas/config.js';
import { TOPICS } from '../../schemas/topics.js';

const logger = createLogger('silent');

/** A Kafka client of the runtime, configured the way a deployed process is: from the environment. */
function clientFor(brokers: string, user: string, password: string): KafkaClient {
  const config = loadConfig({ BLINDEAR_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', BLINDEAR_KAFKA_SASL_USERNAME: user, BLINDEAR_KAFKA_SASL_PASSWORD: password }, { brokers });
  expect(config.security.sasl?.mechanism).toBe('scram-sha-512');
  return createKafka({ brokers: config.brokers, clientId: `sec-${user}`, logger, security: config.security });
}

async function canWrite(kafka: KafkaClient, topic: string): Promise<boolean | string> {
  const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 1 } });
  try {
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'v' }] });
    return true;
  } catch (err) {
    return /authoriz|SASL|Authentication/i.test(`${(err as { type?: string }).type} ${(err as Error).message}`) ? false : `unexpected: ${(err as Error).message}`;
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

/** True when a consumer of `group` receives the record written to `topic` by the admin; false when refused. */
async function canRead(kafka: KafkaClient, topic: string, group: string): Promise<boolean | string> {
  const consumer = kafka.consumer({ groupId: group, retry: { retries: 1 }, allowAutoTopicCreation: false });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    return await new Promise<boolean | string>((resolve) => {
      const timer = setTimeout(() => resolve('timed out'), 60_000);
      // A retriable error (a fresh broker's group coordinator still loading) restarts the consumer: wait for it.
      consumer.on(consumer.events.CRASH, (e) => { if (e.payload.restart) return; clearTimeout(timer); resolve(/authoriz/i.test(String(e.payload.error?.message ?? e.payload.error)) ? false : `crash: ${String(e.payload.error)}`); });
      void consumer.run({ eachMessage: async () => { clearTimeout(timer); resolve(true); } }).catch((err: Error) => { clearTimeout(timer); resolve(/authoriz/i.test(err.message) ? false : `run: ${err.message}`); });
    });
  } catch (err) {
    return /authoriz/i.test(`${(err as { type?: string }).type} ${(err as Error).message}`) ? false : `unexpected: ${(err as Error).message}`;
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

describe('Kafka with SASL/SCRAM and zone ACLs', () => {
  let dir: string;
  let port: number;
  let brokers: string;
  const creds = new Map<string, string>();

  beforeAll(async () => {
    // A free port can be taken by another process before the broker binds it: a new port, as startBroker does.
    let started: Awaited<ReturnType<typeof runKafkaSh>> | undefined;
    for (let attempt = 1; attempt <= 3 && started?.code !== 0; attempt++) {
      if (dir) await rm(dir, { recursive: true, force: true });
      port = await freeLoopbackPort();
      dir = await mkdtemp(join(tmpdir(), 'blindear-kafka-sasl-'));
      started = await runKafkaSh(['start', '--port', String(port), '--dir', dir, '--sasl']);
    }
    expect(started!.code, started!.stderr).toBe(0);
    brokers = started!.stdout.trim();
    for (const line of (await readFile(join(dir, 'credentials'), 'utf8')).trim().split('\n')) {
      const [user, password] = line.split(':');
      creds.set(user, password);
    }
    const admin = clientFor(brokers, 'admin', creds.get('admin')!);
    await ensureTopics(admin, 1);
    await applyZoneAcls(admin, { server: 'User:server', client: 'User:client' });
    // One record in every topic, so a reader that is allowed gets something.
    const producer = admin.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    for (const spec of Object.values(TOPICS)) await producer.send({ topic: spec.name, messages: [{ key: 'seed', value: 'x' }] });
    await producer.disconnect();
  });

  afterAll(async () => {
    if (!dir) return;
    await runKafkaSh(['stop', '--port', String(port), '--dir', dir]);
    await rm(dir, { recursive: true, force: true });
  });

  it('the server-zone principal reads queries and session keys, writes scores, and nothing else', async () => {
    const server = clientFor(brokers, 'server', creds.get('server')!);
    const g = (): string => `blindear-scorer-test-${randomUUID()}`;
    expect(await canRead(server, TOPICS.queries.name, g())).toBe(true);
    expect(await canRead(server, TOPICS.sessionKeys.name, g())).toBe(true);
    expect(await canWrite(server, TOPICS.scores.name)).toBe(true);
    expect(await canRead(server, TOPICS.audio.name, g())).toBe(false);
    expect(await canRead(server, TOPICS.features.name, g())).toBe(false);
    expect(await canRead(server, TOPICS.predictions.name, g())).toBe(false);
    expect(await canWrite(server, TOPICS.queries.name)).toBe(false);
    expect(await canWrite(server, TOPICS.sessionKeys.name)).toBe(false);
    // The worker's own start-up: creating topics it may not see is skipped, not fatal.
    await expect(ensureTopics(server, 1)).resolves.toBeDefined();
  });

  it('the client principal writes queries and keys, reads scores, and cannot read the server zone\'s input', async () => {
    const client = clientFor(brokers, 'client', creds.get('client')!);
    const g = (): string => `blindear-client-test-${randomUUID()}`;
    expect(await canWrite(client, TOPICS.queries.name)).toBe(true);
    expect(await canWrite(client, TOPICS.sessionKeys.name)).toBe(true);
    expect(await canRead(client, TOPICS.scores.name, g())).toBe(true);
    expect(await canRead(client, TOPICS.audio.name, g())).toBe(true);
    expect(await canRead(client, TOPICS.queries.name, g())).toBe(false);
    expect(await canRead(client, TOPICS.sessionKeys.name, g())).toBe(false);
    expect(await canWrite(client, TOPICS.scores.name)).toBe(false);
  });

  it('a wrong password gets nothing', async () => {
    const intruder = clientFor(brokers, 'client', 'not-the-password');
    expect(await canWrite(intruder, TOPICS.queries.name)).toBe(false);
  });
});
