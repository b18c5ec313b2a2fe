/**
 * The Kafka client factory. pipeline/runtime/ is the only code that imports kafkajs; kafkajs' own logs
 * are routed into ours so one process writes one log stream.
 */
import { readFileSync } from 'node:fs';
import kafkajs from 'kafkajs';
import type { KafkaSecurity } from '../../schemas/config.js';
import { BlindearError } from '../errors.js';
import type { Kafka as KafkaClient, logCreator as LogCreator } from 'kafkajs';
import type { Logger } from './logger.js';

const { Kafka, logLevel } = kafkajs;

/**
 * A fetch waits at most 1 s on the broker (kafkajs: 5 s), for every consumer of the runtime (stages, tables, readers). Leaving a
 * group (a SIGTERM) and stopping a table wait for the fetch under way, so on an idle topic kafkajs's 5 s
 * was the whole of a stop's time; and kafkajs heart-beats between fetches, so on an idle partition a
 * survivor hears of a dead member's rebalance within a second rather than five.
 */
export const FETCH_WAIT_MS = 1_000;

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

type DeepReadonly<T> = { readonly [K in keyof T]: T[K] extends object ? DeepReadonly<T[K]> : T[K] };

function pem(file: string | undefined, what: string): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `${what} ${file}: ${(err as Error).message}`);
  }
}

/** kafkajs' `sasl` and `ssl` options from the config (absent: plaintext, as the local broker). */
export function securityOptions(security: DeepReadonly<KafkaSecurity> | undefined): Pick<kafkajs.KafkaConfig, 'sasl' | 'ssl'> {
  const out: Pick<kafkajs.KafkaConfig, 'sasl' | 'ssl'> = {};
  if (security?.sasl) {
    const { mechanism, username, password } = security.sasl;
    out.sasl = mechanism === 'plain' ? { mechanism, username, password } : mechanism === 'scram-sha-256' ? { mechanism, username, password } : { mechanism, username, password };
  }
  if (security?.ssl) {
    const { caFile, certFile, keyFile, rejectUnauthorized } = security.ssl;
    out.ssl = { ca: pem(caFile, 'TLS CA'), cert: pem(certFile, 'TLS certificate'), key: pem(keyFile, 'TLS key'), rejectUnauthorized };
  }
  return out;
}

export function createKafka(opts: { brokers: readonly string[]; clientId: string; logger: Logger; security?: DeepReadonly<KafkaSecurity> }): KafkaClient {
  return new Kafka({
    ...securityOptions(opts.security),
    clientId: opts.clientId,
    brokers: [...opts.brokers],
    logLevel: logLevel.WARN,
    logCreator: logCreatorFor(opts.logger.child({ component: 'kafkajs' })),
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
  });
}
