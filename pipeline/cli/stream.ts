/**
 * `blindear stream`: one source through the client zone, printing its predictions as they arrive. It runs
 * the same ingest and client-zone stages as `blindear monitor`, in consumer groups of its own that start
 * at the topics' ends, and delivers only its session; it ends after the session's final prediction (a
 * file or stdin source), or on SIGINT/SIGTERM. For many stations, use `blindear monitor`.
 */
import { createTextSink } from '../../connectors/text-sink.js';
import type { Sink } from '../../connectors/jsonl-sink.js';
import { loadConfig } from '../../schemas/config.js';
import { SESSION_TOMBSTONE_HEADER, SessionId, type Prediction } from '../../schemas/messages.js';
import { assertInputReadable } from '../../connectors/ffmpeg.js';
import { createSigner, openScoringClients, selfCertifiedSessionId, signTombstone } from '../he/client/index.js';
import { BlindearError } from '../errors.js';
import { createExtractor } from '../features/registry.js';
import { loadServiceKey, serviceKeyFromBytes } from '../he/client/service-key.js';
import { loadManifest } from '../model/catalog-store.js';
import { createClusters } from '../runtime/clusters.js';
import { createLogger } from '../runtime/logger.js';
import { createMetrics } from '../runtime/metrics.js';
import { sendTombstone } from '../runtime/run-stage.js';
import { shutdownSignal } from '../runtime/shutdown.js';
import { openClientProcess } from '../service/client-process.js';
import { startClientServices } from '../service/client-service.js';
import { startIngest } from '../service/ingest.js';
import { predictionSinkFor } from './monitor.js';
import { randomBytes } from 'node:crypto';

export { decisionOptions } from '../service/client-service.js';

export interface StreamOptions {
  catalog: string;
  brokers?: string;
  clientBrokers?: string;
  serverBrokers?: string;
  session?: string;
  output: string;
  format: 'json' | 'text';
  realtime?: boolean;
  clientKeyFile?: string;
  stallSeconds?: number;
  /** After the source ended: seconds without a decision before the stream fails (default 120). */
  decisionTimeout?: number;
  metricsPort?: number;
  /** The `station` label of this source's metrics (default "stream"; session ids are never labels). */
  station?: string;
  logLevel: string;
}

function sinkFor(output: string, format: 'json' | 'text'): Sink<Prediction> {
  return format === 'text' && output === '-' ? createTextSink() : predictionSinkFor(output);
}

