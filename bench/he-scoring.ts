/**
 * Encrypted scoring, end to end per shape (C × d) and parameter set: server ms per query ciphertext and
 * per window, client encrypt/decrypt ms, query/result/key bytes, and the accuracy of the decrypted
 * scores (max error relative to the score range, argmax agreement with the clear W·x + b).
 *
 *   npx tsc -p . && node dist/bench/he-scoring.js [--reps 3] [--sets all|0,2] [--shapes 64x20,2000x256] [--ops]
 *
 * `--ops` first prints the CPU cost of single SEAL operations per parameter set (what layout.ts's
 * cost weights are derived from).
 *
 * One core, one SEAL instance (the scoring worker's situation). Server cost is reported as CPU time of
 * the process (user + system) around score(), with wall time beside it: on a shared machine wall time
 * mostly measures the neighbours. Prints one JSON line per case, then a table and a recommendation per
 * shape: the fastest parameter set whose argmax matched on every window.
 */
import { seededRandom } from '../pipeline/model/calibrate.js';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { ClientSession } from '../pipeline/he/client/index.js';
import { ScoringEngine } from '../pipeline/he/server/index.js';
import { operationCounts } from '../pipeline/he/layout.js';
import { createContext, getSeal, withScope } from '../pipeline/he/seal.js';
import type { LinearModel } from '../pipeline/features/types.js';
import { HeParams, scoreHeadroomBits } from '../schemas/he.js';

const now = () => performance.now();
/** CPU ms of this process (user + system): on a shared, loaded machine it tracks the single-core cost better than wall time. */
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const rng = seededRandom;

/**
 * Test data per shape. d ≤ 32: dense model, windows are noisy rows (MFCC-like use: one class wins
 * clearly, others close behind). d > 32: sparse non-negative L2-normalised histograms (landmark
 * buckets), windows are partial copies of a row plus spurious buckets.
 */
function makeData(C: number, d: number, nWindows: number, seed: number): { model: LinearModel; windows: Float32Array[] } {
  const r = rng(seed);
  const weights = new Float32Array(C * d);
  const bias = new Float32Array(C);
  const sparse = d > 32;
  for (let c = 0; c < C; c++) {
    let norm = 0;
    for (let k = 0; k < d; k++) {
      const v = sparse ? (r() < 0.03 ? Math.sqrt(1 + Math.floor(r() * 6)) : 0) : 2 * r() - 1;
      weights[c * d + k] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < d; k++) weights[c * d + k] /= norm;
    bias[c] = sparse ? 0 : 0.05 * (2 * r() - 1);
  }
  const windows = Array.from({ length: nWindows }, () => {
    const c = Math.floor(r() * C);
    const x = new Float32Array(d);
    let norm = 0;
    for (let k = 0; k < d; k++) {
      let v = sparse ? (r() < 0.6 ? weights[c * d + k] : 0) + (r() < 0.015 ? 0.1 : 0) : weights[c * d + k] + 0.5 * (2 * r() - 1);
      x[k] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < d; k++) x[k] /= norm;
    return x;
  });
  return { model: { classes: C, dim: d, weights, bias }, windows };
}

function clear(m: LinearModel, x: Float32Array): Float64Array {
  const s = new Float64Array(m.classes);
  for (let c = 0; c < m.classes; c++) {
    let acc = m.bias[c];
    for (let k = 0; k < m.dim; k++) acc += m.weights[c * m.dim + k] * x[k];
    s[c] = acc;
  }
  return s;
}

const argmax = (v: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[b]) b = i;
  return b;
};
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const round = (v: number, digits = 1) => Number(v.toFixed(digits));

