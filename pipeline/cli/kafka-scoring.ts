/**
 * Scoring through Kafka for a one-shot client (`identify --brokers`): publish the session's keys, send
 * query ciphertexts to the workers' topic, and collect the encrypted scores addressed to this session.
 */
import type { RuntimeConfig } from '../../schemas/config.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import { decodeFrames, encodeFrames } from '../../schemas/frames.js';
import { BlindearError } from '../errors.js';
import { createSigner, signSessionKeys, signTombstone, type ScoringClient, type SessionSigner } from '../he/client/index.js';
import { SESSION_TOMBSTONE_HEADER } from '../../schemas/messages.js';
import { createKafka, type KafkaClient } from '../runtime/kafka.js';
import type { Logger } from '../runtime/logger.js';
import { createMetrics } from '../runtime/metrics.js';
import { createProducer, runStage, sendOutputs, sendTombstone, type Producer, type RunningStage } from '../runtime/run-stage.js';
import { defineStage } from '../runtime/stage.js';
import { ensureTopics } from '../runtime/topics-admin.js';

interface Pending {
  kind: 'scores' | 'position';
  resolve(parts: Uint8Array[]): void;
  reject(err: Error): void;
}

export class KafkaScoring {
  private nextSeq = 0;
  private readonly pending = new Map<number, Pending>();

  private constructor(
    private readonly kafka: KafkaClient,
    private readonly producer: Producer,
    private readonly running: RunningStage,
    private readonly session: string,
    private readonly manifest: CatalogManifest,
    private readonly client: ScoringClient,
    private readonly groupId: string,
    private readonly signer: SessionSigner,
  ) {}

  static async start(opts: { config: Readonly<RuntimeConfig> | { brokers: readonly string[]; clientId: string; partitions: number; retry: RuntimeConfig['retry'] }; logger: Logger; session: string; manifest: CatalogManifest; client: ScoringClient }): Promise<KafkaScoring> {
    const { config, logger, session, manifest, client } = opts;
    if (manifest.shards) {
      throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `the catalogue is served in ${manifest.shards.length} shards: identify scores it in-process (without --brokers), or stream it through the client services, which merge the shards' parts`);
    }
    const kafka = createKafka({ brokers: config.brokers, clientId: `${config.clientId}-identify`, logger, security: 'security' in config ? config.security : undefined });
    await ensureTopics(kafka, config.partitions);
    const producer = createProducer(kafka);
    await producer.connect();
    const signer = createSigner();
    const material = client.publicMaterial();
    await sendOutputs(producer, [{
      topic: 'sessionKeys', key: session, value: material,
      envelope: signSessionKeys(signer, { session, paramsId: client.paramsId, modelId: manifest.modelId, createdAtMs: Date.now() }, material),
    }]);
    let self: KafkaScoring | undefined;
    const collector = defineStage({
      name: 'decide',
      input: 'scores',
      async process(msg) {
        if (msg.envelope.session !== session || !self) return [];
        const p = self.pending.get(msg.envelope.seq);
        if (!p) return []; // a redelivery of something already collected
        self.pending.delete(msg.envelope.seq);
        if ((msg.envelope.kind ?? 'scores') !== p.kind) {
          p.reject(new BlindearError('BLINDEAR_ERR_SCORES_FORGED', `a ${msg.envelope.kind ?? 'scores'} answer to the ${p.kind} query ${msg.envelope.seq}`));
          return [];
        }
        try {
          p.resolve(decodeFrames(msg.value, msg.envelope.parts));
        } catch (err) {
          p.reject(new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', (err as Error).message));
        }
        return [];
      },
    });
    const groupId = `blindear-identify-${session}`;
    const running = await runStage({ kafka, producer, logger, metrics: createMetrics(), retry: config.retry, stage: collector, groupId, startAtCurrentEnd: true });
    await running.joined;
    self = new KafkaScoring(kafka, producer, running, session, manifest, client, groupId, signer);
    return self;
  }

  async score(ciphertexts: Uint8Array[], counts: number[], timeoutMs: number): Promise<Uint8Array[][]> {
    return this.#send('scores', ciphertexts, counts, timeoutMs);
  }

  /** Position queries (pipeline/he/position-pir.ts): one record answer each, in order. */
  async position(queries: Uint8Array[], timeoutMs: number): Promise<Uint8Array[]> {
    // One record per query, framed as the scorer reads position records.
    const answers = await this.#send('position', queries.map((q) => encodeFrames([q])), queries.map(() => 1), timeoutMs);
    return answers.map((parts) => {
      if (parts.length !== 1) throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `a position answer of ${parts.length} parts, expected 1`);
      return parts[0];
    });
  }

  async #send(kind: 'scores' | 'position', ciphertexts: Uint8Array[], counts: number[], timeoutMs: number): Promise<Uint8Array[][]> {
    const seqs: number[] = [];
    const results = ciphertexts.map((_, i) => {
      const seq = this.nextSeq;
      this.nextSeq += counts[i];
      seqs.push(seq);
      return new Promise<Uint8Array[]>((resolve, reject) => this.pending.set(seq, { kind, resolve, reject }));
    });
    await sendOutputs(this.producer, ciphertexts.map((value, i) => ({
      topic: 'queries' as const,
      key: this.session,
      value,
      envelope: { session: this.session, kind, seq: seqs[i], count: counts[i], paramsId: this.client.paramsId, modelId: this.manifest.modelId, final: false, capturedAtMs: Date.now() },
    })));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BlindearError('BLINDEAR_ERR_BROKER_UNAVAILABLE', `no scores within ${timeoutMs} ms: are scoring workers running?`)), timeoutMs);
    });
    try {
      return await Promise.race([Promise.all(results), timeout]);
    } finally {
      clearTimeout(timer);
      for (const s of seqs) this.pending.delete(s);
    }
  }

  async close(): Promise<void> {
    await this.running.stop();
    await sendTombstone(this.producer, 'sessionKeys', this.session, { [SESSION_TOMBSTONE_HEADER]: JSON.stringify(signTombstone(this.signer, this.session)) }).catch(() => undefined);
    await this.producer.disconnect();
    const admin = this.kafka.admin();
    try { await admin.connect(); await admin.deleteGroups([this.groupId]); } catch { /* idle groups expire */ } finally { await admin.disconnect(); }
  }
}
