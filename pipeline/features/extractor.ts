import type { FeatureWindows } from './types.js';

/** A feature kind bound to a catalogue's parameters: what the client computes from PCM, in clear. */
export interface FeatureExtractor {
  kind: 'mfcc-sum' | 'landmark';
  dim: number;
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
}
