/**
 * A session's evaluation keys as loaded by a ScoringEngine: only Galois keys for the layout's rotation
 * steps (checked on load), never anything that decrypts. One copy per model shard (each shard lives in
 * its own SEAL instance). Dispose when the session ends.
 */
import type { GaloisKeys } from '../seal.js';

export class SessionKeys {
  #keys: GaloisKeys[] | undefined;
  /** Bytes of the validated key set as the client sent it. */
  readonly byteLength: number;

  /** @internal Made by ScoringEngine.loadSessionKeys only: the keys loaded into each shard's instance. */
  constructor(keys: GaloisKeys[], byteLength: number) {
    this.#keys = keys;
    this.byteLength = byteLength;
  }

  get disposed(): boolean {
    return this.#keys === undefined;
  }

  /** @internal The keys loaded into shard `shard`'s instance, for its evaluator. */
  galoisKeys(shard = 0): GaloisKeys {
    if (!this.#keys) throw new Error('SessionKeys used after dispose()');
    return this.#keys[shard];
  }

  dispose(): void {
    for (const k of this.#keys ?? []) k.delete();
    this.#keys = undefined;
  }
}
