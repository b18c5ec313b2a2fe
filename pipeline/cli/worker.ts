/**
 * `blindear worker scorer`: one server-zone scoring worker in the `blindear-scorer` consumer group. It
 * evaluates on `--threads` worker threads (default: one per core), never on the consumer's event loop,
 * and consumes that many partitions concurrently so every thread has work.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { SESSION_TOMBSTONE_HEADER, SessionKeysTombstone } from '../../schemas/messages.js';
import { loadConfig } from '../../schemas/config.js';
import type { TopicKey } from '../../schemas/topics.js';
import { collectGarbage } from '../runtime/gc.js';
import { catalogueEngine, PositionEngine } from '../he/server/index.js';
import { createExtractor, queryVectorsPerWindow } from '../features/registry.js';
import { loadManifest, loadModel, loadPositionTable } from '../model/catalog-store.js';
import { shardDirName } from '../model/shard-catalog.js';
import { BlindearError } from '../errors.js';
import { stageGroup, TOPOLOGY } from '../topology.js';
import { DeadLetterLedger, sendDeadLetterBatch } from '../runtime/dead-letter-ledger.js';
import type { Inbound } from '../runtime/stage.js';
import { createKafka } from '../runtime/kafka.js';
import { createLogger } from '../runtime/logger.js';
import { createMetrics } from '../runtime/metrics.js';
import { startOps } from '../runtime/ops.js';
import { createProducer, inboundSource, runStage, sendDeadLetter, sendOutputs } from '../runtime/run-stage.js';
import { shutdownSignal } from '../runtime/shutdown.js';
import { materializeTable } from '../runtime/table.js';
import { ensureTopics } from '../runtime/topics-admin.js';
import { DEFAULT_RATE_LIMIT, createScorerStage } from '../stages/scorer.js';
import { SessionKeyStore } from '../stages/session-key-store.js';

export const SCORER_GROUP = stageGroup(TOPOLOGY.scorer);
/** Prefix of the throwaway groups that read how far refused key records were dead-lettered. */
export const SCORER_KEYS_DLQ_GROUP = 'blindear-scorer-keys-dlq';
/** Queries no longer wait for keys in the retry loop (they are parked), so retries are for the broker only. */
const SCORER_RETRY = { retries: 3, initialRetryTimeMs: 100, maxRetryTimeMs: 1_000 };
/**
 * Group liveness: a worker killed with SIGKILL is noticed after the session timeout (the broker's minimum,
 * 6 s), and the survivor, heart-beating every second, rejoins at once: its partitions resume within ≈8 s.
 */
export const SCORER_SESSION_TIMEOUT_MS = 6_000;
/** How long a scorer's orderly stop may take after SIGTERM before it exits anyway (orderly stops: ≤ 2.5 s). */
const STOP_DEADLINE_MS = 4_000;
export const SCORER_HEARTBEAT_MS = 1_000;
export const SCORER_REBALANCE_TIMEOUT_MS = 10_000;

/** A query as the runtime handed it, back as the source record of a dead letter. */
const sourceOf = (msg: Inbound<'queries'>): Parameters<typeof sendDeadLetter>[1] => inboundSource('queries', msg as Inbound<TopicKey>);

/**
 * One full collection once the engine is built: the float model and the engine's build copies (2.5 GiB
 * of a 125 000-class shard, against 1.1 GiB it keeps) are garbage by then, and an idle scorer would hold
 * them until V8 next wants memory: eight shard scorers starting on one machine would not fit.
 */
function collectBuildGarbage(): void {
  collectGarbage();
}

