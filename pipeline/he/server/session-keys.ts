/**
 * A session's evaluation keys as loaded by a ScoringEngine: only Galois keys for the layout's rotation
 * steps (checked on load), never anything that decrypts. Dispose when the session ends.
 */
import type { GaloisKeys } from '../seal.js';

export class SessionKeys {
  #keys: GaloisKeys | undefined;
  /** Bytes of the validated key set as the client sent it. */
  readonly byteLength: number;

  /** @internal Made by ScoringEngine.loadSessionKeys only. */
  constructor(keys: GaloisKeys, byteLength: number) {
    this.#keys = keys;
    this.byteLength = byteLength;
  }

  get disposed(): boolean {
    return this.#keys === undefined;
  }

  /** @internal The loaded keys, for the engine's evaluator. */
  galoisKeys(): GaloisKeys {
    if (!this.#keys) throw new Error('SessionKeys used after dispose()');
    return this.#keys;
  }

  dispose(): void {
    this.#keys?.delete();
    this.#keys = undefined;
  }
}
