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
import { createExtractor } from '../pipeline/features/registry.js';
import { ClientSession } from '../pipeline/he/client/index.js';
import { ScoringEngine } from '../pipeline/he/server/index.js';
import { loadManifest, loadModel } from '../pipeline/model/catalog-store.js';
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

export async function measureCatalogCost(opts: { catalogDir: string; music: string; reps: number; log: (s: string) => void }): Promise<FrontCost> {
  const t0 = now();
  const manifest = await loadManifest(opts.catalogDir);
  const model = await loadModel(opts.catalogDir, manifest);
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

    const results: Uint8Array[][] = [await engine.score(keys, queries[0])]; // warm-up: JIT, SEAL pools, isolated parsers
    let q = 1;
    const timed = await timeLoop(async () => { results.push(await engine.score(keys, queries[1 + ((q++ - 1) % opts.reps)])); }, { minRuns: opts.reps, minWallMs: 1000 });

    // CKKS is approximate: the decrypted argmax must equal the clear one (checked on the first reps + 1 queries).
    let agree = 0;
    let checked = 0;
    const ref = new Float32Array(C);
    for (let i = 0; i < batches.length; i++) {
      const scores = await client.decryptScores([results[i]], batches[i].length);
      batches[i].forEach((x, w) => {
        matvec(model, x, ref);
        checked++;
        if (argmax(scores[w]) === argmax(ref)) agree++;
      });
    }

    const queryBytes = Math.round(mean(queries.map((b) => b.byteLength)));
    const resultBytesPerQuery = Math.round(mean(results.map((r) => r.reduce((s, b) => s + b.byteLength, 0))));
    const serverMsPerAudioSecond = timed.cpuMs * queriesPerAudioSecond;
    const L = client.layout;
    opts.log(`timing: ${round(timed.cpuMs, 1)} CPU ms per query (${timed.runs} runs, ${windowsPerQuery} of ≤ ${B} windows each), ${round(serverMsPerAudioSecond, 2)} ms per audio s`);
    return {
      layout: `${L.mode} B=${B} out=${L.outputCiphertexts} (${C}×${manifest.dim}, N=${manifest.he.polyModulusDegree})`,
      windowsPerCiphertext: B,
      windowsPerQuery,
      queriesPerAudioSecond: round(queriesPerAudioSecond, 4),
      serverMsPerQuery: round(timed.cpuMs, 1),
      serverWallMsPerQuery: round(timed.wallMs, 1),
      serverMsPerAudioSecond: round(serverMsPerAudioSecond, 2),
      streamsPerCore: round(1000 / serverMsPerAudioSecond, 1),
      queryBytes,
      resultBytesPerQuery,
      bytesPerAudioSecond: Math.round((queryBytes + resultBytesPerQuery) * queriesPerAudioSecond),
      keyBytesPerSession,
      heArgmaxAgree: `${agree}/${checked}`,
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
