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
  createContext, getSeal, withScope, type CipherText, type Context, type ContextFacts, type Evaluator,
  type GaloisKeys, type PlainText, type Seal,
} from '../seal.js';
import type { ParmsIdType } from 'node-seal/implementation/parms-id-type.js';
import { sharedUntrustedLoader, type UntrustedLoader } from '../untrusted-loader.js';
import { SessionKeys } from './session-keys.js';

export interface ScoringEngineOptions {
  /** Byte limit of one query ciphertext (default: a full, uncompressed ciphertext at the first level). */
  maxQueryBytes?: number;
  /** Byte limit of a session's key set (default: the uncompressed size of the layout's keys). */
  maxKeyBytes?: number;
}

function checkModel(m: LinearModel): void {
  const bad = (why: string) => new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `linear model: ${why}`);
  if (!Number.isInteger(m.classes) || m.classes < 1 || !Number.isInteger(m.dim) || m.dim < 1) throw bad('classes and dim must be positive integers');
  if (m.weights.length !== m.classes * m.dim) throw bad(`${m.weights.length} weights for ${m.classes}×${m.dim}`);
  if (m.bias.length !== m.classes) throw bad(`${m.bias.length} biases for ${m.classes} classes`);
  if (!m.weights.every(Number.isFinite) || !m.bias.every(Number.isFinite)) throw bad('non-finite weight or bias');
}

export class ScoringEngine {
  readonly params: HeParams;
  readonly layout: ScoringLayout;
  readonly paramsId: string;
  readonly #seal: Seal;
  readonly #context: Context;
  readonly #facts: ContextFacts;
  readonly #evaluator: Evaluator;
  readonly #lastParmsId: ParmsIdType;
  readonly #diagonals: DiagonalTable<PlainText>;
  readonly #bias: readonly (PlainText | null)[];
  readonly #loader: UntrustedLoader;
  readonly #issued = new WeakSet<SessionKeys>();
  readonly #galoisElements: number[];
  readonly #maxQueryBytes: number;
  readonly #maxKeyBytes: number;
  /** Output ciphertexts must be mod-switched down after the (rescaled) product. */
  readonly #modSwitch: boolean;
  #disposed = false;

  private constructor(init: {
    params: HeParams; layout: ScoringLayout; seal: Seal; context: Context; facts: ContextFacts; evaluator: Evaluator; lastParmsId: ParmsIdType;
    diagonals: DiagonalTable<PlainText>; bias: (PlainText | null)[]; loader: UntrustedLoader; opts: ScoringEngineOptions;
  }) {
    this.params = init.params;
    this.layout = init.layout;
    this.paramsId = computeParamsId(init.params, init.layout);
    this.#seal = init.seal;
    this.#context = init.context;
    this.#facts = init.facts;
    this.#evaluator = init.evaluator;
    this.#lastParmsId = init.lastParmsId;
    this.#diagonals = init.diagonals;
    this.#bias = init.bias;
    this.#loader = init.loader;
    this.#galoisElements = galoisSteps(init.layout).map((s) => galoisElement(s, init.params.polyModulusDegree));
    this.#maxQueryBytes = init.opts.maxQueryBytes ?? maxQueryBytes(init.params);
    this.#maxKeyBytes = init.opts.maxKeyBytes ?? maxKeyBytes(init.params, init.layout);
    this.#modSwitch = init.facts.firstPrimeCount - (init.facts.rescale ? 1 : 0) > 1;
  }

