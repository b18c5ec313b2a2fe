/**
 * The two zones' Kafka clusters. By default both zones use one cluster; a deployment can keep the client
 * zone (audio, features, decrypted results, sealed session secrets) on a cluster the server zone cannot
 * reach, and give the server zone a cluster that carries ciphertexts and evaluation keys only.
 */
import type { Producer } from 'kafkajs';
import { TOPICS, type TopicKey, type Zone } from '../../schemas/topics.js';
import type { KafkaSecurity } from '../../schemas/config.js';
import { createKafka, type KafkaClient } from './kafka.js';
import type { Logger } from './logger.js';

export interface Clusters {
  client: KafkaClient;
  server: KafkaClient;
  /** Both zones on one cluster. */
  shared: boolean;
}

export interface Producers {
  client: Producer;
  server: Producer;
}

export function oneCluster(kafka: KafkaClient): Clusters {
  return { client: kafka, server: kafka, shared: true };
}

export const zoneOf = (topic: TopicKey): Zone => TOPICS[topic].zone;

export function clusterOf(clusters: Clusters, topic: TopicKey): KafkaClient {
  return clusters[zoneOf(topic)];
}

export function producerOf(producers: Producers, topic: TopicKey): Producer {
  return producers[zoneOf(topic)];
}

/** One idempotent producer per cluster (one in all when the zones share a cluster). */
export async function connectProducers(clusters: Clusters, make: (k: KafkaClient) => Producer): Promise<Producers & { disconnect(): Promise<void> }> {
  const client = make(clusters.client);
  await client.connect();
  let server = client;
  if (!clusters.shared) {
    server = make(clusters.server);
    await server.connect();
  }
  return {
    client,
    server,
    async disconnect() {
      await client.disconnect().catch(() => undefined);
      if (server !== client) await server.disconnect().catch(() => undefined);
    },
  };
}

type DeepReadonly<T> = { readonly [K in keyof T]: T[K] extends object ? DeepReadonly<T[K]> : T[K] };

/** The zones' clusters from the runtime config: one shared cluster unless client and server brokers differ. */
export function createClusters(
  config: {
    brokers: readonly string[]; clientBrokers?: readonly string[]; serverBrokers?: readonly string[]; clientId: string;
    security?: DeepReadonly<KafkaSecurity>; clientSecurity?: DeepReadonly<KafkaSecurity>; serverSecurity?: DeepReadonly<KafkaSecurity>;
  },
  logger: Logger,
  role: string,
): Clusters {
  const clientBrokers = config.clientBrokers ?? config.brokers;
  const serverBrokers = config.serverBrokers ?? config.brokers;
  const client = createKafka({ brokers: clientBrokers, clientId: `${config.clientId}-${role}`, logger, security: config.clientSecurity ?? config.security });
  if (clientBrokers.join(',') === serverBrokers.join(',')) return { client, server: client, shared: true };
  const server = createKafka({ brokers: serverBrokers, clientId: `${config.clientId}-${role}`, logger, security: config.serverSecurity ?? config.security });
  return { client, server, shared: false };
}
