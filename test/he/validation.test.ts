/**
 * Everything from the other trust zone is validated before use: forged, truncated, oversized and
 * wrong-parameter ciphertexts and keys are rejected with their error code, and the engine (and the
 * client) keep working afterwards. Sessions are isolated: one session's key cannot decrypt another's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientSession } from '../../pipeline/he/client/index.js';
import { ScoringEngine, type SessionKeys } from '../../pipeline/he/server/index.js';
import { createContext, getSeal, withScope } from '../../pipeline/he/seal.js';
import { maxKeyBytes, maxQueryBytes } from '../../pipeline/he/serialized.js';
import { BlindearError, type ErrorCode } from '../../pipeline/errors.js';
import { HeParams } from '../../schemas/he.js';
import { argmax, clearScores, compare, randomModel, randomWindows, rng } from './helpers.js';
import { P4, P8 } from './fixtures.js';

const model = randomModel(64, 20, 101);
const windows = randomWindows(10, 20, 102);

let engine: ScoringEngine;
let client: ClientSession;
let keys: SessionKeys;
let good: Uint8Array;

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<ErrorCode | 'none' | string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e instanceof BlindearError ? e.code : `${(e as Error).name}: ${(e as Error).message}`;
  }
  return 'none';
}

/** The engine still scores a genuine query correctly. */
async function stillWorks(): Promise<void> {
  const { ciphertexts } = client.encryptWindows(windows);
  const results = [];
  for (const q of ciphertexts) results.push(await engine.score(keys, q));
  const scores = await client.decryptScores(results, windows.length);
  windows.forEach((x, w) => expect(argmax(scores[w])).toBe(argmax(clearScores(model, x))));
}

/** Re-frames bytes with a consistent SEAL header after editing the payload. */
function withSize(b: Uint8Array): Uint8Array {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(8, BigInt(b.byteLength), true);
  return b;
}

beforeAll(async () => {
  engine = await ScoringEngine.create(P4, model);
  client = await ClientSession.create(P4, { classes: 64, dim: 20 });
  keys = await engine.loadSessionKeys(client.publicMaterial());
  good = client.encryptWindows(windows).ciphertexts[0];
});

afterAll(() => {
  keys.dispose();
  client.dispose();
  engine.dispose();
});

