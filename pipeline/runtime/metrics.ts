/**
 * Prometheus metrics: one Registry per process (never prom-client's global one), closed label sets
 * (stage, outcome, code), base units in names. Session ids and track ids are never labels.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
  plays: Counter<'station' | 'event'>;
  unknownWindows: Counter<'station'>;
  sourceConnected: Gauge<'station'>;
  sourceReconnects: Counter<'station'>;
  sourceLastAudio: Gauge<'station'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
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
    predictionLatencySeconds: new Histogram({
      name: 'blindear_window_decision_latency_seconds',
      help: 'From the wall-clock capture of a window\'s last sample to its decrypted decision',
      buckets: [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 30],
      registers: [registry],
    }),
    integrityErrors: new Counter({ name: 'blindear_integrity_errors_total', help: 'Server-zone records the client refused or flagged (mac, replay, gap, range)', labelNames: ['reason'] as const, registers: [registry] }),
    plays: new Counter({ name: 'blindear_plays_total', help: 'Airplay events per station', labelNames: ['station', 'event'] as const, registers: [registry] }),
    unknownWindows: new Counter({ name: 'blindear_unknown_windows_total', help: 'Decisions that named no catalogue track, per station', labelNames: ['station'] as const, registers: [registry] }),
    sourceConnected: new Gauge({ name: 'blindear_source_connected', help: 'Whether a station source is delivering audio (1) or down (0)', labelNames: ['station'] as const, registers: [registry] }),
    sourceReconnects: new Counter({ name: 'blindear_source_reconnects_total', help: 'Times a station source dropped and was reconnected', labelNames: ['station'] as const, registers: [registry] }),
    sourceLastAudio: new Gauge({ name: 'blindear_source_last_audio_timestamp_seconds', help: 'Unix time of the last audio received from a station', labelNames: ['station'] as const, registers: [registry] }),
  };
}

/** Serves GET /metrics on loopback-or-any host; resolves with the bound port. */
export async function serveMetrics(registry: Registry, port: number, host = '0.0.0.0'): Promise<{ server: Server; port: number }> {
  const server = createServer(async (req, res) => {
    if (req.url !== '/metrics') { res.statusCode = 404; res.end(); return; }
    res.setHeader('content-type', registry.contentType);
    res.end(await registry.metrics());
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
