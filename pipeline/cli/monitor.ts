/**
 * `blindear monitor`: follows the stations of a stations file and writes the airplay log. Ingest keeps each
 * source connected; the client-zone services (windowing, encrypt, decide, delivery) run in this process in
 * their shared consumer groups (`--services none` runs ingest alone, beside `blindear worker <stage>`
 * processes). When every source is a file, it exits once the last one has ended and its plays are delivered.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { createJsonlSink, type Sink } from '../../connectors/jsonl-sink.js';
import { createWebhookSink } from '../../connectors/webhook-sink.js';
import { sourceKind } from '../../connectors/station-source.js';
import { loadConfig } from '../../schemas/config.js';
import type { AirplayEvent, Prediction } from '../../schemas/messages.js';
import { StationsFile, type Station } from '../../schemas/stations.js';
import { BlindearError } from '../errors.js';
import { createExtractor } from '../features/registry.js';
import { openPositionClient, openScoringClients } from '../he/client/index.js';
import type { DecideState } from '../../schemas/messages.js';
import { CHECK_TIMEOUT_MS } from '../stages/decide.js';
import { loadServiceKey } from '../he/client/service-key.js';
import { loadManifest } from '../model/catalog-store.js';
import { connectProducers, createClusters } from '../runtime/clusters.js';
import { createLogger } from '../runtime/logger.js';
import { createMetrics } from '../runtime/metrics.js';
import { createProducer } from '../runtime/run-stage.js';
import { shutdownSignal } from '../runtime/shutdown.js';
import { openClientProcess } from '../service/client-process.js';
import { startClientServices, type ClientStageName } from '../service/client-service.js';
import { startIngest } from '../service/ingest.js';

/** The i-th real-time station's window phase: 0, 0.5, 1, … s, round-robin over a hop. */
export function windowPhase(i: number, hopSeconds: number, stepSeconds = 0.5): number {
  const slots = Math.max(1, Math.floor(hopSeconds / stepSeconds));
  return (i % slots) * stepSeconds;
}

export interface MonitorOptions {
  stations?: string;
  catalog: string;
  brokers?: string;
  clientBrokers?: string;
  serverBrokers?: string;
  output: string;
  pace: 'realtime' | 'fast';
  clientKeyFile: string;
  services: string;
  stallSeconds: number;
  metricsPort?: number;
  logLevel: string;
}

