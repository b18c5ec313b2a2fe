/**
 * `blindear identify`: for each file, extract features and encrypt them here, have the catalogue scored
 * on the ciphertexts (by an in-process engine, or by Kafka scoring workers with --brokers), decrypt
 * here and decide. One session (one fresh key) per invocation.
 */
import { randomUUID } from 'node:crypto';
import { assertInputReadable, decodeStream } from '../../connectors/ffmpeg.js';
import { StreamWindower } from '../features/stream-windower.js';
import type { FeatureWindows } from '../features/types.js';
import { AudioStats, minAudioSeconds } from '../model/audio-checks.js';
import { loadConfig } from '../../schemas/config.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import type { Match } from '../../schemas/messages.js';
import { BlindearError, isBlindearError } from '../errors.js';
import { openPositionClient, openScoringClients, type PositionClient, type ScoringClient } from '../he/client/index.js';
import { decideEncrypted, type PositionAnswerer, type RemoteScorer } from '../he/client/round-trip.js';
import { catalogueEngine, PositionEngine } from '../he/server/index.js';
import { lookalikesOf, POSITION_QUERY_SECONDS, positionQueryOfPcm, UNWEIGHTED_TABLE_WARNING } from '../model/position.js';
import { createDecider, createExtractor, segmentsOf } from '../features/registry.js';
import { loadManifest, loadModel, loadPositionTable } from '../model/catalog-store.js';
import { createLogger, type Logger } from '../runtime/logger.js';
import { KafkaScoring } from './kafka-scoring.js';


export interface IdentifyAnswer {
  input: string;
  match: Match | null;
  error?: string;
}

/**
 * Decodes `file` as a stream (memory bounded whatever its length: only the windower's tail of audio and
 * the windows' feature vectors are held) and refuses, as enrolment does, silent or too short audio.
 */
export async function streamWindows(file: string, manifest: CatalogManifest): Promise<{ windows: FeatureWindows; seconds: number; head: Float32Array }> {
  const extractor = createExtractor(manifest);
  const stream = await decodeStream(file, { sampleRate: extractor.sampleRate, chunkSeconds: 10 });
  const windower = new StreamWindower(extractor);
  const stats = new AudioStats();
  const windows: FeatureWindows = { dim: extractor.dim, vectors: [], startSeconds: [] };
  // The first seconds of audio, for the position query (pipeline/model/position.ts), where the catalogue has one.
  const head = new Float32Array(manifest.position ? Math.round(POSITION_QUERY_SECONDS * extractor.sampleRate) : 0);
  let headFill = 0;
  const take = (pcm: Float32Array, final: boolean): void => {
    for (const w of windower.push(pcm, windower.samplesSeen, final)) { windows.vectors.push(w.vector); windows.startSeconds.push(w.startSeconds); }
  };
  try {
    let pending: Float32Array | undefined;
    for await (const chunk of stream.chunks) {
      stats.push(chunk);
      if (headFill < head.length) {
        const n = Math.min(chunk.length, head.length - headFill);
        head.set(chunk.subarray(0, n), headFill);
        headFill += n;
      }
      if (pending) take(pending, false);
      pending = chunk;
    }
    await stream.done;
    stats.check(file, extractor.sampleRate, minAudioSeconds(extractor.windowSeconds));
    take(pending ?? new Float32Array(0), true);
  } finally {
    stream.stop();
  }
  if (windows.vectors.length === 0) throw new BlindearError('BLINDEAR_ERR_AUDIO_TOO_SHORT', file);
  return { windows, seconds: stats.samples / extractor.sampleRate, head: head.subarray(0, headFill) };
}

/** Position queries for a catalogue with a position table: the client and who answers them. */
export interface PositionService {
  client: PositionClient;
  answer: PositionAnswerer;
}

export async function identifyOne(
  file: string, manifest: CatalogManifest, client: ScoringClient, score: RemoteScorer, position?: PositionService | null,
): Promise<Match | null> {
  const { windows, seconds, head } = await streamWindows(file, manifest);
  const spec = manifest.feature;
  const positioning = position && manifest.position && spec.kind === 'landmark'
    ? { ...position, query: positionQueryOfPcm(head, spec.params), segments: segmentsOf(manifest), slots: manifest.position.slots, bitShare: manifest.position.bitShare, ...lookalikesOf(manifest.enrolment) }
    : undefined;
  const d = await decideEncrypted(windows, seconds, client, score, createDecider(manifest), positioning);
  if (d.track === null) return null;
  const t = manifest.tracks[d.track];
  return { path: t.path, title: t.title, confidence: Number(d.confidence.toFixed(4)), offsetSeconds: Number(d.offsetSeconds.toFixed(2)) };
}

