import type { FeatureWindows } from './types.js';

/** A feature kind bound to a catalogue's parameters: what the client computes from PCM, in clear. */
export interface FeatureExtractor {
  kind: 'mfcc-sum' | 'landmark';
  dim: number;
  /** Query hypotheses per window (each window's vector is `hypotheses` stacked d-vectors). */
  hypotheses: number;
  /**
   * Probe windows per window on a live stream (0: none): a blockwise windower stacks, after the window's
   * own vector, the vectors of its `probes` equal consecutive parts (each `hypotheses` d-vectors), whose
   * scores place a play's edges inside the window. Whole-clip `windows` never carry them.
   */
  probes: number;
  /** Rate of the PCM the extractor takes (the pipeline decodes everything to this rate). */
  sampleRate: number;
  windowSeconds: number;
  hopSeconds: number;
  /** Audio needed on each side of a window for its features to equal the whole-clip ones. */
  contextSeconds: number;
  /**
   * The sample grid (from a stream's first sample) its analysis frames lie on: a slice of a stream gives
   * the whole stream's features only if it starts on this grid. 1 when any start will do.
   */
  frameSamples: number;
  /** Windows on the grid leadSamples + k * hopSeconds from the clip's start. */
  windows(pcm: Float32Array, leadSamples?: number): FeatureWindows;
  /**
   * Present when a window's features are a function of fixed blocks of audio (the landmark kind counts
   * landmarks per 0.5 s block): a live windower can then turn audio into block features as it arrives and
   * assemble each window from its blocks when its last one is in, instead of extracting the whole window
   * at its end.
   */
  blockwise?: BlockwiseFeatures;
}

/** Features per block of audio, and windows assembled from them (see FeatureExtractor.blockwise). */
export interface BlockwiseFeatures {
  /** Samples per block: a window and a hop are whole numbers of blocks. */
  blockSamples: number;
  /** Audio a block's features need before it (the context after it is the extractor's contextSeconds). */
  leadContextSeconds: number;
  /**
   * The features of `blocks` consecutive blocks, the first starting `leadSamples` into `pcm` (a slice that
   * starts on the frame grid and holds the context on each side that the whole clip would give).
   */
  blockFeatures(pcm: Float32Array, leadSamples: number, blocks: number): Int32Array[];
  /** A window's vector from its blocks' features, as `windows` computes it from the audio. */
  window(blocks: readonly Int32Array[]): Float32Array;
  /**
   * The landmark kind: each block's landmarks kept beside its features, so a window's landmarks (for the
   * position check) come from the same extraction instead of a second one.
   */
  landmarks?: {
    /** As `blockFeatures`, with each block's landmarks (opaque words). */
    blockFeatures(pcm: Float32Array, leadSamples: number, blocks: number): { features: Int32Array[]; landmarks: Uint32Array[] };
    /** A window's landmarks from its blocks', packed as pipeline/model/position.ts `packLandmarks`. */
    window(blocks: readonly Uint32Array[]): Uint32Array;
  };
}