const PARAM_SETS: Record<string, HeParams> = {
  'N8192/q[60,40,60]/x2^40,w2^40/rescale': HeParams.parse({}),
  'N8192/q[60,60]/x2^30,w2^20': HeParams.parse({ coeffModulusBits: [60, 60], scaleBits: 30, weightScaleBits: 20 }),
  'N4096/q[40,30,39]/x2^30,w2^30/rescale': HeParams.parse({ polyModulusDegree: 4096, coeffModulusBits: [40, 30, 39], scaleBits: 30, weightScaleBits: 30 }),
  'N4096/q[54,55]/x2^25,w2^20': HeParams.parse({ polyModulusDegree: 4096, coeffModulusBits: [54, 55], scaleBits: 25, weightScaleBits: 20 }),
  'N4096/q[54,55]/x2^30,w2^20': HeParams.parse({ polyModulusDegree: 4096, coeffModulusBits: [54, 55], scaleBits: 30, weightScaleBits: 20 }),
  'N4096/q[40,30,39]/x2^30,w2^30/rescale/B=1': HeParams.parse({ polyModulusDegree: 4096, coeffModulusBits: [40, 30, 39], scaleBits: 30, weightScaleBits: 30, maxWindowsPerCiphertext: 1 }),
  'N4096/q[54,55]/x2^25,w2^20/B=1': HeParams.parse({ polyModulusDegree: 4096, coeffModulusBits: [54, 55], scaleBits: 25, weightScaleBits: 20, maxWindowsPerCiphertext: 1 }),
};

const SHAPES: [number, number][] = [
  [64, 20], [200, 20], [1000, 20], [10000, 20], [2000, 256], [2000, 1024], [4096, 512],
];

interface Row {
  set: string;
  C: number;
  d: number;
  mode: string;
  windowsPerCt: number;
  outputCts: number;
  babySteps: number;
  giantSteps: number;
  multiplyPlain: number;
  rotations: number;
  engineBuildMs: number;
  modelMiB: number;
  keygenMs: number;
  keyBytes: number;
  clientEncryptMsPerCt: number;
  serverMsPerCt: number;
  serverMsPerCtMin: number;
  serverCpuMsPerCt: number;
  serverMsPerWindow: number;
  clientDecryptMsPerCt: number;
  queryBytesPerCt: number;
  resultBytesPerCt: number;
  upBytesPerWindow: number;
  downBytesPerWindow: number;
  windowsChecked: number;
  argmaxAgree: number;
  maxRelError: number;
  headroomBits: number;
}

