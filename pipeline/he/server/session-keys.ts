/**
 * A session's evaluation keys as loaded by a ScoringEngine: only Galois keys for the layout's rotation
 * steps (checked on load), never anything that decrypts. In-thread engines hold one copy per model shard
 * (each shard lives in its own SEAL instance); threaded engines hold a copy in every scoring thread and
 * this handle names them. Dispose when the session ends.
 */
import type { GaloisKeys } from '../seal.js';

/** Keys held by the engine's scoring threads: their id there, and how to free them in every thread. */
export interface PooledKeys {
  id: number;
  release(): void;
}

export class SessionKeys {
  #keys: GaloisKeys[] | PooledKeys | undefined;
  /** Bytes of the validated key set as the client sent it. */
  readonly byteLength: number;

  /** @internal Made by ScoringEngine.loadSessionKeys only: the keys loaded into each shard's instance, or the threads' handle. */
  constructor(keys: GaloisKeys[] | PooledKeys, byteLength: number) {
    this.#keys = keys;
    this.byteLength = byteLength;
  }

  get disposed(): boolean {
    return this.#keys === undefined;
  }

  /** @internal The keys loaded into shard `shard`'s instance, for its evaluator. */
  galoisKeys(shard = 0): GaloisKeys {
    if (!this.#keys) throw new Error('SessionKeys used after dispose()');
    if (!Array.isArray(this.#keys)) throw new Error('SessionKeys live in the scoring threads');
    return this.#keys[shard];
  }

  /** @internal The scoring threads' id of these keys, or undefined once disposed. */
  get pooledId(): number | undefined {
    const k = this.#keys;
    return k && !Array.isArray(k) ? k.id : undefined;
  }

  dispose(): void {
    const k = this.#keys;
    this.#keys = undefined;
    if (Array.isArray(k)) for (const g of k) g.delete();
    else k?.release();
  }
}
