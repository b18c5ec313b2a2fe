/**
 * Scenario 2: what the client pays per second of audio on a real track: decode (ffmpeg, wall time: it
 * runs in a child process), features (the landmark and mfcc-sum extractors, CPU ms), encrypt and decrypt
 * (CPU ms, at C classes), plus the one-off session keys. Queries pack min(B, windows in 15 s) windows,
 * as in scenario 1; the results to decrypt come from a ScoringEngine with a random model of the shape.
 */
import { basename } from 'node:path';
import { decodeFile } from '../connectors/ffmpeg.js';
import { createExtractor, PIPELINE_SAMPLE_RATE } from '../pipeline/features/registry.js';
import { ClientSession } from '../pipeline/he/client/index.js';
import { ScoringEngine } from '../pipeline/he/server/index.js';
import type { CatalogManifest, FeatureSpec } from '../schemas/catalog.js';
import { LandmarkParams } from '../schemas/feature-landmark.js';
import { mfccSumDim, MfccSumParams } from '../schemas/feature-mfcc.js';
import type { HeParams } from '../schemas/he.js';
import { heParamsFor } from '../pipeline/model/enroll.js';
import { randomModel } from './scoring-cost.js';
import { cpuMs, mdTable, median, now, round, timeLoop } from './util.js';

export interface ClientRow {
  kind: string;
  C: number;
  d: number;
  audioSeconds: number;
  windows: number;
  queries: number;
  decodeMsPerS: number;
  featuresMsPerS: number;
  encryptMsPerS: number;
  decryptMsPerS: number;
  totalMsPerS: number;
  realtimeFactor: number;
  keygenMs: number;
  keyBytes: number;
  queryBytes: number;
  resultBytes: number;
}

/** The extractor a catalogue of this feature spec would give its clients (only `feature` is read). */
function extractorOf(feature: FeatureSpec) {
  return createExtractor({ feature } as CatalogManifest);
}

async function clientCase(params: HeParams, feature: FeatureSpec, pcm: Float32Array, decodeMs: number, C: number): Promise<ClientRow> {
  const seconds = pcm.length / PIPELINE_SAMPLE_RATE;
  const extractor = extractorOf(feature);
  let c0 = cpuMs();
  const { vectors, dim } = extractor.windows(pcm);
  const featuresMs = cpuMs() - c0;

  c0 = cpuMs();
  const client = await ClientSession.create(params, { classes: C, dim });
  const keyBytes = client.publicMaterial().byteLength;
  const keygenMs = cpuMs() - c0;
  const engine = await ScoringEngine.create(params, randomModel(C, dim, C + dim));
  const keys = await engine.loadSessionKeys(client.publicMaterial());
  try {
    const perQuery = Math.min(client.layout.windowsPerCiphertext, Math.round(15 / extractor.hopSeconds));
    const batches: Float32Array[][] = [];
    for (let i = 0; i < vectors.length; i += perQuery) batches.push(vectors.slice(i, i + perQuery));
    let queries: Uint8Array[] = [];
    const encrypt = await timeLoop(() => { queries = batches.flatMap((b) => client.encryptWindows(b).ciphertexts); }, { minWallMs: 200 });
    const encryptMs = encrypt.cpuMs;
    // Every result costs the same to decrypt: time one (repeatedly, after a warm-up) and scale.
    const result = await engine.score(keys, queries[0]);
    await client.decryptScores([result], batches[0].length);
    const decrypt = await timeLoop(() => client.decryptScores([result], batches[0].length), { minRuns: 5, minWallMs: 200 });
    const decryptMs = decrypt.cpuMs * queries.length;
    const resultBytes = result.reduce((a, b) => a + b.byteLength, 0);
    const perS = (ms: number) => round(ms / seconds, 2);
    const totalMs = decodeMs + featuresMs + encryptMs + decryptMs;
    return {
      kind: feature.kind, C, d: dim, audioSeconds: round(seconds), windows: vectors.length, queries: queries.length,
      decodeMsPerS: perS(decodeMs), featuresMsPerS: perS(featuresMs), encryptMsPerS: perS(encryptMs), decryptMsPerS: perS(decryptMs),
      totalMsPerS: perS(totalMs), realtimeFactor: round((1000 * seconds) / totalMs, 0),
      keygenMs: round(keygenMs, 0), keyBytes,
      queryBytes: Math.round(median(queries.map((q) => q.byteLength))), resultBytes,
    };
  } finally {
    keys.dispose();
    engine.dispose();
    client.dispose();
  }
}

export async function runClientCost(opts: { track: string; maxSeconds?: number; C: number; decodeReps: number; log: (s: string) => void }): Promise<{ rows: ClientRow[]; markdown: string }> {
  const decodeMs: number[] = [];
  let pcm: Float32Array = new Float32Array(0);
  for (let i = 0; i < opts.decodeReps; i++) {
    const t = now();
    pcm = await decodeFile(opts.track, { sampleRate: PIPELINE_SAMPLE_RATE, durationSeconds: opts.maxSeconds });
    decodeMs.push(now() - t);
  }
  const landmark = LandmarkParams.parse({});
  const features: FeatureSpec[] = [
    { kind: 'landmark', params: landmark, idf: new Array<number>(landmark.d).fill(1) },
    { kind: 'mfcc-sum', params: MfccSumParams.parse({ summary: 'sum' }) },
  ];
  const rows: ClientRow[] = [];
  for (const f of features) {
    const row = await clientCase(heParamsFor(f.kind, f.params.hopSeconds, f.kind === 'landmark' ? f.params.d : mfccSumDim(f.params)), f, pcm, median(decodeMs), opts.C);
    opts.log(`client ${f.kind}: ${row.totalMsPerS} ms per audio s`);
    rows.push(row);
  }
  const kib = (b: number) => round(b / 1024, 0);
  const markdown = [
    '## 2. Client cost per second of audio',
    '',
    `Track \`${basename(opts.track)}\` (${rows[0]?.audioSeconds} s), C = ${opts.C}. Decode is ffmpeg wall time (median of ${opts.decodeReps}); features, encrypt and decrypt are main-thread CPU ms (encrypt and decrypt timed over repeated runs). ` +
      'Keys are generated once per session (Galois keys for the layout\'s rotation steps, seeded + zstd).',
    '',
    mdTable(
      ['kind', 'd', 'windows / queries', 'decode ms/s', 'features ms/s', 'encrypt ms/s', 'decrypt ms/s', 'total ms/s', '× real time', 'query KiB', 'result KiB / query', 'keygen ms', 'keys KiB (one-off)'],
      rows.map((r) => [r.kind, r.d, `${r.windows} / ${r.queries}`, r.decodeMsPerS, r.featuresMsPerS, r.encryptMsPerS, r.decryptMsPerS, r.totalMsPerS, r.realtimeFactor, kib(r.queryBytes), kib(r.resultBytes), r.keygenMs, kib(r.keyBytes)]),
    ),
  ].join('\n');
  return { rows, markdown };
}
