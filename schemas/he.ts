/**
 * Homomorphic-encryption contract shared by the client (keys, encrypt, decrypt) and the scoring server
 * (evaluate): the CKKS parameters, the slot layout of the encrypted matrix-vector product, and the
 * `paramsId` both sides compute from them. A ciphertext, a key set or a result is only ever accepted
 * by a party whose `paramsId` equals the one it was made under.
 *
 * Checked twice (STYLE.md, Config): here for shape (power-of-two degree, modulus within the 128-bit
 * security bound, scales that fit), then by SEAL itself (`context.parametersSet()`).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** Largest total coefficient-modulus bit count SEAL allows at 128-bit classical security (HE standard). */
export const MAX_COEFF_MODULUS_BITS_128: Readonly<Record<number, number>> = Object.freeze({
  4096: 109,
  8192: 218,
  16384: 438,
  32768: 881,
});

const powerOfTwo = (v: number): boolean => Number.isInteger(v) && v > 0 && (v & (v - 1)) === 0;

export const HeParams = z
  .object({
    scheme: z.literal('ckks').default('ckks'),
    /** Ring degree N; a ciphertext carries N/2 slots. */
    polyModulusDegree: z
      .number()
      .int()
      .min(4096)
      .max(32768)
      .refine(powerOfTwo, 'polyModulusDegree must be a power of two')
      .default(8192),
    /**
     * Bit sizes of the coefficient-modulus primes. The last one is the special (key-switching) prime,
     * the others are data primes. With two or more data primes the server rescales once after the
     * plaintext products (dropping the last data prime); with one it does not rescale at all.
     */
    coeffModulusBits: z.array(z.number().int().min(20).max(60)).min(2).max(16).default([60, 40, 60]),
    /** The client encodes feature windows at scale 2^scaleBits. */
    scaleBits: z.number().int().min(10).max(60).default(40),
    /** The server encodes its weight diagonals at scale 2^weightScaleBits. */
    weightScaleBits: z.number().int().min(5).max(60).default(40),
    security: z.literal(128).default(128),
    /**
     * Most feature windows packed into one query ciphertext (small catalogues fit many): a stream waits
     * for that many windows before it can send a query, so this bounds the added latency.
     */
    maxWindowsPerCiphertext: z.number().int().min(1).max(4096).default(32),
  })
  .superRefine((p, ctx) => {
    const max = MAX_COEFF_MODULUS_BITS_128[p.polyModulusDegree];
    const total = p.coeffModulusBits.reduce((a, b) => a + b, 0);
    if (max !== undefined && total > max) {
      ctx.addIssue({ code: 'custom', path: ['coeffModulusBits'], message: `total ${total} bits exceeds ${max}, the 128-bit security bound for N=${p.polyModulusDegree}` });
    }
    const dataBits = p.coeffModulusBits.slice(0, -1);
    const firstLevelBits = dataBits.reduce((a, b) => a + b, 0);
    if (p.scaleBits + p.weightScaleBits >= firstLevelBits - 1) {
      ctx.addIssue({ code: 'custom', path: ['weightScaleBits'], message: 'product scale 2^(scaleBits+weightScaleBits) does not fit the data primes' });
    }
    const out = outputScaleBitsApprox(p);
    if (out < 1) ctx.addIssue({ code: 'custom', path: ['weightScaleBits'], message: 'scores would be rescaled below scale 2^1' });
    if (out >= (dataBits[0] ?? 0) - 1) {
      ctx.addIssue({ code: 'custom', path: ['coeffModulusBits'], message: 'no headroom for scores: the output scale does not fit the first prime' });
    }
  });
export type HeParams = z.infer<typeof HeParams>;

/** The default parameter set: N = 8192 (4096 slots), [60, 40, 60], inputs and weights at 2^40, 128-bit security. */
export const DEFAULT_HE_PARAMS: HeParams = Object.freeze(HeParams.parse({})) as HeParams;

/** True when the server rescales after the plaintext products (two or more data primes). */
export function rescales(p: HeParams): boolean {
  return p.coeffModulusBits.length >= 3;
}

/** log2 of the output scale, up to the rescale prime being only close to its nominal bit size. */
export function outputScaleBitsApprox(p: HeParams): number {
  const dataBits = p.coeffModulusBits.slice(0, -1);
  const dropped = rescales(p) ? dataBits[dataBits.length - 1] : 0;
  return p.scaleBits + p.weightScaleBits - dropped;
}

/**
 * log2 of the largest |score| a result can hold before it wraps modulo the last prime (results travel at
 * the last level: the first data prime alone). The product W·x, bias included, must stay below 2^this;
 * for the default set that is 2^18 (a margin of one bit is kept).
 */
export function scoreHeadroomBits(p: HeParams): number {
  return p.coeffModulusBits[0] - 2 - outputScaleBitsApprox(p);
}

