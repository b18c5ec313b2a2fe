/**
 * Server cost of one enrolled catalogue, as a stream would load it: real feature windows of one of its
 * own tracks (the catalogue's extractor), batched per query as the stream's encrypt stage batches them,
 * encrypted by a ClientSession and scored by a ScoringEngine on the catalogue's model under its own
 * encryption parameters. CPU ms per query ciphertext (main thread, validation included) is the mean
 * over several queries after a warm-up (bench/util.ts timeLoop, as bench/scoring-cost.ts does).
 *
 * Per second of streamed audio: a stream sends a query when its batch holds `windowsPerCiphertext`
 * windows or spans STREAM_BATCH_SECONDS of audio, so it sends 1 / (windowsPerQuery · hopSeconds)
 * queries per second (landmark, 15 s hop: one query per hop; seed MFCC, 0.5 s hop: one per 5 s).
 */
import { join } from 'node:path';
import { decodeFile } from '../connectors/ffmpeg.js';
import { createExtractor, queryVectorsPerWindow } from '../pipeline/features/registry.js';
import { ClientSession, openScoringClients } from '../pipeline/he/client/index.js';
import { catalogueEngine, ScoringEngine } from '../pipeline/he/server/index.js';
import { loadManifest, loadModel } from '../pipeline/model/catalog-store.js';
import type { CatalogManifest } from '../schemas/catalog.js';
import { hypothesisSlices, type LinearModel } from '../pipeline/features/types.js';
import { matvec } from './scoring-cost.js';
import { now, round, timeLoop } from './util.js';

/** The stream's batch bound (maxBatchSeconds of the encrypt stage in pipeline/cli/stream.ts). */
export const STREAM_BATCH_SECONDS = 5;

export interface FrontCost {
  layout: string;
  windowsPerCiphertext: number;
  windowsPerQuery: number;
  queriesPerAudioSecond: number;
  serverMsPerQuery: number;
  serverWallMsPerQuery: number;
  serverMsPerAudioSecond: number;
  streamsPerCore: number;
  queryBytes: number;
  resultBytesPerQuery: number;
  bytesPerAudioSecond: number;
  keyBytesPerSession: number;
  /** LWE: the catalogue's hint a client downloads once per catalogue version (0 for CKKS). */
  hintBytes: number;
  heArgmaxAgree: string;
  track: string;
  timedQueries: number;
  seconds: number;
}

const argmax = (v: ArrayLike<number>): number => {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[b]) b = i;
  return b;
};
const mean = (a: readonly number[]): number => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);

/**
 * The timed scoring of `queries` (the first is the warm-up: JIT, SEAL pools, isolated parsers), then the
 * decrypted argmax of the first reps + 1 queries' windows against the clear W·x + b (both schemes are
 * approximate), and the mean bytes of a query and of its result.
 */
async function timeAndCheck(
  queries: Uint8Array[], batches: Float32Array[][], score: (q: Uint8Array) => Promise<Uint8Array[]>,
  decrypt: (result: Uint8Array[], windows: number) => Promise<ArrayLike<number>[]>, model: LinearModel, reps: number,
): Promise<{ timed: Awaited<ReturnType<typeof timeLoop>>; agreement: string; queryBytes: number; resultBytesPerQuery: number }> {
  const results: Uint8Array[][] = [await score(queries[0])];
  let q = 1;
  const timed = await timeLoop(async () => { results.push(await score(queries[1 + ((q++ - 1) % reps)])); }, { minRuns: reps, minWallMs: 1000 });
  let agree = 0;
  let checked = 0;
  const ref = new Float32Array(model.classes);
  for (let i = 0; i < batches.length; i++) {
    const scores = await decrypt(results[i], batches[i].length);
    batches[i].forEach((x, w) => {
      matvec(model, x, ref);
      checked++;
      if (argmax(scores[w]) === argmax(ref)) agree++;
    });
  }
  return {
    timed, agreement: `${agree}/${checked}`,
    queryBytes: Math.round(mean(queries.map((b) => b.byteLength))),
    resultBytesPerQuery: Math.round(mean(results.map((r) => r.reduce((s, b) => s + b.byteLength, 0)))),
  };
}

