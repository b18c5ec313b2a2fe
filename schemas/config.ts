/**
 * Process configuration. `loadConfig` is the only reader of process.env; the frozen result is passed
 * down as an argument, never read from a global.
 */
import { z } from 'zod';
import { BlindearError } from '../pipeline/errors.js';

export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

const Brokers = z.array(z.string().regex(/^[^\s,:]+:\d{1,5}$/, 'brokers are host:port')).min(1);

/** SASL and TLS towards the brokers (kafkajs `sasl` / `ssl`); file paths are read by the Kafka factory. */
export const KafkaSecurity = z.object({
  sasl: z
    .object({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string().min(1),
      password: z.string().min(1),
    })
    .optional(),
  ssl: z
    .object({
      /** PEM files: the CA that signed the brokers' certificates, and this client's certificate and key (mTLS). */
      caFile: z.string().min(1).optional(),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
      rejectUnauthorized: z.boolean().default(true),
    })
    .optional(),
});
export type KafkaSecurity = z.infer<typeof KafkaSecurity>;

export const RuntimeConfig = z.object({
  brokers: Brokers,
  /** The client zone's cluster (audio, features, results, sealed session secrets); default `brokers`. */
  clientBrokers: Brokers.optional(),
  /** The server zone's cluster (ciphertexts and evaluation keys only); default `brokers`. */
  serverBrokers: Brokers.optional(),
  /** Per zone, when the two clusters differ in how they are reached; default `security`. */
  clientSecurity: KafkaSecurity.optional(),
  serverSecurity: KafkaSecurity.optional(),
  clientId: z.string().min(1).default('blindear'),
  logLevel: LogLevel.default('info'),
  /** Partitions of every topic created by `ensureTopics`: the unit of scoring parallelism. */
  partitions: z.number().int().min(1).max(1024).default(2),
  /** Port for the Prometheus /metrics endpoint; 0 picks a free one, absent disables it. */
  metricsPort: z.number().int().min(0).max(65535).optional(),
  /** How often a process reads its consumer groups' lag for /metrics (BLINDEAR_LAG_INTERVAL_MS). */
  lagIntervalMs: z.number().int().min(100).max(3_600_000).default(10_000),
  security: KafkaSecurity.default({}),
  /** How long a scorer parks a query whose session's keys have not arrived (BLINDEAR_SCORER_PARK_MS). */
  scorerParkMs: z.number().int().min(100).max(3_600_000).default(10_000),
  /** A sharded catalogue: how long decide waits for a query's last shard before dead-lettering its parts (BLINDEAR_SHARD_WAIT_MS). */
  shardWaitMs: z.number().int().min(100).max(3_600_000).default(30_000),
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

/**
 * BLINDEAR_KAFKA_SASL_MECHANISM (plain | scram-sha-256 | scram-sha-512), _USERNAME, _PASSWORD;
 * BLINDEAR_KAFKA_SSL=1 (TLS with the system CAs), BLINDEAR_KAFKA_SSL_CA / _CERT / _KEY (PEM files),
 * BLINDEAR_KAFKA_SSL_REJECT_UNAUTHORIZED=0 (tests only).
 */
function securityFromEnv(env: NodeJS.ProcessEnv, zone?: 'CLIENT' | 'SERVER'): unknown {
  const get = (name: string): string | undefined => (zone ? env[name.replace('BLINDEAR_KAFKA_', `BLINDEAR_${zone}_KAFKA_`)] : env[name]);
  const v = (name: string): string | undefined => (get(name)?.trim() ? get(name)!.trim() : undefined);
  const mechanism = v('BLINDEAR_KAFKA_SASL_MECHANISM');
  const sasl = mechanism || v('BLINDEAR_KAFKA_SASL_USERNAME')
    ? { mechanism: mechanism?.toLowerCase(), username: v('BLINDEAR_KAFKA_SASL_USERNAME'), password: get('BLINDEAR_KAFKA_SASL_PASSWORD') }
    : undefined;
  const tls = v('BLINDEAR_KAFKA_SSL');
  const caFile = v('BLINDEAR_KAFKA_SSL_CA');
  const ssl = (tls && tls !== '0' && tls !== 'false') || caFile
    ? { caFile, certFile: v('BLINDEAR_KAFKA_SSL_CERT'), keyFile: v('BLINDEAR_KAFKA_SSL_KEY'), rejectUnauthorized: v('BLINDEAR_KAFKA_SSL_REJECT_UNAUTHORIZED') !== '0' }
    : undefined;
  return { sasl, ssl };
}

/** Builds the runtime config from CLI options layered over the environment (BLINDEAR_BROKERS, BLINDEAR_LOG_LEVEL, ...). */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  overrides: { brokers?: string; clientBrokers?: string; serverBrokers?: string; logLevel?: string; partitions?: number; metricsPort?: number; clientId?: string } = {},
): DeepReadonly<RuntimeConfig> {
  const list = (v: string | undefined): string[] | undefined => (v ? v.split(',').map((b) => b.trim()).filter(Boolean) : undefined);
  const clientBrokers = list(overrides.clientBrokers ?? env.BLINDEAR_CLIENT_BROKERS);
  const serverBrokers = list(overrides.serverBrokers ?? env.BLINDEAR_SERVER_BROKERS);
  // Two clusters and no shared list: the shared list is the client zone's (only used for defaults).
  const brokers = overrides.brokers ?? env.BLINDEAR_BROKERS ?? (clientBrokers && serverBrokers ? clientBrokers.join(',') : '');
  // A zone's own BLINDEAR_CLIENT_KAFKA_* / BLINDEAR_SERVER_KAFKA_* settings, when any is given.
  const zoneSecurity = (zone: 'CLIENT' | 'SERVER'): unknown =>
    (Object.keys(env).some((k) => k.startsWith(`BLINDEAR_${zone}_KAFKA_`)) ? securityFromEnv(env, zone) : undefined);
  const metricsPort = overrides.metricsPort ?? (env.BLINDEAR_METRICS_PORT ? Number(env.BLINDEAR_METRICS_PORT) : undefined);
  const parsed = RuntimeConfig.safeParse({
    brokers: brokers.split(',').map((b) => b.trim()).filter(Boolean),
    clientBrokers,
    serverBrokers,
    clientSecurity: zoneSecurity('CLIENT'),
    serverSecurity: zoneSecurity('SERVER'),
    clientId: overrides.clientId ?? env.BLINDEAR_CLIENT_ID,
    logLevel: overrides.logLevel ?? env.BLINDEAR_LOG_LEVEL,
    partitions: overrides.partitions ?? (env.BLINDEAR_PARTITIONS ? Number(env.BLINDEAR_PARTITIONS) : undefined),
    metricsPort,
    lagIntervalMs: env.BLINDEAR_LAG_INTERVAL_MS ? Number(env.BLINDEAR_LAG_INTERVAL_MS) : undefined,
    security: securityFromEnv(env),
    scorerParkMs: env.BLINDEAR_SCORER_PARK_MS ? Number(env.BLINDEAR_SCORER_PARK_MS) : undefined,
    shardWaitMs: env.BLINDEAR_SHARD_WAIT_MS ? Number(env.BLINDEAR_SHARD_WAIT_MS) : undefined,
  });
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', why);
  }
  return deepFreeze(parsed.data);
}

