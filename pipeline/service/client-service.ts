/**
 * The client-zone services (windowing, encrypt, decide, delivery, report) built from the topology and run
 * by the runtime, each in its stage's consumer group: every instance of a service shares the sessions on
 * the partitions it is assigned, and a second instance takes half of them. `blindear monitor` runs them all
 * in one process; `blindear worker <stage>` runs one.
 */
import type { Sink } from '../../connectors/jsonl-sink.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import type { LandmarkParams } from '../../schemas/feature-landmark.js';
import type { AirplayEvent, Prediction } from '../../schemas/messages.js';
import type { TopicKey } from '../../schemas/topics.js';
import { createDecider, createExtractor, queryVectorsPerWindow, segmentsOf } from '../features/registry.js';
import { queryLandmarks } from '../features/landmark.js';
import type { PositionClient } from '../he/client/position-client.js';
import { packLandmarks, UNWEIGHTED_TABLE_WARNING } from '../model/position.js';
import type { Segment } from '../model/segment-templates.js';
import type { ServiceKey } from '../he/client/service-key.js';
import type { ScoringClients } from '../he/client/index.js';
import type { Clusters, Producers } from '../runtime/clusters.js';
import type { Logger } from '../runtime/logger.js';
import { decideMetrics, type Metrics } from '../runtime/metrics.js';
import type { RetryPolicy } from '../runtime/retry.js';
import { createProducer, inboundSource, runStage, sendDeadLetter, type RunningStage } from '../runtime/run-stage.js';
import { connectProducers, producerOf } from '../runtime/clusters.js';
import type { Inbound, Stage } from '../runtime/stage.js';
import { ClientSessions } from '../stages/client-sessions.js';
import { createDecideStage } from '../stages/decide.js';
import { createDeliveryStage, createReportStage } from '../stages/delivery.js';
import { createEncryptStage } from '../stages/encrypt.js';
import { createWindowingStage } from '../stages/windowing.js';
import { stageGroup, TOPOLOGY } from '../topology.js';

export type ClientStageName = 'windowing' | 'encrypt' | 'decide' | 'delivery' | 'report';

/** Decisions look at ~30 s of audio (at least two windows) and come every hop. */
export function decisionOptions(windowSeconds: number, hopSeconds: number): { span: number; emitEvery: number; windowSeconds: number } {
  return {
    span: Math.max(1, Math.round(Math.max(10, 2 * windowSeconds) / hopSeconds)),
    emitEvery: Math.max(1, Math.round(Math.max(hopSeconds, 5) / hopSeconds)),
    windowSeconds,
  };
}

export interface ClientServiceOptions {
  stages: readonly ClientStageName[];
  clusters: Clusters;
  producers: Producers;
  manifest: CatalogManifest;
  /** Sessions of the catalogue's scheme (`openScoringClients`). */
  clients: ScoringClients;
  serviceKey: ServiceKey;
  logger: Logger;
  metrics: Metrics;
  retry: RetryPolicy;
  airplaySink?: Sink<AirplayEvent>;
  predictionSink?: Sink<Prediction>;
  /** Groups of their own (`<group>-<suffix>`), e.g. for a one-session `stream`; the shared groups otherwise. */
  groupSuffix?: string;
  startAtCurrentEnd?: boolean;
  /** Only these sessions are delivered (a `stream` among other sessions). */
  serves?(session: string): boolean;
  /** A sharded catalogue: how long decide waits for a query's last shard (default 30 s). */
  shardWaitMs?: number;
  /**
   * The catalogue's position query client (`openPositionClient`): plays are checked by it before they are
   * logged. Absent or null (no position table, a sharded catalogue): plays are logged on the decisions alone.
   */
  positionClient?: PositionClient | null;
  onAirplay?(e: AirplayEvent): void;
  onPrediction?(p: Prediction): void;
}

/** What the play check needs, when the catalogue has a position table and the service its client. */
function positionCheck(opts: ClientServiceOptions): { client: PositionClient; segments: Segment[]; slots: number; bitShare?: readonly number[]; params: LandmarkParams } | undefined {
  const { manifest, positionClient } = opts;
  if (!positionClient || !manifest.position || manifest.shards || manifest.feature.kind !== 'landmark') return undefined;
  return { client: positionClient, segments: segmentsOf(manifest), slots: manifest.position.slots, bitShare: manifest.position.bitShare, params: manifest.feature.params };
}

