/**
 * The client half of LWE scoring (pipeline/he/lwe.ts): encrypts a window under a fresh secret per query
 * and decrypts the server's C words with the catalogue's hint. A query's secret never leaves the
 * LweQuery object it was made with (a private field), and that object never leaves the client.
 */
import { randomFillSync } from 'node:crypto';
import { BlindearError } from '../../errors.js';
import { expandA, LWE_SIGMA, type LweSetup } from '../lwe.js';

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
function gaussianErrors(count: number): Int32Array {
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
    for (let k = 0; k < d; k++) {
      let acc = 0;
      const row = k * n;
      for (let j = 0; j < n; j++) acc = (acc + Math.imul(a[row + j], secret[j])) | 0;
      c[k] = (acc + e[k] + Math.round(x[k] * unit)) | 0;
    }
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
    const scores = new Float64Array(C);
    for (let r = 0; r < C; r++) {
      let acc = 0;
      const row = r * n;
      for (let j = 0; j < n; j++) acc = (acc + Math.imul(h[row + j], secret[j])) | 0;
      scores[r] = ((z[r] - acc) | 0) * factor + this.#bias[r];
    }
    return scores;
  }
}
