/**
 * Opens client sessions of a catalogue's scheme (schemas/catalog.ts `scheme`): CKKS sessions with a fresh
 * SEAL secret key each, or LWE sessions over the catalogue's hint. Made once per process; the public
 * matrix A and the hint (megabytes) are shared by all of its LWE sessions.
 */
import type { CatalogManifest } from '../../../schemas/catalog.js';
import { catalogParamsId, layoutFor } from '../layout.js';
import { loadLweHint } from '../../model/catalog-store.js';
import { expandA, type LweHint } from '../lwe.js';
import type { ScoringClient } from '../types.js';
import { LweClientSession } from './lwe-session.js';
import { ClientSession } from './session.js';

export interface ScoringClients {
  readonly scheme: 'ckks' | 'lwe';
  /** The id every session of this catalogue puts in its envelopes. */
  readonly paramsId: string;
  /** Most windows one query carries. */
  readonly windowsPerQuery: number;
  /** A new session with a fresh secret. */
  create(): Promise<ScoringClient>;
  /** The session whose sealed secret `unseal` returns (the bytes are wiped after loading). */
  restore(unseal: () => Uint8Array): Promise<ScoringClient>;
}

/** `hint` is required for an LWE catalogue (model/catalog-store.ts `loadLweHint`). */
export function scoringClients(manifest: CatalogManifest, hint?: LweHint): ScoringClients {
  const shape = { classes: manifest.classes.track.length, dim: manifest.dim };
  if (manifest.scheme === 'lwe') {
    const params = manifest.lwe;
    if (!params || !hint) throw new Error('an LWE catalogue needs its parameters and hint');
    let a: Int32Array | undefined;
    const A = (): Int32Array => (a ??= expandA(params.seed, shape.dim, params.n));
    return {
      scheme: 'lwe',
      paramsId: catalogParamsId(manifest),
      windowsPerQuery: params.maxWindowsPerQuery,
      create: async () => LweClientSession.open(params, shape, A(), hint),
      restore: async (unseal) => LweClientSession.open(params, shape, A(), hint, unseal),
    };
  }
  const layout = layoutFor(manifest.he, shape.classes, shape.dim);
  return {
    scheme: 'ckks',
    paramsId: catalogParamsId(manifest),
    windowsPerQuery: layout.windowsPerCiphertext,
    create: () => ClientSession.create(manifest.he, shape),
    restore: (unseal) => ClientSession.restore(manifest.he, shape, unseal),
  };
}

/** The client sessions of the catalogue in `dir` (its LWE hint read and checked when it has one). */
export async function openScoringClients(dir: string, manifest: CatalogManifest): Promise<ScoringClients> {
  return scoringClients(manifest, manifest.scheme === 'lwe' ? await loadLweHint(dir, manifest) : undefined);
}
