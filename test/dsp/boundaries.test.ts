// Boundary candidates on signals whose edges are known: a silence between two tones, a crossfade's dip,
// and steady music (none); spectral-change points on real music cut or crossfaded into other music.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { boundaryCandidates, boundaryHints, changePoints, SILENCE_EDGE_STRENGTH } from '../../pipeline/dsp/boundaries.js';
import { MUSIC_DIR, tracksPerPackage } from '../helpers/music.js';

const SR = 8000;
const tone = (seconds: number, hz: number, amp = 0.5): Float32Array => Float32Array.from({ length: seconds * SR }, (_, i) => amp * Math.sin((2 * Math.PI * hz * i) / SR));
const cat = (...parts: Float32Array[]): Float32Array => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};

describe('boundary candidates', () => {
  it('the two edges of a silence between two pieces', () => {
    const got = boundaryCandidates(cat(tone(6, 440), new Float32Array(SR), tone(6, 660)), SR);
    expect(got.some((t) => Math.abs(t - 6) <= 0.05)).toBe(true);
    expect(got.some((t) => Math.abs(t - 7) <= 0.05)).toBe(true);
  });

  it('the bottom of a fade-out into a fade-in', () => {
    const a = tone(8, 440);
    const b = tone(8, 660);
    for (let i = 0; i < 3 * SR; i++) { a[a.length - 3 * SR + i] *= 0.01 ** (i / (3 * SR)); b[i] *= 0.01 ** (1 - i / (3 * SR)); }
    const got = boundaryCandidates(cat(a, b), SR);
    expect(got.some((t) => Math.abs(t - 8) <= 0.6)).toBe(true);
  });

  it('nothing in steady music', () => {
    expect(boundaryCandidates(tone(20, 440), SR)).toEqual([]);
  });
});

describe('spectral-change points', () => {
  const RATE = 22050;
  /** 20 s of each of six tracks (of as many packages as have them), from 30 s in (past the intros). */
  async function excerpts(): Promise<Float32Array[]> {
    const all = await Promise.all(tracksPerPackage(3).map((p) => decodeFile(join(MUSIC_DIR, p), { sampleRate: RATE, startSeconds: 30, durationSeconds: 20 })));
    const clips = all.filter((c) => c.length >= 20 * RATE).slice(0, 6);
    expect(clips).toHaveLength(6);
    return clips;
  }
  /** The sharpest change within ±7.5 s of `at` (the stretch the airplay log searches), seconds. */
  const sharpestNear = (pcm: Float32Array, at: number): number | undefined =>
    changePoints(pcm, RATE).filter((h) => Math.abs(h.t - at) <= 7.5).sort((a, b) => b.strength - a.strength)[0]?.t;

  it('a straight cut from one track to another is the sharpest change around it, to a frame or two', async () => {
    const clips = await excerpts();
    let placed = 0;
    for (let i = 0; i + 1 < clips.length; i++) {
      const cut = 9 + i; // seconds
      const pcm = cat(clips[i].subarray(0, cut * RATE), clips[i + 1].subarray(0, (20 - cut) * RATE));
      const t = sharpestNear(pcm, cut);
      if (t !== undefined && Math.abs(t - cut) <= 0.5) placed++;
    }
    expect(placed).toBeGreaterThanOrEqual(4);
  });

  it('a 3 s crossfade is mostly found within its span (a blind pick in ±7.5 s would be there one time in four)', async () => {
    const clips = await excerpts();
    let placed = 0;
    for (let i = 0; i + 1 < clips.length; i++) {
      const a = clips[i].subarray(0, 12 * RATE);
      const b = clips[i + 1].subarray(0, 11 * RATE);
      const x = 3 * RATE;
      const pcm = new Float32Array(a.length + b.length - x);
      pcm.set(a);
      for (let j = 0; j < b.length; j++) pcm[a.length - x + j] = (j < x ? pcm[a.length - x + j] * (1 - j / x) + b[j] * (j / x) : b[j]);
      const t = sharpestNear(pcm, 10.5);
      if (t !== undefined && Math.abs(t - 10.5) <= 2) placed++;
    }
    expect(placed).toBeGreaterThanOrEqual(3);
  });

  it('none in a steady tone; silence edges rank below clear changes in the hints', () => {
    expect(changePoints(tone(20, 440, 0.5).map((x, i) => x * (1 + 0.001 * Math.sin(i))), 8000)).toEqual([]);
    const hints = boundaryHints(cat(tone(6, 440), new Float32Array(SR), tone(6, 660)), SR);
    expect(hints.some((h) => Math.abs(h.t - 6) <= 0.1 && h.strength === SILENCE_EDGE_STRENGTH)).toBe(true);
    for (let i = 1; i < hints.length; i++) expect(hints[i].strength).toBeLessThanOrEqual(hints[i - 1].strength);
  });
});

