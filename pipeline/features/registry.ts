/**
 * Binds a catalogue's feature spec to the client's two jobs: turning PCM into windows (the extractor)
 * and turning decrypted scores into an answer (the decider). A query is always windowed and decided the
 * way its catalogue was enrolled.
 */
import type { CatalogManifest } from '../../schemas/catalog.js';
import { landmarkProbes } from '../../schemas/feature-landmark.js';
import { mfccSumDim } from '../../schemas/feature-mfcc.js';
import { decideLandmarkVote } from '../model/landmark-vote.js';
import { decideMfccMean, decideMfccVote } from '../model/mfcc-vote.js';
import type { Segment } from '../model/segment-templates.js';
import { Mfcc } from '../dsp/mfcc.js';
import type { FeatureExtractor } from './extractor.js';
import { landmarkExtractor } from './landmark.js';
import { meanOfWindows, mfccSumWindows } from './mfcc-sum.js';
import type { Decision } from './types.js';

/** The sample rate every ingest connector decodes to. */
export const PIPELINE_SAMPLE_RATE = 22050;

export function createExtractor(manifest: CatalogManifest): FeatureExtractor {
  const spec = manifest.feature;
  if (spec.kind === 'landmark') {
    return landmarkExtractor(spec.params, Float32Array.from(spec.idf));
  }
  const p = spec.params;
  const mfcc = new Mfcc(p);
  // A 'mean' query is one window spanning meanOfWindows of the model's windows.
  const m = p.query === 'mean' ? p.meanOfWindows : 1;
  return {
    kind: 'mfcc-sum',
    dim: mfccSumDim(p),
    hypotheses: 1,
    probes: 0,
    sampleRate: p.sampleRate,
    windowSeconds: (m - 1) * p.hopSeconds + p.windowSeconds,
    hopSeconds: m * p.hopSeconds,
    // Centred STFT frames reach nFft/2 samples outside the window.
    contextSeconds: p.nFft / 2 / p.sampleRate,
    frameSamples: 1,
    windows: (pcm, lead = 0) => {
      const clip = pcm.subarray(lead);
      return m > 1 ? meanOfWindows(mfccSumWindows(clip, p, mfcc), m) : mfccSumWindows(clip, p, mfcc);
    },
  };
}

export type Decider = (scores: Float64Array[], windowStartSeconds: number[], clipSeconds: number) => Decision;

export function segmentsOf(manifest: CatalogManifest): Segment[] {
  const { track, startSeconds, endSeconds } = manifest.classes;
  return track.map((t, i) => ({ track: t, startSeconds: startSeconds[i], endSeconds: endSeconds[i] }));
}

export function createDecider(manifest: CatalogManifest): Decider {
  const spec = manifest.feature;
  if (spec.kind === 'landmark') {
    const segments = segmentsOf(manifest);
    const trackThresholds = spec.trackThresholds;
    return (scores, starts, clipSeconds) => decideLandmarkVote(scores, starts, segments, spec.params, { clipSeconds, trackThresholds });
  }
  // One class per track, in track order: a class index is a track index.
  return (scores) => (spec.params.query === 'mean' ? decideMfccMean(scores, spec.params) : decideMfccVote(scores, spec.params));
}

/** Query hypotheses per window the catalogue's queries carry (landmark speed hypotheses; 1 otherwise). */
export function queryHypotheses(manifest: CatalogManifest): number {
  return manifest.feature.kind === 'landmark' ? manifest.feature.params.querySpeeds.length : 1;
}

/** Probe windows per window a catalogue's live queries carry (landmark probeSeconds; 0 otherwise). */
export function queryProbes(manifest: CatalogManifest): number {
  return manifest.feature.kind === 'landmark' ? landmarkProbes(manifest.feature.params) : 0;
}

/** Query vectors per window of a live stream: the window and each of its probes, with every hypothesis. */
export function queryVectorsPerWindow(manifest: CatalogManifest): number {
  return queryHypotheses(manifest) * (1 + queryProbes(manifest));
}