export async function runStream(source: string, opts: StreamOptions): Promise<void> {
  const config = loadConfig(process.env, { brokers: opts.brokers, clientBrokers: opts.clientBrokers, serverBrokers: opts.serverBrokers, logLevel: opts.logLevel, metricsPort: opts.metricsPort });
  // The session's signing key names the default session id, so no other producer can claim it.
  const signer = createSigner();
  const session = SessionId.safeParse(opts.session ?? selfCertifiedSessionId(signer));
  if (!session.success) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `--session: ${session.error.issues[0].message}`);
  const sessionId = session.data;
  await assertInputReadable(source); // a missing file is one line at once, before any Kafka work
  const logger = createLogger(config.logLevel, { command: 'stream', session: sessionId });
  const manifest = await loadManifest(opts.catalog);
  const extractor = createExtractor(manifest);
  const clients = await openScoringClients(opts.catalog, manifest);
  // Without a key file the session's secrets are sealed under a key that lives only in this process.
  const serviceKey = opts.clientKeyFile ? (await loadServiceKey(opts.clientKeyFile, { create: true })).key : serviceKeyFromBytes(randomBytes(32));
  const metrics = createMetrics();
  // Clusters, /metrics, /healthz, /readyz, build info, lag of this process's groups, topics, producers.
  const { clusters, groups, ops, producers } = await openClientProcess({ config, logger, metrics, manifest, role: 'stream' });
  // Not ready until the client services exist and every one of their consumers has joined its group.
  metrics.readiness.set('consumer:client-services', false);
  const sink = sinkFor(opts.output, opts.format);
  const signal = shutdownSignal();
  const abort = new AbortController();
  let finished!: () => void;
  const done = new Promise<void>((r) => { finished = r; });
  let lastDecisionMs = Date.now();
  const suffix = sessionId.replace(/[^A-Za-z0-9._-]/g, '_');
  const svc = await startClientServices({
    stages: ['windowing', 'encrypt', 'decide', 'report'], clusters, producers, manifest, clients, serviceKey, logger, metrics, retry: config.retry, shardWaitMs: config.shardWaitMs,
    predictionSink: sink, groupSuffix: suffix, startAtCurrentEnd: true,
    serves: (s) => s === sessionId,
    onPrediction: (p) => { lastDecisionMs = Date.now(); if (p.final) finished(); },
  });
  groups.push(...svc.groups);
  ops.watchConsumer('client-services', Promise.all(svc.running.map((r) => r.joined)));
  try {
    await Promise.all(svc.running.map((r) => r.joined));
    const [run] = await startIngest([{ id: opts.station ?? 'stream', source }], {
      clusters, producers, manifest, clients, serviceKey, sampleRate: extractor.sampleRate, logger, metrics,
      pace: opts.realtime ? 'realtime' : 'fast', chunkSeconds: 1, stallSeconds: opts.stallSeconds ?? 30, maxBackoffSeconds: 30,
      signal: abort.signal, sessionOf: () => ({ session: sessionId, signer }),
    });
    logger.info({ modelId: manifest.modelId, metricsPort: ops.port }, 'session started');
    // Once the audio is all sent, decisions must keep coming: queries the server zone refused or nobody
    // scored (no scoring worker, a session id used before) end the stream with an error, not a wait.
    const timeoutMs = (opts.decisionTimeout ?? 120) * 1000;
    let audioEnded = false;
    // (A source that fails rejects `run.ended`: the race below reports it.)
    run.ended.then(() => { audioEnded = true; lastDecisionMs = Math.max(lastDecisionMs, Date.now()); }, () => undefined);
    let watchdog: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      watchdog = setInterval(() => {
        if (!audioEnded || Date.now() - lastDecisionMs < timeoutMs) return;
        reject(new BlindearError('BLINDEAR_ERR_NO_DECISION', `session ${sessionId}: none for ${timeoutMs / 1000} s after the audio ended; its queries were refused or not scored (is a scoring worker running for this catalogue? a session id is used once; see the scorer's dead letters)`));
      }, 1000);
    });
    try {
      const outcome = await Promise.race([run.ended.then(() => done).then(() => 'done'), signal.promise, stalled]);
      if (outcome !== 'done') logger.info({ signal: outcome }, 'stopping');
    } finally {
      clearInterval(watchdog);
    }
  } finally {
    abort.abort();
    await svc.stop();
    // The session is over: compaction drops its keys from the server zone and its sealed secrets here.
    // Signed with the session's own key: workers refuse a tombstone for it signed by anyone else.
    await sendTombstone(producers.server, 'sessionKeys', sessionId, { [SESSION_TOMBSTONE_HEADER]: JSON.stringify(signTombstone(signer, sessionId)) }).catch(() => undefined);
    await sendTombstone(producers.client, 'clientSessions', sessionId).catch(() => undefined);
    await producers.disconnect();
    await deleteGroups(clusters, svc.groups);
    await sink.close();
    await ops.close();
    signal.dispose();
  }
}

async function deleteGroups(clusters: ReturnType<typeof createClusters>, groups: string[]): Promise<void> {
  for (const kafka of clusters.shared ? [clusters.client] : [clusters.client, clusters.server]) {
    const admin = kafka.admin();
    try { await admin.connect(); await admin.deleteGroups(groups); } catch { /* best effort: idle groups expire */ } finally { await admin.disconnect(); }
  }
}
