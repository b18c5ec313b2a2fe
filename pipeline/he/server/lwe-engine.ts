/**
 * The server half of LWE scoring (pipeline/he/lwe.ts): z = W_q·c mod 2^32 over a client's query vector.
 * It holds the quantised weights and the public setup, never a secret; a query is d 32-bit words, which
 * is all its validation can check (every word string is a valid LWE ciphertext). No session keys: the
 * catalogue's hint is the only public material, the same for every client.
 *
 * `scoreBatch` scores many sessions' queries in one pass over the weights. The scan runs in the WASM SIMD
 * kernel (lwe-simd.ts) where the runtime has it, else in plain JS (lwe.ts); both give the same words. With
 * `startThreads(n)` a catalogue's scorer scans on n worker threads, each over its share of the rows
 * (lwe-scan-pool.ts), so `score` never runs the scan on the calling thread and one query uses every core.
 *
 * As a catalogue's scorer (the `scorer` stage, `scheme: 'lwe'`) it takes the same calls as the CKKS
 * ScoringEngine: a query record is a 16-byte nonce and 1..maxWindowsPerQuery windows of d words; its
 * result, one part, echoes the nonce and holds C words per window. A session's "keys" record is a fixed
 * marker (LWE needs no evaluation keys): it keeps the per-session signing, budget and tombstones.
 */
import { randomBytes } from 'node:crypto';
import { lweParamsId, type LweParams } from '../../../schemas/he.js';
import { BlindearError } from '../../errors.js';
import type { LinearModel } from '../../features/types.js';
import { SimdScan, simdAvailable } from '../lwe-simd.js';
import { computeHint, expandA, inputScaleFor, LWE_N, LWE_NONCE_BYTES, LWE_SESSION_MARKER, matmulMod32, quantiseWeights, type LweSetup } from '../lwe.js';
import { LweScanPool } from './lwe-scan-pool.js';
import { SessionKeys } from './session-keys.js';

export interface LweEngineOptions {
  /** Signed bits per quantised weight (default 10). */
  weightBits?: number;
  /** Hex of the 16-byte seed of A (default: fresh random). */
  seed?: string;
  /** The scan's kernel: 'simd' (default where available) or 'js'. */
  kernel?: 'simd' | 'js';
}

export class LweScoringEngine {
  readonly setup: LweSetup;
  #weights: Int16Array;
  readonly #kernel: 'simd' | 'js';
  #scan: SimdScan | undefined;
  #pool: LweScanPool | undefined;
  #hint: Int32Array | undefined;

  private constructor(setup: LweSetup, weights: Int16Array, kernel: 'simd' | 'js') {
    this.setup = Object.freeze(setup);
    this.#weights = weights;
    this.#kernel = kernel;
  }

  /** The calling thread's SIMD copy of the weights, made on first use (an engine scanning on threads never needs it). */
  get #simd(): SimdScan | undefined {
    if (this.#kernel !== 'simd') return undefined;
    this.#scan ??= new SimdScan(this.#weights, this.setup.classes, this.setup.dim);
    return this.#scan;
  }

