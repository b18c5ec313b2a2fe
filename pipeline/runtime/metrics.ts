/**
 * Prometheus metrics: one Registry per process (never prom-client's global one), closed label sets
 * (stage, outcome, code, station: the operator's configured stations), base units in names. Session ids
 * and track ids are never labels. The exposition passes `promtool check metrics` (test/runtime/metrics.test.ts).
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { Readiness } from './readiness.js';

export { Readiness };

/**
 * prom-client's defaults name three gauges `*_total`, which Prometheus reserves for counters
 * (`promtool check metrics` rejects them); the same counts stay available per type as
 * `nodejs_active_handles`, `nodejs_active_requests` and `nodejs_active_resources`.
 */
const DROPPED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

/** Histogram buckets of the window → decision latency: live decisions take seconds, a backlog up to tens. */
export const DECISION_LATENCY_BUCKETS = [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 30] as const;

export type PlayEvent = 'started' | 'ended';

export interface Metrics {
  registry: Registry;
  messages: Counter<'stage' | 'outcome'>;
  deadLetters: Counter<'stage' | 'code'>;
  stageSeconds: Histogram<'stage'>;
  ciphertextBytes: Counter<'stage' | 'direction'>;
  audioSeconds: Counter<'stage'>;
  activeSessions: Gauge<'stage'>;
  fheSeconds: Histogram;
  predictions: Counter<'outcome'>;
  predictionLatencySeconds: Histogram;
  integrityErrors: Counter<'reason'>;
  // Per station, set by the monitoring service (or through stationMetrics below).
  plays: Counter<'station' | 'event'>;
  /** Position checks of plays answered, by outcome (passed: logged; failed: not logged). */
  playChecks: Counter<'outcome'>;
  unknownWindows: Counter<'station'>;
  sourceConnected: Gauge<'station'>;
  sourceReconnects: Counter<'station'>;
  sourceLastAudio: Gauge<'station'>;
  /** The same histogram as predictionLatencySeconds (`blindear_window_decision_latency_seconds`). */
  windowDecisionLatencySeconds: Histogram;
  /** `blindear_build_info{version,model_id,params_id} 1`: set once the process knows its model (setBuildInfo). */
  buildInfo: Gauge<'version' | 'model_id' | 'params_id'>;
  /** Set by the consumer-lag poller (pipeline/runtime/consumer-lag.ts). */
  consumerLag: Gauge<'group' | 'topic' | 'partition'>;
  /** What /readyz answers from (serveMetrics). */
  readiness: Readiness;
  /** Queries refused because their session exceeded its scoring budget (model extraction guard). */
  rateLimited: Counter<'stage'>;
  /** Queries a scorer holds while their session's keys have not arrived. */
  parkedQueries: Gauge;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULTS) registry.removeSingleMetric(name);
  const decisionLatency = new Histogram({
    name: 'blindear_window_decision_latency_seconds',
    help: 'From the wall-clock capture of a window\'s last sample to its decrypted decision',
    buckets: [...DECISION_LATENCY_BUCKETS],
    registers: [registry],
  });
  return {
    registry,
    messages: new Counter({ name: 'blindear_messages_total', help: 'Messages handled per stage and outcome', labelNames: ['stage', 'outcome'] as const, registers: [registry] }),
    deadLetters: new Counter({ name: 'blindear_dead_letters_total', help: 'Messages routed to a dead-letter topic', labelNames: ['stage', 'code'] as const, registers: [registry] }),
    stageSeconds: new Histogram({
      name: 'blindear_stage_duration_seconds',
      help: 'Time a stage spends on one message',
      labelNames: ['stage'] as const,
      // From 0.5 ms (windowing) to seconds (large encrypted models).
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    ciphertextBytes: new Counter({ name: 'blindear_ciphertext_bytes_total', help: 'Ciphertext and key bytes in and out', labelNames: ['stage', 'direction'] as const, registers: [registry] }),
    fheSeconds: new Histogram({
      name: 'blindear_fhe_evaluation_seconds',
      help: 'Encrypted scoring time of one query ciphertext',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    audioSeconds: new Counter({ name: 'blindear_audio_seconds_total', help: 'Seconds of audio processed', labelNames: ['stage'] as const, registers: [registry] }),
    activeSessions: new Gauge({ name: 'blindear_active_sessions', help: 'Sessions a stage currently holds state or keys for', labelNames: ['stage'] as const, registers: [registry] }),
    predictions: new Counter({ name: 'blindear_predictions_total', help: 'Decisions by outcome', labelNames: ['outcome'] as const, registers: [registry] }),
    predictionLatencySeconds: decisionLatency,
    windowDecisionLatencySeconds: decisionLatency,
    integrityErrors: new Counter({ name: 'blindear_integrity_errors_total', help: 'Server-zone records the client refused or flagged (mac, replay, gap, range, incomplete, unanswered)', labelNames: ['reason'] as const, registers: [registry] }),
    plays: new Counter({ name: 'blindear_plays_total', help: 'Airplay events per station', labelNames: ['station', 'event'] as const, registers: [registry] }),
    playChecks: new Counter({ name: 'blindear_play_checks_total', help: 'Position checks of plays answered, by outcome (failed: the play is not logged)', labelNames: ['outcome'] as const, registers: [registry] }),
    unknownWindows: new Counter({ name: 'blindear_unknown_windows_total', help: 'Decisions that named no catalogue track, per station', labelNames: ['station'] as const, registers: [registry] }),
    sourceConnected: new Gauge({ name: 'blindear_source_connected', help: 'Whether a station source is delivering audio (1) or down (0)', labelNames: ['station'] as const, registers: [registry] }),
    sourceReconnects: new Counter({ name: 'blindear_source_reconnects_total', help: 'Times a station source dropped and was reconnected', labelNames: ['station'] as const, registers: [registry] }),
    sourceLastAudio: new Gauge({ name: 'blindear_source_last_audio_timestamp_seconds', help: 'Unix time of the last audio received from a station', labelNames: ['station'] as const, registers: [registry] }),
    buildInfo: new Gauge({ name: 'blindear_build_info', help: 'Always 1: the blindear version and the catalogue model and encryption parameters this process serves', labelNames: ['version', 'model_id', 'params_id'] as const, registers: [registry] }),
    consumerLag: new Gauge({ name: 'blindear_consumer_lag_records', help: 'Records between a consumer group\'s committed offset and the partition\'s end', labelNames: ['group', 'topic', 'partition'] as const, registers: [registry] }),
    readiness: new Readiness(),
    rateLimited: new Counter({ name: 'blindear_rate_limited_total', help: 'Queries refused because their session exceeded its scoring budget', labelNames: ['stage'] as const, registers: [registry] }),
    parkedQueries: new Gauge({ name: 'blindear_parked_queries', help: 'Queries held by a scorer until their session\'s keys arrive', registers: [registry] }),
  };
}

/** Sets `blindear_build_info` to 1 for this process's version, model and parameters (one series). */
export function setBuildInfo(metrics: Metrics, info: { version: string; modelId: string; paramsId: string }): void {
  metrics.buildInfo.reset();
  metrics.buildInfo.set({ version: info.version, model_id: info.modelId, params_id: info.paramsId }, 1);
}

/** Why the client refused or flagged a record from the server zone (`blindear_integrity_errors_total{reason}`). */
export const INTEGRITY_REASONS = ['mac', 'replay', 'gap', 'range', 'incomplete', 'unanswered'] as const;

/**
 * The series of a process that decides: every integrity reason, and with play checks both outcomes, at
 * zero from the start, so panels and alerts see them before their first event.
 */
export function decideMetrics(metrics: Metrics, opts: { playChecks: boolean }): void {
  for (const reason of INTEGRITY_REASONS) metrics.integrityErrors.inc({ reason }, 0);
  if (opts.playChecks) for (const outcome of ['passed', 'failed'] as const) metrics.playChecks.inc({ outcome }, 0);
}

/** The per-station handles the monitoring service sets; `station` comes from its configuration. */
export interface StationMetrics {
  connected(up: boolean): void;
  reconnected(): void;
  /** Audio arrived at `atMs` (default now). */
  audio(atMs?: number): void;
  play(event: PlayEvent): void;
  unknownWindow(): void;
  /** A decision for a window whose last sample was captured at `capturedAtMs` was made at `decidedAtMs`. */
  decided(capturedAtMs: number, decidedAtMs?: number): void;
}

export function stationMetrics(metrics: Metrics, station: string): StationMetrics {
  const labels = { station };
  // Series exist from the start, so rate() and absent() see the station before its first event.
  metrics.sourceConnected.set(labels, 0);
  metrics.sourceReconnects.inc(labels, 0);
  metrics.unknownWindows.inc(labels, 0);
  for (const event of ['started', 'ended'] as const) metrics.plays.inc({ station, event }, 0);
  return {
    connected: (up) => metrics.sourceConnected.set(labels, up ? 1 : 0),
    reconnected: () => metrics.sourceReconnects.inc(labels),
    audio: (atMs = Date.now()) => metrics.sourceLastAudio.set(labels, atMs / 1000),
    play: (event) => metrics.plays.inc({ station, event }),
    unknownWindow: () => metrics.unknownWindows.inc(labels),
    decided: (capturedAtMs, decidedAtMs = Date.now()) => metrics.windowDecisionLatencySeconds.observe(Math.max(0, decidedAtMs - capturedAtMs) / 1000),
  };
}

/**
 * Serves GET /metrics, /healthz (the process answers: 200) and /readyz (200 when every readiness check
 * passes, else 503; the body lists the checks as JSON); resolves with the bound port. Pass the
 * Metrics object (or its registry alone, then /readyz always answers 200).
 */
export async function serveMetrics(source: Registry | Metrics, port: number, host = '0.0.0.0'): Promise<{ server: Server; port: number }> {
  const registry = source instanceof Registry ? source : source.registry;
  const readiness = source instanceof Registry ? undefined : source.readiness;
  const server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (path === '/metrics') {
        res.setHeader('content-type', registry.contentType);
        res.end(await registry.metrics());
      } else if (path === '/healthz') {
        res.setHeader('content-type', 'application/json');
        res.end('{"status":"ok"}\n');
      } else if (path === '/readyz') {
        const report = readiness ? await readiness.check() : { ready: true, checks: {} };
        res.statusCode = report.ready ? 200 : 503;
        res.setHeader('content-type', 'application/json');
        res.end(`${JSON.stringify(report)}\n`);
      } else {
        res.statusCode = 404;
        res.end();
      }
    } catch (err) {
      res.statusCode = 500;
      res.end(err instanceof Error ? err.message : String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
