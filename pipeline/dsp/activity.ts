/**
 * What is on air, frame by frame, from the client's clear audio (client zone only): loudness (RMS),
 * spectral flux, spectral flatness and chroma per ~46 ms frame (meyda for flatness, chroma and the
 * amplitude spectrum under a Hann window; RMS of the frame itself, as meyda's is of the windowed frame;
 * flux from consecutive amplitude spectra, as meyda 5.6's own spectralFlux indexes outside its
 * buffer), a small music / speech / silence classifier, and a boundary score that places a
 * change of programme to within a frame or two, much finer than a 15 s recognition window.
 *
 * The classifier is deliberately simple and explainable:
 * - silence: the frame's RMS is below -50 dBFS;
 * - speech: over the surrounding 2 s the spectrum changes fast and unevenly (mean flux / 0.34 + its
 *   standard deviation / 0.15 > 2.1): syllables and pauses switch speech's spectrum several times a
 *   second, while music's notes hold theirs;
 * - music: anything else with sound in it.
 */
import meydaModule from 'meyda';

// meyda ships CommonJS at run time with ES module typings: its default export is module.exports itself.
type MeydaApi = typeof meydaModule.default;
const Meyda: MeydaApi = (meydaModule as unknown as { default?: MeydaApi }).default ?? (meydaModule as unknown as MeydaApi);

export type ActivityKind = 'music' | 'speech' | 'silence';

export interface Activity {
  /** Frame length and hop, seconds (frames do not overlap). */
  frameSeconds: number;
  rms: Float32Array;
  /** Positive spectral change from the previous frame, on L2-normalised amplitude spectra (0..√2). */
  flux: Float32Array;
  /** Geometric over arithmetic mean of the amplitude spectrum: ≈0 for a tone, ≈0.85 for white noise. */
  flatness: Float32Array;
  /** 12 chroma bins per frame, frame-major (chroma[12 * i + c]). */
  chroma: Float32Array;
  kind: ActivityKind[];
  /** Spectral or loudness change between the second before and the second after each frame's start (0..1). */
  boundary: Float32Array;
}

export const SILENCE_RMS = 10 ** (-50 / 20);
/** Seconds each side of a frame that the classifier looks at; the boundary score compares this much. */
const CONTEXT_SECONDS = 1;
// Speech against music over 2 s, from the mean and spread of the spectral flux. Fitted on the first minute
// of the 66 songs of the `ci` set (10 000 windows) and espeak-ng speech in three languages at three rates
// (1 000 windows): 0.5% of music windows and none of the speech ones fall on the wrong side. Measured
// alone, the envelope's spread (std/mean of RMS) and low-energy ratio overlap far more.
const SPEECH_FLUX_MEAN = 0.34;
const SPEECH_FLUX_SD = 0.15;
const SPEECH_SCORE = 2.1;
/** Boundaries weaker than this are not reported by findBoundary. */
export const BOUNDARY_THRESHOLD = 0.15;

/** ~46 ms frames: 1024 samples at 22050 Hz, the power of two nearest that length at other rates. */
export function frameSizeFor(sampleRate: number): number {
  return 2 ** Math.round(Math.log2(sampleRate * 0.0464));
}

function l2normalised(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  return n > 0 ? v.map((x) => x / n) : new Float32Array(v.length);
}

export function analyseActivity(pcm: Float32Array, sampleRate: number): Activity {
  const size = frameSizeFor(sampleRate);
  const frames = Math.floor(pcm.length / size);
  const rms = new Float32Array(frames);
  const flux = new Float32Array(frames);
  const flatness = new Float32Array(frames);
  const chroma = new Float32Array(frames * 12);
  const spectra: Float32Array[] = [];
  // meyda keeps its settings on one module object: set them for this call, nothing else uses them.
  Meyda.bufferSize = size;
  Meyda.sampleRate = sampleRate;
  Meyda.windowingFunction = 'hanning';
  Meyda.chromaBands = 12;
  let previous: Float32Array | undefined;
  for (let i = 0; i < frames; i++) {
    const frame = pcm.subarray(i * size, (i + 1) * size);
    // meyda's rms is taken on the windowed frame (3/8 of the power under a Hann window): the frame's own is kept.
    const f = Meyda.extract(['spectralFlatness', 'chroma', 'amplitudeSpectrum'], frame) as {
      spectralFlatness: number; chroma: number[]; amplitudeSpectrum: Float32Array;
    };
    let power = 0;
    for (const x of frame) power += x * x;
    rms[i] = Math.sqrt(power / size);
    const silent = rms[i] < 1e-9;
    flatness[i] = silent || !Number.isFinite(f.spectralFlatness) ? 0 : f.spectralFlatness;
    if (!silent) chroma.set(f.chroma.map((c) => (Number.isFinite(c) ? c : 0)), i * 12);
    const spectrum = l2normalised(f.amplitudeSpectrum.map(Math.sqrt));
    spectra.push(spectrum);
    if (previous) {
      let s = 0;
      for (let k = 0; k < spectrum.length; k++) s += Math.max(0, spectrum[k] - previous[k]) ** 2;
      flux[i] = Math.sqrt(s);
    }
    previous = spectrum;
  }
  const frameSeconds = size / sampleRate;
  return { frameSeconds, rms, flux, flatness, chroma, kind: classify(rms, flux, frameSeconds), boundary: boundaryScores(spectra, rms, frameSeconds) };
}

