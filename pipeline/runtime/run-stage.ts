/**
 * Binds one stage to Kafka: subscribe, decode + validate, process with retries, produce the outputs,
 * and only then let the offset be committed (at-least-once; consumers de-duplicate by session and seq).
 * A message that fails validation, or fails for good, goes to `<input topic>.dlq` with its original
 * bytes and the reason in headers; the stage keeps running.
 */
import type { Consumer, KafkaMessage, Producer } from 'kafkajs';
import { DLQ_HEADERS, ENVELOPE_HEADER, TOPICS, dlqName, type TopicKey } from '../../schemas/topics.js';
import { BlindearError, isBlindearError } from '../errors.js';
import { decodeRecord, encodeRecord } from './codec.js';
import { FETCH_WAIT_MS, type KafkaClient } from './kafka.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { withRetry, type RetryPolicy } from './retry.js';
import type { Inbound, Outbound, Stage, StageContext } from './stage.js';
import { clusterOf, oneCluster, producerOf, type Clusters, type Producers } from './clusters.js';
import { StateTables } from './state-tables.js';
import { stageSpec, zoneViolations, type StageSpec } from '../topology.js';
import { topicOffsets } from './topics-admin.js';


export interface RunStageOptions<K extends TopicKey> {
  /** One cluster for both zones (or give `clusters` and `producers`). */
  kafka?: KafkaClient;
  producer?: Producer;
  clusters?: Clusters;
  producers?: Producers;
  stage: Stage<K>;
  groupId: string;
  logger: Logger;
  metrics: Metrics;
  retry: RetryPolicy;
  fromBeginning?: boolean;
  /**
   * Start at the input topic's end as it is now (not at the group's committed offset): for the
   * per-session consumer groups of a one-shot client, which only want records produced after they started.
   */
  startAtCurrentEnd?: boolean;
  /** Partitions processed concurrently by this consumer (order is kept within a partition). */
  partitionsConsumedConcurrently?: number;
  /** Only records whose key (session) this returns true for are processed; the others are skipped. */
  serves?(key: string): boolean;
  /** Group liveness (defaults 10 s / 1 s): a killed member's partitions move after `sessionTimeoutMs`. */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /**
   * For stages that hold records past `process` (the scorer's parking lot): the lowest offset of the
   * partition still held. Commits then stop there, so a crash re-delivers what was held (and what
   * followed it: consumers de-duplicate by session and seq). Call `RunningStage.commit()` when it moves.
   */
  heldOffset?(partition: number): string | undefined;
  /** Called with the input partitions this member owns after each (re)join of the group. */
  onAssigned?(partitions: number[]): void;
}

export interface RunningStage {
  consumer: Consumer;
  /** Resolves once the consumer has joined its group and owns partitions. */
  joined: Promise<void>;
  /** Input partitions this instance is assigned now. */
  assigned(): readonly number[];
  stop(): Promise<void>;
  /** With `heldOffset`: commits each owned partition up to its held offset or its next record. */
  commit(): Promise<void>;
  /** The same, coalesced: within COMMIT_EVERY_MS. */
  scheduleCommit(): void;
}

/**
 * The stage's declared topics (from the topology, or the stage's own input when it is not in it), checked
 * against its zone: a server-zone stage touching a client-zone topic is refused before it connects.
 */
export function checkStageZone(stage: Stage<TopicKey>): StageSpec {
  let spec: StageSpec;
  try {
    spec = stageSpec(stage.name);
  } catch {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `stage ${stage.name} is not in the topology`);
  }
  const declared = { ...spec, input: stage.input };
  const bad = zoneViolations(declared);
  if (bad.length) throw new BlindearError('BLINDEAR_ERR_ZONE_VIOLATION', bad.join('; '));
  return spec;
}

export function createProducer(kafka: KafkaClient): Producer {
  // Idempotent: a retried send after a broker hiccup never duplicates a record within a partition.
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
}

/**
 * Sends the outputs of one input message; records of one topic go in one request, in order. With
 * `Producers`, each record goes to its zone's cluster.
 */
