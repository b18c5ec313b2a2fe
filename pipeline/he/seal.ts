/**
 * node-seal 6.0.3 plumbing shared by the client and the server: loading the WASM library once per thread,
 * building a checked CKKS context from HeParams, the facts both sides derive from it (parms ids per level,
 * scales), and scopes that free every SEAL object in `finally` (node-seal objects live on the WASM heap
 * and are never garbage-collected in time: STYLE.md, "Crypto shortcuts").
 */
import SEALModule from 'node-seal';
import type { SEALLibrary } from 'node-seal/implementation/seal.js';
import type { Context } from 'node-seal/implementation/context.js';
import type { ParmsIdType } from 'node-seal/implementation/parms-id-type.js';
import { BlindearError } from '../errors.js';
import { HeParams, rescales } from '../../schemas/he.js';

export type Seal = SEALLibrary;
export type { Context } from 'node-seal/implementation/context.js';
export type { CipherText } from 'node-seal/implementation/cipher-text.js';
export type { PlainText } from 'node-seal/implementation/plain-text.js';
export type { GaloisKeys } from 'node-seal/implementation/galois-keys.js';
export type { Evaluator } from 'node-seal/implementation/evaluator.js';
export type { CKKSEncoder } from 'node-seal/implementation/ckks-encoder.js';

/** Under NodeNext the CommonJS default export arrives as the module object's type; at run time it is the factory. */
const sealFactory = SEALModule as unknown as typeof SEALModule.default;

let shared: Promise<Seal> | undefined;

/** The thread's SEAL library (one WASM instance per thread, loaded on first use). */
export function getSeal(): Promise<Seal> {
  shared ??= sealFactory();
  return shared;
}

/**
 * A separate WASM instance with its own heap, for work that may corrupt it (parsing untrusted bytes:
 * see untrusted-loader.ts). Dropping every reference to it frees it.
 */
export function createIsolatedSeal(): Promise<Seal> {
  return sealFactory();
}

interface Deletable {
  delete(): void;
}

/** Collects SEAL objects and deletes them all, newest first, when the scope ends. */
export class SealScope {
  #items: Deletable[] = [];

  track<T extends Deletable>(o: T): T {
    this.#items.push(o);
    return o;
  }

  /** Stops tracking `o`: the caller now owns it. */
  release<T extends Deletable>(o: T): T {
    const i = this.#items.lastIndexOf(o);
    if (i >= 0) this.#items.splice(i, 1);
    return o;
  }

  dispose(): void {
    const items = this.#items;
    this.#items = [];
    for (let i = items.length - 1; i >= 0; i--) {
      try {
        items[i].delete();
      } catch {
        // Already deleted, or its instance aborted: nothing left to free.
      }
    }
  }
}

/** Runs fn with a scope whose objects are deleted when fn returns or throws. */
export function withScope<R>(fn: (scope: SealScope) => R): R {
  const scope = new SealScope();
  try {
    return fn(scope);
  } finally {
    scope.dispose();
  }
}

/** The four words of a parms id (reads the id, then frees the wrapper node-seal allocated for it). */
export function parmsIdWords(id: ParmsIdType): bigint[] {
  try {
    return Array.from(id.values);
  } finally {
    id.delete();
  }
}

export function sameParmsId(a: readonly bigint[], b: readonly bigint[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** What both sides derive from a context: where ciphertexts live and at which scale. */
export interface ContextFacts {
  polyModulusDegree: number;
  slots: number;
  /** Level of query ciphertexts (all data primes). */
  firstParmsId: readonly bigint[];
  firstPrimeCount: number;
  /** Level of result ciphertexts (the first prime alone). */
  lastParmsId: readonly bigint[];
  /** Scale of query ciphertexts: 2^scaleBits. */
  inputScale: number;
  /** Scale of the encoded weight diagonals: 2^weightScaleBits. */
  weightScale: number;
  /** Scale of result ciphertexts (the product scale, divided by the rescale prime when rescaling). */
  outputScale: number;
  rescale: boolean;
}

/**
 * Builds the CKKS context for `params` and checks SEAL accepts it at 128-bit security. The caller owns
 * (and deletes) the context.
 */
export function createContext(seal: Seal, input: HeParams): { context: Context; facts: ContextFacts } {
  const params = HeParams.parse(input);
  const parms = seal.EncryptionParameters(seal.SchemeType.ckks);
  let modulus: { delete(): void } | undefined;
  let context: Context | undefined;
  try {
    parms.setPolyModulusDegree(params.polyModulusDegree);
    const m = seal.CoeffModulus.Create(params.polyModulusDegree, Int32Array.from(params.coeffModulusBits));
    modulus = m;
    parms.setCoeffModulus(m);
    context = seal.Context(parms, true, seal.SecurityLevel.tc128);
    if (!context.parametersSet()) {
      throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `SEAL rejects the HE parameters ${JSON.stringify(params)}`);
    }
    const facts = contextFacts(context, params);
    const ok = context;
    context = undefined;
    return { context: ok, facts };
  } catch (err) {
    if (err instanceof BlindearError) throw err;
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `SEAL rejects the HE parameters: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  } finally {
    context?.delete();
    modulus?.delete();
    parms.delete();
  }
}

function contextFacts(context: Context, params: HeParams): ContextFacts {
  const first = context.firstContextData;
  const firstParms = first.parms;
  try {
    const primes = Array.from(firstParms.coeffModulus);
    const rescale = rescales(params);
    const inputScale = 2 ** params.scaleBits;
    const weightScale = 2 ** params.weightScaleBits;
    // The same double arithmetic as SEAL: multiply_plain multiplies the scales, rescale_to_next divides
    // by the dropped prime (the last one of the first level) converted to double.
    const outputScale = rescale ? (inputScale * weightScale) / Number(primes[primes.length - 1]) : inputScale * weightScale;
    return {
      polyModulusDegree: params.polyModulusDegree,
      slots: params.polyModulusDegree / 2,
      firstParmsId: parmsIdWords(context.firstParmsId),
      firstPrimeCount: primes.length,
      lastParmsId: parmsIdWords(context.lastParmsId),
      inputScale,
      weightScale,
      outputScale,
      rescale,
    };
  } finally {
    firstParms.delete();
    first.delete();
  }
}