export function buildClientStage(name: ClientStageName, opts: ClientServiceOptions, sessions: ClientSessions, producers?: Producers): Stage<TopicKey> {
  const { manifest } = opts;
  const extractor = createExtractor(manifest);
  switch (name) {
    case 'windowing': {
      // A query ciphertext carries whole windows, each with all its hypotheses and probes.
      const windowsPerQuery = Math.max(1, Math.floor(opts.clients.windowsPerQuery / queryVectorsPerWindow(manifest)));
      const check = positionCheck(opts);
      return createWindowingStage({ extractor, modelId: manifest.modelId, windowsPerQuery, maxBatchSeconds: 5,
        session: (tables, session, partition) => sessions.owned(tables, session, partition),
        ...(check ? { landmarks: (pcm: Float32Array) => packLandmarks(queryLandmarks(pcm, check.params).landmarks) } : {}),
      }) as unknown as Stage<TopicKey>;
    }
    case 'encrypt':
      return createEncryptStage({ sessions, modelId: manifest.modelId, dim: manifest.dim, vectorsPerWindow: queryVectorsPerWindow(manifest) }) as unknown as Stage<TopicKey>;
    case 'decide': {
      const check = positionCheck(opts);
      if (check && !check.bitShare) opts.logger.warn({ slotBits: manifest.position?.slotBits }, UNWEIGHTED_TABLE_WARNING);
      decideMetrics(opts.metrics, { playChecks: !!check });
      const threshold = manifest.feature.kind === 'landmark' ? manifest.feature.params.threshold : 0.5;
      const scale = Math.max(1e-6, Math.abs(threshold) / 4);
      return createDecideStage({
        manifest, decider: createDecider(manifest), sessions, hopSeconds: extractor.hopSeconds,
        decisions: decisionOptions(extractor.windowSeconds, extractor.hopSeconds),
        // Landmark scores are cosines of non-negative unit vectors: |s| ≤ 1 plus the encryption noise.
        scoreBound: manifest.feature.kind === 'landmark' ? 1.05 : 1e6,
        confidence: manifest.feature.kind === 'landmark'
          ? (raw) => 1 / (1 + Math.exp(-(raw - threshold) / scale))
          : (raw) => Math.min(1, Math.max(0, raw)),
        shardWait: opts.shardWaitMs ? { waitMs: opts.shardWaitMs } : undefined,
        position: check,
        deadLetter: producers ? (msg, err) => sendDeadLetter(producerOf(producers, 'scores'), inboundSource('scores', msg as Inbound<TopicKey>), 'decide', err) : undefined,
      }) as unknown as Stage<TopicKey>;
    }
    case 'delivery':
      if (!opts.airplaySink) throw new Error('the delivery stage needs an airplay sink');
      return createDeliveryStage({
        sink: opts.airplaySink, serves: opts.serves, delivered: opts.onAirplay,
        owns: async (tables, session, partition) => (await sessions.owned(tables, session, partition)) !== undefined,
      }) as unknown as Stage<TopicKey>;
    case 'report':
      if (!opts.predictionSink) throw new Error('the report stage needs a prediction sink');
      return createReportStage({ sink: opts.predictionSink, serves: opts.serves ?? (() => true), delivered: opts.onPrediction }) as unknown as Stage<TopicKey>;
  }
}

export async function startClientServices(opts: ClientServiceOptions): Promise<{ running: RunningStage[]; stop(): Promise<void>; groups: string[] }> {
  const sessions = new ClientSessions(opts.manifest, opts.clients, opts.serviceKey);
  const running: RunningStage[] = [];
  const groups: string[] = [];
  const ownProducers: Awaited<ReturnType<typeof connectProducers>>[] = [];
  try {
    for (const name of opts.stages) {
      const base = stageGroup(TOPOLOGY[name]);
      const groupId = opts.groupSuffix ? `${base}-${opts.groupSuffix}` : base;
      groups.push(groupId);
      // A producer of its own per stage: an idempotent producer has one request in flight, and the
      // stages of one process would otherwise queue behind each other's sends.
      const own = await connectProducers(opts.clusters, createProducer);
      ownProducers.push(own);
      const stage = buildClientStage(name, opts, sessions, own);
      running.push(await runStage({
        clusters: opts.clusters, producers: own, stage, groupId, logger: opts.logger, metrics: opts.metrics,
        retry: opts.retry, startAtCurrentEnd: opts.startAtCurrentEnd, serves: opts.serves,
        // Partitions in parallel (each in order): one station's slow step does not hold the others.
        partitionsConsumedConcurrently: 4,
      }));
    }
  } catch (err) {
    for (const r of running.reverse()) await r.stop().catch(() => undefined);
    for (const p of ownProducers) await p.disconnect();
    sessions.dispose();
    throw err;
  }
  return {
    running,
    groups,
    async stop() {
      // All at once: each leaves its group and commits; one after the other would add up the waits.
      await Promise.all(running.map((r) => r.stop().catch(() => undefined)));
      await Promise.all(ownProducers.map((p) => p.disconnect()));
      sessions.dispose();
    },
  };
}
