/**
 * JSON-lines logs on stderr (stdout carries data: predictions, JSON answers). Payloads, keys and
 * feature values are never logged; redaction covers the fields that could carry them by mistake.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { ...bindings },
      redact: { paths: ['value', 'payload', 'secretKey', '*.value', '*.payload'], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
