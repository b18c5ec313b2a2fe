/** The engine of a catalogue's scheme, behind the one interface the `scorer` stage uses. */
import type { CatalogManifest } from '../../../schemas/catalog.js';
import type { LinearModel } from '../../features/types.js';
import { ScoringEngine } from './engine.js';
import { LweScoringEngine } from './lwe-engine.js';
import type { SessionKeys as Keys } from './session-keys.js';

/**
 * What the `scorer` stage needs of a catalogue's engine, whichever its scheme (CKKS ScoringEngine or
 * LweScoringEngine): check a query's params id, load a session's keys record, score a query record.
 */
export interface CatalogueEngine {
  readonly scheme: 'ckks' | 'lwe';
  readonly paramsId: string;
  checkParamsId(id: string): void;
  loadSessionKeys(bytes: Uint8Array): Promise<Keys>;
  score(keys: Keys, query: Uint8Array): Promise<Uint8Array[]>;
  /** Windows a query record is charged for (the rate limit's unit), whatever its envelope claims. */
  windowsIn(query: Uint8Array): number;
  /** Largest session-keys record accepted. */
  readonly maxKeyBytes: number;
  /** Worker threads that evaluate (0: the calling thread). */
  readonly threads: number;
  close(): Promise<void>;
}

/**
 * Either scheme evaluates on `threads` worker threads (0: on the calling thread): CKKS gives each thread
 * whole queries (a SEAL instance and encoded model per thread); LWE splits the rows of one scan among them.
 */
export async function catalogueEngine(manifest: CatalogManifest, model: LinearModel, opts: { threads?: number } = {}): Promise<CatalogueEngine> {
  if (manifest.scheme === 'lwe' && manifest.lwe) {
    return LweScoringEngine.forCatalogue(model, manifest.lwe, manifest.shard ? { shardOf: manifest.shard } : {}).startThreads(opts.threads ?? 0);
  }
  return ScoringEngine.create(manifest.he, model, { threads: opts.threads ?? 0 });
}