export async function runIdentify(
  files: string[],
  opts: { catalog: string; json?: boolean; brokers?: string; timeoutMs: number; logLevel: string },
): Promise<void> {
  const logger = createLogger(opts.logLevel, { command: 'identify' });
  // Missing files are reported before any key is made; if none is left, that is all.
  const readable = await Promise.all(files.map((f) => assertInputReadable(f).then(() => true, () => false)));
  if (!readable.some(Boolean)) {
    for (const input of files) {
      const err = new BlindearError('BLINDEAR_ERR_INPUT_NOT_FOUND', input);
      process.stderr.write(`blindear: ${input}: ${err.message} (${err.code})\n`);
      process.stdout.write(opts.json ? `${JSON.stringify({ input, match: null, error: err.message })}\n` : `${input}: error: ${err.message}\n`);
    }
    process.exitCode = 1;
    return;
  }
  const manifest = await loadManifest(opts.catalog);
  if (manifest.position && !manifest.position.bitShare) {
    logger.warn({ catalog: opts.catalog, slotBits: manifest.position.slotBits }, UNWEIGHTED_TABLE_WARNING);
  }
  const client = await (await openScoringClients(opts.catalog, manifest)).create();
  const scorer = opts.brokers ? await remoteScorer(opts, manifest, client, logger) : await embeddedScorer(opts.catalog, manifest, client);
  // The position query goes where the scores are computed: the embedded engine, or the scoring workers.
  const position = opts.brokers ? await remotePosition(opts.catalog, manifest, scorer.position) : await embeddedPosition(opts.catalog, manifest);
  let failures = 0;
  try {
    for (const input of files) {
      const answer: IdentifyAnswer = { input, match: null };
      try {
        answer.match = await identifyOne(input, manifest, client, scorer.score, position);
      } catch (err) {
        if (!isBlindearError(err)) throw err;
        failures++;
        answer.error = err.message;
        process.stderr.write(`blindear: ${input}: ${err.message} (${err.code})\n`);
      }
      process.stdout.write(opts.json ? `${JSON.stringify(answer)}\n` : `${input}: ${describe(answer)}\n`);
    }
  } finally {
    await scorer.close();
    client.dispose();
  }
  if (failures > 0) {
    // One input: its own line said why; several: a count after them.
    if (files.length > 1) process.stderr.write(`blindear: ${failures} of ${files.length} inputs could not be identified\n`);
    process.exitCode = 1;
  }
}

function describe(a: IdentifyAnswer): string {
  if (a.error) return `error: ${a.error}`;
  if (!a.match) return 'unknown';
  return `${a.match.title} (${a.match.path}) at ${a.match.offsetSeconds.toFixed(1)} s, confidence ${a.match.confidence.toFixed(2)}`;
}

async function embeddedScorer(catalog: string, manifest: CatalogManifest, client: ScoringClient): Promise<{ score: RemoteScorer; position?: PositionAnswerer; close(): Promise<void> }> {
  const engine = await catalogueEngine(manifest, await loadModel(catalog, manifest));
  // The embedded engine still only ever sees the public material and ciphertexts, as a worker would.
  const keys = await engine.loadSessionKeys(client.publicMaterial());
  return {
    score: async (cts) => {
      const out: Uint8Array[][] = [];
      for (const ct of cts) out.push(await engine.score(keys, ct));
      return out;
    },
    close: async () => { keys.dispose(); await engine.close(); },
  };
}

async function embeddedPosition(catalog: string, manifest: CatalogManifest): Promise<PositionService | null> {
  const client = await openPositionClient(catalog, manifest);
  const served = await loadPositionTable(catalog, manifest);
  if (!client || !served) return null;
  // The embedded engine only ever sees the encrypted one-hot queries, as a worker would.
  const engine = new PositionEngine(served.setup, served.table);
  return { client, answer: async (queries) => queries.map((q) => engine.answer(q)) };
}

async function remotePosition(catalog: string, manifest: CatalogManifest, answer: PositionAnswerer | undefined): Promise<PositionService | null> {
  const client = await openPositionClient(catalog, manifest);
  return client && answer ? { client, answer } : null;
}

async function remoteScorer(
  opts: { brokers?: string; timeoutMs: number; logLevel: string }, manifest: CatalogManifest, client: ScoringClient, logger: Logger,
): Promise<{ score: RemoteScorer; position: PositionAnswerer; close(): Promise<void> }> {
  const config = loadConfig(process.env, { brokers: opts.brokers, logLevel: opts.logLevel });
  const kafka = await KafkaScoring.start({ config, logger, session: `identify-${randomUUID()}`, manifest, client });
  return {
    score: (cts, counts) => kafka.score(cts, counts, opts.timeoutMs),
    position: (queries) => kafka.position(queries, opts.timeoutMs),
    close: () => kafka.close(),
  };
}
