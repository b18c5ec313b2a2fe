/**
 * Parameters of the "mfcc-sum" feature kind (the seed's method, DESIGN.md §3). A catalogue records them at
 * enrolment, so every query is windowed exactly as its catalogue was. Parameters are validated, never
 * clamped: a value out of range is an error, not a silent substitute.
 */
import { z } from 'zod';

const isPowerOfTwo = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** The MFCC front end, librosa.feature.mfcc's defaults. */
const mfccShape = {
  sampleRate: z.number().int().min(1000).max(192_000).default(22050),
  nFft: z.number().int().min(16).max(65_536).refine(isPowerOfTwo, 'nFft must be a power of two').default(2048),
  /** STFT hop in samples. */
  hop: z.number().int().positive().default(512),
  nMels: z.number().int().min(1).max(512).default(128),
  nMfcc: z.number().int().min(1).max(512).default(20),
  fMin: z.number().nonnegative().default(0),
  /** Upper edge of the mel filterbank in Hz; absent = sampleRate / 2 (librosa's fmax=None). */
  fMax: z.number().positive().optional(),
  /** Floor of the log-mel spectrogram below the clip's maximum, in dB (librosa's power_to_db top_db). */
  topDb: z.number().positive().default(80),
};

type MfccShape = z.infer<z.ZodObject<typeof mfccShape>>;

function checkMfcc(p: MfccShape, ctx: z.RefinementCtx): void {
  if (p.nMfcc > p.nMels) {
    ctx.addIssue({ code: 'custom', path: ['nMfcc'], message: `nMfcc (${p.nMfcc}) must not exceed nMels (${p.nMels})` });
  }
  if (p.hop > p.nFft) {
    ctx.addIssue({ code: 'custom', path: ['hop'], message: `hop (${p.hop}) must not exceed nFft (${p.nFft})` });
  }
  const fMax = p.fMax ?? p.sampleRate / 2;
  if (fMax > p.sampleRate / 2) {
    ctx.addIssue({ code: 'custom', path: ['fMax'], message: `fMax (${fMax}) must not exceed sampleRate / 2` });
  }
  if (p.fMin >= fMax) {
    ctx.addIssue({ code: 'custom', path: ['fMin'], message: `fMin (${p.fMin}) must be below fMax (${fMax})` });
  }
}

export const MfccParams = z.object(mfccShape).superRefine(checkMfcc);
export type MfccParams = z.infer<typeof MfccParams>;

/**
 * How a window's MFCC frames become its feature vector.
 * - `sum`: the seed's vector, the sum of the frames' coefficients (d = nMfcc).
 * - `mean-std`: per-coefficient mean and standard deviation over the window's frames (d = 2·nMfcc).
 * - `mean-std-delta`: `mean-std` plus mean and standard deviation of the first difference between
 *   consecutive frames (d = 4·nMfcc).
 * All are computed by the client in clear; the server still scores one linear model per window.
 * Default `mean-std-delta`: on the ci set (66 tracks, 200 seeded excerpts at random offsets) it voted
 * 95% of 10 s and 89.5% of 5 s excerpts right, against 94% / 84.5% for `mean-std` and 87% / 73% for `sum`.
 */
export const MfccSummary = z.enum(['sum', 'mean-std', 'mean-std-delta']);
export type MfccSummary = z.infer<typeof MfccSummary>;

export const MfccSumParams = z
  .object({
    kind: z.literal('mfcc-sum').default('mfcc-sum'),
    ...mfccShape,
    /** Window length and hop on the fixed grid from the clip start. Non-overlapping by default, as the seed. */
    windowSeconds: z.number().positive().max(60).default(0.5),
    hopSeconds: z.number().positive().max(60).default(0.5),
    summary: MfccSummary.default('mean-std-delta'),
    /** L2 penalty of the logistic regression on standardised features (per window, loss averaged over windows). */
    l2: z.number().nonnegative().default(1e-4),
    /**
     * The client answers "unknown" when the best track's share of the window votes is below this. A share,
     * not a count, so queries of any length use one threshold (the seed's 5 of 30 windows is 0.167).
     * 0.4 was picked on catalogue excerpts alone: it turns 1% of right answers on 10 s ci excerpts into
     * "unknown" (then 63% of never-enrolled 10 s excerpts are rejected; 7% at 0.167).
     */
    minVoteShare: z.number().min(0).max(1).default(0.4),
    /**
     * What the client encrypts. 'windows': every window is its own query vector and votes for its argmax
     * (the seed). 'mean': the client averages `meanOfWindows` consecutive windows into one query vector;
     * the model is linear, so the server returns the windows' mean scores for the price of one window
     * (the seed's 15 s query of 30 windows becomes one product), and the client takes the argmax.
     */
    query: z.enum(['windows', 'mean']).default('windows'),
    meanOfWindows: z.number().int().min(2).max(4096).default(30),
    /** With query 'mean': "unknown" when the softmax of the mean scores gives the best track less than this. */
    minProbability: z.number().min(0).max(1).default(0.5),
  })
  .superRefine((p, ctx) => {
    checkMfcc(p, ctx);
    if (p.windowSeconds * p.sampleRate < p.hop) {
      ctx.addIssue({ code: 'custom', path: ['windowSeconds'], message: 'a window must span at least one STFT hop' });
    }
  });
export type MfccSumParams = z.infer<typeof MfccSumParams>;

/** Feature dimension d of a window vector for these parameters. */
export function mfccSumDim(p: Pick<MfccSumParams, 'nMfcc' | 'summary'>): number {
  switch (p.summary) {
    case 'sum':
      return p.nMfcc;
    case 'mean-std':
      return 2 * p.nMfcc;
    case 'mean-std-delta':
      return 4 * p.nMfcc;
  }
}
