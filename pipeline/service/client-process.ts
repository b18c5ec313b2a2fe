/**
 * What every client-zone process opens first: the zones' clusters, /metrics, /healthz, /readyz, build
 * info and the lag of its groups (`groups`, filled as its stages start), each zone's topics, and its
 * producers (watched for readiness).
 */
import type { CatalogManifest } from '../../schemas/catalog.js';
import type { RuntimeConfig } from '../../schemas/config.js';
import { connectProducers, createClusters } from '../runtime/clusters.js';
import type { Logger } from '../runtime/logger.js';
import type { Metrics } from '../runtime/metrics.js';
import { catalogParamsId } from '../he/layout.js';
import { startOps } from '../runtime/ops.js';
import { createProducer } from '../runtime/run-stage.js';
import { ensureZoneTopics } from '../runtime/topics-admin.js';

type DeepReadonly<T> = { readonly [K in keyof T]: T[K] extends object ? DeepReadonly<T[K]> : T[K] };

export async function openClientProcess(opts: { config: DeepReadonly<RuntimeConfig>; logger: Logger; metrics: Metrics; manifest: CatalogManifest; role: string }) {
  const { config, logger, metrics, manifest } = opts;
  const clusters = createClusters(config, logger, opts.role);
  const groups: string[] = [];
  const ops = await startOps({
    metrics, kafka: clusters.client, logger, port: config.metricsPort, lagIntervalMs: config.lagIntervalMs,
    build: { modelId: manifest.modelId, paramsId: catalogParamsId(manifest) }, groups: () => groups,
  });
  await ensureZoneTopics(clusters, config.partitions);
  const producers = await connectProducers(clusters, createProducer);
  ops.watchProducer(producers.client);
  return { clusters, groups, ops, producers };
}
