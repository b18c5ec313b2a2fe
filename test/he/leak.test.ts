/**
 * No SEAL object outlives its call: after a warm-up (SEAL's memory pools and the isolated parsers
 * settle within a few hundred calls: RSS grows ≈ 30 MiB, then stays flat), 1000 more score() calls
 * and as many client decryptions must not grow the resident memory nor `external` memory (where Node
 * counts the WASM heaps). One leaked query ciphertext per call would add 128 KiB × 1000 = 125 MiB at
 * these parameters (measured: a deliberate leak grows both by ≈ 130 MiB per 1000 calls); the bound
 * is 16 MiB.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { ClientSession } from '../../pipeline/he/client/index.js';
import { ScoringEngine } from '../../pipeline/he/server/index.js';
import { argmax, clearScores, randomModel, randomWindows } from './helpers.js';
import { P4 } from './fixtures.js';

const MiB = 1024 * 1024;

/** A full garbage collection (typed arrays returned by node-seal are JS garbage), without --expose-gc. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function memoryAfterGc(): { rss: number; external: number } {
  gc();
  gc();
  const { rss, external } = process.memoryUsage();
  return { rss, external };
}

it('1000 score() and decryptScores() calls leave resident memory flat', async () => {
  const model = randomModel(64, 20, 201);
  const windows = randomWindows(4, 20, 202);
  const engine = await ScoringEngine.create(P4, model);
  const client = await ClientSession.create(P4, { classes: 64, dim: 20 });
  const keys = await engine.loadSessionKeys(client.publicMaterial());
  try {
    const [query] = client.encryptWindows(windows).ciphertexts;
    const round = async () => {
      const out = await engine.score(keys, query);
      return client.decryptScores([out], windows.length);
    };
    for (let i = 0; i < 300; i++) await round(); // warm up SEAL's memory pools, the isolated parsers, the JIT
    const before = memoryAfterGc();
    let last: Float64Array[] = [];
    for (let i = 0; i < 1000; i++) last = await round();
    const after = memoryAfterGc();
    const rss = after.rss - before.rss;
    const external = after.external - before.external;
    console.log(`growth over 1000 rounds: rss ${(rss / MiB).toFixed(1)} MiB, external ${(external / MiB).toFixed(1)} MiB`);
    expect(rss).toBeLessThan(16 * MiB);
    expect(external).toBeLessThan(16 * MiB);
    windows.forEach((x, w) => expect(argmax(last[w])).toBe(argmax(clearScores(model, x))));
  } finally {
    keys.dispose();
    client.dispose();
    engine.dispose();
  }
});
