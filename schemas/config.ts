/**
 * Process configuration. `loadConfig` is the only reader of process.env; the frozen result is passed
 * down as an argument, never read from a global.
 */
import { z } from 'zod';
import { BlindearError } from '../pipeline/errors.js';

export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const RuntimeConfig = z.object({
  brokers: z.array(z.string().regex(/^[^\s,:]+:\d{1,5}$/, 'brokers are host:port')).min(1),
  clientId: z.string().min(1).default('blindear'),
  logLevel: LogLevel.default('info'),
  /** Partitions of every topic created by `ensureTopics`: the unit of scoring parallelism. */
  partitions: z.number().int().min(1).max(1024).default(2),
  /** Port for the Prometheus /metrics endpoint; 0 picks a free one, absent disables it. */
  metricsPort: z.number().int().min(0).max(65535).optional(),
  retry: z
    .object({
      retries: z.number().int().min(0).max(100).default(8),
      initialRetryTimeMs: z.number().int().positive().default(200),
      maxRetryTimeMs: z.number().int().positive().default(10_000),
    })
    .default({ retries: 8, initialRetryTimeMs: 200, maxRetryTimeMs: 10_000 }),
});
export type RuntimeConfig = z.infer<typeof RuntimeConfig>;

type DeepReadonly<T> = { readonly [K in keyof T]: T[K] extends object ? DeepReadonly<T[K]> : T[K] };

function deepFreeze<T>(o: T): DeepReadonly<T> {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o as DeepReadonly<T>;
}

/** Builds the runtime config from CLI options layered over the environment (BLINDEAR_BROKERS, BLINDEAR_LOG_LEVEL, ...). */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  overrides: { brokers?: string; logLevel?: string; partitions?: number; metricsPort?: number; clientId?: string } = {},
): DeepReadonly<RuntimeConfig> {
  const brokers = overrides.brokers ?? env.BLINDEAR_BROKERS ?? '';
  const metricsPort = overrides.metricsPort ?? (env.BLINDEAR_METRICS_PORT ? Number(env.BLINDEAR_METRICS_PORT) : undefined);
  const parsed = RuntimeConfig.safeParse({
    brokers: brokers.split(',').map((b) => b.trim()).filter(Boolean),
    clientId: overrides.clientId ?? env.BLINDEAR_CLIENT_ID,
    logLevel: overrides.logLevel ?? env.BLINDEAR_LOG_LEVEL,
    partitions: overrides.partitions ?? (env.BLINDEAR_PARTITIONS ? Number(env.BLINDEAR_PARTITIONS) : undefined),
    metricsPort,
  });
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', why);
  }
  return deepFreeze(parsed.data);
}
