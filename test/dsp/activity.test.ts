/**
 * pipeline/dsp/activity.ts against values computed by hand on synthetic signals (no library shared with
 * the code under test):
 * - RMS of a sine of amplitude A is A/√2; of silence, 0.
 * - Spectral flatness of the amplitude spectrum: a pure tone concentrates its energy in a few bins
 *   (flatness near 0); for white Gaussian noise each bin's magnitude is Rayleigh distributed, whose
 *   geometric over arithmetic mean is 2·e^(-γ/2)/√π ≈ 0.8455 (γ: Euler's constant).
 * - An abrupt change of tone gives one flux peak, at the frame where it happens; findBoundary places it
 *   there to within a frame, and finds nothing in a steady tone.
 * - Classes: silence, sustained tones (music), noise bursts at a syllable rate with pauses (speech-like).
 */
import { describe, expect, it } from 'vitest';
import { analyseActivity, findBoundary, frameSizeFor } from '../../pipeline/dsp/activity.js';

const SR = 22050;
const EULER_GAMMA = 0.5772156649;
const RAYLEIGH_FLATNESS = (2 * Math.exp(-EULER_GAMMA / 2)) / Math.sqrt(Math.PI);

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}
function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
}
const sine = (seconds: number, hz: number, amp: number, sr = SR): Float32Array =>
  Float32Array.from({ length: Math.round(seconds * sr) }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / sr));
const noise = (seconds: number, amp: number, seed = 1): Float32Array => {
  const r = seeded(seed);
  return Float32Array.from({ length: Math.round(seconds * SR) }, () => amp * gaussian(r));
};
const concat = (...parts: Float32Array[]): Float32Array => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const mean = (v: ArrayLike<number>, from = 0, to = v.length): number => { let s = 0; for (let i = from; i < to; i++) s += v[i]; return s / (to - from); };

describe('analyseActivity', () => {
  it('uses ~46 ms frames', () => {
    expect(frameSizeFor(22050)).toBe(1024);
    expect(frameSizeFor(44100)).toBe(2048);
    expect(analyseActivity(sine(1, 440, 0.5), SR).frameSeconds).toBeCloseTo(1024 / 22050, 9);
  });

  it('RMS: A/√2 for a sine, 0 for silence', () => {
    const a = analyseActivity(concat(sine(2, 441, 0.5), new Float32Array(SR)), SR);
    const tone = Array.from(a.rms.subarray(0, 40));
    for (const r of tone) expect(r).toBeCloseTo(0.5 / Math.SQRT2, 2);
    for (const r of a.rms.subarray(a.rms.length - 15)) expect(r).toBe(0);
  });

  it('flatness: near 0 for a tone, ≈0.85 (the Rayleigh value) for white noise, 0 for silence', () => {
    const tone = analyseActivity(sine(2, 441, 0.5), SR);
    const white = analyseActivity(noise(4, 0.1), SR);
    const quiet = analyseActivity(new Float32Array(SR), SR);
    expect(mean(tone.flatness)).toBeLessThan(0.1);
    expect(mean(white.flatness)).toBeGreaterThan(RAYLEIGH_FLATNESS - 0.05);
    expect(mean(white.flatness)).toBeLessThan(RAYLEIGH_FLATNESS + 0.05);
    expect(Math.max(...quiet.flatness)).toBe(0);
  });

  it('chroma: a 440 Hz tone peaks on A, a 262 Hz one on C', () => {
    // Bins run C, C#, ..., B: A is bin 9.
    for (const [hz, bin] of [[440, 9], [262, 0]]) {
      const a = analyseActivity(sine(1, hz, 0.5), SR);
      const frame = Array.from(a.chroma.subarray(12 * 5, 12 * 6));
      expect(frame.indexOf(Math.max(...frame)), `${hz} Hz`).toBe(bin);
    }
  });

  it('an abrupt change of tone is a single flux peak at the change', () => {
    const change = 2.0;
    const a = analyseActivity(concat(sine(change, 440, 0.5), sine(2, 1250, 0.5)), SR);
    const peak = a.flux.indexOf(Math.max(...a.flux.subarray(1)));
    expect(Math.abs(peak * a.frameSeconds - change)).toBeLessThanOrEqual(a.frameSeconds * 1.01);
    const others = Array.from(a.flux.subarray(2)).filter((_, i) => Math.abs(i + 2 - peak) > 1);
    expect(Math.max(...others)).toBeLessThan(a.flux[peak] / 5);
  });

  it('classifies silence, sustained tones and syllable-like noise bursts', () => {
    const chord = (s: number): Float32Array => { const a = sine(s, 262, 0.2), b = sine(s, 330, 0.2), c = sine(s, 392, 0.2); return a.map((x, i) => x + b[i] + c[i]); };
    // 4 syllables a second: 150 ms of shaped noise, 100 ms of pause.
    const syllables = (s: number): Float32Array => {
      const n = noise(s, 0.2, 5);
      const period = Math.round(0.25 * SR);
      const on = Math.round(0.15 * SR);
      return n.map((x, i) => ((i % period) < on ? x * Math.sin((Math.PI * (i % period)) / on) : 0));
    };
    const a = analyseActivity(concat(new Float32Array(2 * SR), chord(3), syllables(3)), SR);
    const at = (t: number): string => a.kind[Math.floor(t / a.frameSeconds)];
    expect(at(1)).toBe('silence');
    expect(at(3.5)).toBe('music');
    const speechFrames = a.kind.slice(Math.ceil(5.6 / a.frameSeconds), Math.floor(7.4 / a.frameSeconds));
    // Frames inside pauses are silence; every sounding one is speech.
    expect(speechFrames.filter((k) => k === 'music')).toHaveLength(0);
    expect(speechFrames.filter((k) => k === 'speech').length).toBeGreaterThan(speechFrames.length / 2);
  });
});

describe('findBoundary', () => {
  it('places a change of programme to within a frame inside a 15 s window', () => {
    const pcm = concat(sine(7.3, 330, 0.3), noise(7.7, 0.05, 9));
    const at = findBoundary(pcm, SR, 0, 15);
    expect(at).not.toBeNull();
    expect(Math.abs(at! - 7.3)).toBeLessThanOrEqual(0.05);
  });

  it('finds silence to music, and nothing in a steady tone', () => {
    const pcm = concat(new Float32Array(3 * SR), sine(4, 523, 0.3));
    expect(Math.abs(findBoundary(pcm, SR, 1, 6)! - 3)).toBeLessThanOrEqual(0.05);
    expect(findBoundary(sine(6, 523, 0.3), SR, 1, 5)).toBeNull();
  });
});