export async function sendOutputs(producer: Producer | Producers, outputs: readonly Outbound[]): Promise<void> {
  if (outputs.length === 0) return;
  const byProducer = new Map<Producer, Map<TopicKey, ReturnType<typeof encodeRecord>[]>>();
  for (const o of outputs) {
    const p = 'sendBatch' in producer ? producer : producerOf(producer, o.topic);
    const byTopic = byProducer.get(p) ?? new Map<TopicKey, ReturnType<typeof encodeRecord>[]>();
    byProducer.set(p, byTopic);
    const list = byTopic.get(o.topic) ?? [];
    list.push(encodeRecord(o));
    byTopic.set(o.topic, list);
  }
  await Promise.all([...byProducer].map(([p, byTopic]) => p.sendBatch({
    acks: -1,
    topicMessages: [...byTopic].map(([topic, messages]) => ({ topic: TOPICS[topic].name, messages })),
  })));
}

/** A null value under `key`: on a compacted topic, compaction then drops the key's records. */
export async function sendTombstone(producer: Producer, topic: TopicKey, key: string, headers?: Record<string, string>): Promise<void> {
  await producer.send({ topic: TOPICS[topic].name, acks: -1, messages: [{ key, value: null, headers }] });
}

export type { Producer };

/** The headers a dead letter carries beside the original record's: why, where from, which stage. */
export function deadLetterHeaders(
  source: { topic: TopicKey; partition: number; record: KafkaMessage },
  stageName: string,
  err: BlindearError,
): Record<string, string> {
  return {
    [DLQ_HEADERS.code]: err.code,
    [DLQ_HEADERS.reason]: err.message.slice(0, 1000),
    [DLQ_HEADERS.stage]: stageName,
    [DLQ_HEADERS.topic]: TOPICS[source.topic].name,
    [DLQ_HEADERS.partition]: String(source.partition),
    [DLQ_HEADERS.offset]: source.record.offset,
  };
}

/** A record as the runtime handed it to a stage, back as the source record of a dead letter. */
export function inboundSource(topic: TopicKey, msg: Inbound<TopicKey>): { topic: TopicKey; partition: number; record: KafkaMessage } {
  return {
    topic, partition: msg.partition,
    record: { key: Buffer.from(msg.key), value: msg.value, headers: { [ENVELOPE_HEADER]: JSON.stringify(msg.envelope) }, offset: msg.offset, timestamp: '0', attributes: 0 } as KafkaMessage,
  };
}

export async function sendDeadLetter(
  producer: Producer,
  source: { topic: TopicKey; partition: number; record: KafkaMessage },
  stageName: string,
  err: BlindearError,
): Promise<void> {
  const spec = TOPICS[source.topic];
  await producer.send({
    topic: dlqName(spec.name),
    acks: -1,
    messages: [{
      key: source.record.key,
      value: source.record.value,
      headers: { ...source.record.headers, ...deadLetterHeaders(source, stageName, err) },
    }],
  });
}

const COMMIT_EVERY_MS = 500;

