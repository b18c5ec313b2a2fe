/**
 * Parameters of the "landmark" feature kind (spectral-peak pairs counted per window, scored against
 * per-segment catalogue templates). A catalogue records the parameters it was enrolled with; queries are
 * always windowed with the catalogue's parameters. Defaults are the operating point measured best under
 * the server-cost budget C·d·(windows per second) ≲ 3e5 (see bench/landmark-tune.ts and README).
 */
import { z } from 'zod';

/** Landmark block: counts are kept per 0.5 s block; windows and segments are whole numbers of blocks. */
export const LANDMARK_BLOCK_SECONDS = 0.5;

const blockMultiple = (what: string) =>
  z.number().positive().refine((v) => Math.abs(v / LANDMARK_BLOCK_SECONDS - Math.round(v / LANDMARK_BLOCK_SECONDS)) < 1e-9, {
    message: `${what} must be a multiple of ${LANDMARK_BLOCK_SECONDS} s`,
  });

/** 2-D peak picking on the log-magnitude STFT (11025 Hz, 512-point frames, hop 256). */
export const LandmarkPeakParams = z.object({
  /** Local-maximum neighbourhood, in STFT frames (odd). */
  maxFrames: z.number().int().positive().refine((v) => v % 2 === 1, 'must be odd').default(15),
  /** Local-maximum neighbourhood, in frequency bins (odd). */
  maxBins: z.number().int().positive().refine((v) => v % 2 === 1, 'must be odd').default(31),
  /** Local-mean neighbourhood (square, odd), frames and bins. */
  meanSize: z.number().int().positive().refine((v) => v % 2 === 1, 'must be odd').default(31),
  /** A peak must stand this many nats above the local mean of the log magnitude. */
  deltaNats: z.number().positive().default(1.5),
});
export type LandmarkPeakParams = z.infer<typeof LandmarkPeakParams>;

/** Pairing peaks into landmarks (f1, df, dt). */
export const LandmarkPairParams = z.object({
  /** Each anchor pairs with at most this many following peaks. */
  fanout: z.number().int().min(1).max(16).default(1),
  /** Look at most this many peaks ahead (in time order) for partners. */
  lookAhead: z.number().int().min(1).max(64).default(20),
  maxDtFrames: z.number().int().min(1).max(31).default(31),
  maxDfBins: z.number().int().min(1).max(63).default(63),
});
export type LandmarkPairParams = z.infer<typeof LandmarkPairParams>;

