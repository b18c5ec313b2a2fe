/**
 * The server side of encrypted scoring: s = W·x + b evaluated on a client's query ciphertext with the
 * client's Galois keys. It holds no key that decrypts and never encrypts.
 *
 * The weight diagonals are encoded once per (parameters, model) when the engine is built and shared by
 * every session; a session only adds its Galois keys (two keys: steps 1 and g, see layout.ts). Every
 * input from the other zone (keys, queries) is parsed first in an isolated SEAL instance and checked
 * (untrusted-loader.ts); the engine's own instance only loads SEAL's re-serialisation of it.
 *
 * The bias is added by the server, in the encrypted domain, after the product: results decrypt to the
 * full score W·x + b.
 *
 * With `threads` ≥ 1 the engine evaluates nothing on the calling thread: it starts that many worker
 * threads, each an in-thread engine of its own (scoring-pool.ts), and the same async methods send them
 * the work. A Kafka consumer's event loop then only routes bytes.
 */
import { BlindearError } from '../../errors.js';
import type { LinearModel } from '../../features/types.js';
import { HeParams, paramsId as computeParamsId, type ScoringLayout } from '../../../schemas/he.js';
import {
  biasSlots, diagonalSlots, evaluateMatvec, galoisElement, galoisSteps, layoutFor, operationCounts,
  type DiagonalTable, type MatvecOps,
} from '../layout.js';
import { maxKeyBytes, maxQueryBytes } from '../serialized.js';
import {
  createContext, createIsolatedSeal, getSeal, withScope, type CipherText, type Context, type ContextFacts, type Evaluator,
  type GaloisKeys, type PlainText, type Seal,
} from '../seal.js';
import type { ParmsIdType } from 'node-seal/implementation/parms-id-type.js';
import { sharedUntrustedLoader, type UntrustedLoader } from '../untrusted-loader.js';
import { ScoringPool } from './scoring-pool.js';
import { SessionKeys } from './session-keys.js';

export interface ScoringEngineOptions {
  /** Byte limit of one query ciphertext (default: a full, uncompressed ciphertext at the first level). */
  maxQueryBytes?: number;
  /** Byte limit of a session's key set (default: the uncompressed size of the layout's keys). */
  maxKeyBytes?: number;
  /** Encoded weights held per SEAL instance (default SHARD_BYTES); larger models are split into shards. */
  maxShardBytes?: number;
  /**
   * Worker threads that evaluate (each with its own SEAL instance and encoded weights). 0, the default,
   * evaluates on the calling thread.
   */
  threads?: number;
}

/**
 * A WASM32 SEAL instance addresses at most 4 GiB. Past this many bytes of encoded weights the model is
 * split, by output ciphertexts, into shards that each live in their own instance (and heap), leaving room
 * for session keys and the evaluation's temporaries.
 */
export const SHARD_BYTES = 2.5 * 2 ** 30;

/** One SEAL instance holding the encoded diagonals of a contiguous range of the layout's outputs. */
interface Shard {
  seal: Seal;
  context: Context;
  facts: ContextFacts;
  evaluator: Evaluator;
  lastParmsId: ParmsIdType;
  /** The global layout restricted to this shard's outputs (same steps, fewer outputs). */
  layout: ScoringLayout;
  diagonals: DiagonalTable<PlainText>;
  bias: (PlainText | null)[];
}

function checkModel(m: LinearModel): void {
  const bad = (why: string) => new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `linear model: ${why}`);
  if (!Number.isInteger(m.classes) || m.classes < 1 || !Number.isInteger(m.dim) || m.dim < 1) throw bad('classes and dim must be positive integers');
  if (m.weights.length !== m.classes * m.dim) throw bad(`${m.weights.length} weights for ${m.classes}×${m.dim}`);
  if (m.bias.length !== m.classes) throw bad(`${m.bias.length} biases for ${m.classes} classes`);
  if (!m.weights.every(Number.isFinite) || !m.bias.every(Number.isFinite)) throw bad('non-finite weight or bias');
}