function classify(rms: Float32Array, flux: Float32Array, frameSeconds: number): ActivityKind[] {
  const half = Math.max(1, Math.round(CONTEXT_SECONDS / frameSeconds));
  const kinds: ActivityKind[] = [];
  for (let i = 0; i < rms.length; i++) {
    if (rms[i] < SILENCE_RMS) { kinds.push('silence'); continue; }
    const from = Math.max(0, i - half);
    const to = Math.min(rms.length, i + half + 1);
    const n = to - from;
    let mean = 0;
    for (let j = from; j < to; j++) mean += flux[j];
    mean /= n;
    let variance = 0;
    for (let j = from; j < to; j++) variance += (flux[j] - mean) ** 2;
    const speechLike = mean / SPEECH_FLUX_MEAN + Math.sqrt(variance / n) / SPEECH_FLUX_SD;
    kinds.push(speechLike > SPEECH_SCORE ? 'speech' : 'music');
  }
  return kinds;
}

/**
 * For each frame start, the contrast between the second before and the second after: the larger of
 * 1 - cosine similarity of their mean (compressed, normalised) spectra, when both hold sound, and their
 * loudness difference (60 dB = 1, the floor at -50 dBFS). Both peak where the two seconds are each
 * wholly on one side of a change.
 */
function boundaryScores(spectra: Float32Array[], rms: Float32Array, frameSeconds: number): Float32Array {
  const n = spectra.length;
  const span = Math.max(1, Math.round(CONTEXT_SECONDS / frameSeconds));
  const out = new Float32Array(n);
  if (n === 0) return out;
  const bins = spectra[0].length;
  const floor = SILENCE_RMS ** 2;
  const mean = (from: number, to: number): { v: Float32Array; energy: number } => {
    const v = new Float32Array(bins);
    let energy = 0;
    for (let j = from; j < to; j++) {
      energy += rms[j] ** 2;
      if (rms[j] < SILENCE_RMS) continue;
      for (let k = 0; k < bins; k++) v[k] += spectra[j][k];
    }
    return { v, energy: energy / Math.max(1, to - from) };
  };
  for (let i = 1; i < n; i++) {
    const a = mean(Math.max(0, i - span), i);
    const b = mean(i, Math.min(n, i + span));
    let dot = 0, na = 0, nb = 0;
    for (let k = 0; k < bins; k++) { dot += a.v[k] * b.v[k]; na += a.v[k] ** 2; nb += b.v[k] ** 2; }
    const spectral = na > 0 && nb > 0 ? 1 - dot / Math.sqrt(na * nb) : 0;
    const loudness = Math.min(1, Math.abs(10 * Math.log10((a.energy + floor) / (b.energy + floor))) / 60);
    out[i] = Math.max(spectral, loudness);
  }
  return out;
}

/**
 * The most likely programme boundary between `searchFromSec` and `searchToSec` (seconds from the start
 * of `pcm`), to a frame (~46 ms), or null when nothing there changes enough (score below
 * BOUNDARY_THRESHOLD). For the monitor: a play's start or end lies within the 15 s window where the
 * decision changed; this places it inside that window.
 */
export function findBoundary(pcm: Float32Array, sampleRate: number, searchFromSec: number, searchToSec: number): number | null {
  const a = analyseActivity(pcm, sampleRate);
  const from = Math.max(1, Math.floor(searchFromSec / a.frameSeconds));
  const to = Math.min(a.boundary.length - 1, Math.ceil(searchToSec / a.frameSeconds));
  let best = -1;
  let at = -1;
  for (let i = from; i <= to; i++) if (a.boundary[i] > best) { best = a.boundary[i]; at = i; }
  return at >= 0 && best >= BOUNDARY_THRESHOLD ? at * a.frameSeconds : null;
}
