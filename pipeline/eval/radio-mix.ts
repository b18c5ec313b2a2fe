/**
 * A synthetic "radio" programme for demos and tests: excerpts of tracks at random offsets, separated by
 * silence or low noise, with the truth of what plays when. Pure: PCM in, PCM and truth out.
 */
import { seededRandom } from '../model/calibrate.js';

export interface RadioItem {
  /** Catalogue path of the track, or null for a never-enrolled one. */
  path: string | null;
  pcm: Float32Array;
}

export interface RadioPlay {
  path: string | null;
  startSeconds: number;
  endSeconds: number;
  /** Where in the track the excerpt starts. */
  trackOffsetSeconds: number;
}

export function mixRadio(items: RadioItem[], opts: { sampleRate: number; excerptSeconds: number; seed: number }): { pcm: Float32Array; plays: RadioPlay[] } {
  const rand = seededRandom(opts.seed);
  const sr = opts.sampleRate;
  const parts: Float32Array[] = [];
  const plays: RadioPlay[] = [];
  let at = 0;
  const gap = (): void => {
    const n = Math.round((2 + rand() * 2) * sr);
    const g = new Float32Array(n);
    // Alternate digital silence and a low noise floor (-50 dBFS): neither is music.
    if (rand() < 0.5) for (let i = 0; i < n; i++) g[i] = (rand() * 2 - 1) * 0.0055;
    parts.push(g);
    at += n;
  };
  gap();
  for (const item of items) {
    const n = Math.min(item.pcm.length, Math.round(opts.excerptSeconds * sr));
    const off = Math.floor(rand() * (item.pcm.length - n + 1));
    parts.push(item.pcm.subarray(off, off + n));
    plays.push({ path: item.path, startSeconds: at / sr, endSeconds: (at + n) / sr, trackOffsetSeconds: off / sr });
    at += n;
    gap();
  }
  const pcm = new Float32Array(at);
  let w = 0;
  for (const p of parts) { pcm.set(p, w); w += p.length; }
  return { pcm, plays };
}
