/** `blindear worker scorer`: one server-zone scoring worker in the `blindear-scorer` consumer group. */
import { loadConfig } from '../../schemas/config.js';
import { ScoringEngine } from '../he/server/index.js';
import { loadManifest, loadModel } from '../model/catalog-store.js';
import { createKafka } from '../runtime/kafka.js';
import { createLogger } from '../runtime/logger.js';
import { createMetrics } from '../runtime/metrics.js';
import { startOps } from '../runtime/ops.js';
import { createProducer, runStage } from '../runtime/run-stage.js';
import { shutdownSignal } from '../runtime/shutdown.js';
import { materializeTable } from '../runtime/table.js';
import { ensureTopics } from '../runtime/topics-admin.js';
import { createScorerStage } from '../stages/scorer.js';
import { SessionKeyStore } from '../stages/session-key-store.js';

export const SCORER_GROUP = 'blindear-scorer';
/** ≈5 s in all: keys published just before their first query arrive well within it. */
const SCORER_RETRY = { retries: 6, initialRetryTimeMs: 100, maxRetryTimeMs: 2_000 };

export async function runWorker(stage: 'scorer', opts: { brokers?: string; serverBrokers?: string; catalog: string; metricsPort?: number; logLevel: string }): Promise<void> {
  const config = loadConfig(process.env, { brokers: opts.serverBrokers ?? opts.brokers, logLevel: opts.logLevel, metricsPort: opts.metricsPort });
  const logger = createLogger(config.logLevel, { command: `worker ${stage}` });
  const manifest = await loadManifest(opts.catalog);
  const model = await loadModel(opts.catalog, manifest);
  const engine = await ScoringEngine.create(manifest.he, model);
  const metrics = createMetrics();
  const kafka = createKafka({ brokers: config.brokers, clientId: `${config.clientId}-scorer`, logger });
  const ops = await startOps({
    metrics, kafka, logger, port: config.metricsPort, lagIntervalMs: config.lagIntervalMs,
    build: { modelId: manifest.modelId, paramsId: engine.paramsId }, groups: () => [SCORER_GROUP],
  });
  await ensureTopics(kafka, config.partitions, 'server');
  const producer = createProducer(kafka);
  await producer.connect();
  ops.watchProducer(producer);
  const keys = new SessionKeyStore(engine);
  const table = await materializeTable({
    kafka, producer, topic: 'sessionKeys', logger, metrics, groupPrefix: 'blindear-scorer-keys',
    onRecord: (session, entry) => { keys.put(session, entry); metrics.activeSessions.set({ stage: 'scorer' }, keys.size); },
  });
  const running = await runStage({
    // A query whose keys have not arrived holds up its partition while retried: keep that short.
    kafka, producer, logger, metrics, retry: SCORER_RETRY, groupId: SCORER_GROUP, fromBeginning: true,
    stage: createScorerStage({ engine, modelId: manifest.modelId, keys }),
  });
  ops.watchConsumer(SCORER_GROUP, running.joined);
  logger.info({ modelId: manifest.modelId, classes: model.classes, dim: model.dim, paramsId: engine.paramsId, metricsPort: ops.port }, 'scorer ready');
  const signal = shutdownSignal();
  const why = await signal.promise;
  logger.info({ signal: why }, 'stopping');
  await running.stop();
  await table.stop();
  await producer.disconnect();
  await ops.close();
  keys.dispose();
  engine.dispose();
  signal.dispose();
}
