/**
 * The server half of the position query (pipeline/he/position-pir.ts): z = D·c over a client's encrypted
 * one-hot. It holds the position table (public to it, as the weights are) and never a secret; every
 * string of C words is a valid query, so its length is all there is to check.
 */
import { BlindearError } from '../../errors.js';
import { matmulMod32 } from '../lwe.js';
import { SimdScan, simdAvailable } from '../lwe-simd.js';
import { positionMatrix, type PositionPirSetup } from '../position-pir.js';

export class PositionEngine {
  readonly setup: PositionPirSetup;
  readonly #d: Int16Array;
  readonly #simd: SimdScan | undefined;

  constructor(setup: PositionPirSetup, table: Uint8Array, kernel: 'simd' | 'js' = simdAvailable ? 'simd' : 'js') {
    this.setup = Object.freeze({ ...setup });
    this.#d = positionMatrix(table, setup.classes, setup.bytes);
    this.#simd = kernel === 'simd' ? new SimdScan(this.#d, setup.bytes, setup.classes) : undefined;
  }

  /** Bytes of a query (C words) and of its answer (m words). */
  get queryBytes(): number {
    return this.setup.classes * 4;
  }

  get answerBytes(): number {
    return this.setup.bytes * 4;
  }

  /** z = D·c mod 2^32 as m little-endian words (BLINDEAR_ERR_HE_CIPHERTEXT_INVALID unless c is C words). */
  answer(query: Uint8Array): Uint8Array {
    const { classes: C, bytes: m } = this.setup;
    if (query.byteLength !== C * 4) throw new BlindearError('BLINDEAR_ERR_HE_CIPHERTEXT_INVALID', `position query of ${query.byteLength} bytes, expected ${C * 4}`);
    const x = new Int32Array(C);
    new Uint8Array(x.buffer).set(query);
    const out = new Int32Array(m);
    if (this.#simd) this.#simd.matmul(x, 1, out);
    else matmulMod32(this.#d, m, C, x, 1, out);
    return new Uint8Array(out.buffer);
  }
}
