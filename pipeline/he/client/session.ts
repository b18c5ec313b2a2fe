/**
 * The client side of encrypted scoring: a fresh CKKS secret key per session, the public evaluation
 * material for the server, encryption of feature windows and decryption of the server's scores.
 *
 * The secret key, the key generator and the encryptor/decryptor live in private fields of the session
 * and never leave it: no method returns them, nothing serialises them (`toJSON` shows only the
 * parameters id). Only `pipeline/he/client/` may import this file (test/he/boundary.test.ts).
 *
 * Encryption is symmetric and seeded (`encryptSymmetricSerializable`): the second polynomial of a fresh
 * ciphertext is replaced by the PRNG seed that generates it, so a query is about half the size of a
 * public-key one. The server never encrypts, so it gets no public encryption key; node-seal's Encryptor
 * constructor still wants one, so one is made and dropped at once.
 */
import { inspect } from 'node:util';
import { HeParams, paramsId as computeParamsId, type ScoringLayout } from '../../../schemas/he.js';
import { galoisSteps, layoutFor, packWindows, queryCiphertextCount, unpackScores } from '../layout.js';
import { maxResultBytes } from '../serialized.js';
import { createContext, getSeal, withScope, type Context, type ContextFacts, type Seal } from '../seal.js';
import type { CKKSEncoder } from 'node-seal/implementation/ckks-encoder.js';
import type { Decryptor } from 'node-seal/implementation/decryptor.js';
import type { Encryptor } from 'node-seal/implementation/encryptor.js';
import type { KeyGenerator } from 'node-seal/implementation/key-generator.js';
import { sharedUntrustedLoader, type UntrustedLoader } from '../untrusted-loader.js';
import { BlindearError } from '../../errors.js';
import type { EncryptedWindows, ModelShape, PublicMaterial, ScoringClient } from '../types.js';

interface SecretState {
  seal: Seal;
  context: Context;
  facts: ContextFacts;
  keygen: KeyGenerator;
  encryptor: Encryptor;
  decryptor: Decryptor;
  encoder: CKKSEncoder;
}

export class ClientSession implements ScoringClient {
  readonly params: HeParams;
  readonly layout: ScoringLayout;
  /** Identifies (parameters, layout, model shape): goes into every envelope the client sends. */
  readonly paramsId: string;
  #state: SecretState | undefined;
  #material: PublicMaterial | undefined;
  #loader: Promise<UntrustedLoader> | undefined;

  private constructor(params: HeParams, layout: ScoringLayout, state: SecretState) {
    this.params = params;
    this.layout = layout;
    this.paramsId = computeParamsId(params, layout);
    this.#state = state;
  }

  /** A session with a freshly generated secret key, for a model of `shape` scored under `params`. */
  static async create(params: HeParams, shape: ModelShape): Promise<ClientSession> {
    return ClientSession.#make(params, shape);
  }

  /**
   * The session whose secret key `unseal` returns (bytes from `sealSecretKey`): a restarted or another
   * client-service instance continues the session with the same keys. The plain bytes are wiped after loading.
   */
  static async restore(params: HeParams, shape: ModelShape, unseal: () => Uint8Array): Promise<ClientSession> {
    return ClientSession.#make(params, shape, unseal);
  }

