/**
 * `blindear stream`: the client zone of the continuous pipeline for one session. Ingest, windowing,
 * encryption, decryption and delivery run in this process, which alone holds the session's secret key;
 * each stage is bound to its topic, so the scoring workers elsewhere see only ciphertexts.
 */
import { randomUUID } from 'node:crypto';
import { decodeStream } from '../../connectors/ffmpeg.js';
import { createJsonlSink, type Sink } from '../../connectors/jsonl-sink.js';
import { createTextSink } from '../../connectors/text-sink.js';
import { createWebhookSink } from '../../connectors/webhook-sink.js';
import { loadConfig } from '../../schemas/config.js';
import { SessionId, type Prediction } from '../../schemas/messages.js';
import { BlindearError } from '../errors.js';
import { ClientSession } from '../he/client/index.js';
import { createDecider, createExtractor } from '../features/registry.js';
import { loadManifest } from '../model/catalog-store.js';
import { StreamDecisions } from '../model/stream-decisions.js';
import { createKafka, type KafkaClient } from '../runtime/kafka.js';
import { createLogger } from '../runtime/logger.js';
import { createMetrics, stationMetrics } from '../runtime/metrics.js';
import { observePredictions } from '../runtime/prediction-metrics.js';
import { startOps } from '../runtime/ops.js';
import { createProducer, runStage, sendOutputs, sendTombstone, type RunningStage } from '../runtime/run-stage.js';
import { shutdownSignal } from '../runtime/shutdown.js';
import type { Stage } from '../runtime/stage.js';
import { ensureTopics } from '../runtime/topics-admin.js';
import type { TopicKey } from '../../schemas/topics.js';
import { createDecryptStage, type DecryptSession } from '../stages/decrypt.js';
import { createDeliveryStage } from '../stages/delivery.js';
import { createEncryptStage } from '../stages/encrypt.js';
import { audioChunkRecord } from '../stages/ingest.js';
import { createWindowingStage } from '../stages/windowing.js';

export interface StreamOptions {
  catalog: string;
  brokers: string;
  session?: string;
  output: string;
  format: 'json' | 'text';
  realtime?: boolean;
  metricsPort?: number;
  /** The `station` label of this source's metrics (default "stream"; session ids are never labels). */
  station?: string;
  logLevel: string;
}

