/**
 * Types that cross the trust boundary. Only bytes cross it: the client's evaluation keys
 * (`PublicMaterial`), query ciphertexts and result ciphertexts. Nothing here can hold a secret key.
 */
import type { ScoringLayout } from '../../schemas/he.js';

declare const publicMaterialBrand: unique symbol;

/**
 * Serialized Galois keys of a client session (seeded, zstd-compressed): everything the server needs to
 * evaluate, nothing that decrypts. The brand keeps other byte arrays from being passed off as keys on the
 * client side; on the server side the same bytes arrive as a plain Uint8Array and are validated.
 */
export type PublicMaterial = Uint8Array & { readonly [publicMaterialBrand]: true };

/** What a client sends per batch of windows. */
export interface EncryptedWindows {
  /** One serialized query ciphertext per group of up to `layout.windowsPerCiphertext` windows. */
  ciphertexts: Uint8Array[];
  /** How many windows each ciphertext carries (the last one may be partial). */
  windowsPerCiphertext: number[];
}

/** The model's shape, which is all the client needs to know of it. */
export interface ModelShape {
  classes: number;
  dim: number;
}

/** Identity of a scoring setup, the same on both sides. */
export interface ScoringSetup {
  paramsId: string;
  layout: ScoringLayout;
}

/**
 * A client session of either scheme (CKKS: ClientSession; LWE: LweClientSession): what the client zone's
 * stages call. The secret never leaves the object except through `sealSecretKey`.
 */
export interface ScoringClient {
  readonly scheme: 'ckks' | 'lwe';
  /** Goes into every envelope the client sends; the server refuses any other. */
  readonly paramsId: string;
  /** Most windows one query carries. */
  readonly windowsPerQuery: number;
  /** The session's record on the server's session-keys topic (CKKS: Galois keys; LWE: a marker). */
  publicMaterial(): PublicMaterial;
  sealSecretKey<T>(seal: (plain: Uint8Array) => T): T;
  encryptWindows(windows: readonly Float32Array[]): EncryptedWindows;
  /** results[q]: the result parts of query q; one score vector (bias included) per window. */
  decryptScores(results: readonly (readonly Uint8Array[])[], nWindows: number): Promise<Float64Array[]>;
  /**
   * LWE only: one shard's part of one query's result (classes `firstClass` .. `firstClass + classes - 1`
   * of each window). A sharded catalogue's client merges the parts of every shard.
   */
  decryptShard?(part: Uint8Array, nWindows: number, firstClass: number, classes: number): Float64Array[];
  dispose(): void;
}
