/**
 * Parses bytes from the other trust zone in a disposable SEAL instance, checks what was loaded, and
 * hands back canonical bytes written by SEAL itself: the instance holding the model (server) or the
 * secret key (client) only ever parses its own library's output.
 *
 * Measured with node-seal 6.0.3: fuzzed ciphertexts with a valid header make `loadArray` abort the WASM
 * instance (WebAssembly.RuntimeError "Aborted()"), and some inputs that only throw "ciphertext data is
 * invalid" leave the heap corrupted so that the next, valid, load fails. So any failure to load retires
 * the instance; a fresh one is built in the background (≈ 0.1 s, 11 MB). Aborts also print "Aborted()"
 * on stderr (Emscripten's own output, not ours).
 *
 * One loader per ring (degree and moduli) per thread is enough and is shared (`sharedUntrustedLoader`):
 * it holds nothing but a context, so sessions and engines need not each pay for an instance.
 */
import { BlindearError } from '../errors.js';
import { canonicalJson, HeParams } from '../../schemas/he.js';
import { checkSealHeader } from './serialized.js';
import { createContext, createIsolatedSeal, parmsIdWords, sameParmsId, type Context, type ContextFacts, type Seal } from './seal.js';

interface Instance {
  seal: Seal;
  context: Context;
  facts: ContextFacts;
}

export interface CiphertextExpectation {
  /** 'first' for queries (all data primes), 'last' for results. */
  level: 'first' | 'last';
  /** Exact scale the ciphertext must carry. */
  scale: number;
  maxBytes: number;
}

const describe = (err: unknown): string =>
  err instanceof WebAssembly.RuntimeError ? `SEAL aborted while parsing (${err.message})` : String((err as Error)?.message ?? err);

export class UntrustedLoader {
  readonly #params: HeParams;
  #current: Instance | undefined;
  #next: Promise<Instance> | undefined;
  #retired = 0;
  #disposed = false;

  private constructor(params: HeParams, first: Instance) {
    this.#params = params;
    this.#current = first;
  }

  static async create(params: HeParams): Promise<UntrustedLoader> {
    return new UntrustedLoader(params, await UntrustedLoader.#build(params));
  }

  static async #build(params: HeParams): Promise<Instance> {
    const seal = await createIsolatedSeal();
    const { context, facts } = createContext(seal, params);
    return { seal, context, facts };
  }

  /** Instances retired after a failed parse since creation (a metric: each one is a rejected, malformed input). */
  get retiredInstances(): number {
    return this.#retired;
  }

  async #instance(): Promise<Instance> {
    if (this.#disposed) throw new Error('UntrustedLoader used after dispose()');
    if (this.#current) return this.#current;
    this.#next ??= UntrustedLoader.#build(this.#params);
    const fresh = await this.#next;
    this.#next = undefined;
    this.#current ??= fresh;
    return this.#current;
  }

  #retire(box: Instance): void {
    if (this.#current !== box) return;
    this.#current = undefined;
    this.#retired++;
    // Its heap may be corrupted: free nothing in it, drop every reference, start the replacement now.
    const next = UntrustedLoader.#build(this.#params);
    next.catch(() => undefined);
    this.#next = next;
  }

  /**
   * Checks a serialized ciphertext and returns it re-serialized by SEAL (uncompressed). Errors:
   * BLINDEAR_ERR_MSG_TOO_LARGE over `maxBytes`; BLINDEAR_ERR_HE_CIPHERTEXT_INVALID when it does not
   * parse under these parameters, is not a fresh-form 2-polynomial NTT ciphertext, or is transparent;
   * BLINDEAR_ERR_HE_PARAMS_MISMATCH when it parses but sits at another level or scale.
   */
  async ciphertext(bytes: Uint8Array, expect: CiphertextExpectation): Promise<Uint8Array> {
    checkSealHeader(bytes, expect.maxBytes, 'BLINDEAR_ERR_HE_CIPHERTEXT_INVALID');
    const box = await this.#instance();
    const ct = box.seal.CipherText();
    try {
      try {
        ct.loadArray(box.context, bytes);
      } catch (err) {
        this.#retire(box);
        throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', describe(err), { cause: err });
      }
      const invalid = (why: string) => new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', why);
      if (ct.size !== 2) throw invalid(`ciphertext has ${ct.size} polynomials, expected 2`);
      if (ct.polyModulusDegree !== box.facts.polyModulusDegree) throw invalid('wrong ring degree');
      if (!ct.isNttForm) throw invalid('CKKS ciphertext not in NTT form');
      if (ct.isTransparent) throw invalid('transparent ciphertext');
      const want = expect.level === 'first' ? box.facts.firstParmsId : box.facts.lastParmsId;
      if (!sameParmsId(parmsIdWords(ct.parmsId), want)) {
        throw new BlindearError('BLINDEAR_ERR_HE_PARAMS_MISMATCH', `ciphertext is not at the ${expect.level} level of these parameters`);
      }
      if (ct.scale !== expect.scale) {
        throw new BlindearError('BLINDEAR_ERR_HE_PARAMS_MISMATCH', `ciphertext scale 2^${Math.log2(ct.scale).toFixed(3)}, expected 2^${Math.log2(expect.scale).toFixed(3)}`);
      }
      return ct.saveArray(box.seal.ComprModeType.none);
    } finally {
      if (this.#current === box) ct.delete();
    }
  }

  /**
   * Checks a serialized Galois-key set holds exactly the keys of `elements` (Galois elements) for these
   * parameters, and returns it re-serialized by SEAL (uncompressed). An empty `elements` list accepts
   * only empty bytes (a plan without rotations). Errors: BLINDEAR_ERR_MSG_TOO_LARGE,
   * BLINDEAR_ERR_HE_KEYS_INVALID.
   */
  async galoisKeys(bytes: Uint8Array, elements: readonly number[], maxBytes: number): Promise<Uint8Array> {
    if (elements.length === 0) {
      if (bytes.byteLength !== 0) throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', 'this plan needs no Galois keys, got some');
      return new Uint8Array(0);
    }
    checkSealHeader(bytes, maxBytes, 'BLINDEAR_ERR_HE_KEYS_INVALID');
    const box = await this.#instance();
    const keys = box.seal.GaloisKeys();
    try {
      try {
        keys.loadArray(box.context, bytes);
      } catch (err) {
        this.#retire(box);
        throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', describe(err), { cause: err });
      }
      if (keys.size !== elements.length || !elements.every((e) => keys.hasKey(e))) {
        throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', `expected exactly the Galois elements [${elements.join(', ')}], got ${keys.size} keys`);
      }
      return keys.saveArray(box.seal.ComprModeType.none);
    } finally {
      if (this.#current === box) keys.delete();
    }
  }

  dispose(): void {
    this.#disposed = true;
    this.#current?.context.delete();
    this.#current = undefined;
    this.#next?.then((b) => b.context.delete(), () => undefined);
    this.#next = undefined;
  }
}

const shared = new Map<string, Promise<UntrustedLoader>>();

/** The thread's loader for these parameters' ring, made on first use and kept for the thread's life. */
export function sharedUntrustedLoader(params: HeParams): Promise<UntrustedLoader> {
  const p = HeParams.parse(params);
  const key = canonicalJson({ n: p.polyModulusDegree, q: p.coeffModulusBits });
  let loader = shared.get(key);
  if (!loader) {
    loader = UntrustedLoader.create(p);
    shared.set(key, loader);
    loader.catch(() => shared.delete(key));
  }
  return loader;
}
