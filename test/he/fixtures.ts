/** Parameter sets and a client→server→client round trip shared by the SEAL-backed HE tests. */
import { ClientSession } from '../../pipeline/he/client/index.js';
import { ScoringEngine, type ScoringEngineOptions } from '../../pipeline/he/server/index.js';
import type { LinearModel } from '../../pipeline/features/types.js';
import { HeParams } from '../../schemas/he.js';

/** Default set: N = 8192, [60, 40, 60], 2^40 / 2^40, one rescale. */
export const P8 = HeParams.parse({});
/** Small, rescaling: N = 4096, [40, 30, 39] (109 bits), inputs and weights at 2^30. */
export const P4 = HeParams.parse({ polyModulusDegree: 4096, coeffModulusBits: [40, 30, 39], scaleBits: 30, weightScaleBits: 30 });
/** Small, one data prime, no rescale: N = 4096, [54, 55], inputs 2^25, weights 2^20. */
export const P4_SINGLE = HeParams.parse({ polyModulusDegree: 4096, coeffModulusBits: [54, 55], scaleBits: 25, weightScaleBits: 20 });

export async function roundTrip(params: HeParams, model: LinearModel, windows: Float32Array[], engineOptions: ScoringEngineOptions = {}) {
  const engine = await ScoringEngine.create(params, model, engineOptions);
  const shards = engine.footprint.shards;
  const client = await ClientSession.create(params, { classes: model.classes, dim: model.dim });
  try {
    const keys = await engine.loadSessionKeys(client.publicMaterial());
    try {
      const { ciphertexts, windowsPerCiphertext } = client.encryptWindows(windows);
      const results: Uint8Array[][] = [];
      for (const q of ciphertexts) results.push(await engine.score(keys, q));
      const scores = await client.decryptScores(results, windows.length);
      return { scores, layout: engine.layout, shards, windowsPerCiphertext, queryBytes: ciphertexts.map((c) => c.byteLength), resultBytes: results.flat().map((r) => r.byteLength) };
    } finally {
      keys.dispose();
    }
  } finally {
    client.dispose();
    engine.dispose();
  }
}
