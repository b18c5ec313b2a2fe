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