// ------------------------------------------------------------------ `blindear enroll` defaults

/** The feature kinds a catalogue can be enrolled with. */
export const EnrollKind = z.enum(['landmark', 'mfcc-sum']);
export type EnrollKind = z.infer<typeof EnrollKind>;

/** A JSON object in an environment variable: parsed, then checked to be an object (not an array or a number). */
const JsonObjectText = z
  .string()
  .transform((text, ctx): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not JSON (${err instanceof Error ? err.message : String(err)})` });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string(), z.unknown(), { error: 'must be a JSON object, e.g. {"d":1024}' }));

/**
 * Defaults of `blindear enroll`'s options from the environment, so that scripts which call the plain
 * `blindear enroll <dir> --catalog <dir>` (the acceptance harness) can enrol at another operating point.
 * Command-line flags win: `--kind` over BLINDEAR_ENROLL_KIND, each `--param`/`--he` key over the same key
 * of the JSON object. The values are checked here for shape; the kind's schema and HeParams check them.
 */
export const EnrollEnv = z.object({
  BLINDEAR_ENROLL_KIND: EnrollKind.optional(),
  /** Feature parameters, as repeated `--param key=value`: e.g. {"d":1024,"segmentSeconds":20}. */
  BLINDEAR_ENROLL_PARAMS: JsonObjectText.optional(),
  /** Encryption parameters, as repeated `--he key=value`: e.g. {"polyModulusDegree":8192,"coeffModulusBits":[60,60]}. */
  BLINDEAR_ENROLL_HE: JsonObjectText.optional(),
});
export type EnrollEnv = z.infer<typeof EnrollEnv>;

export interface EnrollDefaults {
  readonly kind?: EnrollKind;
  readonly params: Readonly<Record<string, unknown>>;
  readonly he: Readonly<Record<string, unknown>>;
}

/** Reads BLINDEAR_ENROLL_KIND / _PARAMS / _HE (empty = unset); a malformed value is one coded error naming the variable. */
export function loadEnrollDefaults(env: NodeJS.ProcessEnv): DeepReadonly<EnrollDefaults> {
  const pick = (name: keyof EnrollEnv): string | undefined => (env[name]?.trim() ? env[name] : undefined);
  const parsed = EnrollEnv.safeParse({
    BLINDEAR_ENROLL_KIND: pick('BLINDEAR_ENROLL_KIND'),
    BLINDEAR_ENROLL_PARAMS: pick('BLINDEAR_ENROLL_PARAMS'),
    BLINDEAR_ENROLL_HE: pick('BLINDEAR_ENROLL_HE'),
  });
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', why);
  }
  const e = parsed.data;
  return deepFreeze({ kind: e.BLINDEAR_ENROLL_KIND, params: e.BLINDEAR_ENROLL_PARAMS ?? {}, he: e.BLINDEAR_ENROLL_HE ?? {} });
}