export async function runStage<K extends TopicKey>(opts: RunStageOptions<K>): Promise<RunningStage> {
  const { stage, logger, metrics } = opts;
  const spec = TOPICS[stage.input];
  const topo = checkStageZone(stage as unknown as Stage<TopicKey>);
  const clusters = opts.clusters ?? oneCluster(opts.kafka ?? fail('runStage needs kafka or clusters'));
  const producers: Producers = opts.producers ?? { client: opts.producer ?? fail('runStage needs a producer'), server: opts.producer! };
  const inputCluster = clusterOf(clusters, stage.input);
  const dlqProducer = producerOf(producers, stage.input);
  const log = logger.child({ stage: stage.name });
  const tables = new StateTables(clusters, topo.tables, log);
  // Stages that keep records past `process` (windowing's audio tail, the scorer's parking lot) commit
  // only up to the oldest record they still hold: a crash re-delivers it.
  const heldOffset = opts.heldOffset ?? (stage.retainFrom ? (p: number) => stage.retainFrom!(p) : undefined);
  const sessionTimeout = opts.sessionTimeoutMs ?? 10_000;
  const heartbeatInterval = opts.heartbeatIntervalMs ?? Math.max(500, Math.floor(sessionTimeout / 10));
  let stopping = false;
  const consumer = inputCluster.consumer({
    groupId: opts.groupId,
    maxBytesPerPartition: spec.maxMessageBytes + 65536,
    maxBytes: Math.max(spec.maxMessageBytes * 2, 10 * 1024 * 1024),
    // A killed member's partitions move to the others after `sessionTimeout`.
    sessionTimeout,
    heartbeatInterval,
    rebalanceTimeout: opts.rebalanceTimeoutMs ?? Math.max(sessionTimeout, 30_000),
    maxWaitTimeInMs: FETCH_WAIT_MS,
    allowAutoTopicCreation: false,
    // kafkajs restarts a crashed consumer on a timer; once this stage stops, a restart would bring back a
    // consumer nobody stops (its producers already gone): a stopping stage stays stopped.
    retry: { restartOnFailure: async () => !stopping },
  });
  const manualCommit = heldOffset !== undefined;
  /** Next offset to consume per owned partition, and the last offset committed (manual commits only). */
  const nextOffset = new Map<number, bigint>();
  const committed = new Map<number, bigint>();
  let committing: Promise<void> = Promise.resolve();
  const commit = (): Promise<void> => {
    if (!manualCommit) return Promise.resolve();
    committing = committing.then(async () => {
      const partitions: { topic: string; partition: number; offset: string }[] = [];
      for (const [partition, next] of nextOffset) {
        const held = heldOffset!(partition);
        const floor = held !== undefined && BigInt(held) < next ? BigInt(held) : next;
        if (floor > (committed.get(partition) ?? -1n)) partitions.push({ topic: spec.name, partition, offset: String(floor) });
      }
      if (partitions.length === 0) return;
      try {
        await consumer.commitOffsets(partitions);
        for (const p of partitions) committed.set(p.partition, BigInt(p.offset));
      } catch (err) {
        log.debug({ err: (err as Error).message }, 'commit deferred (rebalance or broker away)');
      }
    });
    return committing;
  };
  // Commits are coalesced (one round trip per COMMIT_EVERY_MS at most), never awaited per record: a
  // flood of small records must not turn into a flood of commit round trips on the partition's path.
  let commitTimer: NodeJS.Timeout | undefined;
  const scheduleCommit = (): void => {
    commitTimer ??= setTimeout(() => { commitTimer = undefined; void commit(); }, COMMIT_EVERY_MS);
  };
  const ctx: StageContext = { logger: log, metrics, tables, now: () => Date.now() };

  // Assignment: restore table partitions before their first record is processed; drop the ones that left.
  let assigned: number[] = [];
  let restoring: Promise<void> = Promise.resolve();
  const restored = new Set<number>();
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const now = (e.payload.memberAssignment[spec.name] ?? []).slice().sort((a, b) => a - b);
    const gone = assigned.filter((p) => !now.includes(p));
    assigned = now;
    if (gone.length) {
      for (const p of gone) restored.delete(p);
      tables.drop(gone);
      stage.revoked?.(gone);
    }
    const fresh = now.filter((p) => !restored.has(p));
    for (const p of fresh) restored.add(p);
    restoring = restoring.then(() => tables.restore(fresh)).catch((err: unknown) => {
      log.error({ err: (err as Error).message, partitions: fresh }, 'table restore failed');
      for (const p of fresh) restored.delete(p);
    });
    metrics.activeSessions.set({ stage: stage.name }, tables.size);
    log.info({ topic: spec.name, partitions: now }, 'partitions assigned');
  });

  let ends: { partition: number; offset: string }[] = [];
  if (opts.startAtCurrentEnd) {
    const admin = inputCluster.admin();
    await admin.connect();
    try { ends = await topicOffsets(admin, spec.name); } finally { await admin.disconnect(); }
  }
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, (e) => {
    // A new generation: only the partitions assigned now may be committed.
    const mine = new Set(e.payload.memberAssignment[spec.name] ?? []);
    for (const p of [...nextOffset.keys()]) if (!mine.has(p)) nextOffset.delete(p);
    committed.clear();
    opts.onAssigned?.([...mine]);
    resolve();
  }));
  // Seek once the group exists: a consumer that kafkajs restarts right after run() (a coordinator still
  // loading on a busy broker) throws "not initialized" on seek, so seek again when it joins.
  let sought = ends.length === 0;
  const seekToEnds = (): void => {
    if (sought) return;
    try {
      for (const e of ends) consumer.seek({ topic: spec.name, partition: e.partition, offset: e.offset });
      sought = true;
    } catch (err) {
      log.debug({ err: err instanceof Error ? err.message : String(err) }, 'seek deferred until the group is joined');
    }
  };
  consumer.on(consumer.events.GROUP_JOIN, seekToEnds);
  // A restart already scheduled when the stage stopped: leave the group again at once.
  consumer.on(consumer.events.GROUP_JOIN, () => { if (stopping) void consumer.disconnect().catch(() => undefined); });
  await consumer.connect();
  await consumer.subscribe({ topic: spec.name, fromBeginning: opts.fromBeginning ?? true });

  await consumer.run({
    autoCommit: !manualCommit,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 1,
    eachMessage: async ({ partition, message, heartbeat }) => {
      // kafkajs heartbeats between fetches only: a record that takes longer than the session timeout
      // (a table read, retries backing off) would cost this member the group, and the record would come
      // back to the next owner and do the same. The member stays in the group while it works.
      const alive = setInterval(() => { heartbeat().catch(() => undefined); }, heartbeatInterval);
      try {
        await handle(partition, message, heartbeat);
      } finally {
        clearInterval(alive);
      }
    },
  });
  async function handle(partition: number, message: KafkaMessage, heartbeat: () => Promise<void>): Promise<void> {
    await restoring;
    if (opts.serves && !opts.serves(message.key?.toString('utf8') ?? '')) {
      metrics.messages.inc({ stage: stage.name, outcome: 'skipped' });
      if (manualCommit) { nextOffset.set(partition, BigInt(message.offset) + 1n); scheduleCommit(); }
      return;
    }
    const started = process.hrtime.bigint();
    const source = { topic: stage.input, partition, record: message };
    try {
      const decoded = decodeRecord(stage.input, message);
      const outputs = await withRetry(
        opts.retry,
        async () => {
          await heartbeat();
          return stage.process({ key: message.key?.toString('utf8') ?? '', partition, offset: message.offset, ...decoded }, ctx);
        },
        () => stopping,
      );
      for (const o of outputs) {
        if (!topo.outputs.includes(o.topic)) throw new Error(`stage ${stage.name} wrote ${o.topic}, which the topology does not declare`);
      }
      await sendOutputs(producers, outputs);
      tables.apply(outputs, partition);
      metrics.messages.inc({ stage: stage.name, outcome: 'processed' });
    } catch (err) {
      if (!isBlindearError(err)) throw err; // a programmer error: crash loudly, kafkajs re-delivers
      log.warn({ code: err.code, partition, offset: message.offset, session: message.key?.toString('utf8') }, err.message);
      await sendDeadLetter(dlqProducer, source, stage.name, err);
      metrics.deadLetters.inc({ stage: stage.name, code: err.code });
      metrics.messages.inc({ stage: stage.name, outcome: 'dead_letter' });
    } finally {
      metrics.stageSeconds.observe({ stage: stage.name }, Number(process.hrtime.bigint() - started) / 1e9);
    }
    if (manualCommit) {
      nextOffset.set(partition, BigInt(message.offset) + 1n);
      scheduleCommit();
    }
  }
  seekToEnds();
  log.info({ topic: spec.name, groupId: opts.groupId }, 'stage running');
  return {
    consumer,
    joined,
    assigned: () => assigned,
    async stop() {
      stopping = true;
      clearTimeout(commitTimer);
      commitTimer = undefined;
      await commit();
      await consumer.disconnect();
      await stage.close?.();
    },
    commit,
    scheduleCommit,
  };
}

function fail(why: string): never {
  throw new Error(why);
}
