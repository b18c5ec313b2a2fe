/** Retries retriable BlindearErrors with jittered exponential back-off; everything else fails at once. */
import { isBlindearError } from '../errors.js';

export interface RetryPolicy {
  retries: number;
  initialRetryTimeMs: number;
  maxRetryTimeMs: number;
}

export async function withRetry<T>(policy: RetryPolicy, fn: (attempt: number) => Promise<T>, stopped: () => boolean = () => false): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isBlindearError(err) || !err.retriable || attempt >= policy.retries || stopped()) throw err;
      const base = Math.min(policy.maxRetryTimeMs, policy.initialRetryTimeMs * 2 ** attempt);
      await new Promise((r) => setTimeout(r, base * (0.8 + Math.random() * 0.4)));
    }
  }
}
