/**
 * The slot layout of the encrypted scores s = W·x + b (pure: no SEAL here, so it is unit-tested in
 * clear and both sides recompute it identically).
 *
 * Diagonal method (Halevi–Shoup, hybrid form for C ≥ D rows): with x repeated with period D, rotating
 * it left by j puts x[(t + j) mod D] at slot t, so
 *     s[t] = Σ_{j<D} W[t][(t + j) mod D] · x[(t + j) mod D] = Σ_j diag_j[t] · rot(x, j)[t].
 * Baby-step/giant-step: j = g·i + b, and diag_j is stored pre-rotated right by g·i, so
 *     s = Σ_i rot(Σ_b diag'_{i,b} ⊙ rot(x, b), g·i),
 * which costs g − 1 rotations of x and, per output ciphertext, G − 1 rotations of partial sums. The
 * giant steps are accumulated by Horner's rule (acc ← rot(acc, g) + inner_i) and the baby rotations
 * are chained (rot(x, b) = rot(rot(x, b − 1), 1)), so the whole plan needs Galois keys for the steps 1
 * and g only: two keys instead of g + G − 2, for the same number of rotations.
 */
import type { CatalogManifest } from '../../schemas/catalog.js';
import { lweParamsId, paramsId, rescales, ScoringLayout, type HeParams } from '../../schemas/he.js';

export type { ScoringLayout } from '../../schemas/he.js';

/**
 * Relative CPU costs of the operations, in multiplyPlain units (measured with bench/he-scoring.ts --ops,
 * node-seal 6.0.3, CPU time on a shared 2-core EPYC: N = 8192 [60,40,60]: multiplyPlain 0.33–0.36 ms,
 * rotation 3.2–5.2 ms at the first level and 1.6 ms after the rescale, rescale 0.8 ms; [60,60]:
 * 0.16 / 1.5 ms; N = 4096 [54,55]: 0.08 / 0.73 ms).
 * Baby rotations act on the query (first level); giant ones on rescaled partial sums when rescaling.
 */
interface CostModel {
  babyRotation: number;
  giantRotation: number;
  rescale: number;
}
const RESCALING_COSTS: CostModel = { babyRotation: 13, giantRotation: 5, rescale: 3 };
const SINGLE_LEVEL_COSTS: CostModel = { babyRotation: 12, giantRotation: 12, rescale: 0 };

/** A layout packing more windows per query must save more than this fraction of the server work. */
const PACKING_SLACK = 0.1;

const nextPowerOfTwo = (v: number): number => 2 ** Math.ceil(Math.log2(v));

/** Cost of the non-product work of one query: baby rotations, giant rotations, rescales. */
function stepsCost(g: number, G: number, outputs: number, k: CostModel): number {
  return (g - 1) * k.babyRotation + outputs * ((G - 1) * k.giantRotation + G * k.rescale);
}

/** The baby-step count g (and G = ⌈D/g⌉) minimising stepsCost. */
function chooseSteps(D: number, outputs: number, k: CostModel): { g: number; G: number } {
  let best = { g: 1, G: D, cost: Infinity };
  for (let g = 1; g <= D; g++) {
    const G = Math.ceil(D / g);
    if (g > 1 && Math.ceil(D / (g - 1)) === G) continue; // same giant count with fewer baby steps exists
    const cost = stepsCost(g, G, outputs, k);
    if (cost < best.cost) best = { g, G, cost };
  }
  return best;
}

/** Estimated server cost per window, in multiplyPlain units. */
function layoutCost(l: ScoringLayout, k: CostModel): number {
  const n = l.outputCiphertexts;
  return (n * l.period + stepsCost(l.babySteps, l.giantSteps, n, k)) / l.windowsPerCiphertext;
}

function periodic(C: number, d: number, S: number, k: CostModel): ScoringLayout | null {
  const D = nextPowerOfTwo(d);
  if (D > S) return null;
  const outputs = Math.ceil(C / S);
  const { g, G } = chooseSteps(D, outputs, k);
  return {
    version: 1, mode: 'periodic', classes: C, dim: d, slots: S, period: D, blockLength: S, rowsPerOutput: S,
    windowsPerCiphertext: 1, outputCiphertexts: outputs, babySteps: g, giantSteps: G,
  };
}

