/**
 * The client half of LWE scoring (pipeline/he/lwe.ts): encrypts a window under a fresh secret per query
 * and decrypts the server's C words with the catalogue's hint. A query's secret never leaves the
 * LweQuery object it was made with (a private field), and that object never leaves the client.
 */
import { createCipheriv, randomFillSync } from 'node:crypto';
import { inspect } from 'node:util';
import { lweParamsId, type LweParams } from '../../../schemas/he.js';
import { BlindearError } from '../../errors.js';
import { expandA, LWE_NONCE_BYTES, type LweHint, LWE_SESSION_MARKER, LWE_SIGMA, type LweSetup } from '../lwe.js';
import { mulMod32 } from '../lwe-simd.js';
import type { EncryptedWindows, ModelShape, PublicMaterial, ScoringClient } from '../types.js';

/** One encrypted window: `bytes` go to the server; the secret stays here for decryption. */
export class LweQuery {
  readonly bytes: Uint8Array;
  readonly #secret: Int32Array;
  readonly #norm: number;

  /** @internal Made by LweClient.encrypt. */
  constructor(bytes: Uint8Array, secret: Int32Array, norm: number) {
    this.bytes = bytes;
    this.#secret = secret;
    this.#norm = norm;
  }

  /** @internal */
  static open(q: LweQuery): { secret: Int32Array; norm: number } {
    return { secret: q.#secret, norm: q.#norm };
  }

  toJSON(): unknown {
    return { bytes: this.bytes.byteLength };
  }
}

/** Rounded Gaussian samples (σ = LWE_SIGMA) from the OS CSPRNG, by Box–Muller. */
export function gaussianErrors(count: number): Int32Array {
  const u = new Uint32Array(count + (count % 2));
  randomFillSync(u);
  const e = new Int32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = (u[i] + 1) / 4294967297;
    const u2 = u[i + 1] / 4294967296;
    const r = LWE_SIGMA * Math.sqrt(-2 * Math.log(u1));
    e[i] = Math.round(r * Math.cos(2 * Math.PI * u2));
    if (i + 1 < count) e[i + 1] = Math.round(r * Math.sin(2 * Math.PI * u2));
  }
  return e;
}

export class LweClient {
  readonly setup: LweSetup;
  readonly #a: Int32Array;
  readonly #hint: Int32Array;
  readonly #bias: Float32Array;

