/**
 * Turns a clean excerpt into the query of one condition. Everything random comes from `rand`, so a query
 * is the same whatever else the run measures.
 */
import { transcodePcm } from '../../connectors/transcode.js';
import type { Distortion } from '../../schemas/eval.js';
import { addWhiteNoise } from '../model/calibrate.js';
import type { BabblePool } from './babble.js';
import { applyGain, bandPass, changeSpeed, changeTempo, mixAtSnr } from './distortions.js';
import type { SpeechPool } from './speech.js';

export interface DistortContext {
  sampleRate: number;
  rand: () => number;
  /** Needed by babble conditions only. */
  babble?: BabblePool;
  /** Needed by speech conditions only. */
  speech?: SpeechPool;
}

export async function distort(excerpt: Float32Array, d: Distortion, ctx: DistortContext): Promise<Float32Array> {
  switch (d.kind) {
    case 'clean':
      return excerpt;
    case 'white':
      return addWhiteNoise(excerpt, d.snrDb, ctx.rand);
    case 'babble': {
      if (!ctx.babble) throw new Error('babble condition without a babble pool');
      return mixAtSnr(excerpt, ctx.babble.mix(excerpt.length / ctx.sampleRate, ctx.rand), d.snrDb);
    }
    case 'codec':
      return transcodePcm(excerpt, ctx.sampleRate, { codec: d.codec, bitrateKbps: d.bitrateKbps });
    case 'speed':
      return changeSpeed(excerpt, d.percent);
    case 'tempo':
      return changeTempo(excerpt, d.percent, ctx.sampleRate);
    case 'speech': {
      if (!ctx.speech) throw new Error('speech condition without a speech pool');
      return mixAtSnr(excerpt, ctx.speech.take(excerpt.length / ctx.sampleRate, ctx.rand), d.snrDb);
    }
    case 'bandpass':
      return bandPass(excerpt, ctx.sampleRate);
    case 'telephone':
      return transcodePcm(bandPass(excerpt, ctx.sampleRate), ctx.sampleRate, { codec: 'mulaw' });
    case 'gain':
      return applyGain(excerpt, d.db);
  }
}