export const LandmarkParams = z
  .object({
    /** Feature dimension (buckets). */
    d: z.number().int().min(8).max(65536).default(2048),
    /**
     * 'hash': landmark (f1/2, df/2, dt/2) hashed into d buckets; 'grid': quantised (f1, df, dt) cells
     * (grid = [f1 bands, df bands, dt bands], d = their product), no collisions between distant landmarks;
     * 'ratio' (default): speed-tolerant codes (see ratioCode) hashed into d buckets.
     */
    bucketMode: z.enum(['hash', 'grid', 'ratio']).default('ratio'),
    grid: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]).optional(),
    /**
     * 'ratio' bucketing, speed-tolerant: a faster playback multiplies frequencies by s and divides time
     * differences by s, so log(f2/f1) and log(f1·dt) do not change and only f1 moves. Each is quantised
     * in steps of these natural-log widths (f1 coarsely: ±4 % crosses a step boundary for 1 landmark in
     * f1Step/0.04), and the triple is hashed into d buckets.
     */
    ratioCode: z.object({
      f1Step: z.number().positive().default(0.25),
      ratioStep: z.number().positive().default(0.08),
      productStep: z.number().positive().default(0.12),
    }).prefault({}),
    /** Right shift applied to f1, df, dt before hashing (1 = half resolution, more robust). */
    codeShift: z.number().int().min(0).max(3).default(1),
    /**
     * Feature weighting. 'idf': sqrt(counts)·idf. 'centred': (sqrt(counts / total) − catalogue mean)·idf,
     * 'standardised': (sqrt(counts / total) − mean) / std over the catalogue's segments. Long windows fill
     * most buckets, and uncentred vectors then all look alike (cosine ≈ 0.66 everywhere).
     */
    featureNorm: z.enum(['idf', 'centred', 'standardised']).default('idf'),
    /** Query window length and hop (the client may sum a long span into one window). */
    windowSeconds: blockMultiple('windowSeconds').default(15),
    hopSeconds: blockMultiple('hopSeconds').default(15),
    /** Catalogue segment (one class per segment) length and hop. */
    segmentSeconds: blockMultiple('segmentSeconds').default(35),
    segmentHopSeconds: blockMultiple('segmentHopSeconds').default(20),
    /** Cap on the number of classes; the segment hop grows (keeping length − hop) to stay under it. */
    maxClasses: z.number().int().positive().default(2048),
    /**
     * Catalogue side: each landmark also counts in the buckets it would fall in at playback speeds
     * 1 ± k·catalogueSpeedStep up to ±catalogueSpeedSpread (0: off). Same classes, same cost.
     */
    catalogueSpeedSpread: z.number().min(0).max(0.2).default(0),
    catalogueSpeedStep: z.number().positive().max(0.1).default(0.01),
    /**
     * Query side: speed hypotheses. Each window is also bucketed as if the audio were played at each of
     * these speeds (frequencies ÷ s, time differences × s) and scored; the client keeps each class's best
     * score over the hypotheses. One query per hypothesis per window.
     */
    querySpeeds: z.array(z.number().min(0.8).max(1.25)).min(1).max(8).default([1]),
    /**
     * Query side, live streams only: each window also travels as windowSeconds / probeSeconds consecutive
     * probe windows of this length (with every speed hypothesis), whose scores tell the client where in the
     * window the track it names is heard, i.e. where a play begins and ends. 0: no probes.
     */
    probeSeconds: z.number().min(0).default(0),
    /** Catalogue side: union of landmarks over this many STFT frame shifts (hop/shifts samples apart). */
    catalogueShifts: z.number().int().min(1).max(8).default(4),
    /**
     * Query side: union of the landmarks of this many STFT framings (hop/shifts samples apart), as the
     * catalogue's. Noise moves peaks and so a landmark's partner differently in each framing: the union
     * keeps the landmarks any framing still finds. Catalogues enrolled before it read as 1 (one framing).
     */
    queryShifts: z.number().int().min(1).max(8).default(4),
    peaks: LandmarkPeakParams.prefault({}),
    pairing: LandmarkPairParams.prefault({}),
    /** Client vote: the top K segments of each window vote, weighted by max(z − zMin, 0). */
    topK: z.number().int().positive().default(30),
    zMin: z.number().default(2),
    /**
     * Hubness correction after decryption: 'mean' subtracts each segment's typical score against other
     * tracks' query-like windows, 'zscore' also divides by its spread; 'off' leaves scores as they are.
     */
    hubness: z.enum(['off', 'mean', 'zscore']).default('off'),
    /** How a segment's vote spreads over query offsets: 'box' (maximal-overlap interval) or 'overlap'. */
    voteKernel: z.enum(['box', 'overlap']).default('overlap'),
    /**
     * The decision's confidence: 'margin', the best track's vote minus the best other track's, per
     * √windows; 'sharp', that margin times (1 − other / best)², which doubts relative near-ties however
     * large the votes (noisy queries pulled towards tracks that resemble noise).
     */
    confidence: z.enum(['margin', 'sharp']).default('sharp'),
    /** Unknown when the confidence is below this. */
    threshold: z.number().default(0),
    /**
     * Per-track thresholds: an answer naming a track must also reach this multiple of the highest
     * confidence an in-catalogue impostor trial reached when it named that track at enrolment (0: off).
     */
    trackThresholdScale: z.number().min(0).default(1),
    /** False-accept rate the threshold is calibrated for at enrolment. */
    targetFalseAccept: z.number().gt(0).lt(1).default(0.05),
    /**
     * 'tail': exponential tail fitted to the impostor confidences between their median and 90th
     * percentile (robust to near-duplicate tracks in the catalogue); 'empirical': their plain quantile.
     */
    thresholdMethod: z.enum(['tail', 'empirical']).default('tail'),
  })
  .superRefine((p, ctx) => {
    if (p.bucketMode === 'grid') {
      if (!p.grid) ctx.addIssue({ code: 'custom', message: "bucketMode 'grid' needs grid", path: ['grid'] });
      else if (p.grid[0] * p.grid[1] * p.grid[2] !== p.d)
        ctx.addIssue({ code: 'custom', message: 'grid cells must multiply to d', path: ['grid'] });
    }
    if (p.probeSeconds > 0) {
      const blocks = p.probeSeconds / LANDMARK_BLOCK_SECONDS;
      const per = p.windowSeconds / p.probeSeconds;
      if (Math.abs(blocks - Math.round(blocks)) > 1e-9 || Math.abs(per - Math.round(per)) > 1e-9 || per < 2 || per > 8)
        ctx.addIssue({ code: 'custom', message: `probeSeconds must be whole ${LANDMARK_BLOCK_SECONDS} s blocks dividing windowSeconds into 2 to 8 probes`, path: ['probeSeconds'] });
    }
    if (p.hopSeconds > p.windowSeconds) ctx.addIssue({ code: 'custom', message: 'hopSeconds > windowSeconds leaves gaps', path: ['hopSeconds'] });
    if (p.segmentHopSeconds > p.segmentSeconds)
      ctx.addIssue({ code: 'custom', message: 'segmentHopSeconds > segmentSeconds leaves gaps', path: ['segmentHopSeconds'] });
  });
export type LandmarkParams = z.infer<typeof LandmarkParams>;

/** Probe windows per window that a catalogue's live queries carry (0: none; see `probeSeconds`). */
export function landmarkProbes(p: Pick<LandmarkParams, 'windowSeconds' | 'probeSeconds'>): number {
  return p.probeSeconds > 0 ? Math.round(p.windowSeconds / p.probeSeconds) : 0;
}
export type LandmarkParamsInput = z.input<typeof LandmarkParams>;