async function runCase(set: string, params: HeParams, C: number, d: number, reps: number): Promise<Row> {
  let t = now();
  const probe = makeData(C, d, 1, C * 7 + d);
  const engine = await ScoringEngine.create(params, probe.model);
  const engineBuildMs = now() - t;
  const L = engine.layout;
  const nWindows = Math.max(reps, 2) * L.windowsPerCiphertext;
  const { model, windows } = makeData(C, d, nWindows, C * 7 + d); // same model (same seed), more windows
  const client = await ClientSession.create(params, { classes: C, dim: d });
  try {
    t = now();
    const pm = client.publicMaterial();
    const keygenMs = now() - t;
    const keys = await engine.loadSessionKeys(pm);
    try {
      const B = L.windowsPerCiphertext;
      const enc: number[] = [];
      const serve: number[] = [];
      const serveCpu: number[] = [];
      const dec: number[] = [];
      const qBytes: number[] = [];
      const rBytes: number[] = [];
      let agree = 0;
      let maxRel = 0;
      // Warm-up: JIT, SEAL memory pools, and the client's isolated result parser (made on first decrypt).
      const warm = windows.slice(0, B);
      await client.decryptScores([await engine.score(keys, client.encryptWindows(warm).ciphertexts[0])], warm.length);
      for (let q = 0; q * B < windows.length; q++) {
        const batch = windows.slice(q * B, (q + 1) * B);
        t = now();
        const { ciphertexts } = client.encryptWindows(batch);
        enc.push(now() - t);
        qBytes.push(ciphertexts[0].byteLength);
        t = now();
        const c0 = cpuNow();
        const out = await engine.score(keys, ciphertexts[0]);
        serveCpu.push(cpuNow() - c0);
        serve.push(now() - t);
        rBytes.push(out.reduce((a, b) => a + b.byteLength, 0));
        t = now();
        const scores = await client.decryptScores([out], batch.length);
        dec.push(now() - t);
        batch.forEach((x, w) => {
          const ref = clear(model, x);
          let err = 0;
          let lo = Infinity;
          let hi = -Infinity;
          ref.forEach((v, c) => {
            err = Math.max(err, Math.abs(scores[w][c] - v));
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
          });
          maxRel = Math.max(maxRel, err / (hi - lo));
          if (argmax(scores[w]) === argmax(ref)) agree++;
        });
      }
      const ops = operationCounts(L);
      const serverMsPerCt = median(serve);
      const serverCpuMsPerCt = median(serveCpu);
      return {
        set, C, d, mode: L.mode, windowsPerCt: B, outputCts: L.outputCiphertexts, babySteps: L.babySteps, giantSteps: L.giantSteps,
        multiplyPlain: engine.footprint.plaintexts, rotations: ops.rotations,
        engineBuildMs: round(engineBuildMs, 0), modelMiB: round(engine.footprint.bytes / 2 ** 20, 1),
        keygenMs: round(keygenMs, 0), keyBytes: pm.byteLength,
        clientEncryptMsPerCt: round(median(enc), 2), serverMsPerCt: round(serverMsPerCt), serverMsPerCtMin: round(Math.min(...serve)),
        serverCpuMsPerCt: round(serverCpuMsPerCt), serverMsPerWindow: round(serverCpuMsPerCt / B, 2), clientDecryptMsPerCt: round(median(dec), 2),
        queryBytesPerCt: median(qBytes), resultBytesPerCt: median(rBytes),
        upBytesPerWindow: Math.round(median(qBytes) / B), downBytesPerWindow: Math.round(median(rBytes) / B),
        windowsChecked: windows.length, argmaxAgree: agree, maxRelError: Number(maxRel.toPrecision(2)), headroomBits: scoreHeadroomBits(params),
      };
    } finally {
      keys.dispose();
    }
  } finally {
    client.dispose();
    engine.dispose();
  }
}

/** CPU ms per SEAL operation at a parameter set (median of n runs after a warm-up). */
async function opCosts(name: string, params: HeParams, n = 30): Promise<Record<string, number | string>> {
  const seal = await getSeal();
  const { context, facts } = createContext(seal, params);
  try {
    return withScope((scope) => {
      const kg = scope.track(seal.KeyGenerator(context));
      const sk = scope.track(kg.secretKey());
      const pk = scope.track(kg.createPublicKey());
      const enc = scope.track(seal.Encryptor(context, pk, sk));
      const ev = scope.track(seal.Evaluator(context));
      const ce = scope.track(seal.CKKSEncoder(context));
      const gk = scope.track(kg.createGaloisKeys(Int32Array.from([1, 16])));
      const r = rng(1);
      const v = Float64Array.from({ length: facts.slots }, () => r());
      const pt = scope.track(seal.PlainText());
      ce.encode(v, facts.inputScale, pt);
      const w = scope.track(seal.PlainText());
      ce.encode(v, facts.weightScale, w);
      const x = scope.track(seal.CipherText());
      enc.encryptSymmetric(pt, x);
      const tmp = scope.track(seal.CipherText());
      const acc = scope.track(seal.CipherText());
      ev.multiplyPlain(x, w, acc);
      const low = scope.track(seal.CipherText());
      ev.multiplyPlain(x, w, low);
      if (facts.rescale) ev.rescaleToNext(low, low);
      const time = (f: () => void): number => {
        f();
        const a: number[] = [];
        for (let i = 0; i < n; i++) {
          const c = cpuNow();
          f();
          a.push(cpuNow() - c);
        }
        return round(median(a), 3);
      };
      const out: Record<string, number | string> = { set: name };
      out.encodeMs = time(() => ce.encode(v, facts.inputScale, pt));
      out.encryptSymmetricSaveMs = time(() => withScope((s) => s.track(enc.encryptSymmetricSerializable(pt)).saveArray(seal.ComprModeType.zstd)));
      out.multiplyPlainMs = time(() => ev.multiplyPlain(x, w, tmp));
      out.multiplyPlainAddMs = time(() => {
        ev.multiplyPlain(x, w, tmp);
        ev.add(acc, tmp, acc);
      });
      out.rotateFirstLevelMs = time(() => ev.rotateVector(x, 1, gk, tmp));
      if (facts.rescale) {
        out.rescaleMs = time(() => {
          ev.multiplyPlain(x, w, tmp);
          ev.rescaleToNext(tmp, tmp);
        });
        out.rotateAfterRescaleMs = time(() => ev.rotateVector(low, 16, gk, low));
      }
      out.saveResultMs = time(() => low.saveArray(seal.ComprModeType.zstd));
      return out;
    });
  } finally {
    context.delete();
  }
}

