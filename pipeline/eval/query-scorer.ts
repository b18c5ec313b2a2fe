/**
 * Identifies one query PCM twice: through the product's encrypted path (client session: features,
 * encrypt; scoring engine: the catalogue on ciphertexts, given only the session's public material;
 * client: decrypt and decide) and with the clear-text scorer on the same windows. One per thread: it
 * holds that thread's SEAL objects.
 */
import type { CatalogManifest } from '../../schemas/catalog.js';
import type { EvalAnswer } from '../../schemas/eval.js';
import type { FeatureExtractor } from '../features/extractor.js';
import { createDecider, createExtractor, type Decider } from '../features/registry.js';
import type { Decision, LinearModel } from '../features/types.js';
import { openScoringClients, type ScoringClient } from '../he/client/index.js';
import { catalogueEngine, type CatalogueEngine, type SessionKeys } from '../he/server/index.js';
import { loadManifest, loadModel } from '../model/catalog-store.js';
import { scoreInClear } from '../model/segment-templates.js';
import { decideEncrypted } from '../he/client/round-trip.js';

export interface QueryOutcome {
  windows: number;
  encrypted: EvalAnswer;
  plain: EvalAnswer;
  serverMs: number;
}

function answerOf(d: Decision): EvalAnswer {
  return {
    track: d.track,
    bestTrack: d.bestTrack,
    confidence: Number(d.confidence.toFixed(6)),
    offsetSeconds: Number(d.offsetSeconds.toFixed(3)),
    top3: d.ranking.slice(0, 3).map((r) => r.track),
  };
}

export class QueryScorer {
  readonly manifest: CatalogManifest;
  readonly #extractor: FeatureExtractor;
  readonly #decide: Decider;
  readonly #model: LinearModel;
  readonly #client: ScoringClient;
  readonly #engine: CatalogueEngine;
  readonly #keys: SessionKeys;

  private constructor(manifest: CatalogManifest, model: LinearModel, client: ScoringClient, engine: CatalogueEngine, keys: SessionKeys) {
    this.manifest = manifest;
    this.#extractor = createExtractor(manifest);
    this.#decide = createDecider(manifest);
    this.#model = model;
    this.#client = client;
    this.#engine = engine;
    this.#keys = keys;
  }

  static async open(catalogDir: string): Promise<QueryScorer> {
    const manifest = await loadManifest(catalogDir);
    const model = await loadModel(catalogDir, manifest);
    const client = await (await openScoringClients(catalogDir, manifest)).create();
    const engine = await catalogueEngine(manifest, model);
    // As a scoring worker would: the engine only ever gets the session's public material and ciphertexts.
    const keys = await engine.loadSessionKeys(client.publicMaterial());
    return new QueryScorer(manifest, model, client, engine, keys);
  }

  /** Sample rate the query PCM must have. */
  get sampleRate(): number {
    return this.#extractor.sampleRate;
  }

  async identify(pcm: Float32Array): Promise<QueryOutcome> {
    const w = this.#extractor.windows(pcm);
    const clipSeconds = pcm.length / this.#extractor.sampleRate;
    if (w.vectors.length === 0) throw new RangeError(`a ${clipSeconds.toFixed(2)} s query makes no feature window`);
    let serverMs = 0;
    const encrypted = await decideEncrypted(w, clipSeconds, this.#client, async (cts) => {
      const t0 = performance.now();
      const results: Uint8Array[][] = [];
      for (const ct of cts) results.push(await this.#engine.score(this.#keys, ct));
      serverMs += performance.now() - t0;
      return results;
    }, this.#decide);
    const plain = this.#decide(scoreInClear(this.#model, w), w.startSeconds, clipSeconds);
    return { windows: w.vectors.length, encrypted: answerOf(encrypted), plain: answerOf(plain), serverMs };
  }

  dispose(): void {
    this.#keys.dispose();
    void this.#engine.close();
    this.#client.dispose();
  }
}
