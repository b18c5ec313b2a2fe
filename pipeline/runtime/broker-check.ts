/**
 * Fail fast when the brokers cannot be reached: one metadata request with a short connection timeout
 * and two retries (a few seconds in all), instead of kafkajs' long reconnect loop, then one line.
 */
import kafkajs from 'kafkajs';
import { BlindearError } from '../errors.js';
import { securityOptions } from './kafka.js';

const { Kafka, logLevel } = kafkajs;

export async function checkBrokers(
  brokers: readonly string[],
  opts: { connectionTimeoutMs?: number; retries?: number; security?: Parameters<typeof securityOptions>[0] } = {},
): Promise<void> {
  const kafka = new Kafka({
    ...securityOptions(opts.security),
    clientId: 'blindear-broker-check',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: opts.connectionTimeoutMs ?? 3000,
    requestTimeout: 5000,
    retry: { retries: opts.retries ?? 2, initialRetryTime: 300, maxRetryTime: 1000 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new BlindearError('BLINDEAR_ERR_BROKER_UNAVAILABLE', `${brokers.join(',')} (${why})`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
