/**
 * The slot layout in clear: the exact schedule the server runs on ciphertexts (evaluateMatvec), with
 * rotations simulated by array rotation, must give W·x + b at the positions unpackScores reads.
 */
import { describe, expect, it } from 'vitest';
import {
  biasSlots, diagonalSlots, evaluateMatvec, galoisElement, galoisSteps, operationCounts, packWindows, plan,
  queryCiphertextCount, unpackScores, type LayoutMode, type MatvecOps,
} from '../../pipeline/he/layout.js';
import { ScoringLayout } from '../../schemas/he.js';
import { clearScores, randomModel, randomWindows, sparseHistogramModel } from './helpers.js';
import type { LinearModel } from '../../pipeline/features/types.js';

/** Clear-text stand-in for the homomorphic operations, counting what it does. */
function clearOps(counter: { rot: number; mul: number; live: number; steps: Set<number> }): MatvecOps<Float64Array, Float64Array> {
  const rot = (v: Float64Array, k: number) => {
    counter.rot++;
    counter.steps.add(k);
    const S = v.length;
    const r = new Float64Array(S);
    for (let s = 0; s < S; s++) r[s] = v[(s + k) % S];
    return r;
  };
  return {
    rotate: (v, k) => {
      counter.live++;
      return rot(v, k);
    },
    rotateInPlace: (v, k) => v.set(rot(v, k)),
    multiplyPlain: (v, p) => {
      counter.mul++;
      counter.live++;
      return v.map((x, s) => x * p[s]);
    },
    multiplyPlainAddInPlace: (acc, v, p) => {
      counter.mul++;
      for (let s = 0; s < acc.length; s++) acc[s] += v[s] * p[s];
    },
    addInPlace: (acc, v) => {
      for (let s = 0; s < acc.length; s++) acc[s] += v[s];
    },
    rescaleInPlace: () => {},
    free: () => {
      counter.live--;
    },
  };
}

function simulate(model: LinearModel, windows: Float32Array[], slots: number, mode?: LayoutMode) {
  const l = plan(model.classes, model.dim, slots, { mode });
  const plains = Array.from({ length: l.outputCiphertexts }, (_, o) =>
    Array.from({ length: l.giantSteps }, (_, i) => Array.from({ length: l.babySteps }, (_, b) => diagonalSlots(l, model.weights, o, i, b))),
  );
  const counter = { rot: 0, mul: 0, live: 0, steps: new Set<number>() };
  const ops = clearOps(counter);
  const decoded = packWindows(l, windows).map((x) =>
    evaluateMatvec(l, x, plains, ops).map((y, o) => {
      const b = biasSlots(l, model.bias, o);
      const r = y.map((v, s) => v + b[s]);
      ops.free(y);
      return r;
    }),
  );
  return { l, scores: unpackScores(l, decoded, windows.length), counter };
}

const shapes: [number, number, number, LayoutMode | undefined][] = [
  [64, 20, 64, undefined], // blocked, several windows per ciphertext
  [64, 20, 64, 'periodic'],
  [5, 3, 16, undefined],
  [200, 20, 256, undefined],
  [1000, 20, 256, undefined], // several outputs
  [1000, 20, 256, 'periodic'],
  [300, 33, 256, 'periodic'], // d not a power of two, padded
  [300, 33, 256, 'blocked'],
  [10, 40, 64, undefined], // C < d
  [512, 16, 128, 'periodic'], // C a multiple of the slots
  [7, 1, 16, undefined], // d = 1: no rotation at all
  [3, 16, 16, undefined], // d = slots
];

describe('plan', () => {
  it('returns a valid, frozen layout the schema accepts', () => {
    for (const [C, d, S, mode] of shapes) {
      const l = plan(C, d, S, { mode });
      expect(ScoringLayout.parse(l)).toEqual(l);
      expect(Object.isFrozen(l)).toBe(true);
      if (mode) expect(l.mode).toBe(mode);
    }
  });

  it('packs several windows per ciphertext when a block fits more than once', () => {
    const l = plan(64, 20, 4096);
    expect(l.mode).toBe('blocked');
    expect(l.period).toBe(20);
    expect(l.blockLength).toBe(64 + 20 - 1);
    expect(l.windowsPerCiphertext).toBe(Math.floor(4096 / 83));
    expect(l.outputCiphertexts).toBe(1);
  });

  it('uses several output ciphertexts when C exceeds the slots', () => {
    const l = plan(10000, 20, 4096);
    expect(l.outputCiphertexts).toBeGreaterThanOrEqual(3);
    expect(l.outputCiphertexts * l.rowsPerOutput).toBeGreaterThanOrEqual(10000);
    const p = plan(4096, 512, 4096);
    expect(p).toMatchObject({ mode: 'periodic', period: 512, outputCiphertexts: 1, windowsPerCiphertext: 1 });
    const q = plan(10000, 20, 4096, { mode: 'periodic' });
    expect(q).toMatchObject({ outputCiphertexts: 3, period: 32, rowsPerOutput: 4096, windowsPerCiphertext: 1 });
  });

  it('caps the windows per query', () => {
    expect(plan(64, 20, 4096).windowsPerCiphertext).toBe(49);
    expect(plan(64, 20, 4096, { maxWindowsPerCiphertext: 8 }).windowsPerCiphertext).toBeLessThanOrEqual(8);
    expect(plan(10000, 20, 4096, { maxWindowsPerCiphertext: 1 }).windowsPerCiphertext).toBe(1);
  });

  it('chooses about sqrt(outputs·D) baby steps and needs the Galois keys of steps 1 and g only', () => {
    const l = plan(4096, 512, 4096);
    expect(l.babySteps).toBeGreaterThan(8);
    expect(l.babySteps).toBeLessThan(64);
    expect(l.babySteps * l.giantSteps).toBeGreaterThanOrEqual(512);
    expect(galoisSteps(l)).toEqual([1, l.babySteps]);
    expect(galoisSteps(plan(7, 1, 16))).toEqual([]);
    expect(() => plan(7, 1, 16, { maxWindowsPerCiphertext: 0 })).toThrow(RangeError);
  });

  it('rejects shapes that cannot fit', () => {
    expect(() => plan(10, 5000, 4096)).toThrow(RangeError);
    expect(() => plan(0, 5, 4096)).toThrow(RangeError);
    expect(() => plan(10, 5, 100)).toThrow(RangeError);
  });
});