function blocked(C: number, d: number, S: number, outputs: number, maxWindows: number, k: CostModel): ScoringLayout | null {
  const R = Math.ceil(C / outputs);
  const L = R + d - 1;
  if (L > S) return null;
  if (Math.ceil(C / R) !== outputs) return null; // another output count gives the same rows per output
  const { g, G } = chooseSteps(d, outputs, k);
  return {
    version: 1, mode: 'blocked', classes: C, dim: d, slots: S, period: d, blockLength: L, rowsPerOutput: R,
    windowsPerCiphertext: Math.min(maxWindows, Math.floor(S / L)), outputCiphertexts: outputs, babySteps: g, giantSteps: G,
  };
}

export type LayoutMode = ScoringLayout['mode'];

export interface PlanOptions {
  /** Force one layout family (tests, benchmarks); both sides must force the same. */
  mode?: LayoutMode;
  /** Cap on windows packed into one query (a stream waits for them: latency). */
  maxWindowsPerCiphertext?: number;
  /** Whether the parameters rescale after the products (changes the relative cost of giant steps). Default true. */
  rescale?: boolean;
}

/**
 * The cheapest layout (server work per window) for C classes, d features and `slots` slots. The blocked
 * layouts tried split the classes over 1, 2, … output ciphertexts per query (more outputs, shorter blocks,
 * more windows per query: the rotations of x are shared by more windows); the periodic one pads d to a
 * power of two and wraps rotations around. Clients and servers call it through `layoutFor(params, C, d)`.
 */
export function plan(C: number, d: number, slots: number, opts: PlanOptions = {}): ScoringLayout {
  const { mode, maxWindowsPerCiphertext: maxWindows = Infinity, rescale = true } = opts;
  const k = rescale ? RESCALING_COSTS : SINGLE_LEVEL_COSTS;
  if (!(maxWindows >= 1)) throw new RangeError(`plan: maxWindowsPerCiphertext must be ≥ 1, got ${maxWindows}`);
  if (!Number.isInteger(C) || C < 1) throw new RangeError(`plan: classes must be a positive integer, got ${C}`);
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`plan: dim must be a positive integer, got ${d}`);
  if (!Number.isInteger(slots) || slots < 2 || (slots & (slots - 1)) !== 0) throw new RangeError(`plan: slots must be a power of two, got ${slots}`);
  const candidates: ScoringLayout[] = [];
  if (mode !== 'blocked') {
    const p = periodic(C, d, slots, k);
    if (p) candidates.push(p);
  }
  if (mode !== 'periodic' && d <= slots) {
    const minOutputs = Math.ceil(C / (slots - d + 1));
    const maxOutputs = Math.min(C, 4 * minOutputs + 64);
    for (let n = minOutputs; n <= maxOutputs; n++) {
      const b = blocked(C, d, slots, n, maxWindows, k);
      if (b) candidates.push(b);
    }
  }
  if (candidates.length === 0) throw new RangeError(`plan: no ${mode ?? ''} layout fits d=${d} in ${slots} slots`);
  // Pack more windows per query only when it pays: among the layouts within 10% of the cheapest, take
  // the fewest windows per ciphertext (latency of a stream), then the fewest results per window.
  const cost = (l: ScoringLayout) => layoutCost(l, k);
  const minCost = Math.min(...candidates.map(cost));
  const near = candidates.filter((c) => cost(c) <= minCost * (1 + PACKING_SLACK) + 1e-9);
  near.sort(
    (a, b) =>
      a.windowsPerCiphertext - b.windowsPerCiphertext ||
      a.outputCiphertexts / a.windowsPerCiphertext - b.outputCiphertexts / b.windowsPerCiphertext ||
      cost(a) - cost(b),
  );
  const best = near[0];
  return Object.freeze(ScoringLayout.parse(best));
}

/** The layout both sides use for a parameter set and a model shape. */
export function layoutFor(params: HeParams, classes: number, dim: number): ScoringLayout {
  return plan(classes, dim, params.polyModulusDegree / 2, { maxWindowsPerCiphertext: params.maxWindowsPerCiphertext, rescale: rescales(params) });
}

/** Estimated server operations per query ciphertext for a layout (for logs and benchmarks). */
export function operationCounts(l: ScoringLayout): { multiplyPlain: number; rotations: number; babyRotations: number; giantRotations: number } {
  const babyRotations = l.babySteps - 1;
  const giantRotations = l.outputCiphertexts * (l.giantSteps - 1);
  return { multiplyPlain: l.outputCiphertexts * l.period, rotations: babyRotations + giantRotations, babyRotations, giantRotations };
}

