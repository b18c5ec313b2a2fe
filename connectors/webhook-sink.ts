/**
 * Delivery sink: POSTs each record as JSON to an HTTP endpoint. 5xx, 429 and network errors are retried
 * with jittered back-off; a 4xx other than 429 is the receiver refusing the record and fails at once.
 */
import { BlindearError } from '../pipeline/errors.js';
import { withRetry, type RetryPolicy } from '../pipeline/runtime/retry.js';
import type { Sink } from './jsonl-sink.js';

export interface WebhookSinkConfig {
  url: string;
  retry?: RetryPolicy;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export function createWebhookSink<T>(config: WebhookSinkConfig): Sink<T> {
  const retry = config.retry ?? { retries: 5, initialRetryTimeMs: 200, maxRetryTimeMs: 5_000 };
  return {
    async write(record) {
      await withRetry(retry, async () => {
        let res: Response;
        try {
          res = await fetch(config.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...config.headers },
            body: JSON.stringify(record),
            signal: AbortSignal.timeout(config.timeoutMs ?? 10_000),
          });
        } catch (err) {
          throw new BlindearError('BLINDEAR_ERR_SINK_DELIVERY', `${new URL(config.url).host}: ${(err as Error).message}`, { cause: err });
        }
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        const detail = `${new URL(config.url).host} answered ${res.status}`;
        if (res.status >= 500 || res.status === 429) throw new BlindearError('BLINDEAR_ERR_SINK_DELIVERY', detail);
        throw new BlindearError('BLINDEAR_ERR_SINK_DELIVERY', `${detail} (refused)`, { retriable: false });
      });
    },
    close: async () => undefined,
  };
}