  static async #make(params: HeParams, shape: ModelShape, unseal?: () => Uint8Array): Promise<ClientSession> {
    const p = HeParams.parse(params);
    const layout = layoutFor(p, shape.classes, shape.dim);
    const seal = await getSeal();
    const { context, facts } = createContext(seal, p);
    let keygen: KeyGenerator | undefined;
    try {
      if (unseal) {
        const bytes = unseal();
        const sk = seal.SecretKey();
        try {
          sk.loadArray(context, bytes);
          keygen = seal.KeyGenerator(context, sk);
        } catch (err) {
          throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', `stored secret key does not load: ${err instanceof Error ? err.message : String(err)}`);
        } finally {
          bytes.fill(0);
          sk.delete();
        }
      } else {
        keygen = seal.KeyGenerator(context);
      }
      const kg = keygen;
      const { encryptor, decryptor } = withScope((scope) => {
        const secretKey = scope.track(kg.secretKey());
        const publicKey = scope.track(kg.createPublicKey());
        return { encryptor: seal.Encryptor(context, publicKey, secretKey), decryptor: seal.Decryptor(context, secretKey) };
      });
      const encoder = seal.CKKSEncoder(context);
      return new ClientSession(p, layout, { seal, context, facts, keygen: kg, encryptor, decryptor, encoder });
    } catch (err) {
      keygen?.delete();
      context.delete();
      throw err;
    }
  }

  get scheme(): 'ckks' {
    return 'ckks';
  }

  get windowsPerQuery(): number {
    return this.layout.windowsPerCiphertext;
  }

  #live(): SecretState {
    if (!this.#state) throw new Error('ClientSession used after dispose()');
    return this.#state;
  }

  /**
   * The Galois keys for exactly the rotation steps of the layout (seeded, zstd): send once per session.
   * Empty when the layout needs no rotation (d = 1). Made on first call, then reused.
   */
  publicMaterial(): PublicMaterial {
    if (this.#material) return this.#material;
    const s = this.#live();
    const steps = galoisSteps(this.layout);
    let bytes: Uint8Array = new Uint8Array(0);
    if (steps.length > 0) {
      bytes = withScope((scope) => scope.track(s.keygen.createGaloisKeysSerializable(Int32Array.from(steps))).saveArray(s.seal.ComprModeType.zstd));
    }
    this.#material = bytes as PublicMaterial;
    return this.#material;
  }

  /**
   * The secret key, handed only to `seal` (which must encrypt it, e.g. AES-GCM under the client service's
   * key) and wiped afterwards: what comes back is safe to store in the client zone.
   */
  sealSecretKey<T>(seal: (plain: Uint8Array) => T): T {
    const s = this.#live();
    const bytes = withScope((scope) => scope.track(s.keygen.secretKey()).saveArray(s.seal.ComprModeType.zstd));
    try {
      return seal(bytes);
    } finally {
      bytes.fill(0);
    }
  }

  /** Packs windows (each of `dim` finite values) into query ciphertexts and encrypts them. */
  encryptWindows(windows: readonly Float32Array[]): EncryptedWindows {
    const s = this.#live();
    windows.forEach((x, w) => {
      if (x.length !== this.layout.dim) throw new RangeError(`window ${w} has ${x.length} features, the model has ${this.layout.dim}`);
      for (let k = 0; k < x.length; k++) if (!Number.isFinite(x[k])) throw new RangeError(`window ${w} has a non-finite feature at ${k}`);
    });
    const packed = packWindows(this.layout, windows);
    const ciphertexts = packed.map((slots) =>
      withScope((scope) => {
        const pt = scope.track(s.seal.PlainText());
        s.encoder.encode(slots, s.facts.inputScale, pt);
        return scope.track(s.encryptor.encryptSymmetricSerializable(pt)).saveArray(s.seal.ComprModeType.zstd);
      }),
    );
    const B = this.layout.windowsPerCiphertext;
    const windowsPerCiphertext = ciphertexts.map((_, q) => Math.min(B, windows.length - q * B));
    return { ciphertexts, windowsPerCiphertext };
  }

  /**
   * Decrypts the server's results into one score vector (length C, bias included by the server) per
   * window. results[q] are the output ciphertexts of query ciphertext q, in order. Every result is
   * checked first (parsed in an isolated SEAL instance, last level, expected scale):
   * BLINDEAR_ERR_HE_CIPHERTEXT_INVALID / BLINDEAR_ERR_HE_PARAMS_MISMATCH / BLINDEAR_ERR_MSG_TOO_LARGE.
   */
  async decryptScores(results: readonly (readonly Uint8Array[])[], nWindows: number): Promise<Float64Array[]> {
    this.#live();
    const expected = queryCiphertextCount(this.layout, nWindows);
    if (results.length !== expected) {
      throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `${results.length} query results for ${nWindows} windows, expected ${expected}`);
    }
    this.#loader ??= sharedUntrustedLoader(this.params);
    const loader = await this.#loader;
    const s = this.#live();
    const expectation = { level: 'last' as const, scale: s.facts.outputScale, maxBytes: maxResultBytes(this.params) };
    const decoded: Float64Array[][] = [];
    for (const outputs of results) {
      if (outputs.length !== this.layout.outputCiphertexts) {
        throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `${outputs.length} result ciphertexts, expected ${this.layout.outputCiphertexts}`);
      }
      const slots: Float64Array[] = [];
      for (const bytes of outputs) {
        const canonical = await loader.ciphertext(bytes, expectation);
        slots.push(
          withScope((scope) => {
            const ct = scope.track(s.seal.CipherText());
            ct.loadArray(s.context, canonical);
            const pt = scope.track(s.seal.PlainText());
            s.decryptor.decrypt(ct, pt);
            return s.encoder.decode(pt);
          }),
        );
      }
      decoded.push(slots);
    }
    return unpackScores(this.layout, decoded, nWindows);
  }

  /** Frees the session's SEAL objects; the secret key is wiped by SEAL on destruction. */
  dispose(): void {
    const s = this.#state;
    this.#state = undefined;
    this.#material = undefined;
    if (s) {
      for (const o of [s.encoder, s.decryptor, s.encryptor, s.keygen, s.context]) o.delete();
    }
    this.#loader = undefined; // shared by the thread's sessions: not disposed here
  }

  toJSON(): { paramsId: string } {
    return { paramsId: this.paramsId };
  }

  [inspect.custom](): string {
    return `ClientSession { paramsId: '${this.paramsId}' }`;
  }
}
