/**
 * A threaded ScoringEngine (worker threads, one SEAL instance each) answers exactly what an in-thread
 * engine answers: decrypted scores equal the clear W·x + b within the N = 4096 tolerance and the argmax
 * is the same; coded validation errors cross the thread boundary with their code and the pool keeps
 * scoring; released keys are retriable (BLINDEAR_ERR_SESSION_UNKNOWN), never a crash.
 * Needs the build in dist/ (`npx tsc -p .`): a worker thread cannot load TypeScript.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientSession } from '../../pipeline/he/client/index.js';
import { ScoringEngine } from '../../pipeline/he/server/index.js';
import { BlindearError } from '../../pipeline/errors.js';
import { argmax, clearScores, compare, randomModel, randomWindows, sparseHistogramModel, sparseHistogramWindows, topGap } from './helpers.js';
import { P4, P4_SINGLE } from './fixtures.js';

const TOL = 5e-3;

describe('threaded engine', () => {
  const model = randomModel(300, 33, 201);
  const windows = randomWindows(12, 33, 202);
  let engine: ScoringEngine;
  let client: ClientSession;

  beforeAll(async () => {
    engine = await ScoringEngine.create(P4, model, { threads: 2 });
    client = await ClientSession.create(P4, { classes: model.classes, dim: model.dim });
  });

  afterAll(async () => {
    client?.dispose();
    await engine?.close();
  });

  it('scores on its threads what the clear model scores, concurrently, from two sessions', async () => {
    expect(engine.threads).toBe(2);
    expect(engine.footprint.threads).toBe(2);
    const other = await ClientSession.create(P4, { classes: model.classes, dim: model.dim });
    const [k1, k2] = await Promise.all([engine.loadSessionKeys(client.publicMaterial()), engine.loadSessionKeys(other.publicMaterial())]);
    try {
      const runs = [client, other].map(async (c, i) => {
        const { ciphertexts } = c.encryptWindows(windows);
        const results = await Promise.all(ciphertexts.map((q) => engine.score(i === 0 ? k1 : k2, q)));
        return c.decryptScores(results, windows.length);
      });
      for (const scores of await Promise.all(runs)) {
        windows.forEach((x, w) => {
          const ref = clearScores(model, x);
          const { maxAbsError, range } = compare(scores[w], ref);
          expect(maxAbsError / range).toBeLessThan(TOL);
          if (topGap(ref) > 2 * TOL * range) expect(argmax(scores[w])).toBe(argmax(ref));
        });
      }
    } finally {
      k1.dispose();
      k2.dispose();
      other.dispose();
    }
  });

  it('returns coded errors for bad input and keeps scoring', async () => {
    const bad = new Uint8Array(100);
    await expect(engine.loadSessionKeys(bad)).rejects.toMatchObject({ code: 'BLINDEAR_ERR_HE_KEYS_INVALID' });
    const keys = await engine.loadSessionKeys(client.publicMaterial());
    try {
      const good = client.encryptWindows(windows.slice(0, 1)).ciphertexts[0];
      const truncated = good.slice(0, good.length - 100);
      await expect(engine.score(keys, new Uint8Array(16))).rejects.toBeInstanceOf(BlindearError);
      await expect(engine.score(keys, truncated)).rejects.toBeInstanceOf(BlindearError);
      const scores = await client.decryptScores([await engine.score(keys, good)], 1);
      expect(argmax(scores[0])).toBe(argmax(clearScores(model, windows[0])));
    } finally {
      keys.dispose();
    }
  });

  it('answers a query for released keys with a retriable error', async () => {
    const keys = await engine.loadSessionKeys(client.publicMaterial());
    keys.dispose();
    const q = client.encryptWindows(windows.slice(0, 1)).ciphertexts[0];
    await expect(engine.score(keys, q)).rejects.toMatchObject({ code: 'BLINDEAR_ERR_SESSION_UNKNOWN', retriable: true });
  });
});

it('landmark-like model at the default parameters: threaded argmax = clear argmax', async () => {
  const model = sparseHistogramModel(500, 256, 0.1, 203);
  const windows = sparseHistogramWindows(model, 6, 0.6, 0.1, 204);
  const engine = await ScoringEngine.create(P4_SINGLE, model, { threads: 1 });
  const client = await ClientSession.create(P4_SINGLE, { classes: model.classes, dim: model.dim });
  try {
    const keys = await engine.loadSessionKeys(client.publicMaterial());
    const { ciphertexts } = client.encryptWindows(windows);
    const scores = await client.decryptScores(await Promise.all(ciphertexts.map((q) => engine.score(keys, q))), windows.length);
    windows.forEach((x, w) => {
      const ref = clearScores(model, x);
      const { range } = compare(scores[w], ref);
      if (topGap(ref) > 2 * TOL * range) expect(argmax(scores[w])).toBe(argmax(ref));
    });
    keys.dispose();
  } finally {
    client.dispose();
    await engine.close();
  }
});