/** Rotation steps the plan uses, ascending: 1 for the chained baby steps, g for the giant steps. */
export function galoisSteps(l: ScoringLayout): number[] {
  const steps = new Set<number>();
  if (l.babySteps > 1) steps.add(1);
  if (l.giantSteps > 1) steps.add(l.babySteps);
  return [...steps].sort((a, b) => a - b);
}

/** SEAL's Galois element for a left rotation by `step` slots at degree N: 3^step mod 2N. */
export function galoisElement(step: number, polyModulusDegree: number): number {
  const m = 2 * polyModulusDegree;
  if (!Number.isInteger(step) || step <= 0 || step >= polyModulusDegree / 2) throw new RangeError(`galoisElement: step ${step} out of range`);
  let e = 1;
  for (let i = 0; i < step; i++) e = (e * 3) % m;
  return e;
}

/** Number of query ciphertexts for n windows. */
export function queryCiphertextCount(l: ScoringLayout, nWindows: number): number {
  return Math.ceil(nWindows / l.windowsPerCiphertext);
}

/**
 * The client's slot vectors: window w goes to ciphertext ⌊w/B⌋, block w mod B, repeated with the
 * layout's period across the block (zeros past d in the periodic mode).
 */
export function packWindows(l: ScoringLayout, windows: readonly Float32Array[]): Float64Array[] {
  const out: Float64Array[] = [];
  for (let q = 0; q < queryCiphertextCount(l, windows.length); q++) out.push(new Float64Array(l.slots));
  windows.forEach((x, w) => {
    if (x.length !== l.dim) throw new RangeError(`packWindows: window ${w} has ${x.length} features, the model has ${l.dim}`);
    const v = out[Math.floor(w / l.windowsPerCiphertext)];
    const base = (w % l.windowsPerCiphertext) * l.blockLength;
    for (let t = 0; t < l.blockLength; t++) {
      const k = t % l.period;
      if (k < l.dim) v[base + t] = x[k];
    }
  });
  return out;
}

/**
 * Per-window score vectors (length C) from the decoded result slots: decoded[q][o] is output
 * ciphertext o of query ciphertext q.
 */
export function unpackScores(l: ScoringLayout, decoded: readonly (readonly Float64Array[])[], nWindows: number): Float64Array[] {
  const expected = queryCiphertextCount(l, nWindows);
  if (decoded.length !== expected) throw new RangeError(`unpackScores: ${decoded.length} query results for ${nWindows} windows, expected ${expected}`);
  const scores: Float64Array[] = [];
  for (let w = 0; w < nWindows; w++) {
    const outputs = decoded[Math.floor(w / l.windowsPerCiphertext)];
    if (outputs.length !== l.outputCiphertexts) throw new RangeError(`unpackScores: ${outputs.length} outputs, expected ${l.outputCiphertexts}`);
    const base = (w % l.windowsPerCiphertext) * l.blockLength;
    const s = new Float64Array(l.classes);
    for (let o = 0; o < l.outputCiphertexts; o++) {
      const v = outputs[o];
      for (let t = 0; t < l.rowsPerOutput; t++) {
        const row = o * l.rowsPerOutput + t;
        if (row >= l.classes) break;
        s[row] = v[base + t];
      }
    }
    scores.push(s);
  }
  return scores;
}

/**
 * Slot vector of diagonal j = g·i + b for output o, pre-rotated right by g·i, or null when it is all
 * zero (the server skips it: a product with a zero plaintext is a transparent ciphertext).
 */
export function diagonalSlots(l: ScoringLayout, weights: Float32Array, o: number, i: number, b: number): Float64Array | null {
  const j = l.babySteps * i + b;
  if (j >= l.period) return null;
  const shift = l.babySteps * i;
  const v = new Float64Array(l.slots);
  let nonzero = false;
  const rowOffset = o * l.rowsPerOutput;
  if (l.mode === 'periodic') {
    for (let s = 0; s < l.slots; s++) {
      const t = (((s - shift) % l.slots) + l.slots) % l.slots;
      const row = rowOffset + t;
      const col = (t + j) % l.period;
      if (row < l.classes && col < l.dim) {
        const w = weights[row * l.dim + col];
        if (w !== 0) {
          v[s] = w;
          nonzero = true;
        }
      }
    }
  } else {
    const rows = Math.min(l.rowsPerOutput, l.classes - rowOffset);
    for (let t = 0; t < rows; t++) {
      const row = rowOffset + t;
      const w = weights[row * l.dim + ((t + j) % l.period)];
      if (w === 0) continue;
      nonzero = true;
      for (let blk = 0; blk < l.windowsPerCiphertext; blk++) v[blk * l.blockLength + t + shift] = w;
    }
  }
  return nonzero ? v : null;
}

