/**
 * The position query: private retrieval of one class's position record (pipeline/model/position.ts) on
 * plain LWE, SimplePIR's construction (Henzinger et al., USENIX Security 2023) with the parameters of the
 * scoring engine (pipeline/he/lwe.ts: q = 2^32, n = 1024, σ = 6.4). Shared by its client and server
 * halves; no secret here.
 *
 *   public   A' ∈ Z_q^{C×n}, expanded from the table's 16-byte seed
 *   server   D ∈ [0, 256)^{m×C}: column k is class k's record of m bytes
 *   hint     H' = D·A' (m × n), downloaded once per catalogue version
 *   query    c = A'·s + e + Δ·u_k     (u_k: the one-hot of the class asked for; fresh s and e per query)
 *   server   z = D·c mod 2^32          (m·C multiply-adds)
 *   client   z − H'·s = Δ·D[:, k] + D·e  →  round(· / Δ) = the record
 *
 * The query is an LWE ciphertext of the one-hot, so the server learns nothing of k. Δ = 2^deltaBits keeps
 * a record byte (< 256 = 2^(32 − deltaBits)) exact as long as |D·e| < Δ/2: its standard deviation is
 * σ·‖D row‖ ≤ σ·255·√C, and `maxPositionClasses` keeps 6 of them under Δ/4.
 */
import { computeHint, expandA } from './lwe.js';
import { LWE_SIGMA } from './lwe.js';

export interface PositionPirSetup {
  classes: number;
  /** Bytes per record (m). */
  bytes: number;
  n: number;
  /** Hex of the 16-byte seed of A'. */
  seed: string;
  deltaBits: number;
}

/** log2 Δ of every table: 8-bit record bytes fill the 32-bit words above it. */
export const POSITION_DELTA_BITS = 24;

/** Most classes a table of `deltaBits` can serve with record bytes decrypting exactly (6σ of D·e under Δ/4). */
export function maxPositionClasses(deltaBits = POSITION_DELTA_BITS): number {
  return Math.floor(((2 ** (deltaBits - 2)) / (6 * LWE_SIGMA * 255)) ** 2);
}

/** D (m × C, row-major) from the records (C × m, one after the other). */
export function positionMatrix(table: Uint8Array, classes: number, bytes: number): Int16Array {
  if (table.length !== classes * bytes) throw new RangeError(`a position table of ${table.length} bytes, expected ${classes} × ${bytes}`);
  const d = new Int16Array(bytes * classes);
  for (let k = 0; k < classes; k++) for (let r = 0; r < bytes; r++) d[r * classes + k] = table[k * bytes + r];
  return d;
}

/** H' = D·A' mod 2^32 (m × n): the table's hint, once per catalogue. */
export function positionHint(setup: PositionPirSetup, table: Uint8Array): Int32Array {
  const { classes: C, bytes: m, n } = setup;
  return computeHint(positionMatrix(table, C, m), m, C, expandA(setup.seed, C, n), n);
}
