/**
 * Where a play can begin or end, from the client's own clear view of the audio (no encrypted cost): the
 * edges of silences, the bottoms of fades, and spectral changes (a straight cut or a crossfade from one
 * item to the next, which leave no silence). The airplay log places a play's edges on the sharpest of
 * these inside the stretch where the catalogue decisions put them.
 *
 * Frames of 50 ms; a silence is ≥ 0.25 s below −45 dBFS (its first and last frames are candidates); a
 * fade bottom is a frame whose 0.5 s loudness is ≥ 15 dB under the loudest 0.5 s within 4 s on both
 * sides and the lowest within ±1 s.
 */
import { Fft, hannPeriodic } from './fft.js';

const FRAME_SECONDS = 0.05;
const SILENCE_DBFS = -45;
const MIN_SILENCE_SECONDS = 0.25;
const FADE_DEPTH_DB = 15;
/** Mean frame power below -60 dBFS: no spectrum worth comparing. */
const SILENT_POWER = 1e-6;

function frameDb(pcm: Float32Array, frame: number): Float64Array {
  const n = Math.floor(pcm.length / frame);
  const out = new Float64Array(n);
  for (let f = 0; f < n; f++) {
    let e = 0;
    for (let i = f * frame; i < (f + 1) * frame; i++) e += pcm[i] * pcm[i];
    out[f] = 10 * Math.log10(e / frame + 1e-12);
  }
  return out;
}

/** Candidate boundaries, in seconds from the start of `pcm`, sorted. */
export function boundaryCandidates(pcm: Float32Array, sampleRate: number): number[] {
  const frame = Math.max(1, Math.round(FRAME_SECONDS * sampleRate));
  const db = frameDb(pcm, frame);
  const out: number[] = [];
  // Silences.
  const minRun = Math.ceil(MIN_SILENCE_SECONDS / FRAME_SECONDS);
  for (let f = 0; f < db.length;) {
    if (db[f] >= SILENCE_DBFS) { f++; continue; }
    let g = f;
    while (g < db.length && db[g] < SILENCE_DBFS) g++;
    if (g - f >= minRun) {
      if (f > 0) out.push(f * FRAME_SECONDS);
      if (g < db.length) out.push(g * FRAME_SECONDS);
    }
    f = g;
  }
  // Fade bottoms (crossfades and cut-short plays fade without silence).
  const smooth = Math.round(0.5 / FRAME_SECONDS);
  const loud = new Float64Array(db.length);
  for (let f = 0; f < db.length; f++) {
    let s = 0;
    let n = 0;
    for (let k = Math.max(0, f - (smooth >> 1)); k < Math.min(db.length, f + (smooth >> 1) + 1); k++) { s += 10 ** (db[k] / 10); n++; }
    loud[f] = 10 * Math.log10(s / n + 1e-12);
  }
  const span = Math.round(4 / FRAME_SECONDS);
  const near = Math.round(1 / FRAME_SECONDS);
  for (let f = span; f < loud.length - span; f++) {
    if (loud[f] < SILENCE_DBFS) continue; // silences are counted above
    let isMin = true;
    for (let k = f - near; k <= f + near && isMin; k++) if (loud[k] < loud[f]) isMin = false;
    if (!isMin) continue;
    let before = -Infinity;
    let after = -Infinity;
    for (let k = f - span; k < f; k++) before = Math.max(before, loud[k]);
    for (let k = f + 1; k <= f + span; k++) after = Math.max(after, loud[k]);
    if (before - loud[f] >= FADE_DEPTH_DB && after - loud[f] >= FADE_DEPTH_DB) out.push(f * FRAME_SECONDS);
  }
  return [...new Set(out.map((t) => Math.round(t * 100) / 100))].sort((a, b) => a - b);
}

/** A place where a play may begin or end (seconds) and how sharp a change it is (0–1). */
export interface BoundaryHint {
  t: number;
  strength: number;
}

const CHANGE_FRAME = 1024;
/** Each frame's spectrum is taken on its middle quarter: a coarse band shape needs no finer bins, and it costs a fifth. */
const CHANGE_FFT = 256;
const CHANGE_BANDS = 16;
let changeFft: Fft | undefined;
let changeWindow: Float64Array | undefined;

/**
 * Spectral-change points: for each ~46 ms frame start, how different the `contextSeconds` before and after
 * are — the larger of 1 − cosine similarity of their mean band spectra (16 log-spaced bands, 100 Hz–8 kHz,
 * square-root compressed and normalised per frame) and their loudness difference (60 dB = 1). Returns the
 * local maxima (the highest within ±`contextSeconds`) of at least `minStrength`, strongest first, in
 * seconds from the start of `pcm`. Where one programme item gives way to another (a straight cut, a
 * crossfade) both halves are each wholly on one side and the score peaks.
 */
