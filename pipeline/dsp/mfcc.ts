/**
 * MFCCs exactly as librosa.feature.mfcc computes them with its defaults (librosa 0.11): periodic Hann,
 * centred frames with zero ('constant') padding (librosa ≥ 0.10's default pad_mode), power spectrogram,
 * Slaney-scale mel filterbank with Slaney area normalisation, power_to_db(ref=1, amin=1e-10, top_db)
 * where the floor is relative to the maximum of the whole clip, then DCT-II with norm='ortho'.
 * test/dsp/mfcc.test.ts holds it to librosa's output (fixtures from test/fixtures/mfcc/generate.py).
 *
 * Own typed-array code, not meyda: meyda 5.6's MFCC uses an HTK mel scale, ln(E+1), an unnormalised DCT,
 * a symmetric Hann and a module-global filterbank cache (DESIGN.md §3). Its spectrum was checked too, on a
 * Hann-windowed 2048-sample frame of real music with windowingFunction 'rect': meyda's powerSpectrum
 * matches numpy.fft.rfft's |X|² to 6e-8 of the peak but stops at bin N/2 − 1 (no Nyquist bin, which the
 * Slaney filterbank reads) and took 132 µs per frame against 71 µs for pipeline/dsp/fft.ts. So meyda is
 * not used here.
 */
import type { z } from 'zod';
import { MfccParams } from '../../schemas/feature-mfcc.js';
import { Fft, hannPeriodic } from './fft.js';

/** MFCC frames of one clip: frame t is centred on sample t · hop; `data` is frames × nMfcc, row-major. */
export interface MfccFrames {
  frames: number;
  nMfcc: number;
  hop: number;
  sampleRate: number;
  data: Float64Array;
}

/** librosa's Slaney mel scale (htk=False): linear below 1 kHz, logarithmic above. */
const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOG_STEP = Math.log(6.4) / 27;

function hzToMel(f: number): number {
  return f >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(f / MIN_LOG_HZ) / LOG_STEP : f / F_SP;
}

function melToHz(m: number): number {
  return m >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOG_STEP * (m - MIN_LOG_MEL)) : F_SP * m;
}

/** One triangular filter, stored sparsely: its weights start at FFT bin `first`. */
interface MelFilter {
  first: number;
  weights: Float64Array;
}

/** librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney'). */
function melFilterbank(p: MfccParams): MelFilter[] {
  const nBins = p.nFft / 2 + 1;
  const fMax = p.fMax ?? p.sampleRate / 2;
  const lo = hzToMel(p.fMin);
  const hi = hzToMel(fMax);
  // np.linspace: start + i·step, with the last point set exactly to the stop value.
  const melF = new Float64Array(p.nMels + 2);
  const step = (hi - lo) / (p.nMels + 1);
  for (let i = 0; i < melF.length; i++) melF[i] = melToHz(i === melF.length - 1 ? hi : lo + i * step);
  const filters: MelFilter[] = [];
  for (let m = 0; m < p.nMels; m++) {
    const enorm = 2 / (melF[m + 2] - melF[m]);
    const row = new Float64Array(nBins);
    let first = -1;
    let last = -1;
    for (let k = 0; k < nBins; k++) {
      const f = (k * p.sampleRate) / p.nFft;
      const lower = (f - melF[m]) / (melF[m + 1] - melF[m]);
      const upper = (melF[m + 2] - f) / (melF[m + 2] - melF[m + 1]);
      const w = Math.max(0, Math.min(lower, upper));
      if (w > 0) {
        // librosa stores the filterbank as float32; rounding here keeps our weights bit-identical to its.
        row[k] = Math.fround(w * enorm);
        if (first < 0) first = k;
        last = k;
      }
    }
    // A band narrower than one FFT bin gets no weights (librosa warns "empty filters"); keep it, empty.
    filters.push(first < 0 ? { first: 0, weights: new Float64Array(0) } : { first, weights: row.slice(first, last + 1) });
  }
  return filters;
}