  /**
   * Builds the engine for a model: plans the layout, encodes every non-zero weight diagonal and the
   * bias once. BLINDEAR_ERR_CATALOG_INVALID for a malformed model (or an output block with only zero
   * weights, which CKKS cannot produce without encrypting); BLINDEAR_ERR_CONFIG_INVALID for parameters
   * SEAL rejects.
   */
  static async create(params: HeParams, model: LinearModel, opts: ScoringEngineOptions = {}): Promise<ScoringEngine> {
    const p = HeParams.parse(params);
    checkModel(model);
    const layout = layoutFor(p, model.classes, model.dim);
    const seal = await getSeal();
    const loader = await sharedUntrustedLoader(p);
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
        const diagonals = Array.from({ length: layout.outputCiphertexts }, (_, o) => {
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
        const bias = Array.from({ length: layout.outputCiphertexts }, (_, o) => {
          const slots = biasSlots(layout, model.bias, o);
          if (slots.every((v) => v === 0)) return null;
          const pt = encode(slots, facts.outputScale);
          evaluator.plainModSwitchTo(pt, lastParmsId, pt);
          return pt;
        });
        return { diagonals, bias };
      });
      return new ScoringEngine({ params: p, layout, seal, context, facts, evaluator, lastParmsId, diagonals, bias, loader, opts });
    } catch (err) {
      for (const o of owned.reverse()) o.delete();
      throw err;
    }
  }

  /** Encoded plaintexts held for the model (shared by all sessions) and their approximate WASM bytes. */
  get footprint(): { plaintexts: number; bytes: number } {
    let plaintexts = 0;
    for (const groups of this.#diagonals) for (const g of groups) for (const p of g) if (p) plaintexts++;
    return { plaintexts, bytes: plaintexts * this.#facts.polyModulusDegree * this.#facts.firstPrimeCount * 8 };
  }

  /** Operations per query ciphertext (for metrics and logs). */
  get operations(): ReturnType<typeof operationCounts> {
    return operationCounts(this.layout);
  }

  /** Instances of the thread's isolated parser retired after malformed inputs since start. */
  get rejectedParses(): number {
    return this.#loader.retiredInstances;
  }

  /** BLINDEAR_ERR_HE_PARAMS_MISMATCH unless `id` (from an envelope) is this engine's parameters id. */
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
    const canonical = await this.#loader.galoisKeys(bytes, this.#galoisElements, this.#maxKeyBytes);
    this.#live();
    const keys = this.#seal.GaloisKeys();
    try {
      if (canonical.byteLength > 0) keys.loadArray(this.#context, canonical);
    } catch (err) {
      keys.delete();
      throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', String((err as Error)?.message ?? err), { cause: err });
    }
    const handle = new SessionKeys(keys, bytes.byteLength);
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
    const canonical = await this.#loader.ciphertext(query, { level: 'first', scale: this.#facts.inputScale, maxBytes: this.#maxQueryBytes });
    this.#live();
    const galois = keys.galoisKeys();
    return withScope((scope) => {
      const seal = this.#seal;
      const input = scope.track(seal.CipherText());
      input.loadArray(this.#context, canonical);
      const tmp = scope.track(seal.CipherText());
      const ops = this.#ops(galois, tmp);
      let outputs: CipherText[];
      try {
        outputs = evaluateMatvec(this.layout, input, this.#diagonals, ops).map((ct) => scope.track(ct));
        return outputs.map((ct, o) => {
          if (this.#modSwitch) this.#evaluator.cipherModSwitchTo(ct, this.#lastParmsId, ct);
          const b = this.#bias[o];
          if (b) this.#evaluator.addPlain(ct, b, ct);
          return ct.saveArray(seal.ComprModeType.zstd);
        });
      } catch (err) {
        // An abort inside the engine's own instance is fatal: its heap may be corrupted.
        if (err instanceof WebAssembly.RuntimeError) throw err;
        throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `evaluation failed: ${String((err as Error)?.message ?? err)}`, { cause: err });
      }
    });
  }

  #ops(galois: GaloisKeys, tmp: CipherText): MatvecOps<CipherText, PlainText> {
    const seal = this.#seal;
    const ev = this.#evaluator;
    const rescale = this.#facts.rescale;
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
    for (const groups of this.#diagonals) for (const g of groups) for (const p of g) p?.delete();
    for (const b of this.#bias) b?.delete();
    this.#lastParmsId.delete();
    this.#evaluator.delete();
    this.#context.delete();
  }
}