async function main(): Promise<void> {
  const reps = Number(arg('reps', '3'));
  const setsArg = arg('sets', 'all');
  const shapesArg = arg('shapes', '');
  const sets = Object.entries(PARAM_SETS).filter((_, i) => setsArg === 'all' || (setsArg === 'default' ? i === 0 : setsArg.split(',').includes(String(i))));
  const shapes = shapesArg ? shapesArg.split(',').map((s) => s.split('x').map(Number) as [number, number]) : SHAPES;
  const require = createRequire(import.meta.url);
  const sealVersion = (require('node-seal/package.json') as { version: string }).version;
  const env = { cpu: cpus()[0]?.model, cores: availableParallelism(), node: process.version, nodeSeal: sealVersion, loadavgBefore: loadavg().map((v) => round(v, 2)), reps };
  console.log(JSON.stringify({ env }));
  if (process.argv.includes('--ops')) for (const [name, params] of sets) console.log(JSON.stringify(await opCosts(name, params)));
  const rows: Row[] = [];
  for (const [C, d] of shapes) {
    for (const [name, params] of sets) {
      const row = await runCase(name, params, C, d, reps);
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  const kib = (b: number) => `${(b / 1024).toFixed(0)}`;
  console.log('\n| C × d | parameters | layout (B win/ct, n out) | mul / rot per ct | server CPU ms/ct (wall median, min) | server CPU ms/window | client enc / dec ms per ct | query KiB | result KiB per ct | keys KiB | argmax | max rel err |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.C} × ${r.d} | ${r.set} | ${r.mode} B=${r.windowsPerCt} n=${r.outputCts} | ${r.multiplyPlain} / ${r.rotations} | ${r.serverCpuMsPerCt} (${r.serverMsPerCt}, ${r.serverMsPerCtMin}) | ${r.serverMsPerWindow} | ${r.clientEncryptMsPerCt} / ${r.clientDecryptMsPerCt} | ${kib(r.queryBytesPerCt)} | ${kib(r.resultBytesPerCt)} | ${kib(r.keyBytes)} | ${r.argmaxAgree}/${r.windowsChecked} | ${r.maxRelError} |`,
    );
  }
  console.log('\nRecommendation per shape (fastest per window with every argmax equal and max rel err < 1e-3):');
  for (const [C, d] of shapes) {
    const ok = rows.filter((r) => r.C === C && r.d === d && r.argmaxAgree === r.windowsChecked && r.maxRelError < 1e-3);
    ok.sort((a, b) => a.serverMsPerWindow - b.serverMsPerWindow);
    const best = ok[0];
    console.log(`  ${C} × ${d}: ${best ? `${best.set} (${best.serverMsPerWindow} ms/window, ${kib(best.downBytesPerWindow)} KiB down per window, headroom |score| < 2^${best.headroomBits})` : 'none passed'}`);
  }
  console.log(JSON.stringify({ loadavgAfter: loadavg().map((v) => round(v, 2)) }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