function sinkFor(output: string, format: 'json' | 'text'): Sink<Prediction> {
  if (/^https?:\/\//.test(output)) return createWebhookSink<Prediction>({ url: output });
  return format === 'text' && output === '-' ? createTextSink() : createJsonlSink<Prediction>(output);
}

/** Decisions look at ~20 s of audio (at least two windows) and come every ~5 s (at least every window). */
export function decisionOptions(windowSeconds: number, hopSeconds: number): { span: number; emitEvery: number; windowSeconds: number } {
  return {
    span: Math.max(1, Math.round(Math.max(10, 2 * windowSeconds) / hopSeconds)),
    emitEvery: Math.max(1, Math.round(Math.max(hopSeconds, 5) / hopSeconds)),
    windowSeconds,
  };
}

export async function runStream(source: string, opts: StreamOptions): Promise<void> {
  const config = loadConfig(process.env, { brokers: opts.brokers, logLevel: opts.logLevel, metricsPort: opts.metricsPort });
  const session = SessionId.safeParse(opts.session ?? `s-${randomUUID()}`);
  if (!session.success) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `--session: ${session.error.issues[0].message}`);
  const sessionId = session.data;
  const logger = createLogger(config.logLevel, { command: 'stream', session: sessionId });
  const manifest = await loadManifest(opts.catalog);
  const extractor = createExtractor(manifest);
  const client = await ClientSession.create(manifest.he, { classes: manifest.classes.track.length, dim: manifest.dim });
  const metrics = createMetrics();
  const kafka = createKafka({ brokers: config.brokers, clientId: `${config.clientId}-client`, logger });
  const groups: string[] = [];
  const ops = await startOps({
    metrics, kafka, logger, port: config.metricsPort, lagIntervalMs: config.lagIntervalMs,
    build: { modelId: manifest.modelId, paramsId: client.paramsId }, groups: () => groups,
  });
  await ensureTopics(kafka, config.partitions);
  const producer = createProducer(kafka);
  await producer.connect();
  ops.watchProducer(producer);

  const station = stationMetrics(metrics, opts.station ?? 'stream');
  const observed = observePredictions(station);
  const sink = sinkFor(opts.output, opts.format);
  const serves = (s: string): boolean => s === sessionId;
  const decrypting = new Map<string, DecryptSession>([[sessionId, {
    client,
    decisions: new StreamDecisions(createDecider(manifest), decisionOptions(extractor.windowSeconds, extractor.hopSeconds)),
    hopSeconds: extractor.hopSeconds,
  }]]);
  let finished!: () => void;
  const done = new Promise<void>((r) => { finished = r; });

  const stages: Stage<TopicKey>[] = [
    createWindowingStage({ extractor, modelId: manifest.modelId, serves }),
    createEncryptStage({ sessions: new Map([[sessionId, client]]), modelId: manifest.modelId, dim: manifest.dim, hopSeconds: extractor.hopSeconds, maxBatchSeconds: 5 }),
    createDecryptStage({ sessions: decrypting, manifest }),
    createDeliveryStage({ sink, serves, delivered: (p) => { observed.observe(p); if (p.final) finished(); } }),
  ] as Stage<TopicKey>[];
  const running: RunningStage[] = [];
  const signal = shutdownSignal();
  let stream: Awaited<ReturnType<typeof decodeStream>> | undefined;
  try {
    // The session's evaluation keys go out once, before any query; the workers keep them in memory.
    await sendOutputs(producer, [{
      topic: 'sessionKeys', key: sessionId, value: client.publicMaterial(),
      envelope: { session: sessionId, paramsId: client.paramsId, modelId: manifest.modelId, createdAtMs: Date.now() },
    }]);
    for (const stage of stages) {
      const groupId = `blindear-client-${sessionId}-${stage.name}`;
      groups.push(groupId);
      running.push(await runStage({ kafka, producer, logger, metrics, retry: config.retry, stage, groupId, startAtCurrentEnd: true }));
      ops.watchConsumer(stage.name, running[running.length - 1].joined);
    }
    await Promise.all(running.map((r) => r.joined));
    logger.info({ source: source === '-' ? 'stdin' : 'input', modelId: manifest.modelId, paramsId: client.paramsId }, 'session started');

    stream = await decodeStream(source, { sampleRate: extractor.sampleRate, chunkSeconds: 1, realtime: opts.realtime });
    station.connected(true);
    const ingest = (async () => {
      let seq = 0;
      let at = 0;
      let pending: Float32Array | undefined;
      const send = async (pcm: Float32Array, final: boolean): Promise<void> => {
        await sendOutputs(producer, [audioChunkRecord({ session: sessionId, seq: seq++, startSample: at, sampleRate: extractor.sampleRate, pcm, final, capturedAtMs: Date.now() })]);
        at += pcm.length;
      };
      // One chunk of look-ahead so the last chunk can carry `final`.
      for await (const chunk of stream!.chunks) {
        station.audio();
        if (pending) await send(pending, false);
        pending = chunk;
      }
      await stream!.done;
      if (!pending) throw new BlindearError('BLINDEAR_ERR_AUDIO_TOO_SHORT', 'the source produced no audio');
      await send(pending, true);
    })();
    const outcome = await Promise.race([
      ingest.then(() => done).then(() => 'done'),
      signal.promise,
    ]);
    if (outcome !== 'done') logger.info({ signal: outcome }, 'stopping');
  } finally {
    stream?.stop();
    station.connected(false);
    observed.end();
    for (const r of running.reverse()) await r.stop().catch(() => undefined);
    // Tombstone: the session is over, compaction drops its keys from the server zone.
    await sendTombstone(producer, 'sessionKeys', sessionId).catch(() => undefined);
    await producer.disconnect();
    await deleteGroups(kafka, groups);
    await sink.close();
    await ops.close();
    client.dispose();
    signal.dispose();
  }
}

async function deleteGroups(kafka: KafkaClient, groups: string[]): Promise<void> {
  const admin = kafka.admin();
  try { await admin.connect(); await admin.deleteGroups(groups); } catch { /* best effort: idle groups expire */ } finally { await admin.disconnect(); }
}