/** Encodes outputs [from, from + count) of the layout into a new shard on `seal`. */
function buildShard(seal: Seal, p: HeParams, layout: ScoringLayout, model: LinearModel, from: number, count: number): Shard {
  const { context, facts } = createContext(seal, p);
  const owned: { delete(): void }[] = [context];
  try {
    const evaluator = seal.Evaluator(context);
    owned.push(evaluator);
    const lastParmsId = context.lastParmsId;
    owned.push(lastParmsId);
    const { diagonals, bias } = withScope((scope) => {
      const encoder = scope.track(seal.CKKSEncoder(context));
      const encode = (v: Float64Array, scale: number): PlainText => {
        const pt = seal.PlainText();
        owned.push(pt);
        encoder.encode(v, scale, pt);
        return pt;
      };
      const diagonals = Array.from({ length: count }, (_, k) => {
        const o = from + k;
        const groups = Array.from({ length: layout.giantSteps }, (_, i) =>
          Array.from({ length: layout.babySteps }, (_, b) => {
            const slots = diagonalSlots(layout, model.weights, o, i, b);
            return slots ? encode(slots, facts.weightScale) : null;
          }),
        );
        if (groups.every((g) => g.every((pt) => pt === null))) {
          throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `linear model: classes ${o * layout.rowsPerOutput}.. have only zero weights`);
        }
        return groups;
      });
      const bias = Array.from({ length: count }, (_, k) => {
        const slots = biasSlots(layout, model.bias, from + k);
        if (slots.every((v) => v === 0)) return null;
        const pt = encode(slots, facts.outputScale);
        evaluator.plainModSwitchTo(pt, lastParmsId, pt);
        return pt;
      });
      return { diagonals, bias };
    });
    return { seal, context, facts, evaluator, lastParmsId, layout: { ...layout, outputCiphertexts: count }, diagonals, bias };
  } catch (err) {
    for (const o of owned.reverse()) o.delete();
    throw err;
  }
}

function disposeShard(s: Shard): void {
  for (const groups of s.diagonals) for (const g of groups) for (const pt of g) pt?.delete();
  for (const b of s.bias) b?.delete();
  s.lastParmsId.delete();
  s.evaluator.delete();
  s.context.delete();
}

export class ScoringEngine {
  readonly params: HeParams;
  readonly layout: ScoringLayout;
  readonly paramsId: string;
  readonly #shards: readonly Shard[];
  readonly #facts: ContextFacts | undefined;
  readonly #loader: UntrustedLoader | undefined;
  readonly #pool: ScoringPool | undefined;
  readonly #issued = new WeakSet<SessionKeys>();
  readonly #galoisElements: number[];
  readonly #maxQueryBytes: number;
  readonly #maxKeyBytes: number;
  /** Output ciphertexts must be mod-switched down after the (rescaled) product. */
  readonly #modSwitch: boolean;
  #disposed = false;

  private constructor(init: { params: HeParams; layout: ScoringLayout; shards: Shard[]; loader?: UntrustedLoader; pool?: ScoringPool; opts: ScoringEngineOptions }) {
    this.params = init.params;
    this.layout = init.layout;
    this.paramsId = computeParamsId(init.params, init.layout);
    this.#shards = init.shards;
    // Every shard runs the same parameters: their context facts are equal. A threaded engine has none here.
    this.#facts = init.shards[0]?.facts;
    this.#loader = init.loader;
    this.#pool = init.pool;
    this.#galoisElements = galoisSteps(init.layout).map((s) => galoisElement(s, init.params.polyModulusDegree));
    this.#maxQueryBytes = init.opts.maxQueryBytes ?? maxQueryBytes(init.params);
    this.#maxKeyBytes = init.opts.maxKeyBytes ?? maxKeyBytes(init.params, init.layout);
    this.#modSwitch = !!this.#facts && this.#facts.firstPrimeCount - (this.#facts.rescale ? 1 : 0) > 1;
  }

