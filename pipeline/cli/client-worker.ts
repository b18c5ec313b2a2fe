/** `blindear worker windowing|encrypt|decide|delivery`: one client-zone service in its stage's consumer group. */
import { loadConfig } from '../../schemas/config.js';
import { openPositionClient, openScoringClients } from '../he/client/index.js';
import { loadServiceKey } from '../he/client/service-key.js';
import { loadManifest } from '../model/catalog-store.js';
import { createLogger } from '../runtime/logger.js';
import { createMetrics } from '../runtime/metrics.js';
import { shutdownSignal } from '../runtime/shutdown.js';
import { openClientProcess } from '../service/client-process.js';
import { startClientServices, type ClientStageName } from '../service/client-service.js';
import { airplaySinkFor } from './monitor.js';

export interface ClientWorkerOptions {
  brokers?: string;
  clientBrokers?: string;
  serverBrokers?: string;
  catalog: string;
  clientKeyFile: string;
  output: string;
  metricsPort?: number;
  logLevel: string;
}

export async function runClientWorker(stage: Exclude<ClientStageName, 'report'>, opts: ClientWorkerOptions): Promise<void> {
  const config = loadConfig(process.env, { brokers: opts.brokers, clientBrokers: opts.clientBrokers, serverBrokers: opts.serverBrokers, logLevel: opts.logLevel, metricsPort: opts.metricsPort });
  const logger = createLogger(config.logLevel, { command: `worker ${stage}` });
  const manifest = await loadManifest(opts.catalog);
  // The stages that work per session need the client key (windowing to tell its sessions from another
  // service's, encrypt and decide to open them); it must already exist (made by `monitor`).
  const needsKey = stage !== 'delivery';
  const serviceKey = needsKey ? (await loadServiceKey(opts.clientKeyFile, { create: false })).key : { keyId: '0000000000000000', seal: () => { throw new Error('no client key'); }, open: () => { throw new Error('no client key'); } };
  const metrics = createMetrics();
  // Clusters, /metrics, /healthz, /readyz, build info, lag of this process's groups, topics, producers.
  const { clusters, groups, ops, producers } = await openClientProcess({ config, logger, metrics, manifest, role: stage });
  const sink = stage === 'delivery' ? airplaySinkFor(opts.output) : undefined;
  const signal = shutdownSignal();
  const svc = await startClientServices({ stages: [stage], clusters, producers, manifest, clients: await openScoringClients(opts.catalog, manifest), positionClient: await openPositionClient(opts.catalog, manifest), serviceKey, logger, metrics, retry: config.retry, shardWaitMs: config.shardWaitMs, airplaySink: sink });
  groups.push(...svc.groups);
  ops.watchConsumer(stage, Promise.all(svc.running.map((r) => r.joined)));
  logger.info({ stage, modelId: manifest.modelId, metricsPort: ops.port }, `${stage} ready`);
  try {
    const why = await signal.promise;
    logger.info({ signal: why }, 'stopping');
  } finally {
    await svc.stop();
    await producers.disconnect();
    await sink?.close();
    await ops.close();
    signal.dispose();
  }
}