describe('query ciphertexts', () => {
  it('rejects truncated, garbage and oversized bytes', async () => {
    expect(await codeOf(engine.score(keys, good.slice(0, good.length - 100)))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    expect(await codeOf(engine.score(keys, new Uint8Array(0)))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    const r = rng(5);
    expect(await codeOf(engine.score(keys, Uint8Array.from({ length: 5000 }, () => (r() * 256) | 0)))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    const big = new Uint8Array(maxQueryBytes(P4) + 1);
    big.set(good.subarray(0, 16));
    expect(await codeOf(engine.score(keys, withSize(big)))).toBe('BLINDEAR_ERR_MSG_TOO_LARGE');
    await stillWorks();
  });

  it('rejects payloads that crash SEAL\'s parser without hurting the engine (isolated parse)', async () => {
    const before = engine.rejectedParses;
    // A consistent header over a payload that ends early: aborts the WASM instance that parses it.
    expect(await codeOf(engine.score(keys, withSize(good.slice(0, 16 + 40))))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    // A consistent header over random bytes.
    const r = rng(6);
    for (let n = 64; n < 72; n++) {
      const b = new Uint8Array(16 + n);
      b.set(good.subarray(0, 16));
      for (let i = 16; i < b.length; i++) b[i] = (r() * 256) | 0;
      expect(await codeOf(engine.score(keys, withSize(b)))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    }
    expect(engine.rejectedParses).toBeGreaterThan(before);
    await stillWorks();
  });

  it('rejects ciphertexts of other parameters: ring degree (does not parse), scale and level (parse, mismatch)', async () => {
    const other = await ClientSession.create(P8, { classes: 64, dim: 20 });
    const otherScale = await ClientSession.create(HeParams.parse({ ...P4, scaleBits: 29 }), { classes: 64, dim: 20 });
    try {
      expect(await codeOf(engine.score(keys, other.encryptWindows(windows).ciphertexts[0]))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
      expect(await codeOf(engine.score(keys, otherScale.encryptWindows(windows).ciphertexts[0]))).toBe('BLINDEAR_ERR_HE_PARAMS_MISMATCH');
      const result = (await engine.score(keys, good))[0]; // a last-level ciphertext
      expect(await codeOf(engine.score(keys, result))).toBe('BLINDEAR_ERR_HE_PARAMS_MISMATCH');
      expect(await codeOf(() => engine.checkParamsId(other.paramsId))).toBe('BLINDEAR_ERR_HE_PARAMS_MISMATCH');
      expect(() => engine.checkParamsId(client.paramsId)).not.toThrow();
    } finally {
      other.dispose();
      otherScale.dispose();
    }
    await stillWorks();
  });

  it('rejects 3-polynomial and transparent ciphertexts', async () => {
    const seal = await getSeal();
    const { context } = createContext(seal, P4);
    try {
      const [size3, transparent] = withScope((scope) => {
        const ev = scope.track(seal.Evaluator(context));
        const ct = scope.track(seal.CipherText());
        ct.loadArray(context, good);
        const sq = scope.track(seal.CipherText());
        ev.multiply(ct, ct, sq);
        const full = ct.saveArray(seal.ComprModeType.none);
        // The data is the last 2·N·k words: zero the second polynomial.
        const polyBytes = 4096 * 2 * 8;
        full.fill(0, full.length - polyBytes);
        return [sq.saveArray(seal.ComprModeType.zstd), full];
      });
      expect(await codeOf(engine.score(keys, size3))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
      expect(await codeOf(engine.score(keys, transparent))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    } finally {
      context.delete();
    }
    await stillWorks();
  });
});

describe('session keys', () => {
  it('rejects garbage, truncated, oversized, foreign and over-complete key sets', async () => {
    const pm = client.publicMaterial();
    const r = rng(7);
    const seal = await getSeal();
    const { context } = createContext(seal, P4);
    const g = engine.layout.babySteps;
    const [extraStep, allSteps] = withScope((scope) => {
      const kg = scope.track(seal.KeyGenerator(context));
      return [
        scope.track(kg.createGaloisKeysSerializable(Int32Array.from([1, g, g + 1]))).saveArray(seal.ComprModeType.zstd),
        scope.track(kg.createGaloisKeysSerializable()).saveArray(seal.ComprModeType.zstd), // every power of two
      ];
    });
    context.delete();
    const otherShape = await ClientSession.create(P4, { classes: 300, dim: 33 }); // other rotation steps
    const otherParams = await ClientSession.create(P8, { classes: 64, dim: 20 });
    try {
      expect(galoisStepsDiffer(otherShape, client)).toBe(true);
      const big = new Uint8Array(maxKeyBytes(P4, engine.layout) + 1);
      big.set(pm.subarray(0, 16));
      const cases: [Uint8Array, ErrorCode][] = [
        [new Uint8Array(0), 'BLINDEAR_ERR_HE_KEYS_INVALID'],
        [Uint8Array.from({ length: 4000 }, () => (r() * 256) | 0), 'BLINDEAR_ERR_HE_KEYS_INVALID'],
        [pm.slice(0, pm.length - 1000), 'BLINDEAR_ERR_HE_KEYS_INVALID'],
        [withSize(pm.slice(0, pm.length - 1000)), 'BLINDEAR_ERR_HE_KEYS_INVALID'],
        [withSize(big), 'BLINDEAR_ERR_MSG_TOO_LARGE'],
        [good, 'BLINDEAR_ERR_HE_KEYS_INVALID'],
        [otherShape.publicMaterial(), 'BLINDEAR_ERR_HE_KEYS_INVALID'],
        [otherParams.publicMaterial(), 'BLINDEAR_ERR_HE_KEYS_INVALID'],
        [extraStep, 'BLINDEAR_ERR_HE_KEYS_INVALID'],
        [allSteps, 'BLINDEAR_ERR_MSG_TOO_LARGE'], // 22 keys: over the byte limit of the plan's 2
      ];
      for (const [bytes, code] of cases) expect(await codeOf(engine.loadSessionKeys(bytes))).toBe(code);
    } finally {
      otherShape.dispose();
      otherParams.dispose();
    }
    await stillWorks();
  });

  it('refuses disposed keys and keys loaded by another engine', async () => {
    const k = await engine.loadSessionKeys(client.publicMaterial());
    k.dispose();
    expect(await codeOf(engine.score(k, good))).toMatch(/after dispose/);
    const other = await ScoringEngine.create(P4, model);
    try {
      const foreign = await other.loadSessionKeys(client.publicMaterial());
      expect(await codeOf(engine.score(foreign, good))).toMatch(/TypeError/);
      foreign.dispose();
    } finally {
      other.dispose();
    }
  });
});

function galoisStepsDiffer(a: ClientSession, b: ClientSession): boolean {
  return a.layout.babySteps !== b.layout.babySteps || a.layout.giantSteps !== b.layout.giantSteps;
}

describe('client-side checks of results', () => {
  it('rejects garbage, wrong-count and wrong-level results', async () => {
    const { ciphertexts } = client.encryptWindows(windows.slice(0, 3));
    expect(await codeOf(client.decryptScores([[new Uint8Array(10)]], 3))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    expect(await codeOf(client.decryptScores([], 3))).toBe('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    expect(await codeOf(client.decryptScores([[ciphertexts[0]]], 3))).toBe('BLINDEAR_ERR_HE_PARAMS_MISMATCH');
    const ok = await client.decryptScores([await engine.score(keys, ciphertexts[0])], 3);
    expect(argmax(ok[2])).toBe(argmax(clearScores(model, windows[2])));
  });

  it('refuses non-finite and wrongly sized windows', () => {
    expect(() => client.encryptWindows([new Float32Array(19)])).toThrow(RangeError);
    expect(() => client.encryptWindows([Float32Array.from({ length: 20 }, (_, i) => (i === 3 ? NaN : 0))])).toThrow(RangeError);
  });

  it('keeps the secret out of JSON and inspection', () => {
    expect(JSON.stringify(client)).toBe(JSON.stringify({ paramsId: client.paramsId }));
    expect(Object.keys(client).sort()).toEqual(['layout', 'params', 'paramsId']);
  });
});

describe('session isolation', () => {
  it("session B cannot decrypt session A's results, and A's query scored with B's keys is garbage", async () => {
    const b = await ClientSession.create(P4, { classes: 64, dim: 20 });
    const keysB = await engine.loadSessionKeys(b.publicMaterial());
    try {
      const { ciphertexts } = client.encryptWindows(windows);
      const resultsA = [await engine.score(keys, ciphertexts[0])];
      const stolen = await b.decryptScores(resultsA, windows.length);
      const wrongKeys = await client.decryptScores([await engine.score(keysB, ciphertexts[0])], windows.length);
      for (const decrypted of [stolen, wrongKeys]) {
        let agree = 0;
        windows.forEach((x, w) => {
          const ref = clearScores(model, x);
          const { maxAbsError, range } = compare(decrypted[w], ref);
          expect(maxAbsError / range).toBeGreaterThan(10);
          if (argmax(decrypted[w]) === argmax(ref)) agree++;
        });
        expect(agree).toBeLessThanOrEqual(2); // chance is 1/64 per window
      }
    } finally {
      keysB.dispose();
      b.dispose();
    }
    await stillWorks();
  });
});