/** scipy.fft.dct(type=2, norm='ortho') rows 0..nMfcc-1 as a nMfcc × nMels matrix. */
function dctMatrix(nMfcc: number, nMels: number): Float64Array {
  const d = new Float64Array(nMfcc * nMels);
  for (let k = 0; k < nMfcc; k++) {
    const scale = k === 0 ? Math.sqrt(1 / nMels) : Math.sqrt(2 / nMels);
    for (let m = 0; m < nMels; m++) d[k * nMels + m] = scale * Math.cos((Math.PI * k * (2 * m + 1)) / (2 * nMels));
  }
  return d;
}

/** power_to_db's amin: powers below it count as −100 dB. */
const AMIN = 1e-10;

/**
 * An MFCC extractor for one parameter set. Filterbank, window, DCT and FFT tables are built once per
 * instance (no module-level cache), so one instance serves every clip of a catalogue or a session.
 */
export class Mfcc {
  readonly params: MfccParams;
  private readonly fft: Fft;
  private readonly window: Float64Array;
  private readonly filters: MelFilter[];
  private readonly dct: Float64Array;
  private readonly frame: Float64Array;
  private readonly power: Float64Array;

  /** Throws a ZodError for invalid parameters (e.g. nMfcc > nMels); nothing is clamped. */
  constructor(params: z.input<typeof MfccParams> = {}) {
    this.params = MfccParams.parse(params);
    const p = this.params;
    this.fft = new Fft(p.nFft);
    this.window = hannPeriodic(p.nFft);
    this.filters = melFilterbank(p);
    this.dct = dctMatrix(p.nMfcc, p.nMels);
    this.frame = new Float64Array(p.nFft);
    this.power = new Float64Array(p.nFft / 2 + 1);
  }

  /** Number of centred frames librosa makes for `samples` samples: 1 + floor(samples / hop). */
  frameCount(samples: number): number {
    return 1 + Math.floor(samples / this.params.hop);
  }

  /** MFCCs of a whole clip (mono PCM at params.sampleRate). */
  compute(pcm: Float32Array): MfccFrames {
    const { nFft, hop, nMels, nMfcc, topDb, sampleRate } = this.params;
    const frames = this.frameCount(pcm.length);
    const logMel = new Float64Array(frames * nMels);
    let maxDb = -Infinity;
    const half = nFft / 2;
    for (let t = 0; t < frames; t++) {
      // Frame t spans samples [t·hop − nFft/2, t·hop + nFft/2) of the zero-padded clip.
      const start = t * hop - half;
      for (let i = 0; i < nFft; i++) {
        const s = start + i;
        this.frame[i] = s >= 0 && s < pcm.length ? pcm[s] * this.window[i] : 0;
      }
      this.fft.powerSpectrum(this.frame, this.power);
      const row = t * nMels;
      for (let m = 0; m < nMels; m++) {
        const { first, weights } = this.filters[m];
        let e = 0;
        for (let j = 0; j < weights.length; j++) e += weights[j] * this.power[first + j];
        const db = 10 * Math.log10(e > AMIN ? e : AMIN);
        logMel[row + m] = db;
        if (db > maxDb) maxDb = db;
      }
    }
    // top_db floors against the clip's maximum: the same audio can give different coefficients in clips
    // of different loudness ranges, exactly as in librosa.
    const floor = maxDb - topDb;
    const data = new Float64Array(frames * nMfcc);
    for (let t = 0; t < frames; t++) {
      const row = t * nMels;
      for (let m = 0; m < nMels; m++) if (logMel[row + m] < floor) logMel[row + m] = floor;
      for (let k = 0; k < nMfcc; k++) {
        let acc = 0;
        const base = k * nMels;
        for (let m = 0; m < nMels; m++) acc += this.dct[base + m] * logMel[row + m];
        data[t * nMfcc + k] = acc;
      }
    }
    return { frames, nMfcc, hop, sampleRate, data };
  }
}