export function changePoints(pcm: Float32Array, sampleRate: number, opts: { contextSeconds?: number; minStrength?: number } = {}): BoundaryHint[] {
  const context = opts.contextSeconds ?? 1;
  const minStrength = opts.minStrength ?? 0.05;
  const n = Math.floor(pcm.length / CHANGE_FRAME);
  if (n < 3) return [];
  changeFft ??= new Fft(CHANGE_FFT);
  changeWindow ??= hannPeriodic(CHANGE_FFT);
  const fft = changeFft;
  const win = changeWindow;
  const binHz = sampleRate / CHANGE_FFT;
  const edges = Array.from({ length: CHANGE_BANDS + 1 }, (_, b) => Math.min(CHANGE_FFT / 2, Math.max(1, Math.round((100 * (8000 / 100) ** (b / CHANGE_BANDS)) / binHz))));
  // Prefix sums of the normalised band vectors (sounding frames only) and of the frame power.
  const sum = new Float64Array((n + 1) * CHANGE_BANDS);
  const power = new Float64Array(n + 1);
  const frame = new Float64Array(CHANGE_FFT);
  const spec = new Float64Array(CHANGE_FFT / 2 + 1);
  const mid = (CHANGE_FRAME - CHANGE_FFT) >> 1;
  const bands = new Float64Array(CHANGE_BANDS);
  for (let f = 0; f < n; f++) {
    let p = 0;
    for (let i = 0; i < CHANGE_FRAME; i++) {
      const x = pcm[f * CHANGE_FRAME + i];
      p += x * x;
    }
    for (let i = 0; i < CHANGE_FFT; i++) frame[i] = pcm[f * CHANGE_FRAME + mid + i] * win[i];
    p /= CHANGE_FRAME;
    power[f + 1] = power[f] + p;
    const base = (f + 1) * CHANGE_BANDS;
    for (let b = 0; b < CHANGE_BANDS; b++) sum[base + b] = sum[f * CHANGE_BANDS + b];
    if (p < SILENT_POWER) continue;
    fft.powerSpectrum(frame, spec);
    let norm = 0;
    for (let b = 0; b < CHANGE_BANDS; b++) {
      let e = 0;
      for (let k = edges[b]; k < Math.max(edges[b] + 1, edges[b + 1]); k++) e += spec[k];
      bands[b] = Math.sqrt(Math.sqrt(e));
      norm += bands[b] * bands[b];
    }
    norm = Math.sqrt(norm) || 1;
    for (let b = 0; b < CHANGE_BANDS; b++) sum[base + b] += bands[b] / norm;
  }
  const span = Math.max(1, Math.round((context * sampleRate) / CHANGE_FRAME));
  const score = new Float64Array(n);
  const floor = SILENT_POWER;
  for (let i = 1; i < n; i++) {
    const a0 = Math.max(0, i - span);
    const b1 = Math.min(n, i + span);
    let dot = 0, na = 0, nb = 0;
    for (let b = 0; b < CHANGE_BANDS; b++) {
      const va = sum[i * CHANGE_BANDS + b] - sum[a0 * CHANGE_BANDS + b];
      const vb = sum[b1 * CHANGE_BANDS + b] - sum[i * CHANGE_BANDS + b];
      dot += va * vb; na += va * va; nb += vb * vb;
    }
    const spectral = na > 0 && nb > 0 ? 1 - dot / Math.sqrt(na * nb) : 0;
    const ea = (power[i] - power[a0]) / (i - a0);
    const eb = (power[b1] - power[i]) / (b1 - i);
    const loudness = Math.min(1, Math.abs(10 * Math.log10((ea + floor) / (eb + floor))) / 60);
    score[i] = Math.max(spectral, loudness);
  }
  const out: BoundaryHint[] = [];
  for (let i = span; i <= n - span; i++) {
    if (score[i] < minStrength) continue;
    let top = true;
    for (let k = Math.max(1, i - span); k <= Math.min(n - 1, i + span) && top; k++) if (score[k] > score[i] || (score[k] === score[i] && k < i)) top = false;
    if (top) out.push({ t: Math.round(((i * CHANGE_FRAME) / sampleRate) * 100) / 100, strength: Math.min(1, score[i]) });
  }
  return out.sort((x, y) => y.strength - x.strength);
}

/**
 * A silence edge or fade bottom counts as a change this sharp: music has quiet passages and pauses of its
 * own, so a clear change of spectrum outranks one (on the dev broadcast days, ranking them first put more
 * play edges off by over 5 s).
 */
export const SILENCE_EDGE_STRENGTH = 0.3;

/**
 * The boundary hints of `pcm` (seconds from its start), sharpest first: silence edges and fade bottoms
 * (`SILENCE_EDGE_STRENGTH`) and spectral-change points (their strength). About 4 ms for a hop's 20 s of
 * audio on one core (0.8 ms of it the silences and fades).
 */
export function boundaryHints(pcm: Float32Array, sampleRate: number): BoundaryHint[] {
  const edges = boundaryCandidates(pcm, sampleRate).map((t) => ({ t, strength: SILENCE_EDGE_STRENGTH }));
  return [...changePoints(pcm, sampleRate), ...edges].sort((a, b) => b.strength - a.strength);
}