  /**
   * Scans on `threads` worker threads from now on (each holding its share of the rows; the weights move
   * to shared memory, one copy in all). 0 keeps the scan on the calling thread.
   */
  async startThreads(threads: number): Promise<this> {
    if (this.#pool) throw new Error('LweScoringEngine: threads already started');
    if (threads <= 0) return this;
    const shared = new Int16Array(new SharedArrayBuffer(this.#weights.byteLength));
    shared.set(this.#weights);
    this.#pool = await LweScanPool.start(shared, this.setup.classes, this.setup.dim, threads, this.#kernel);
    this.#weights = shared;
    return this;
  }

  /** The catalogue's public parameters (set by `forCatalogue`), and the id every query must name. */
  #params: LweParams | undefined;
  #paramsId = '';

  /**
   * The scorer of a catalogue enrolled with `scheme: 'lwe'`: the model quantised with the manifest's seed
   * and bits, checked to give the manifest's scales (else the model is not the one the hint was made from).
   */
  static forCatalogue(model: LinearModel, params: LweParams, opts: { kernel?: 'simd' | 'js'; shardOf?: { totalClasses: number } } = {}): LweScoringEngine {
    if (opts.shardOf) return LweScoringEngine.#forShard(model, params, opts.shardOf.totalClasses, opts.kernel);
    const engine = LweScoringEngine.create(model, { seed: params.seed, weightBits: params.weightBits, ...opts });
    if (engine.setup.weightScale !== params.weightScale || engine.setup.inputScale !== params.inputScale) {
      throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `LWE scales of the model (${engine.setup.weightScale}, ${engine.setup.inputScale}) differ from the manifest's (${params.weightScale}, ${params.inputScale})`);
    }
    engine.#params = params;
    engine.#paramsId = lweParamsId(params, model.classes, model.dim);
    return engine;
  }

  /**
   * A shard's scorer: its rows quantised at the whole catalogue's scale (so they are the whole's rows and
   * its slice of the hint decrypts them), answering queries made for the whole catalogue (its params id
   * names the whole's class count). Refused when a row would overflow the whole's input scale.
   */
  static #forShard(model: LinearModel, params: LweParams, totalClasses: number, kernel?: 'simd' | 'js'): LweScoringEngine {
    let q: ReturnType<typeof quantiseWeights>;
    try {
      q = quantiseWeights(model, params.weightBits, params.weightScale);
    } catch (err) {
      throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `shard weights do not fit the catalogue's LWE scale: ${(err as Error).message}`);
    }
    if (inputScaleFor(q.maxRowNorm) < params.inputScale) {
      throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `a shard row's norm ${q.maxRowNorm.toFixed(0)} exceeds what the catalogue's input scale ${params.inputScale} allows`);
    }
    const setup: LweSetup = { classes: model.classes, dim: model.dim, n: LWE_N, seed: params.seed, weightScale: params.weightScale, inputScale: params.inputScale };
    const engine = new LweScoringEngine(setup, q.weights, kernel ?? (simdAvailable ? 'simd' : 'js'));
    engine.#params = params;
    engine.#paramsId = lweParamsId(params, totalClasses, model.dim);
    return engine;
  }

  get scheme(): 'lwe' {
    return 'lwe';
  }

  get paramsId(): string {
    return this.#paramsId;
  }