describe('galoisElement', () => {
  it('matches SEAL: 3^step mod 2N', () => {
    expect(galoisElement(1, 4096)).toBe(3);
    expect(galoisElement(5, 4096)).toBe(243);
    expect(galoisElement(8, 8192)).toBe(3 ** 8 % 16384);
    expect(() => galoisElement(0, 4096)).toThrow(RangeError);
    expect(() => galoisElement(2048, 4096)).toThrow(RangeError);
  });
});

describe('pack / unpack', () => {
  it('places each window in its block and reads scores back at the output positions', () => {
    const l = plan(10, 4, 64, { mode: 'blocked' });
    const n = l.windowsPerCiphertext + 2;
    const ws = randomWindows(n, 4, 1);
    const packed = packWindows(l, ws);
    expect(packed.length).toBe(2);
    expect(packed[0][l.blockLength + 5]).toBe(ws[1][5 % 4]);
    expect(packed[1][0]).toBe(ws[l.windowsPerCiphertext][0]);
    expect(() => packWindows(l, [new Float32Array(3)])).toThrow(RangeError);
    expect(() => unpackScores(l, [[new Float64Array(64)]], n)).toThrow(RangeError);
  });
});

describe('evaluateMatvec in clear (the exact homomorphic schedule)', () => {
  for (const [C, d, S, mode] of shapes) {
    it(`C=${C} d=${d} slots=${S} mode=${mode ?? 'auto'} equals W·x + b`, () => {
      const model = randomModel(C, d, C * 31 + d);
      const l0 = plan(C, d, S, { mode });
      const n = 2 * l0.windowsPerCiphertext + 1; // full ciphertexts and a partial one
      const windows = randomWindows(n, d, C + d);
      const { l, scores, counter } = simulate(model, windows, S, mode);
      expect(scores.length).toBe(n);
      for (let w = 0; w < n; w++) {
        const ref = clearScores(model, windows[w]);
        for (let c = 0; c < C; c++) expect(scores[w][c]).toBeCloseTo(ref[c], 9);
      }
      const q = queryCiphertextCount(l, n);
      const ops = operationCounts(l);
      expect(counter.rot).toBe(q * ops.rotations);
      expect(counter.mul).toBeLessThanOrEqual(q * ops.multiplyPlain);
      expect(counter.live).toBe(0); // every temporary freed
      expect([...counter.steps].sort((a, b) => a - b)).toEqual(galoisSteps(l));
    });
  }

  it('leaves non-output slots free of weights (only the scores are revealed)', () => {
    const model = randomModel(10, 4, 5);
    const l = plan(10, 4, 64, { mode: 'blocked' });
    const plains = Array.from({ length: l.outputCiphertexts }, (_, o) =>
      Array.from({ length: l.giantSteps }, (_, i) => Array.from({ length: l.babySteps }, (_, b) => diagonalSlots(l, model.weights, o, i, b))),
    );
    const counter = { rot: 0, mul: 0, live: 0, steps: new Set<number>() };
    const [x] = packWindows(l, randomWindows(l.windowsPerCiphertext, 4, 9));
    const [y] = evaluateMatvec(l, x, plains, clearOps(counter));
    for (let s = 0; s < l.slots; s++) {
      const blk = Math.floor(s / l.blockLength);
      const t = s % l.blockLength;
      if (blk >= l.windowsPerCiphertext || t >= l.rowsPerOutput) expect(y[s]).toBe(0);
    }
  });

  it('skips zero diagonals of sparse models and still matches', () => {
    const model = sparseHistogramModel(300, 64, 0.02, 3);
    const windows = randomWindows(3, 64, 4);
    const { scores } = simulate(model, windows, 256);
    windows.forEach((x, w) => {
      const ref = clearScores(model, x);
      ref.forEach((v, c) => expect(scores[w][c]).toBeCloseTo(v, 9));
    });
  });

  it('refuses an output block whose weights are all zero', () => {
    const model: LinearModel = { classes: 3, dim: 4, weights: new Float32Array(12), bias: new Float32Array(3) };
    expect(() => simulate(model, randomWindows(1, 4, 1), 64)).toThrow(/only zero weights/);
  });
});