export async function loadStations(path: string): Promise<Station[]> {
  let text: string;
  try { text = await readFile(path, 'utf8'); } catch (err) {
    throw new BlindearError('BLINDEAR_ERR_INPUT_NOT_FOUND', `stations file ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try { data = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text); } catch (err) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `stations file ${path}: ${(err as Error).message}`);
  }
  const parsed = StationsFile.safeParse(data);
  if (!parsed.success) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `stations file ${path}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

export function airplaySinkFor(output: string): Sink<AirplayEvent> {
  return /^https?:\/\//.test(output) ? createWebhookSink<AirplayEvent>({ url: output }) : createJsonlSink<AirplayEvent>(output);
}

export function predictionSinkFor(output: string): Sink<Prediction> {
  return /^https?:\/\//.test(output) ? createWebhookSink<Prediction>({ url: output }) : createJsonlSink<Prediction>(output);
}

export function parseServices(list: string): ClientStageName[] {
  if (list === 'none') return [];
  const all: ClientStageName[] = ['windowing', 'encrypt', 'decide', 'delivery'];
  const wanted = list === 'all' ? all : list.split(',').map((s) => s.trim());
  for (const s of wanted) if (!all.includes(s as ClientStageName)) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `--services: unknown service ${s}`);
  return wanted as ClientStageName[];
}

export async function runMonitor(opts: MonitorOptions): Promise<void> {
  const config = loadConfig(process.env, { brokers: opts.brokers, clientBrokers: opts.clientBrokers, serverBrokers: opts.serverBrokers, logLevel: opts.logLevel, metricsPort: opts.metricsPort });
  const logger = createLogger(config.logLevel, { command: 'monitor' });
  // Without stations, the process is one more instance of the client-zone services.
  const stations = opts.stations ? await loadStations(opts.stations) : [];
  const services = parseServices(opts.services);
  const manifest = await loadManifest(opts.catalog);
  const extractor = createExtractor(manifest);
  const clients = await openScoringClients(opts.catalog, manifest);
  const { key: serviceKey, created } = await loadServiceKey(opts.clientKeyFile, { create: true });
  if (created) logger.warn({ file: opts.clientKeyFile }, 'new client key created: keep it, sessions sealed under it cannot be continued without it');
  const metrics = createMetrics();
  // Clusters, /metrics, /healthz, /readyz, build info, lag of this process's groups, topics, producers.
  const { clusters, groups, ops, producers } = await openClientProcess({ config, logger, metrics, manifest, role: 'monitor' });
  const signal = shutdownSignal();
  const abort = new AbortController();
  void signal.promise.then(() => abort.abort());

  const sink = services.includes('delivery') ? airplaySinkFor(opts.output) : undefined;
  const pool: Awaited<ReturnType<typeof connectProducers>>[] = [];
  const svc = await startClientServices({
    stages: services, clusters, producers, manifest, clients, serviceKey, logger, metrics, retry: config.retry, shardWaitMs: config.shardWaitMs,
    airplaySink: sink, positionClient: await openPositionClient(opts.catalog, manifest),
  });
  groups.push(...svc.groups);
  ops.watchConsumer('client-services', Promise.all(svc.running.map((r) => r.joined)));
  try {
    // The stations' audio over a few producers of its own: one idempotent producer has one request in flight.
    for (let i = 0; i < Math.min(4, stations.length); i++) pool.push(await connectProducers(clusters, createProducer));
    const runs = await startIngest(stations, {
      producerPool: pool,
      clusters, producers, manifest, clients, serviceKey, sampleRate: extractor.sampleRate, logger, metrics, pace: opts.pace,
      chunkSeconds: 0.5, stallSeconds: opts.stallSeconds, maxBackoffSeconds: 30, signal: abort.signal,
      // Stations heard in real time get window grids half a second apart (over a hop), so their windows
      // do not all end, and queue for extraction, encryption, scoring and decision, in the same instant.
      windowPhaseSeconds: (station, i) => (opts.pace === 'realtime' || sourceKind(station.source) === 'url' ? windowPhase(i, extractor.hopSeconds) : 0),
    });
    logger.info({ stations: runs.map((r) => ({ station: r.station.id, session: r.session })), services, metricsPort: ops.port }, 'monitoring');
    const allFiles = stations.length > 0 && stations.every((s) => sourceKind(s.source) !== 'url');
    const ingestDone = Promise.allSettled(runs.map((r) => r.ended.catch((err: unknown) => {
      logger.error({ station: r.station.id, code: (err as BlindearError).code }, (err as Error).message);
      throw err;
    })));
    if (allFiles) {
      const outcome = await Promise.race([ingestDone, signal.promise]);
      if (typeof outcome !== 'string' && services.includes('decide') && services.includes('delivery')) {
        // Every source has ended: wait until the last decision and plays of each session whose audio was
        // all sent are delivered. A station that failed (its error logged above) never sent its end, so
        // waiting for it would never finish: the run ends with exit 1 instead.
        const sent = runs.filter((_, i) => outcome[i].status === 'fulfilled').map((r) => r.session);
        if (sent.length) await Promise.race([waitForSessionsEnded(sent, svc, clusters, logger), signal.promise]);
      }
      const failed = (await ingestDone).filter((r) => r.status === 'rejected');
      if (failed.length) process.exitCode = 1;
    } else {
      await signal.promise;
    }
  } finally {
    abort.abort();
    await svc.stop();
    for (const p of pool) await p.disconnect();
    await producers.disconnect();
    await sink?.close();
    await ops.close();
    signal.dispose();
  }
}

/**
 * Polls the decide-state table of the sessions until each is marked ended with no play check in flight
 * (or only overdue ones, settled by the next record: none comes after the end), and delivery has caught up.
 */
async function waitForSessionsEnded(
  sessions: string[],
  svc: Awaited<ReturnType<typeof startClientServices>>,
  clusters: ReturnType<typeof createClusters>,
  logger: ReturnType<typeof createLogger>,
): Promise<void> {
  const { StateTables } = await import('../runtime/state-tables.js');
  const { waitForGroupCaughtUp } = await import('../runtime/group-lag.js');
  for (;;) {
    const t = new StateTables(clusters, ['decideState'], logger.child({}, { level: 'warn' }));
    await t.restoreAll();
    const done = (st: DecideState | undefined): boolean => !!st?.ended && st.checks.every((c) => Date.now() - c.sentAtMs > CHECK_TIMEOUT_MS);
    if (sessions.every((s) => done(t.get('decideState', s)))) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  await waitForGroupCaughtUp(clusters.client, svc.groups.find((g) => g.startsWith('blindear-client-delivery'))!, 'airplay');
}
