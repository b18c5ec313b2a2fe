/**
 * Oracle tests of LWE scoring (pipeline/he/lwe.ts): the client's decryption of the server's W_q·c equals
 * the clear W·x + b within a stated tolerance, with the same argmax, on real landmark windows of an
 * enrolled catalogue and on random dense models with a bias; a batch of queries scores exactly as the
 * queries one by one; a query's secret never serialises.
 *
 * Tolerance: |decrypted − clear| ≤ 5e-3 × the window's clear score range, as for the N = 4096 CKKS sets.
 * Measured ≈ 5e-4 of the range: σ·S⁻¹ of LWE error and 10-bit weight quantisation, balanced.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { openScoringClients } from '../../pipeline/he/client/index.js';
import { LweClient } from '../../pipeline/he/client/lwe-session.js';
import { catalogueEngine } from '../../pipeline/he/server/index.js';
import type { CatalogManifest } from '../../schemas/catalog.js';
import { LweScoringEngine } from '../../pipeline/he/server/lwe-engine.js';
import { LweScanPool } from '../../pipeline/he/server/lwe-scan-pool.js';
import { mulMod32, SimdScan, simdAvailable } from '../../pipeline/he/lwe-simd.js';
import { matmulMod32 } from '../../pipeline/he/lwe.js';
import { hypothesisSlices, type LinearModel } from '../../pipeline/features/types.js';
import { createExtractor } from '../../pipeline/features/registry.js';
import { loadManifest, loadModel } from '../../pipeline/model/catalog-store.js';
import { BlindearError } from '../../pipeline/errors.js';
import { testCatalog } from '../helpers/catalog.js';
import { MUSIC_DIR, tracksPerPackage } from '../helpers/music.js';
import { argmax, clearScores, compare, randomModel, randomWindows, topGap } from './helpers.js';

const TOL = 5e-3;

function check(model: LinearModel, windows: Float32Array[]): number {
  const engine = LweScoringEngine.create(model);
  const client = new LweClient(engine.setup, engine.hint(), model.bias);
  const queries = windows.map((x) => client.encrypt(x));
  const results = engine.scoreBatch(queries.map((q) => q.bytes));
  let worst = 0;
  windows.forEach((x, w) => {
    const scores = client.decrypt(queries[w], results[w]);
    const ref = clearScores(model, x);
    const { maxAbsError, range } = compare(scores, ref);
    worst = Math.max(worst, maxAbsError / range);
    if (topGap(ref) > 2 * TOL * range) expect(argmax(scores), `window ${w}`).toBe(argmax(ref));
  });
  expect(worst).toBeLessThan(TOL);
  return worst;
}

describe('LWE scoring', () => {
  it('dense model with a bias, unnormalised windows (C=300, d=33)', () => {
    check(randomModel(300, 33, 301), randomWindows(20, 33, 302));
  });

  it('a batch scores exactly as single queries; bad lengths are coded errors; the secret does not serialise', () => {
    const model = randomModel(50, 64, 303);
    const engine = LweScoringEngine.create(model);
    const client = new LweClient(engine.setup, engine.hint(), model.bias);
    const qs = randomWindows(3, 64, 304).map((x) => client.encrypt(x));
    const batch = engine.scoreBatch(qs.map((q) => q.bytes));
    qs.forEach((q, i) => expect(Array.from(engine.scoreWords(q.bytes))).toEqual(Array.from(batch[i])));
    expect(qs[0].bytes.byteLength).toBe(engine.queryBytes);
    expect(batch[0].byteLength).toBe(engine.resultBytes);
    expect(() => engine.scoreWords(new Uint8Array(10))).toThrow(BlindearError);
    expect(JSON.stringify(qs[0])).toBe(JSON.stringify({ bytes: 256 }));
  });

  it('the WASM SIMD kernel gives the plain-JS kernel\'s words (d = 33: rows padded to 8)', () => {
    const model = randomModel(70, 33, 305);
    const simd = LweScoringEngine.create(model, { kernel: 'simd' });
    const js = LweScoringEngine.create(model, { kernel: 'js', seed: simd.setup.seed });
    expect([simd.kernel, js.kernel]).toEqual(['simd', 'js']);
    expect(Array.from(simd.hint())).toEqual(Array.from(js.hint()));
    const client = new LweClient(simd.setup, simd.hint(), model.bias);
    const qs = randomWindows(5, 33, 306).map((x) => client.encrypt(x).bytes);
    const a = simd.scoreBatch(qs);
    const b = js.scoreBatch(qs);
    a.forEach((r, i) => expect(Array.from(r)).toEqual(Array.from(b[i])));
  });

  it('a client\'s 32-bit products M·s mod 2^32 (A·s, H·s) equal exact integer arithmetic, whole and by row range', () => {
    // n = 37: rows padded to 8 words inside the kernel; full 32-bit words, so every product overflows.
    const rows = 23;
    const n = 37;
    const Q = 3;
    let state = 0x9e3779b9;
    const word = (): number => (state = (Math.imul(state, 1664525) + 1013904223) | 0);
    const m = Int32Array.from({ length: rows * n }, word);
    const s = Int32Array.from({ length: Q * n }, word);
    const exact = (r: number, q: number): number => {
      let acc = 0n;
      for (let j = 0; j < n; j++) acc += BigInt(m[r * n + j]) * BigInt(s[q * n + j]);
      return Number(BigInt.asIntN(32, acc));
    };
    expect(simdAvailable).toBe(true);
    const whole = new Int32Array(Q * rows);
    mulMod32(m, n, s, Q, whole);
    for (let q = 0; q < Q; q++) for (let r = 0; r < rows; r++) expect(whole[q * rows + r], `row ${r} vector ${q}`).toBe(exact(r, q));
    // The plain-JS fallback (runtimes without WASM SIMD) gives the same words.
    const js = new Int32Array(Q * rows);
    matmulMod32(m, rows, n, s, Q, js);
    expect(Array.from(js)).toEqual(Array.from(whole));
    const part = new Int32Array(Q * 5);
    mulMod32(m, n, s, Q, part, 9, 5);
    for (let q = 0; q < Q; q++) for (let r = 0; r < 5; r++) expect(part[q * 5 + r]).toBe(exact(9 + r, q));
    expect(() => mulMod32(m, n, s, Q, part, 20, 5)).toThrow(RangeError);
  });

  it('a matrix held in several WASM banks multiplies as one: whole, and row ranges across bank edges, 16- and 32-bit', () => {
    // d = 13 (rows padded to 16 words); banks of 5 rows (16-bit: 160 bytes each) or 3 rows (32-bit: 192 bytes).
    const C = 17;
    const d = 13;
    const Q = 2;
    let state = 0x1b873593;
    const word = (): number => (state = (Math.imul(state, 1664525) + 1013904223) | 0);
    const x = Int32Array.from({ length: Q * d }, word);
    const xCopy = Int32Array.from(x);
    for (const [m, bankBytes, banks] of [[Int16Array.from({ length: C * d }, () => word() % 1000), 160, 4], [Int32Array.from({ length: C * d }, word), 192, 6]] as const) {
      const exact = (r: number, q: number): number => {
        let acc = 0n;
        for (let k = 0; k < d; k++) acc += BigInt(m[r * d + k]) * BigInt(x[q * d + k]);
        return Number(BigInt.asIntN(32, acc));
      };
      const scan = new SimdScan(m, C, d, bankBytes);
      expect(scan.banks).toBe(banks);
      for (const [first, rows] of [[0, C], [4, 7], [5, 5], [16, 1], [2, 0]]) {
        const out = new Int32Array(Q * rows);
        scan.matmul(x, Q, out, first, rows);
        for (let q = 0; q < Q; q++) for (let r = 0; r < rows; r++) expect(out[q * rows + r], `${m.constructor.name} rows ${first}+${rows}: row ${r} query ${q}`).toBe(exact(first + r, q));
      }
    }
    // The caller's queries are left as they were.
    expect(Array.from(x)).toEqual(Array.from(xCopy));
  });

  it('the scan split by rows over worker threads gives exact integer arithmetic, both kernels, blocks of queries side by side', async () => {
    // C = 11 over 3 threads: uneven shares (3, 4, 4); d = 19: rows padded inside the SIMD kernel.
    const C = 11;
    const d = 19;
    let state = 0x2545f491;
    const word = (): number => (state = (Math.imul(state, 1664525) + 1013904223) | 0);
    const w = new Int16Array(new SharedArrayBuffer(C * d * 2));
    for (let i = 0; i < w.length; i++) w[i] = (word() % 1023);
    const exact = (x: Int32Array, q: number, r: number): number => {
      let acc = 0n;
      for (let k = 0; k < d; k++) acc += BigInt(w[r * d + k]) * BigInt(x[q * d + k]);
      return Number(BigInt.asIntN(32, acc));
    };
    for (const kernel of ['simd', 'js'] as const) {
      const pool = await LweScanPool.start(w, C, d, 3, kernel);
      try {
        expect(pool.size).toBe(3);
        const blocks = [1, 4, 2].map((Q) => ({ Q, x: Int32Array.from({ length: Q * d }, word) }));
        const outs = await Promise.all(blocks.map((b) => pool.matmul(b.x, b.Q)));
        blocks.forEach((b, i) => {
          expect(outs[i].length).toBe(b.Q * C);
          for (let q = 0; q < b.Q; q++) for (let r = 0; r < C; r++) expect(outs[i][q * C + r], `${kernel} block ${i} query ${q} row ${r}`).toBe(exact(b.x, q, r));
        });
        await expect(pool.matmul(new Int32Array(d + 1), 1)).rejects.toThrow(RangeError);
      } finally {
        await pool.close();
      }
      await expect(pool.matmul(new Int32Array(d), 1)).rejects.toThrow(/after close/);
    }
    // More threads than rows: one row each, on a view into the shared weights.
    const small = await LweScanPool.start(w.subarray(3 * d, 5 * d), 2, d, 4, 'simd');
    try {
      expect(small.size).toBe(2);
      const x = Int32Array.from({ length: d }, word);
      expect(Array.from(await small.matmul(x, 1))).toEqual([exact(x, 0, 3), exact(x, 0, 4)]);
    } finally {
      await small.close();
    }
    await expect(LweScanPool.start(new Int16Array(C * d), C, d, 2, 'simd')).rejects.toThrow(/SharedArrayBuffer/);
  });

  describe('real landmark windows of an enrolled catalogue', () => {
    let model: LinearModel;
    let windows: Float32Array[];

    beforeAll(async () => {
      const tracks = tracksPerPackage(4);
      const cat = await testCatalog('landmark', tracks);
      const manifest = await loadManifest(cat.dir);
      model = await loadModel(cat.dir, manifest);
      const extractor = createExtractor(manifest);
      windows = [];
      for (const track of tracks.slice(0, 6)) {
        const pcm = await decodeFile(join(MUSIC_DIR, track), { sampleRate: extractor.sampleRate });
        const at = Math.floor(pcm.length / 3);
        // Each window's speed hypotheses are vectors of their own to the scheme.
      windows.push(...extractor.windows(pcm.subarray(at, at + 40 * extractor.sampleRate)).vectors.flatMap((v) => hypothesisSlices(v, extractor.dim)));
      }
    });

    it('decrypts to the clear scores, with the clear argmax', () => {
      expect(windows.length).toBeGreaterThan(6);
      check(model, windows);
    });
  });
});

describe('an LWE catalogue as the service scores it (enrol --scheme lwe)', () => {
  let dir: string;
  let manifest: CatalogManifest;
  let model: LinearModel;
  let windows: Float32Array[];

  beforeAll(async () => {
    const tracks = tracksPerPackage(4);
    dir = (await testCatalog('landmark', tracks, {}, 'lwe')).dir;
    manifest = await loadManifest(dir);
    model = await loadModel(dir, manifest);
    const extractor = createExtractor(manifest);
    windows = [];
    for (const track of tracks.slice(0, 4)) {
      const pcm = await decodeFile(join(MUSIC_DIR, track), { sampleRate: extractor.sampleRate });
      const at = Math.floor(pcm.length / 2);
      // Each window's speed hypotheses are vectors of their own to the scheme.
      windows.push(...extractor.windows(pcm.subarray(at, at + 40 * extractor.sampleRate)).vectors.flatMap((v) => hypothesisSlices(v, extractor.dim)));
    }
  });

  it('queries of several windows decrypt to the clear scores on another instance restored from the sealed seed', async () => {
    expect(manifest.scheme).toBe('lwe');
    const clients = await openScoringClients(dir, manifest);
    const engine = await catalogueEngine(manifest, model);
    expect(engine.paramsId).toBe(clients.paramsId);
    const keys = await engine.loadSessionKeys((await clients.create()).publicMaterial());
    const a = await clients.create();
    let sealed = new Uint8Array(0);
    a.sealSecretKey((plain) => { sealed = Uint8Array.from(plain); });
    const b = await clients.restore(() => Uint8Array.from(sealed));
    const enc = a.encryptWindows(windows);
    expect(enc.windowsPerCiphertext.reduce((x, y) => x + y, 0)).toBe(windows.length);
    expect(Math.max(...enc.windowsPerCiphertext)).toBeLessThanOrEqual(clients.windowsPerQuery);
    const results = await Promise.all(enc.ciphertexts.map((ct) => engine.score(keys, ct)));
    const scores = await b.decryptScores(results, windows.length);
    let worst = 0;
    windows.forEach((x, w) => {
      const ref = clearScores(model, x);
      const { maxAbsError, range } = compare(scores[w], ref);
      worst = Math.max(worst, maxAbsError / range);
      if (topGap(ref) > 2 * TOL * range) expect(argmax(scores[w]), `window ${w}`).toBe(argmax(ref));
    });
    expect(worst).toBeLessThan(TOL);
    // A session with another seed cannot read them: its scores are noise, not the clear ones.
    const other = await (await clients.create()).decryptScores(results, windows.length);
    const wrong = compare(other[0], clearScores(model, windows[0]));
    expect(wrong.maxAbsError).toBeGreaterThan(wrong.range);
  });

  it('a scorer on two threads answers every query with the calling-thread scorer\'s exact words, and decrypts to the clear argmax', async () => {
    const clients = await openScoringClients(dir, manifest);
    const here = await catalogueEngine(manifest, model);
    const threaded = await catalogueEngine(manifest, model, { threads: 2 });
    try {
      expect([here.threads, threaded.threads]).toEqual([0, 2]);
      expect(threaded.paramsId).toBe(here.paramsId);
      const client = await clients.create();
      const keys = await threaded.loadSessionKeys(client.publicMaterial());
      const enc = client.encryptWindows(windows);
      // Several records in flight at once, as a scorer consuming two partitions sends them.
      const [a, b] = await Promise.all([here, threaded].map((e) => Promise.all(enc.ciphertexts.map((ct) => e.score(keys, ct)))));
      a.forEach((parts, i) => expect(Buffer.from(b[i][0]).equals(Buffer.from(parts[0])), `record ${i}`).toBe(true));
      const scores = await client.decryptScores(b, windows.length);
      windows.forEach((x, w) => {
        const ref = clearScores(model, x);
        if (topGap(ref) > 2 * TOL * (Math.max(...ref) - Math.min(...ref))) expect(argmax(scores[w]), `window ${w}`).toBe(argmax(ref));
      });
    } finally {
      await threaded.close();
    }
    await expect(threaded.score(await here.loadSessionKeys((await clients.create()).publicMaterial()), new Uint8Array(16 + 4 * manifest.dim))).rejects.toThrow(/after close/);
  });

  it('refuses what does not fit: foreign keys records, params ids, query and result shapes, long windows, a corrupted hint', async () => {
    const clients = await openScoringClients(dir, manifest);
    const engine = await catalogueEngine(manifest, model);
    const code = async (p: Promise<unknown> | (() => unknown)): Promise<string | undefined> => {
      try { await (typeof p === 'function' ? p() : p); } catch (err) { return (err as BlindearError).code ?? (err as Error).name; }
      return undefined;
    };
    expect(await code(engine.loadSessionKeys(new Uint8Array(100)))).toBe('BLINDEAR_ERR_HE_KEYS_INVALID');
    const keys = await engine.loadSessionKeys((await clients.create()).publicMaterial());
    expect(await code(() => engine.checkParamsId('ab'.repeat(32)))).toBe('BLINDEAR_ERR_HE_PARAMS_MISMATCH');
    expect(await code(engine.score(keys, new Uint8Array(16 + 4 * manifest.dim - 4)))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    expect(await code(engine.score(keys, new Uint8Array(16 + 4 * manifest.dim * (clients.windowsPerQuery + 1))))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    const client = await clients.create();
    const [ct] = client.encryptWindows([windows[0]]).ciphertexts;
    const [part] = await engine.score(keys, ct);
    expect(await code(client.decryptScores([[part.subarray(0, part.length - 4)]], 1))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    expect(await code(client.decryptScores([[part, part]], 1))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    expect(await code(() => client.encryptWindows([windows[0].map((v) => v * 2)]))).toBe('RangeError');
    expect(JSON.stringify(client)).toBe(JSON.stringify({ paramsId: clients.paramsId }));
    const copy = mkdtempSync(join(tmpdir(), 'blindear-lwe-'));
    for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(copy, f));
    const hint = readFileSync(join(copy, 'lwe-hint.bin'));
    hint[1000] ^= 1;
    writeFileSync(join(copy, 'lwe-hint.bin'), hint);
    expect(await code(openScoringClients(copy, manifest))).toBe('BLINDEAR_ERR_CATALOG_INVALID');
    rmSync(copy, { recursive: true, force: true });
  });
});