  checkParamsId(id: string): void {
    if (!this.#params) throw new Error('LweScoringEngine.forCatalogue() makes a catalogue scorer');
    if (id !== this.#paramsId) throw new BlindearError('BLINDEAR_ERR_HE_PARAMS_MISMATCH', `params id ${id.slice(0, 16)}…, this engine scores ${this.#paramsId.slice(0, 16)}… (lwe)`);
  }

  /** Worker threads scanning (0: the calling thread scans). */
  get threads(): number {
    return this.#pool?.size ?? 0;
  }

  /** Largest session-keys record: the marker. */
  get maxKeyBytes(): number {
    return LWE_SESSION_MARKER.byteLength;
  }

  /** Windows a query record carries (its bytes say it; the envelope's count is not trusted). */
  windowsIn(query: Uint8Array): number {
    const body = query.byteLength - LWE_NONCE_BYTES;
    const per = this.setup.dim * 4;
    return body > 0 && body % per === 0 ? body / per : 1;
  }

  /** A session's keys record must be the marker: LWE needs no evaluation keys. */
  async loadSessionKeys(bytes: Uint8Array): Promise<SessionKeys> {
    if (bytes.byteLength !== LWE_SESSION_MARKER.byteLength || !LWE_SESSION_MARKER.every((b, i) => bytes[i] === b)) {
      throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', `an LWE session's keys record is the ${LWE_SESSION_MARKER.byteLength}-byte marker, got ${bytes.byteLength} bytes`);
    }
    return new SessionKeys([], bytes.byteLength);
  }

  /**
   * Scores a query record: [nonce ‖ z_1 … z_k] with z_i = W_q·c_i mod 2^32 (BLINDEAR_ERR_HE_CIPHERTEXT_INVALID
   * unless it is a nonce and 1..maxWindowsPerQuery windows of d words).
   */
  async score(_keys: SessionKeys, query: Uint8Array): Promise<Uint8Array[]> {
    const { classes: C, dim: d } = this.setup;
    const max = this.#params?.maxWindowsPerQuery ?? 1;
    const body = query.byteLength - LWE_NONCE_BYTES;
    if (body <= 0 || body % (d * 4) !== 0 || body / (d * 4) > max) {
      throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `LWE query of ${query.byteLength} bytes: expected ${LWE_NONCE_BYTES} + k·${d * 4} for k in 1..${max}`);
    }
    const k = body / (d * 4);
    const x = new Int32Array(k * d);
    new Uint8Array(x.buffer).set(query.subarray(LWE_NONCE_BYTES));
    const out = new Uint8Array(LWE_NONCE_BYTES + k * C * 4);
    out.set(query.subarray(0, LWE_NONCE_BYTES));
    const words = new Int32Array(out.buffer, LWE_NONCE_BYTES, k * C);
    if (this.#pool) words.set(await this.#pool.matmul(x, k));
    else if (this.#simd) this.#simd.matmul(x, k, words);
    else matmulMod32(this.#weights, C, d, x, k, words);
    return [out];
  }

  async close(): Promise<void> {
    await this.#pool?.close();
  }

  /** The kernel scanning the weights. */
  get kernel(): 'simd' | 'js' {
    return this.#kernel;
  }

  static create(model: LinearModel, opts: LweEngineOptions = {}): LweScoringEngine {
    const { classes: C, dim: d } = model;
    if (!Number.isInteger(C) || C < 1 || !Number.isInteger(d) || d < 1 || model.weights.length !== C * d) {
      throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `linear model: ${model.weights.length} weights for ${C}×${d}`);
    }
    if (!model.weights.every(Number.isFinite)) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', 'linear model: non-finite weight');
    const q = quantiseWeights(model, opts.weightBits ?? 10);
    const seed = opts.seed ?? randomBytes(16).toString('hex');
    const kernel = opts.kernel ?? (simdAvailable ? 'simd' : 'js');
    return new LweScoringEngine({ classes: C, dim: d, n: LWE_N, seed, weightScale: q.scale, inputScale: inputScaleFor(q.maxRowNorm) }, q.weights, kernel);
  }

  /** Bytes of one query (d words) and of one result (C words). */
  get queryBytes(): number {
    return this.setup.dim * 4;
  }

  get resultBytes(): number {
    return this.setup.classes * 4;
  }

  /** The catalogue's hint H = W_q·A (C × n words): computed on first use (C·d·n multiply-adds), then kept. */
  hint(): Int32Array {
    this.#hint ??= this.#computeHint();
    return this.#hint;
  }

  #computeHint(): Int32Array {
    const { classes: C, dim: d, n } = this.setup;
    const a = expandA(this.setup.seed, d, n);
    const simd = this.#simd;
    if (!simd) return computeHint(this.#weights, C, d, a, n);
    // H = W_q·A is the scan of A's n columns as if they were queries: transpose A, scan in blocks.
    const at = new Int32Array(n * d);
    for (let k = 0; k < d; k++) for (let j = 0; j < n; j++) at[j * d + k] = a[k * n + j];
    const h = new Int32Array(C * n);
    const block = 64;
    const out = new Int32Array(block * C);
    for (let j0 = 0; j0 < n; j0 += block) {
      const Q = Math.min(block, n - j0);
      simd.matmul(at.subarray(j0 * d, (j0 + Q) * d), Q, out);
      for (let q = 0; q < Q; q++) for (let r = 0; r < C; r++) h[r * n + j0 + q] = out[q * C + r];
    }
    return h;
  }

  /** Scores one bare window (d words, no nonce): C little-endian words. BLINDEAR_ERR_HE_CIPHERTEXT_INVALID unless it is d words. */
  scoreWords(query: Uint8Array): Uint8Array {
    return this.scoreBatch([query])[0];
  }

  /** Scores Q queries (any sessions) in one pass over the weights. */
  scoreBatch(queries: readonly Uint8Array[]): Uint8Array[] {
    const { classes: C, dim: d } = this.setup;
    const x = new Int32Array(queries.length * d);
    queries.forEach((q, i) => {
      if (q.byteLength !== d * 4) throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `LWE query of ${q.byteLength} bytes, expected ${d * 4}`);
      x.set(new Int32Array(q.buffer.slice(q.byteOffset, q.byteOffset + q.byteLength)), i * d);
    });
    const out = new Int32Array(queries.length * C);
    if (this.#simd) this.#simd.matmul(x, queries.length, out);
    else matmulMod32(this.#weights, C, d, x, queries.length, out);
    return queries.map((_, i) => new Uint8Array(out.buffer, i * C * 4, C * 4));
  }
}