/** A point's cost per query and per second of streamed audio, rounded to `digits` (ms). */
function perAudioSecond(timed: { cpuMs: number; wallMs: number }, queriesPerAudioSecond: number, queryBytes: number, resultBytesPerQuery: number, digits: number) {
  const msPerAudioSecond = timed.cpuMs * queriesPerAudioSecond;
  return {
    queriesPerAudioSecond: round(queriesPerAudioSecond, 4),
    serverMsPerQuery: round(timed.cpuMs, digits),
    serverWallMsPerQuery: round(timed.wallMs, digits),
    serverMsPerAudioSecond: round(msPerAudioSecond, digits + 1),
    streamsPerCore: round(1000 / msPerAudioSecond, 1),
    queryBytes,
    resultBytesPerQuery,
    bytesPerAudioSecond: Math.round((queryBytes + resultBytesPerQuery) * queriesPerAudioSecond),
  };
}

export async function measureCatalogCost(opts: { catalogDir: string; music: string; reps: number; log: (s: string) => void }): Promise<FrontCost> {
  const t0 = now();
  const manifest = await loadManifest(opts.catalogDir);
  const model = await loadModel(opts.catalogDir, manifest);
  if (manifest.scheme === 'lwe') return measureLweCost(opts, manifest, model, t0);
  const extractor = createExtractor(manifest);
  const C = manifest.classes.track.length;
  const engine = await ScoringEngine.create(manifest.he, model);
  const client = await ClientSession.create(manifest.he, { classes: C, dim: manifest.dim });
  const keyBytesPerSession = client.publicMaterial().byteLength;
  const keys = await engine.loadSessionKeys(client.publicMaterial());
  try {
    const B = client.layout.windowsPerCiphertext;
    const hop = extractor.hopSeconds;
    const windowsPerQuery = Math.min(B, Math.max(1, Math.ceil(STREAM_BATCH_SECONDS / hop - 1e-9)));
    const queriesPerAudioSecond = 1 / (windowsPerQuery * hop);

    // Real windows: the longest enrolled track, as much of it as the timed queries need.
    const longest = manifest.tracks.reduce((a, b) => (b.durationSeconds > a.durationSeconds ? b : a));
    const needSeconds = (opts.reps + 1) * windowsPerQuery * hop + extractor.windowSeconds + 2 * extractor.contextSeconds;
    const pcm = await decodeFile(join(opts.music, longest.path), { sampleRate: extractor.sampleRate, durationSeconds: Math.ceil(needSeconds) });
    const { vectors } = extractor.windows(pcm);
    if (vectors.length === 0) throw new Error(`${longest.path}: no feature windows`);
    // (reps + 1) batches; a short track's windows are reused (the cost does not depend on the values).
    const batches = Array.from({ length: opts.reps + 1 }, (_, q) =>
      Array.from({ length: windowsPerQuery }, (_, w) => vectors[(q * windowsPerQuery + w) % vectors.length]));
    const queries = batches.map((b) => {
      const enc = client.encryptWindows(b);
      if (enc.ciphertexts.length !== 1) throw new Error(`a batch of ${b.length} windows made ${enc.ciphertexts.length} queries`);
      return enc.ciphertexts[0];
    });

    const { timed, agreement, queryBytes, resultBytesPerQuery } = await timeAndCheck(queries, batches, (query) => engine.score(keys, query), (r, n) => client.decryptScores([r], n), model, opts.reps);
    const serverMsPerAudioSecond = timed.cpuMs * queriesPerAudioSecond;
    const L = client.layout;
    opts.log(`timing: ${round(timed.cpuMs, 1)} CPU ms per query (${timed.runs} runs, ${windowsPerQuery} of ≤ ${B} windows each), ${round(serverMsPerAudioSecond, 2)} ms per audio s`);
    return {
      layout: `${L.mode} B=${B} out=${L.outputCiphertexts} (${C}×${manifest.dim}, N=${manifest.he.polyModulusDegree})`,
      windowsPerCiphertext: B,
      windowsPerQuery,
      ...perAudioSecond(timed, queriesPerAudioSecond, queryBytes, resultBytesPerQuery, 1),
      keyBytesPerSession,
      hintBytes: 0,
      heArgmaxAgree: agreement,
      track: longest.path,
      timedQueries: timed.runs,
      seconds: round((now() - t0) / 1000, 1),
    };
  } finally {
    keys.dispose();
    client.dispose();
    engine.dispose();
  }
}