/** Slot vector of the bias for output o, at the output positions (added after the product). */
export function biasSlots(l: ScoringLayout, bias: Float32Array, o: number): Float64Array {
  const v = new Float64Array(l.slots);
  const rowOffset = o * l.rowsPerOutput;
  const rows = Math.min(l.rowsPerOutput, l.classes - rowOffset);
  for (let blk = 0; blk < l.windowsPerCiphertext; blk++) {
    for (let t = 0; t < rows; t++) v[blk * l.blockLength + t] = bias[rowOffset + t];
  }
  return v;
}

/**
 * The homomorphic operations the product needs. `C` is a ciphertext (or, in tests, a clear slot
 * vector), `P` a plaintext. Functions returning a value allocate it; the schedule frees it.
 */
export interface MatvecOps<C, P> {
  /** A new value: ct rotated left by `step` slots. */
  rotate(ct: C, step: number): C;
  rotateInPlace(ct: C, step: number): void;
  /** A new value: ct ⊙ p. */
  multiplyPlain(ct: C, p: P): C;
  /** acc += ct ⊙ p. */
  multiplyPlainAddInPlace(acc: C, ct: C, p: P): void;
  addInPlace(acc: C, other: C): void;
  /** Rescale after the products (no-op when the parameters have a single data prime). */
  rescaleInPlace(ct: C): void;
  free(ct: C): void;
}

/** Encoded diagonals: plains[o][i][b] for output o, giant step i, baby step b (null = zero diagonal). */
export type DiagonalTable<P> = readonly (readonly (readonly (P | null)[])[])[];

/**
 * Runs the baby-step/giant-step product on one query value; returns one value per output ciphertext
 * (the caller owns them; `input` is left untouched). Every temporary is freed, also on errors.
 */
export function evaluateMatvec<C, P>(l: ScoringLayout, input: C, plains: DiagonalTable<P>, ops: MatvecOps<C, P>): C[] {
  const g = l.babySteps;
  const used = new Array<boolean>(g).fill(false);
  for (const groups of plains) for (const group of groups) group.forEach((p, b) => { if (p !== null) used[b] = true; });
  let lastBaby = 0;
  used.forEach((u, b) => { if (u) lastBaby = b; });

  const baby: C[] = [input];
  const outputs: C[] = [];
  let acc: C | null = null;
  let inner: C | null = null;
  try {
    for (let b = 1; b <= lastBaby; b++) baby.push(ops.rotate(baby[b - 1], 1));
    for (let o = 0; o < l.outputCiphertexts; o++) {
      acc = null;
      for (let i = l.giantSteps - 1; i >= 0; i--) {
        inner = null;
        const group = plains[o][i];
        for (let b = 0; b < group.length; b++) {
          const p = group[b];
          if (p === null) continue;
          if (inner === null) inner = ops.multiplyPlain(baby[b], p);
          else ops.multiplyPlainAddInPlace(inner, baby[b], p);
        }
        if (inner !== null) ops.rescaleInPlace(inner);
        if (acc !== null) ops.rotateInPlace(acc, g);
        if (inner !== null) {
          if (acc === null) acc = inner;
          else {
            ops.addInPlace(acc, inner);
            ops.free(inner);
          }
          inner = null;
        }
      }
      if (acc === null) throw new RangeError(`evaluateMatvec: output ${o} has only zero weights`);
      outputs.push(acc);
      acc = null;
    }
    return outputs;
  } catch (err) {
    if (inner !== null) ops.free(inner);
    if (acc !== null) ops.free(acc);
    for (const c of outputs) ops.free(c);
    throw err;
  } finally {
    for (let b = 1; b < baby.length; b++) ops.free(baby[b]);
  }
}

/** The params id a catalogue's clients and workers agree on, whatever its scheme (as their sessions and engines compute it). */
export function catalogParamsId(manifest: CatalogManifest): string {
  if (manifest.scheme === 'lwe' && manifest.lwe) return lweParamsId(manifest.lwe, manifest.classes.track.length, manifest.dim);
  return paramsId(manifest.he, layoutFor(manifest.he, manifest.classes.track.length, manifest.dim));
}
