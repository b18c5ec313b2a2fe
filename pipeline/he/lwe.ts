/**
 * Linearly homomorphic scoring on plain LWE (Regev encryption with a per-catalogue hint, the construction
 * of SimplePIR and of Tiptoe's ranking service), shared by its client and server halves. Pure arithmetic
 * mod 2^32: no SEAL.
 *
 *   public     A ∈ Z_q^{d×n}, expanded from a 16-byte seed of the catalogue (AES-128-CTR)
 *   server     W_q ∈ Z^{C×d}: the model's weights quantised to `weightBits` signed integers
 *   hint       H = W_q·A ∈ Z_q^{C×n}, computed once per catalogue and downloaded by clients
 *   query      c = A·s + e + round(S·x/‖x‖)   (fresh uniform s ∈ Z_q^n and Gaussian e ∈ Z^d per query)
 *   server     z = W_q·c mod q                   (C·d 32-bit multiply-adds: the whole server cost)
 *   client     z − H·s = S·W_q·x/‖x‖ + W_q·e    → scores = (z − H·s)·‖x‖ / (S·s_w) + b
 *
 * q = 2^32 (native wrap-around of 32-bit integers), n = 1024 and σ = 6.4: SimplePIR's 128-bit parameters
 * (Henzinger et al., USENIX Security 2023, §4.2). The input scale S keeps |S·W_q·x/‖x‖| ≤ 2^30 for any x
 * (Cauchy–Schwarz with the largest row norm of W_q), so results never wrap; W_q·e adds an error of about
 * σ·‖W_q row‖ / (S·s_w) to a score, and quantising W one of about 0.29·‖x‖ / s_w — both far below the
 * CKKS path's error at the default 10 bits. The bias is public to the client (as the hint is) and added
 * by it, so the client may normalise x freely.
 */
import { createCipheriv } from 'node:crypto';
import type { LinearModel } from '../features/types.js';

/** Bytes of the nonce a query record starts with (the client derives its secrets from it; the server echoes it). */
export const LWE_NONCE_BYTES = 16;
/** An LWE session's "evaluation keys" record: LWE needs none, the signed record still registers the session. */
export const LWE_SESSION_MARKER: Uint8Array = new TextEncoder().encode('blindear-lwe-session-v1');

/** The catalogue's public download for LWE scoring: the hint H = W_q·A (C × n) and the biases (C). */
export interface LweHint {
  hint: Int32Array;
  bias: Float32Array;
}

/** LWE secret dimension. */
export const LWE_N = 1024;
/** Standard deviation of the rounded Gaussian error. */
export const LWE_SIGMA = 6.4;
/** Largest |S·W_q·x/‖x‖|: one bit below the int32 range, leaving room for the error term. */
const SCORE_BOUND = 2 ** 30;

/** What both sides know of a catalogue's LWE scoring (public: no secret, no weights). */
export interface LweSetup {
  classes: number;
  dim: number;
  n: number;
  /** Hex of the 16-byte seed that expands into A. */
  seed: string;
  /** s_w: W_q = round(W·s_w). */
  weightScale: number;
  /** S: the client encodes round(S·x/‖x‖). */
  inputScale: number;
}

/** A (d × n, row-major) expanded from the seed: AES-128-CTR keystream as little-endian 32-bit words. */
export function expandA(seedHex: string, d: number, n: number): Int32Array {
  const key = Buffer.from(seedHex, 'hex');
  if (key.length !== 16) throw new RangeError('LWE seed must be 16 bytes');
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const bytes = cipher.update(Buffer.alloc(d * n * 4));
  return new Int32Array(bytes.buffer, bytes.byteOffset, d * n).slice();
}

/** The model's weights as signed `bits`-bit integers (Int16Array, row-major), their scale and largest row norm. */
/**
 * `atScale`: quantise with this scale instead of the model's own (a shard of a catalogue uses the whole
 * catalogue's, so its rows are the whole's rows); RangeError if a weight then needs more than `bits`.
 */
export function quantiseWeights(model: LinearModel, bits: number, atScale?: number): { weights: Int16Array; scale: number; maxRowNorm: number } {
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) throw new RangeError(`weightBits must be 2..16, got ${bits}`);
  let max = 0;
  for (const w of model.weights) max = Math.max(max, Math.abs(w));
  const scale = atScale ?? (max > 0 ? (2 ** (bits - 1) - 1) / max : 1);
  if (atScale !== undefined && Math.round(max * atScale) > 2 ** (bits - 1) - 1) throw new RangeError(`weights up to ${max} do not fit ${bits} bits at scale ${atScale}`);
  const weights = new Int16Array(model.weights.length);
  let maxRowNorm = 0;
  for (let c = 0; c < model.classes; c++) {
    let norm = 0;
    for (let k = 0, i = c * model.dim; k < model.dim; k++, i++) {
      const q = Math.round(model.weights[i] * scale);
      weights[i] = q;
      norm += q * q;
    }
    maxRowNorm = Math.max(maxRowNorm, Math.sqrt(norm));
  }
  return { weights, scale, maxRowNorm };
}

/** S such that |S·W_q·u| ≤ 2^30 for every unit vector u. */
export function inputScaleFor(maxRowNorm: number): number {
  return Math.max(1, Math.floor(SCORE_BOUND / Math.max(1, maxRowNorm)));
}

/**
 * out[q·C + r] = Σ_k W[r][k]·x_q[k] mod 2^32, for Q queries (row-major Q × d) in one pass over W: each row
 * of W is read once for all queries while it sits in cache. Math.imul wraps like the hardware; four
 * accumulators keep the adds independent.
 */
export function matmulMod32(w: Int16Array | Int32Array, C: number, d: number, x: Int32Array, Q: number, out: Int32Array): void {
  const d4 = d - (d % 4);
  for (let r = 0; r < C; r++) {
    const row = r * d;
    for (let q = 0; q < Q; q++) {
      const xq = q * d;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let k = 0;
      for (; k < d4; k += 4) {
        a0 = (a0 + Math.imul(w[row + k], x[xq + k])) | 0;
        a1 = (a1 + Math.imul(w[row + k + 1], x[xq + k + 1])) | 0;
        a2 = (a2 + Math.imul(w[row + k + 2], x[xq + k + 2])) | 0;
        a3 = (a3 + Math.imul(w[row + k + 3], x[xq + k + 3])) | 0;
      }
      for (; k < d; k++) a0 = (a0 + Math.imul(w[row + k], x[xq + k])) | 0;
      out[q * C + r] = (a0 + a1 + a2 + a3) | 0;
    }
  }
}

/** H = W_q·A mod 2^32 (C × n, row-major): the catalogue's hint. C·d·n multiply-adds, once per catalogue. */
export function computeHint(w: Int16Array, C: number, d: number, a: Int32Array, n: number): Int32Array {
  const h = new Int32Array(C * n);
  for (let r = 0; r < C; r++) {
    const hr = r * n;
    for (let k = 0; k < d; k++) {
      const wk = w[r * d + k];
      if (wk === 0) continue;
      const ak = k * n;
      for (let j = 0; j < n; j++) h[hr + j] = (h[hr + j] + Math.imul(wk, a[ak + j])) | 0;
    }
  }
  return h;
}
