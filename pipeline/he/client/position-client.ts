/**
 * The client half of the position query (pipeline/he/position-pir.ts): asks for class k's record with an
 * LWE encryption of the one-hot u_k under a fresh secret, and decodes the server's answer with the
 * table's hint. A query's secret is drawn from a 32-byte seed, so a client that must wait for the answer
 * across records (the decide stage) keeps the seed, not the secret.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { BlindearError } from '../../errors.js';
import { expandA } from '../lwe.js';
import { mulMod32 } from '../lwe-simd.js';
import type { PositionPirSetup } from '../position-pir.js';
import { gaussianErrors } from './lwe-session.js';

export interface PositionQuery {
  /** C words for the server. */
  bytes: Uint8Array;
  /** 32 bytes the query's secret comes from: with it, `PositionClient.open` decodes the answer later. */
  seed: Uint8Array;
  /** The record from the server's answer (BLINDEAR_ERR_HE_CIPHERTEXT_INVALID if it cannot be one). */
  open(answer: Uint8Array): Uint8Array;
}

export class PositionClient {
  readonly setup: PositionPirSetup;
  readonly #a: Int32Array;
  readonly #hint: Int32Array;

  /** `hint` is the table's H' = D·A' (m × n words). */
  constructor(setup: PositionPirSetup, hint: Int32Array) {
    if (hint.length !== setup.bytes * setup.n) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `position hint of ${hint.length} words, expected ${setup.bytes * setup.n}`);
    this.setup = setup;
    this.#a = expandA(setup.seed, setup.classes, setup.n);
    this.#hint = hint;
  }

  /** The query for class k's record, its secret drawn from `seed` (fresh random bytes unless given). */
  query(k: number, seed: Uint8Array = randomBytes(32)): PositionQuery {
    const { classes: C, n, deltaBits } = this.setup;
    if (!Number.isInteger(k) || k < 0 || k >= C) throw new RangeError(`class ${k} is not one of the ${C}`);
    const secret = this.#secret(seed);
    const e = gaussianErrors(C);
    const c = new Int32Array(C);
    mulMod32(this.#a, n, secret, 1, c);
    for (let r = 0; r < C; r++) c[r] = (c[r] + e[r]) | 0;
    c[k] = (c[k] + 2 ** deltaBits) | 0;
    secret.fill(0);
    return { bytes: new Uint8Array(c.buffer), seed, open: (answer) => this.open(seed, answer) };
  }

  /** The record in the server's answer to the query made from `seed` (BLINDEAR_ERR_HE_CIPHERTEXT_INVALID if it cannot be one). */
  open(seed: Uint8Array, answer: Uint8Array): Uint8Array {
    const { bytes: m, n, deltaBits } = this.setup;
    if (answer.byteLength !== m * 4) throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `position answer of ${answer.byteLength} bytes, expected ${m * 4}`);
    const z = new Int32Array(answer.buffer.slice(answer.byteOffset, answer.byteOffset + answer.byteLength));
    const secret = this.#secret(seed);
    const hs = new Int32Array(m);
    mulMod32(this.#hint, n, secret, 1, hs);
    secret.fill(0);
    const record = new Uint8Array(m);
    const delta = 2 ** deltaBits;
    for (let r = 0; r < m; r++) {
      // The unsigned residue, then the nearest multiple of Δ; 256 multiples span 2^32.
      const v = ((z[r] - hs[r]) | 0) >>> 0;
      record[r] = Math.round(v / delta) & 255;
    }
    hs.fill(0);
    return record;
  }

  /** The uniform secret in Z_q^n a seed stands for: AES-256-CTR's key stream under it. */
  #secret(seed: Uint8Array): Int32Array {
    if (seed.length !== 32) throw new RangeError(`a position query seed is 32 bytes, got ${seed.length}`);
    const c = createCipheriv('aes-256-ctr', seed, Buffer.alloc(16));
    const stream = Buffer.concat([c.update(Buffer.alloc(this.setup.n * 4)), c.final()]);
    return new Int32Array(stream.buffer.slice(stream.byteOffset, stream.byteOffset + stream.byteLength));
  }
}
