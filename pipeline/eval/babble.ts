/**
 * Babble ("pub") noise: the sum of several excerpts of never-enrolled tracks, each at the same level, so
 * no single voice dominates. The pool keeps a few loud excerpts per source track (drawn while the track
 * is decoded), never whole tracks; each babble query gets its own mix of distinct tracks.
 */
import { drawExcerpt } from '../model/calibrate.js';
import { meanPower } from './distortions.js';

/** Voices per babble mix (DESIGN.md §5 asks for a mix; fewer than 6 sounds like one or two songs). */
export const BABBLE_VOICES = 6;
/** Excerpts kept per source track: enough variety without holding the tracks. */
export const BABBLE_EXCERPTS_PER_TRACK = 3;

interface Voice {
  track: string;
  pcm: Float32Array;
}

export class BabblePool {
  readonly seconds: number;
  readonly sampleRate: number;
  #voices: Voice[] = [];

  /** Excerpts are `seconds` long: the longest query they will be mixed into. */
  constructor(seconds: number, sampleRate: number) {
    this.seconds = seconds;
    this.sampleRate = sampleRate;
  }

  /** Takes up to `count` loud excerpts of a decoded source track; returns how many it found. */
  addTrack(track: string, pcm: Float32Array, rand: () => number, count = BABBLE_EXCERPTS_PER_TRACK): number {
    let added = 0;
    for (let i = 0; i < count; i++) {
      const ex = drawExcerpt(pcm, this.sampleRate, this.seconds, rand);
      if (!ex) continue;
      this.#voices.push({ track, pcm: ex.pcm });
      added++;
    }
    return added;
  }

  /** Distinct source tracks in the pool. */
  get tracks(): string[] {
    return [...new Set(this.#voices.map((v) => v.track))];
  }

  /** A mix can be made (enough distinct tracks). */
  ready(voices = BABBLE_VOICES): boolean {
    return this.tracks.length >= voices;
  }

  /**
   * `seconds` of babble: `voices` excerpts from distinct tracks, each normalised to unit power, at random
   * offsets inside the pooled excerpts, summed. Deterministic given `rand`.
   */
  mix(seconds: number, rand: () => number, voices = BABBLE_VOICES): Float32Array {
    const n = Math.round(seconds * this.sampleRate);
    if (seconds > this.seconds) throw new RangeError(`babble of ${seconds} s asked from a pool of ${this.seconds} s excerpts`);
    const byTrack = new Map<string, Voice[]>();
    for (const v of this.#voices) byTrack.set(v.track, [...(byTrack.get(v.track) ?? []), v]);
    const tracks = [...byTrack.keys()].sort();
    if (tracks.length < voices) throw new RangeError(`babble needs ${voices} source tracks, the pool has ${tracks.length}`);
    // Partial Fisher–Yates: the first `voices` entries become a random choice of distinct tracks.
    for (let i = 0; i < voices; i++) {
      const j = i + Math.floor(rand() * (tracks.length - i));
      [tracks[i], tracks[j]] = [tracks[j], tracks[i]];
    }
    const out = new Float32Array(n);
    for (const t of tracks.slice(0, voices)) {
      const options = byTrack.get(t)!;
      const v = options[Math.floor(rand() * options.length)].pcm;
      const off = Math.floor(rand() * (v.length - n + 1));
      const part = v.subarray(off, off + n);
      const g = 1 / Math.sqrt(meanPower(part) || 1);
      for (let i = 0; i < n; i++) out[i] += g * part[i];
    }
    return out;
  }
}
