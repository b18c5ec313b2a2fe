/**
 * The Kafka client factory. pipeline/runtime/ is the only code that imports kafkajs; kafkajs' own logs
 * are routed into ours so one process writes one log stream.
 */
import { readFileSync } from 'node:fs';
import kafkajs from 'kafkajs';
import type { Kafka as KafkaClient, logCreator as LogCreator } from 'kafkajs';
import type { Logger } from './logger.js';

const { Kafka, logLevel } = kafkajs;

export type { KafkaClient };

function logCreatorFor(logger: Logger): LogCreator {
  return () => ({ namespace, level, log }) => {
    const { message, ...extra } = log;
    const entry = { kafkajs: namespace, ...extra };
    // The coordinator-loading chatter of a fresh broker is retried by kafkajs itself: keep it at debug.
    const transient = /coordinator is (loading|not available)|not the correct coordinator|rebalanc/i.test(`${String(extra.error ?? '')} ${String(message)}`);
    if (level === logLevel.ERROR && !transient) logger.warn(entry, String(message));
    else if (level === logLevel.WARN) logger.debug(entry, String(message));
    else logger.trace(entry, String(message));
  };
}

export interface KafkaSecurityOptions {
  ssl?: boolean;
  caFile?: string;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export function createKafka(opts: { brokers: readonly string[]; clientId: string; logger: Logger; security?: KafkaSecurityOptions }): KafkaClient {
  const sec = opts.security;
  return new Kafka({
    clientId: opts.clientId,
    brokers: [...opts.brokers],
    ssl: sec?.ssl ? (sec.caFile ? { ca: [readFileSync(sec.caFile, 'utf8')] } : true) : undefined,
    sasl: sec?.sasl as never,
    logLevel: logLevel.WARN,
    logCreator: logCreatorFor(opts.logger.child({ component: 'kafkajs' })),
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
  });
}