/**
 * The same for an LWE catalogue, as `monitor` sends it: one window per query, its speed hypotheses as that
 * many vectors of d words after the query's nonce, scored by the catalogue's LWE engine on the calling
 * thread (one core) and decrypted by a client session holding the catalogue's hint.
 */
async function measureLweCost(opts: { catalogDir: string; music: string; reps: number; log: (s: string) => void }, manifest: CatalogManifest, model: LinearModel, t0: number): Promise<FrontCost> {
  const extractor = createExtractor(manifest);
  const C = manifest.classes.track.length;
  const engine = await catalogueEngine(manifest, model);
  const clients = await openScoringClients(opts.catalogDir, manifest);
  const client = await clients.create();
  const keys = await engine.loadSessionKeys(client.publicMaterial());
  try {
    const hop = extractor.hopSeconds;
    // A window's speed hypotheses, as `identify` sends them; a monitor's queries add its probes' (queryVectorsPerWindow).
    const live = queryVectorsPerWindow(manifest);
    const longest = manifest.tracks.reduce((a, b) => (b.durationSeconds > a.durationSeconds ? b : a));
    const needSeconds = (opts.reps + 1) * hop + extractor.windowSeconds + 2 * extractor.contextSeconds;
    const pcm = await decodeFile(join(opts.music, longest.path), { sampleRate: extractor.sampleRate, durationSeconds: Math.ceil(needSeconds) });
    const windows = extractor.windows(pcm).vectors;
    if (windows.length === 0) throw new Error(`${longest.path}: no feature windows`);
    const batches = Array.from({ length: opts.reps + 1 }, (_, q) => hypothesisSlices(windows[q % windows.length], manifest.dim));
    const queries = batches.map((b) => {
      const enc = client.encryptWindows(b);
      if (enc.ciphertexts.length !== 1) throw new Error(`a window's ${b.length} vectors made ${enc.ciphertexts.length} queries`);
      return enc.ciphertexts[0];
    });
    const { timed, agreement, queryBytes, resultBytesPerQuery } = await timeAndCheck(queries, batches, (query) => engine.score(keys, query), (r, n) => client.decryptScores([r], n), model, opts.reps);
    const queriesPerAudioSecond = 1 / hop;
    const serverMsPerAudioSecond = timed.cpuMs * queriesPerAudioSecond;
    opts.log(`timing (LWE): ${round(timed.cpuMs, 2)} CPU ms per query (${timed.runs} runs, ${batches[0].length} vectors each), ${round(serverMsPerAudioSecond, 3)} ms per audio s`);
    return {
      layout: `LWE ${C}×${manifest.dim}, ${batches[0].length} vectors per query (a monitor's window: ${live})`,
      windowsPerCiphertext: clients.windowsPerQuery,
      windowsPerQuery: 1,
      ...perAudioSecond(timed, queriesPerAudioSecond, queryBytes, resultBytesPerQuery, 2),
      keyBytesPerSession: client.publicMaterial().byteLength,
      hintBytes: (C * manifest.lwe!.n + C) * 4,
      heArgmaxAgree: agreement,
      track: longest.path,
      timedQueries: timed.runs,
      seconds: round((now() - t0) / 1000, 1),
    };
  } finally {
    await engine.close();
  }
}
