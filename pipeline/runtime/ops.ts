/**
 * What a long-running blindear process exposes to operators, in one call: /metrics, /healthz and
 * /readyz on its metrics port, `blindear_build_info`, and the lag of the consumer groups it runs.
 * Readiness: the producer is connected (and stays so) and every consumer has joined its group.
 */
import type { Producer } from 'kafkajs';
import type { Server } from 'node:http';
import { VERSION } from '../version.js';
import { startConsumerLag, type ConsumerLagPoller } from './consumer-lag.js';
import type { KafkaClient } from './kafka.js';
import type { Logger } from './logger.js';
import { serveMetrics, setBuildInfo, type Metrics } from './metrics.js';

export interface OpsOptions {
  metrics: Metrics;
  kafka: KafkaClient;
  logger: Logger;
  /** No port: nothing is served, but lag and build info are still kept (for in-process readers). */
  port?: number;
  build: { modelId: string; paramsId: string };
  /** Consumer groups whose lag to report, asked at every poll. */
  groups: () => readonly string[];
  lagIntervalMs?: number;
}

export interface Ops {
  port?: number;
  /** Marks the producer ready now and follows its connect/disconnect events. */
  watchProducer(producer: Producer): void;
  /** Not ready until `joined` resolves (a consumer in its group). */
  watchConsumer(name: string, joined: Promise<unknown>): void;
  close(): Promise<void>;
}

export async function startOps(opts: OpsOptions): Promise<Ops> {
  const { metrics } = opts;
  setBuildInfo(metrics, { version: VERSION, ...opts.build });
  const served: { server: Server; port: number } | undefined = opts.port !== undefined ? await serveMetrics(metrics, opts.port) : undefined;
  const lag: ConsumerLagPoller = startConsumerLag({ kafka: opts.kafka, metrics, groups: opts.groups, logger: opts.logger, intervalMs: opts.lagIntervalMs });
  return {
    port: served?.port,
    watchProducer(producer) {
      metrics.readiness.set('producer', true);
      producer.on(producer.events.CONNECT, () => metrics.readiness.set('producer', true));
      producer.on(producer.events.DISCONNECT, () => metrics.readiness.set('producer', false));
    },
    watchConsumer(name, joined) {
      metrics.readiness.set(`consumer:${name}`, false);
      joined.then(() => metrics.readiness.set(`consumer:${name}`, true), () => undefined);
    },
    async close() {
      await lag.stop();
      if (served) await new Promise<void>((resolve) => served.server.close(() => resolve()));
    },
  };
}