export async function runWorker(stage: 'scorer', opts: { brokers?: string; serverBrokers?: string; catalog: string; metricsPort?: number; logLevel: string; maxSpeed?: number; burstSeconds?: number; threads?: number }): Promise<void> {
  const config = loadConfig(process.env, { brokers: opts.serverBrokers ?? opts.brokers, logLevel: opts.logLevel, metricsPort: opts.metricsPort });
  const logger = createLogger(config.logLevel, { command: `worker ${stage}` });
  const manifest = await loadManifest(opts.catalog);
  if (manifest.shards) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `${opts.catalog} is served in ${manifest.shards.length} shards: run workers with --catalog ${join(opts.catalog, shardDirName(0, manifest.shards.length))} and the other shard folders`);
  }
  const threads = opts.threads ?? availableParallelism();
  // The catalogue's scheme decides the engine: CKKS evaluates whole queries in `threads` worker threads; LWE
  // splits each query's scan by rows among them. The float model is only the engine's input: not kept
  // beside it (a shard of 125 000 classes holds 1 GiB of it).
  const { engine, classes, dim } = await (async () => {
    const model = await loadModel(opts.catalog, manifest);
    return { engine: await catalogueEngine(manifest, model, { threads }), classes: model.classes, dim: model.dim };
  })();
  collectBuildGarbage();
  // A shard's workers form a group of their own: every shard group reads every query.
  const shard = manifest.shard ? { index: manifest.shard.index, count: manifest.shard.count, firstClass: manifest.shard.firstClass, classes } : undefined;
  const groupId = stageGroup(TOPOLOGY.scorer, shard);
  const metrics = createMetrics();
  const kafka = createKafka({ brokers: config.brokers, clientId: `${config.clientId}-scorer`, logger, security: config.serverSecurity ?? config.security });
  const ops = await startOps({
    metrics, kafka, logger, port: config.metricsPort, lagIntervalMs: config.lagIntervalMs,
    build: { modelId: manifest.modelId, paramsId: engine.paramsId }, groups: () => [groupId],
  });
  await ensureTopics(kafka, config.partitions, 'server');
  const producer = createProducer(kafka);
  await producer.connect();
  ops.watchProducer(producer);
  const keys = new SessionKeyStore(engine, { maxRecordBytes: engine.maxKeyBytes });
  const ledger = await DeadLetterLedger.open({ kafka, producer, groupId: SCORER_KEYS_DLQ_GROUP, topic: 'sessionKeys', stageName: 'scorer', logger, metrics });
  const table = await materializeTable({
    kafka, producer, topic: 'sessionKeys', logger, metrics, groupPrefix: 'blindear-scorer-keys',
    onRecord: (session, entry, meta) => {
      let tombstone: SessionKeysTombstone | undefined;
      if (entry === null && meta.headers[SESSION_TOMBSTONE_HEADER]) {
        try { tombstone = SessionKeysTombstone.parse(JSON.parse(meta.headers[SESSION_TOMBSTONE_HEADER])); } catch { /* unsigned: refused below */ }
      }
      const put = keys.put(session, entry, tombstone);
      metrics.activeSessions.set({ stage: 'scorer' }, keys.size);
      return put.ok ? undefined : put.error;
    },
    deadLetter: (source, err) => ledger.deadLetter(source, err),
  });
  const served = await loadPositionTable(opts.catalog, manifest);
  const position = served ? new PositionEngine(served.setup, served.table) : undefined;
  const scorer = createScorerStage({
    engine, position, modelId: manifest.modelId, keys, shard,
    hopSeconds: createExtractor(manifest).hopSeconds,
    vectorsPerWindow: queryVectorsPerWindow(manifest),
    // Each session's scoring budget: a burst, then at most `maxSpeed` audio seconds per second.
    rateLimit: { ...DEFAULT_RATE_LIMIT, perSecond: opts.maxSpeed ?? DEFAULT_RATE_LIMIT.perSecond, burstSeconds: opts.burstSeconds ?? DEFAULT_RATE_LIMIT.burstSeconds },
    parking: { parkMs: config.scorerParkMs },
    emit: (outputs) => sendOutputs(producer, outputs),
    deadLetter: (msg, err) => sendDeadLetter(producer, sourceOf(msg), 'scorer', err),
    // Refused queries (wrong key, model, parameters, ciphertext) are flagged in batches, off the partition's path.
    deadLetterBatch: (items) => sendDeadLetterBatch(producer, items.map(({ msg, err }) => ({ source: sourceOf(msg), stageName: 'scorer', err }))),
    released: () => { running?.scheduleCommit(); },
  });
  // eslint-disable-next-line prefer-const
  let running: Awaited<ReturnType<typeof runStage>> | undefined;
  running = await runStage({
    // As many partitions at once as there are threads, so every thread has work.
    kafka, producer, logger, metrics, retry: SCORER_RETRY, groupId, fromBeginning: true, partitionsConsumedConcurrently: Math.max(1, engine.threads),
    stage: scorer, heldOffset: (p) => scorer.heldOffset(p),
    sessionTimeoutMs: SCORER_SESSION_TIMEOUT_MS, heartbeatIntervalMs: SCORER_HEARTBEAT_MS, rebalanceTimeoutMs: SCORER_REBALANCE_TIMEOUT_MS,
    // The owner of queries partition p dead-letters refused key records of session-keys partition p.
    // With shards, shard 0's group does it: refused key records are flagged once, not once per shard.
    onAssigned: (partitions) => { void ledger.setOwned(shard && shard.index > 0 ? [] : partitions); },
  });
  ops.watchConsumer(groupId, running.joined);
  logger.info({ groupId, shard, modelId: manifest.modelId, classes, dim, paramsId: engine.paramsId, scheme: engine.scheme, threads: engine.threads, metricsPort: ops.port }, 'scorer ready');
  const signal = shutdownSignal();
  const why = await signal.promise;
  logger.info({ signal: why }, 'stopping');
  // Leave the group first (kafkajs sends LeaveGroup): the partitions move to a survivor at once.
  const t0 = Date.now();
  const done: string[] = [];
  const step = (what: string): void => {
    done.push(what);
    logger.debug({ ms: Date.now() - t0 }, `stopping: ${what}`);
  };
  // A stop is bounded (as Kafka Streams' close(timeout)): a step still waiting at the deadline (a fetch or
  // a send the broker never answers) is left behind. Nothing is lost: offsets are committed only for
  // what was scored and sent, so what this worker held is redelivered to the group.
  const deadline = setTimeout(() => {
    logger.warn({ ms: Date.now() - t0, done }, 'stopping took longer than its deadline: exiting now; what this worker held goes to another');
    process.exit(0);
  }, STOP_DEADLINE_MS);
  deadline.unref();
  // The keys table closes beside it: a query still being scored has its keys in memory already.
  await Promise.all([running.stop().then(() => step('left the group')), table.stop().then(() => step('keys table closed'))]);
  await producer.disconnect();
  await ops.close();
  keys.dispose();
  await engine.close();
  step('engine closed');
  clearTimeout(deadline);
  signal.dispose();
}