/**
 * The plan of the encrypted product s = W·x + b, recomputed identically by both sides from
 * (C, d, slots) with `plan()` in pipeline/he/layout.ts.
 *
 * Each output ciphertext holds, for each of its `windowsPerCiphertext` windows, a block of
 * `blockLength` slots whose first `rowsPerOutput` slots are that window's scores for classes
 * o·rowsPerOutput + t. The query ciphertext holds in each block the window's features repeated with
 * period `period` (zero-padded from `dim` in the periodic mode). The product is the diagonal method:
 * `period` diagonals, grouped into `giantSteps` groups of `babySteps` (baby-step/giant-step).
 *
 * - `periodic`: one window per ciphertext, period = next power of two ≥ d, blocks are the whole
 *   ciphertext and rotations wrap around it; rowsPerOutput = slots.
 * - `blocked`: period = d, blockLength = rowsPerOutput + d − 1 so rotations by < d stay inside the
 *   block; several windows per ciphertext when a block fits more than once.
 */
export const ScoringLayout = z
  .object({
    version: z.literal(1),
    mode: z.enum(['periodic', 'blocked']),
    /** C: number of classes (rows of W). */
    classes: z.number().int().positive(),
    /** d: feature dimension (columns of W). */
    dim: z.number().int().positive(),
    /** N/2 CKKS slots per ciphertext. */
    slots: z.number().int().refine(powerOfTwo, 'slots must be a power of two'),
    /** D: period of the replicated features = number of diagonals. */
    period: z.number().int().positive(),
    blockLength: z.number().int().positive(),
    rowsPerOutput: z.number().int().positive(),
    windowsPerCiphertext: z.number().int().positive(),
    outputCiphertexts: z.number().int().positive(),
    babySteps: z.number().int().positive(),
    giantSteps: z.number().int().positive(),
  })
  .superRefine((l, ctx) => {
    const bad = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (l.period < l.dim) bad('period < dim');
    if (l.windowsPerCiphertext * l.blockLength > l.slots) bad('blocks overflow the slots');
    if (l.outputCiphertexts * l.rowsPerOutput < l.classes) bad('outputs do not cover all classes');
    if (l.babySteps * l.giantSteps < l.period) bad('baby × giant steps do not cover the diagonals');
    if (l.mode === 'periodic') {
      if (!powerOfTwo(l.period) || l.slots % l.period !== 0) bad('periodic mode needs a power-of-two period dividing the slots');
      if (l.blockLength !== l.slots || l.rowsPerOutput !== l.slots || l.windowsPerCiphertext !== 1) bad('periodic mode uses whole ciphertexts');
    } else {
      if (l.period !== l.dim) bad('blocked mode uses period = dim');
      if (l.blockLength !== l.rowsPerOutput + l.dim - 1) bad('blocked mode needs blockLength = rowsPerOutput + dim - 1');
    }
  });
export type ScoringLayout = z.infer<typeof ScoringLayout>;

/** JSON with object keys sorted, so equal values always give equal bytes. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) throw new RangeError('canonicalJson: non-finite number');
  return JSON.stringify(v);
}

/**
 * The stable identifier of (parameters, layout, model dimensions): sha256 hex of their canonical JSON.
 * The client puts it in every envelope; the server refuses keys and queries made under another one.
 */
export function paramsId(params: HeParams, layout: ScoringLayout): string {
  const p = HeParams.parse(params);
  const l = ScoringLayout.parse(layout);
  return createHash('sha256').update(canonicalJson({ blindear: 'he-scoring', params: p, layout: l })).digest('hex');
}

/**
 * The LWE scoring scheme's public parameters (pipeline/he/lwe.ts): a catalogue enrolled with
 * `--scheme lwe` carries them, and its hint file (`lwe-hint.bin`: H = W_q·A, then the biases) beside
 * the model. Nothing here is secret; a session's secret is a 32-byte seed that never leaves the client zone.
 */
export const LweParams = z.object({
  scheme: z.literal('lwe'),
  /** Secret dimension n (SimplePIR's 128-bit set with q = 2^32 and σ = 6.4). */
  n: z.literal(1024),
  /** Hex of the 16-byte seed that expands into the public matrix A. */
  seed: z.string().regex(/^[0-9a-f]{32}$/),
  /** Signed bits of the quantised weights W_q = round(W·weightScale). */
  weightBits: z.number().int().min(2).max(16),
  weightScale: z.number().positive(),
  /** S: a window x (‖x‖ ≤ 1) is encoded as round(S·x). */
  inputScale: z.number().int().positive(),
  /** Most windows one query carries (each is d words; a query is one record). */
  maxWindowsPerQuery: z.number().int().min(1).max(256).default(32),
});
export type LweParams = z.infer<typeof LweParams>;

/** The identifier of an LWE scoring setup, as `paramsId` is for CKKS: both sides compute it. */
export function lweParamsId(p: LweParams, classes: number, dim: number): string {
  return createHash('sha256').update(canonicalJson({ blindear: 'lwe-scoring', params: LweParams.parse(p), classes, dim })).digest('hex');
}
