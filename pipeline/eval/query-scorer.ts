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
import { openPositionClient, openScoringClients, type PositionClient, type ScoringClient } from '../he/client/index.js';
import { catalogueEngine, PositionEngine, type CatalogueEngine, type SessionKeys } from '../he/server/index.js';
import { loadManifest, loadModel, loadPositionTable } from '../model/catalog-store.js';
import { scoreInClear, type Segment } from '../model/segment-templates.js';
import { decideEncrypted, type Positioning } from '../he/client/round-trip.js';
import { lookalikesOf, placeOffset, type PositionLayout, POSITION_CANDIDATES, POSITION_TRACKS, positionCandidates, positionQueryOfPcm } from '../model/position.js';
import { segmentsOf } from '../features/registry.js';

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
    ...(d.position ? { positionZ: Number(d.position.z.toFixed(3)) } : {}),
    ...(d.position?.scoreTrack !== undefined ? { scoreTrack: d.position.scoreTrack } : {}),
    ...(d.position?.tracks ? { positionTracks: d.position.tracks.map((t) => ({ track: t.track, z: Number(t.z.toFixed(3)), speed: t.speed, hits: t.hits, landmarks: t.landmarks })) } : {}),
  };
}

interface EvalPosition extends PositionLayout {
  client: PositionClient;
  engine: PositionEngine;
  table: Uint8Array;
  bytes: number;
  segments: Segment[];
}

export class QueryScorer {
  readonly manifest: CatalogManifest;
  readonly #extractor: FeatureExtractor;
  readonly #decide: Decider;
  readonly #model: LinearModel;
  readonly #client: ScoringClient;
  readonly #engine: CatalogueEngine;
  readonly #keys: SessionKeys;
  /** The position query's two halves and the clear table (the oracle of the encrypted records). */
  readonly #position: EvalPosition | null;

  private constructor(
    manifest: CatalogManifest, model: LinearModel, client: ScoringClient, engine: CatalogueEngine, keys: SessionKeys,
    position: EvalPosition | null,
  ) {
    this.manifest = manifest;
    this.#extractor = createExtractor(manifest);
    this.#decide = createDecider(manifest);
    this.#model = model;
    this.#client = client;
    this.#engine = engine;
    this.#keys = keys;
    this.#position = position;
  }

  static async open(catalogDir: string): Promise<QueryScorer> {
    const manifest = await loadManifest(catalogDir);
    const model = await loadModel(catalogDir, manifest);
    const client = await (await openScoringClients(catalogDir, manifest)).create();
    const engine = await catalogueEngine(manifest, model);
    // As a scoring worker would: the engine only ever gets the session's public material and ciphertexts.
    const keys = await engine.loadSessionKeys(client.publicMaterial());
    const positionClient = await openPositionClient(catalogDir, manifest);
    const served = await loadPositionTable(catalogDir, manifest);
    const position = positionClient && served && manifest.position
      ? { client: positionClient, engine: new PositionEngine(served.setup, served.table), table: served.table, bytes: served.setup.bytes, slots: manifest.position.slots, bitShare: manifest.position.bitShare, ...lookalikesOf(manifest.enrolment), segments: segmentsOf(manifest) }
      : null;
    return new QueryScorer(manifest, model, client, engine, keys, position);
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
    const p = this.#position;
    const spec = this.manifest.feature;
    const query = p && spec.kind === 'landmark' ? positionQueryOfPcm(pcm, spec.params) : null;
    const positioning: Positioning | undefined = p && query ? {
      // The catalogue's layout (slots, bit shares, lookalikes), its segments and the position client.
      ...p, query,
      answer: async (qs) => {
        const t0 = performance.now();
        const out = qs.map((q) => p.engine.answer(q));
        serverMs += performance.now() - t0;
        return out;
      },
    } : undefined;
    const encrypted = await decideEncrypted(w, clipSeconds, this.#client, async (cts) => {
      const t0 = performance.now();
      const results: Uint8Array[][] = [];
      for (const ct of cts) results.push(await this.#engine.score(this.#keys, ct));
      serverMs += performance.now() - t0;
      return results;
    }, this.#decide, positioning);
    const clearScores = scoreInClear(this.#model, w);
    let plain = this.#decide(clearScores, w.startSeconds, clipSeconds);
    if (p && query) {
      // The clear reference reads the records straight from the table.
      const classes = positionCandidates(plain, clearScores, p.segments, POSITION_CANDIDATES, POSITION_TRACKS);
      plain = placeOffset(plain, query, classes, classes.map((k) => p.table.subarray(k * p.bytes, (k + 1) * p.bytes)), p.segments, p);
    }
    return { windows: w.vectors.length, encrypted: answerOf(encrypted), plain: answerOf(plain), serverMs };
  }

  dispose(): void {
    this.#keys.dispose();
    void this.#engine.close();
    this.#client.dispose();
  }
}