  /** `hint` is the catalogue's H = W_q·A (C × n words); `bias` its public bias vector. */
  constructor(setup: LweSetup, hint: Int32Array, bias: Float32Array) {
    if (hint.length !== setup.classes * setup.n) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `LWE hint of ${hint.length} words, expected ${setup.classes * setup.n}`);
    if (bias.length !== setup.classes) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${bias.length} biases for ${setup.classes} classes`);
    this.setup = setup;
    this.#a = expandA(setup.seed, setup.dim, setup.n);
    this.#hint = hint;
    this.#bias = bias;
  }

  /** c = A·s + e + round(S·x/‖x‖) mod 2^32 as d little-endian words, under a fresh secret s. */
  encrypt(x: Float32Array): LweQuery {
    const { dim: d, n, inputScale } = this.setup;
    if (x.length !== d) throw new RangeError(`LWE encrypt: ${x.length} features, the model has ${d}`);
    let norm = 0;
    for (const v of x) norm += v * v;
    norm = Math.sqrt(norm);
    const secret = new Int32Array(n);
    randomFillSync(secret);
    const e = gaussianErrors(d);
    const c = new Int32Array(d);
    const a = this.#a;
    const unit = norm > 0 ? inputScale / norm : 0;
    mulMod32(a, n, secret, 1, c);
    for (let k = 0; k < d; k++) c[k] = (c[k] + e[k] + Math.round(x[k] * unit)) | 0;
    return new LweQuery(new Uint8Array(c.buffer), secret, norm);
  }

  /** W·x + b from the server's result for `query`. */
  decrypt(query: LweQuery, result: Uint8Array): Float64Array {
    const { classes: C, n, inputScale, weightScale } = this.setup;
    if (result.byteLength !== C * 4) throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `LWE result of ${result.byteLength} bytes, expected ${C * 4}`);
    const z = new Int32Array(result.buffer.slice(result.byteOffset, result.byteOffset + result.byteLength));
    const { secret, norm } = LweQuery.open(query);
    const h = this.#hint;
    const factor = norm / (inputScale * weightScale);
    const hs = new Int32Array(C);
    mulMod32(h, n, secret, 1, hs);
    const scores = new Float64Array(C);
    for (let r = 0; r < C; r++) scores[r] = ((z[r] - hs[r]) | 0) * factor + this.#bias[r];
    return scores;
  }
}


const SEED_BYTES = 32;

/**
 * A client session of an LWE catalogue. Its secret is a 32-byte seed: query q's window i is encrypted
 * under s = the i-th n words of AES-256-CTR(seed, nonce_q), with a fresh random 16-byte nonce per query
 * that rides (in the clear: without the seed it says nothing) at the head of the query and of its result.
 * So any instance of the client service holding the sealed seed decrypts any of the session's results,
 * and no secret is ever used twice. Windows must have ‖x‖ ≤ 1 (landmark windows are unit vectors):
 * round(S·x) then keeps |W_q·x·S| within 2^30, and no per-window norm has to travel.
 */
export class LweClientSession implements ScoringClient {
  readonly scheme = 'lwe' as const;
  readonly paramsId: string;
  readonly windowsPerQuery: number;
  readonly setup: LweSetup;
  #seed: Uint8Array | undefined;
  readonly #a: Int32Array;
  readonly #hint: Int32Array;
  readonly #bias: Float32Array;

  private constructor(setup: LweSetup, paramsId: string, windowsPerQuery: number, a: Int32Array, hint: LweHint, seed: Uint8Array) {
    const { classes: C, n } = setup;
    if (hint.hint.length !== C * n) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `LWE hint of ${hint.hint.length} words, expected ${C * n}`);
    if (hint.bias.length !== C) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${hint.bias.length} biases for ${C} classes`);
    this.setup = setup;
    this.paramsId = paramsId;
    this.windowsPerQuery = windowsPerQuery;
    this.#a = a;
    this.#hint = hint.hint;
    this.#bias = hint.bias;
    this.#seed = seed;
  }

  /**
   * A new session (fresh seed) or, with `unseal`, the one whose sealed seed it returns. `a` is the public
   * matrix expanded from the catalogue's seed: pass the same array to every session of a process.
   */
  static open(params: LweParams, shape: ModelShape, a: Int32Array, hint: LweHint, unseal?: () => Uint8Array): LweClientSession {
    const setup: LweSetup = { classes: shape.classes, dim: shape.dim, n: params.n, seed: params.seed, weightScale: params.weightScale, inputScale: params.inputScale };
    if (a.length !== shape.dim * params.n) throw new RangeError(`A has ${a.length} words, expected ${shape.dim * params.n}`);
    let seed: Uint8Array;
    if (unseal) {
      const bytes = unseal();
      if (bytes.byteLength !== SEED_BYTES) {
        bytes.fill(0);
        throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', `stored LWE session secret is ${bytes.byteLength} bytes, expected ${SEED_BYTES}`);
      }
      seed = Uint8Array.from(bytes);
      bytes.fill(0);
    } else {
      seed = new Uint8Array(SEED_BYTES);
      randomFillSync(seed);
    }
    return new LweClientSession(setup, lweParamsId(params, shape.classes, shape.dim), params.maxWindowsPerQuery, a, hint, seed);
  }

  #live(): Uint8Array {
    if (!this.#seed) throw new Error('LweClientSession used after dispose()');
    return this.#seed;
  }

  /** The secrets of a query's `count` windows: consecutive n-word blocks of AES-256-CTR(seed, nonce). */
  #secrets(nonce: Uint8Array, count: number): Int32Array {
    const c = createCipheriv('aes-256-ctr', this.#live(), nonce);
    const bytes = c.update(Buffer.alloc(count * this.setup.n * 4));
    return new Int32Array(bytes.buffer, bytes.byteOffset, count * this.setup.n).slice();
  }

  publicMaterial(): PublicMaterial {
    this.#live();
    return Uint8Array.from(LWE_SESSION_MARKER) as PublicMaterial;
  }

  sealSecretKey<T>(seal: (plain: Uint8Array) => T): T {
    const copy = Uint8Array.from(this.#live());
    try {
      return seal(copy);
    } finally {
      copy.fill(0);
    }
  }

  encryptWindows(windows: readonly Float32Array[]): EncryptedWindows {
    const { dim: d, n, inputScale } = this.setup;
    windows.forEach((x, w) => {
      if (x.length !== d) throw new RangeError(`window ${w} has ${x.length} features, the model has ${d}`);
      let norm = 0;
      for (let k = 0; k < d; k++) {
        if (!Number.isFinite(x[k])) throw new RangeError(`window ${w} has a non-finite feature at ${k}`);
        norm += x[k] * x[k];
      }
      if (norm > 1 + 1e-4) throw new RangeError(`window ${w} has norm ${Math.sqrt(norm).toFixed(4)}: LWE scoring takes windows of norm ≤ 1`);
    });
    const B = this.windowsPerQuery;
    const ciphertexts: Uint8Array[] = [];
    const windowsPerCiphertext: number[] = [];
    const a = this.#a;
    for (let q0 = 0; q0 < windows.length; q0 += B) {
      const k = Math.min(B, windows.length - q0);
      const out = new Uint8Array(LWE_NONCE_BYTES + k * d * 4);
      const nonce = out.subarray(0, LWE_NONCE_BYTES);
      randomFillSync(nonce);
      const secrets = this.#secrets(nonce, k);
      const c = new Int32Array(out.buffer, LWE_NONCE_BYTES, k * d);
      mulMod32(a, n, secrets, k, c); // A·s_i for the query's k windows
      secrets.fill(0);
      const e = gaussianErrors(k * d);
      for (let i = 0; i < k; i++) {
        const x = windows[q0 + i];
        for (let row = 0; row < d; row++) c[i * d + row] = (c[i * d + row] + e[i * d + row] + Math.round(x[row] * inputScale)) | 0;
      }
      ciphertexts.push(out);
      windowsPerCiphertext.push(k);
    }
    return { ciphertexts, windowsPerCiphertext };
  }

  /**
   * Checks each result's shape (one part: the nonce and C words per window of its query), then
   * scores = (z − H·s) / (S·s_w) + b. BLINDEAR_ERR_HE_CIPHERTEXT_INVALID on any other shape.
   */
  async decryptScores(results: readonly (readonly Uint8Array[])[], nWindows: number): Promise<Float64Array[]> {
    const { classes: C, n, inputScale, weightScale } = this.setup;
    const B = this.windowsPerQuery;
    const expected = Math.ceil(nWindows / B);
    if (results.length !== expected) throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `${results.length} query results for ${nWindows} windows, expected ${expected}`);
    const factor = 1 / (inputScale * weightScale);
    const h = this.#hint;
    const scores: Float64Array[] = [];
    results.forEach((parts, q) => {
      const k = Math.min(B, nWindows - q * B);
      if (parts.length !== 1 || parts[0].byteLength !== LWE_NONCE_BYTES + k * C * 4) {
        throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `LWE result of ${parts.length} part(s), ${parts[0]?.byteLength ?? 0} bytes; expected 1 part of ${LWE_NONCE_BYTES + k * C * 4}`);
      }
      const bytes = parts[0];
      const secrets = this.#secrets(bytes.subarray(0, LWE_NONCE_BYTES), k);
      const z = new Int32Array(bytes.buffer.slice(bytes.byteOffset + LWE_NONCE_BYTES, bytes.byteOffset + bytes.byteLength));
      const hs = new Int32Array(k * C);
      mulMod32(h, n, secrets, k, hs); // H·s_i
      secrets.fill(0);
      for (let i = 0; i < k; i++) {
        const out = new Float64Array(C);
        for (let r = 0; r < C; r++) out[r] = ((z[i * C + r] - hs[i * C + r]) | 0) * factor + this.#bias[r];
        scores.push(out);
      }
      hs.fill(0);
    });
    return scores;
  }

  /**
   * One shard's part of a query's result: [nonce ‖ z] with z holding classes `firstClass` ..
   * `firstClass + classes - 1` for each of the query's `nWindows` windows, decrypted with those rows of the
   * hint. BLINDEAR_ERR_HE_CIPHERTEXT_INVALID unless the part has exactly that shape.
   */
  decryptShard(part: Uint8Array, nWindows: number, firstClass: number, classes: number): Float64Array[] {
    const { classes: C, n, inputScale, weightScale } = this.setup;
    if (!Number.isInteger(firstClass) || !Number.isInteger(classes) || firstClass < 0 || classes < 1 || firstClass + classes > C) {
      throw new BlindearError('BLINDEAR_ERR_SCORES_FORGED', `classes ${firstClass}+${classes} outside the catalogue's ${C}`);
    }
    if (!Number.isInteger(nWindows) || nWindows < 1 || nWindows > this.windowsPerQuery) throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `${nWindows} windows in one query`);
    if (part.byteLength !== LWE_NONCE_BYTES + nWindows * classes * 4) {
      throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `LWE shard part of ${part.byteLength} bytes; expected ${LWE_NONCE_BYTES + nWindows * classes * 4}`);
    }
    const factor = 1 / (inputScale * weightScale);
    const h = this.#hint;
    const secrets = this.#secrets(part.subarray(0, LWE_NONCE_BYTES), nWindows);
    const z = new Int32Array(part.buffer.slice(part.byteOffset + LWE_NONCE_BYTES, part.byteOffset + part.byteLength));
    const scores: Float64Array[] = [];
    const hs = new Int32Array(nWindows * classes);
    mulMod32(h, n, secrets, nWindows, hs, firstClass, classes);
    secrets.fill(0);
    for (let i = 0; i < nWindows; i++) {
      const out = new Float64Array(classes);
      for (let r = 0; r < classes; r++) out[r] = ((z[i * classes + r] - hs[i * classes + r]) | 0) * factor + this.#bias[firstClass + r];
      scores.push(out);
    }
    hs.fill(0);
    return scores;
  }

  dispose(): void {
    this.#seed?.fill(0);
    this.#seed = undefined;
  }

  toJSON(): { paramsId: string } {
    return { paramsId: this.paramsId };
  }

  [inspect.custom](): string {
    return `LweClientSession { paramsId: '${this.paramsId}' }`;
  }
}