  /**
   * Builds the engine for a model: plans the layout, encodes every non-zero weight diagonal and the
   * bias once — in the process's shared SEAL instance, or, when the encoded weights exceed
   * `maxShardBytes`, in shards of whole output ciphertexts, each in an instance of its own; with
   * `threads` ≥ 1, once in each of that many worker threads instead (resolves when all are ready).
   * BLINDEAR_ERR_CATALOG_INVALID for a malformed model (or an output block with only zero weights, which
   * CKKS cannot produce without encrypting); BLINDEAR_ERR_CONFIG_INVALID for parameters SEAL rejects.
   */
  static async create(params: HeParams, model: LinearModel, opts: ScoringEngineOptions = {}): Promise<ScoringEngine> {
    const p = HeParams.parse(params);
    checkModel(model);
    const layout = layoutFor(p, model.classes, model.dim);
    const threads = opts.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `scoring threads must be a non-negative integer, got ${threads}`);
    if (threads > 0) {
      const { maxQueryBytes: q, maxKeyBytes: k, maxShardBytes: b } = opts;
      const pool = await ScoringPool.start(p, model, threads, { maxQueryBytes: q, maxKeyBytes: k, maxShardBytes: b });
      return new ScoringEngine({ params: p, layout, shards: [], pool, opts });
    }
    const loader = await sharedUntrustedLoader(p);
    const seal = await getSeal();
    // Upper bound of one output's encoded diagonals: `period` plaintexts of N coefficients per data prime
    // (every prime but the special one).
    const outputBytes = layout.period * p.polyModulusDegree * (p.coeffModulusBits.length - 1) * 8;
    const perShard = Math.max(1, Math.floor((opts.maxShardBytes ?? SHARD_BYTES) / outputBytes));
    const shards: Shard[] = [];
    try {
      for (let from = 0; from < layout.outputCiphertexts; from += perShard) {
        const count = Math.min(perShard, layout.outputCiphertexts - from);
        const instance = perShard >= layout.outputCiphertexts ? seal : await createIsolatedSeal();
        shards.push(buildShard(instance, p, layout, model, from, count));
      }
    } catch (err) {
      for (const s of shards) disposeShard(s);
      throw err;
    }
    return new ScoringEngine({ params: p, layout, shards, loader, opts });
  }

  /** Encoded plaintexts held for the model (shared by all sessions) and their approximate WASM bytes. */
  get footprint(): { plaintexts: number; bytes: number; shards: number; threads: number } {
    if (this.#pool) return { ...this.#pool.footprint, threads: this.#pool.size };
    const facts = this.#facts!;
    let plaintexts = 0;
    for (const s of this.#shards) for (const groups of s.diagonals) for (const g of groups) for (const p of g) if (p) plaintexts++;
    return { plaintexts, bytes: plaintexts * facts.polyModulusDegree * facts.firstPrimeCount * 8, shards: this.#shards.length, threads: 0 };
  }

  /** Worker threads evaluating for this engine (0: the calling thread evaluates). */
  get threads(): number {
    return this.#pool?.size ?? 0;
  }

  /** Operations per query ciphertext (for metrics and logs). */
  get operations(): ReturnType<typeof operationCounts> {
    return operationCounts(this.layout);
  }

  /** Instances of the thread's isolated parser retired after malformed inputs since start. */
  get rejectedParses(): number {
    return this.#pool ? this.#pool.rejectedParses : this.#loader!.retiredInstances;
  }

  /** BLINDEAR_ERR_HE_PARAMS_MISMATCH unless `id` (from an envelope) is this engine's parameters id. */
  get scheme(): 'ckks' {
    return 'ckks';
  }

  /** Every window slot of a query ciphertext is scored, whatever the envelope's count says. */
  windowsIn(_query: Uint8Array): number {
    return Math.max(1, this.layout.windowsPerCiphertext);
  }

  /** Largest session-keys record: the layout's keys, uncompressed. */
  get maxKeyBytes(): number {
    return this.#maxKeyBytes;
  }

  checkParamsId(id: string): void {
    if (id !== this.paramsId) throw new BlindearError('BLINDEAR_ERR_HE_PARAMS_MISMATCH', `params id ${id.slice(0, 16)}…, this engine scores ${this.paramsId.slice(0, 16)}…`);
  }

  #live(): void {
    if (this.#disposed) throw new Error('ScoringEngine used after dispose()');
  }

  /**
   * Validates and loads a session's public material: it must parse under these parameters and hold
   * exactly the Galois keys of the layout's steps. BLINDEAR_ERR_HE_KEYS_INVALID or
   * BLINDEAR_ERR_MSG_TOO_LARGE otherwise; the engine keeps working either way.
   */
  async loadSessionKeys(bytes: Uint8Array): Promise<SessionKeys> {
    this.#live();
    if (this.#pool) {
      const handle = new SessionKeys(await this.#pool.loadKeys(bytes), bytes.byteLength);
      this.#issued.add(handle);
      return handle;
    }
    const canonical = await this.#loader!.galoisKeys(bytes, this.#galoisElements, this.#maxKeyBytes);
    this.#live();
    const loaded: GaloisKeys[] = [];
    try {
      for (const shard of this.#shards) {
        const keys = shard.seal.GaloisKeys();
        loaded.push(keys);
        if (canonical.byteLength > 0) keys.loadArray(shard.context, canonical);
      }
    } catch (err) {
      for (const k of loaded) k.delete();
      throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', String((err as Error)?.message ?? err), { cause: err });
    }
    const handle = new SessionKeys(loaded, bytes.byteLength);
    this.#issued.add(handle);
    return handle;
  }

  /**
   * Scores one query ciphertext: returns its output ciphertexts (layout.outputCiphertexts of them), at
   * the last level, zstd-compressed. The query is validated before any evaluation (byte limit, parse,
   * level, scale, size, NTT form, not transparent): BLINDEAR_ERR_MSG_TOO_LARGE,
   * BLINDEAR_ERR_HE_CIPHERTEXT_INVALID, BLINDEAR_ERR_HE_PARAMS_MISMATCH. Synchronous WASM work after the
   * validation: tens to hundreds of ms (bench/he-scoring.ts); run it off the event loop of a consumer
   * that must heartbeat.
   */
  async score(keys: SessionKeys, query: Uint8Array): Promise<Uint8Array[]> {
    this.#live();
    if (!this.#issued.has(keys)) throw new TypeError('SessionKeys were not loaded by this engine');
    if (this.#pool) {
      const id = keys.pooledId;
      // Released by another message of the same consumer (an LRU eviction): retriable, the keys reload.
      if (id === undefined) throw new BlindearError('BLINDEAR_ERR_SESSION_UNKNOWN', 'session keys were released');
      return this.#pool.score(id, query);
    }
    const canonical = await this.#loader!.ciphertext(query, { level: 'first', scale: this.#facts!.inputScale, maxBytes: this.#maxQueryBytes });
    this.#live();
    const results: Uint8Array[] = [];
    // Shard by shard, each in its own instance: the query is loaded into each (its baby-step rotations
    // are redone per shard, g − 1 rotations against the shard's products).
    this.#shards.forEach((shard, k) => {
      for (const r of this.#scoreShard(shard, keys.galoisKeys(k), canonical)) results.push(r);
    });
    return results;
  }

  #scoreShard(shard: Shard, galois: GaloisKeys, canonical: Uint8Array): Uint8Array[] {
    return withScope((scope) => {
      const seal = shard.seal;
      const input = scope.track(seal.CipherText());
      input.loadArray(shard.context, canonical);
      const tmp = scope.track(seal.CipherText());
      const ops = this.#ops(shard, galois, tmp);
      let outputs: CipherText[];
      try {
        outputs = evaluateMatvec(shard.layout, input, shard.diagonals, ops).map((ct) => scope.track(ct));
        return outputs.map((ct, o) => {
          if (this.#modSwitch) shard.evaluator.cipherModSwitchTo(ct, shard.lastParmsId, ct);
          const b = shard.bias[o];
          if (b) shard.evaluator.addPlain(ct, b, ct);
          return ct.saveArray(seal.ComprModeType.zstd);
        });
      } catch (err) {
        // An abort inside the engine's own instance is fatal: its heap may be corrupted.
        if (err instanceof WebAssembly.RuntimeError) throw err;
        throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `evaluation failed: ${String((err as Error)?.message ?? err)}`, { cause: err });
      }
    });
  }

  #ops(shard: Shard, galois: GaloisKeys, tmp: CipherText): MatvecOps<CipherText, PlainText> {
    const seal = shard.seal;
    const ev = shard.evaluator;
    const rescale = this.#facts!.rescale;
    return {
      rotate: (ct, step) => {
        const out = seal.CipherText();
        try {
          ev.rotateVector(ct, step, galois, out);
        } catch (err) {
          out.delete();
          throw err;
        }
        return out;
      },
      rotateInPlace: (ct, step) => void ev.rotateVector(ct, step, galois, ct),
      multiplyPlain: (ct, p) => {
        const out = seal.CipherText();
        try {
          ev.multiplyPlain(ct, p, out);
        } catch (err) {
          out.delete();
          throw err;
        }
        return out;
      },
      multiplyPlainAddInPlace: (acc, ct, p) => {
        ev.multiplyPlain(ct, p, tmp);
        ev.add(acc, tmp, acc);
      },
      addInPlace: (acc, other) => void ev.add(acc, other, acc),
      rescaleInPlace: (ct) => {
        if (rescale) ev.rescaleToNext(ct, ct);
      },
      free: (ct) => ct.delete(),
    };
  }

  /** Frees the encoded model and the engine's SEAL objects. Session keys are freed by their own dispose(). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const s of this.#shards) disposeShard(s);
    void this.#pool?.close();
  }

  /** dispose(), then waits until the scoring threads (if any) have freed their SEAL objects and ended. */
  async close(): Promise<void> {
    this.dispose();
    await this.#pool?.close();
  }
}
