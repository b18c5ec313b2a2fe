/**
 * A broadcast day for evaluating the airplay log: a seeded programme of plays (20 s to whole tracks, from
 * the track's start as stations play them, sped up 0–4 % the way stations do, crossfaded into the next),
 * never-enrolled tracks and short jingles, DJ speech over the start of some plays, and silences; and the
 * scoring of an airplay log against its truth (play recall and precision, start and end errors, false
 * plays per hour). Pure: PCM in, PCM and truth out; the CLI renders, streams and scores.
 */
import { seededRandom } from '../model/calibrate.js';

export interface DayItem {
  kind: 'play' | 'unknown' | 'jingle' | 'silence';
  /** Catalogue path (plays) or file (unknown, jingle); null for silence. */
  path: string | null;
  /** Seconds of the source played, from its start (before the speed change). */
  sourceSeconds: number;
  /** Speed factor: 1.02 plays 2 % fast (pitch and tempo, as a station's varispeed). */
  speed: number;
  /** Seconds this item overlaps the previous one (a crossfade). */
  crossfadeSeconds: number;
  /** Speech over the first seconds of the item, at this level relative to the music (dB), or null. */
  talkOverDb: number | null;
}

export interface TruthPlay {
  path: string;
  startSeconds: number;
  endSeconds: number;
  speed: number;
  talkOver: boolean;
}

export interface PlanOptions {
  hours: number;
  seed: number;
  /** Largest speed-up (0.04 = up to 4 % fast). */
  maxSpeedUp: number;
  talkOver: boolean;
}

export function planDay(
  catalogue: readonly { path: string; durationSeconds: number }[],
  unknown: readonly { path: string; durationSeconds: number }[],
  opts: PlanOptions,
): DayItem[] {
  const rand = seededRandom(opts.seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)];
  const items: DayItem[] = [];
  let at = 0;
  const total = opts.hours * 3600;
  while (at < total) {
    const r = rand();
    let item: DayItem;
    if (r < 0.7 || unknown.length === 0) {
      const t = pick(catalogue);
      // Whole tracks half of the time, else 20 s up to the whole track (cut short, faded out).
      const length = rand() < 0.5 ? t.durationSeconds : Math.min(t.durationSeconds, 20 + rand() * Math.max(0, t.durationSeconds - 20));
      const speed = 1 + (rand() < 0.5 ? 0 : rand() * opts.maxSpeedUp);
      item = { kind: 'play', path: t.path, sourceSeconds: length, speed, crossfadeSeconds: rand() < 0.5 ? rand() * 3 : 0, talkOverDb: opts.talkOver && rand() < 0.2 ? (rand() < 0.5 ? 0 : -6) : null };
    } else if (r < 0.82) {
      const t = pick(unknown);
      item = { kind: 'unknown', path: t.path, sourceSeconds: Math.min(t.durationSeconds, 30 + rand() * 150), speed: 1, crossfadeSeconds: rand() * 2, talkOverDb: null };
    } else if (r < 0.92) {
      const t = pick(unknown);
      item = { kind: 'jingle', path: t.path, sourceSeconds: Math.min(t.durationSeconds, 3 + rand() * 7), speed: 1, crossfadeSeconds: 0, talkOverDb: null };
    } else {
      item = { kind: 'silence', path: null, sourceSeconds: 1 + rand() * 4, speed: 1, crossfadeSeconds: 0, talkOverDb: null };
    }
    items.push(item);
    at += item.sourceSeconds / item.speed - item.crossfadeSeconds;
  }
  return items;
}

/** Stretches a source by `speed` (linear interpolation; 1.02 makes it 2 % shorter and higher). */
export function varispeed(pcm: Float32Array, speed: number): Float32Array {
  if (speed === 1) return pcm;
  const n = Math.floor(pcm.length / speed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = i * speed;
    const j = Math.floor(x);
    const f = x - j;
    out[i] = pcm[j] * (1 - f) + (pcm[Math.min(pcm.length - 1, j + 1)] ?? 0) * f;
  }
  return out;
}

export interface PlayScore {
  plays: number;
  found: number;
  detected: number;
  correct: number;
  falsePlays: number;
  startWithin5: number;
  endWithin5: number;
  startErrors: number[];
  endErrors: number[];
  /** Seconds from a play's start to its "started" event, by decision time (fast pace: stream seconds). */
  missed: TruthPlay[];
}

/**
 * Matches detected plays to true plays of the same track that overlap them in time. A true play counts
 * when it is ≥ `minSeconds`; a detected play that matches no true play of its track is a false play.
 */
export function scorePlays(truth: readonly TruthPlay[], detected: readonly { path: string; startSeconds: number; endSeconds: number }[], minSeconds = 20): PlayScore {
  const counted = truth.filter((t) => t.endSeconds - t.startSeconds >= minSeconds);
  const used = new Set<number>();
  const score: PlayScore = { plays: counted.length, found: 0, detected: detected.length, correct: 0, falsePlays: 0, startWithin5: 0, endWithin5: 0, startErrors: [], endErrors: [], missed: [] };
  const overlap = (a: { startSeconds: number; endSeconds: number }, b: { startSeconds: number; endSeconds: number }): number =>
    Math.max(0, Math.min(a.endSeconds, b.endSeconds) - Math.max(a.startSeconds, b.startSeconds));
  for (const d of detected) {
    let best = -1;
    let bestOverlap = 0;
    truth.forEach((t, i) => {
      const o = t.path === d.path ? overlap(t, d) : 0;
      if (o > bestOverlap) { bestOverlap = o; best = i; }
    });
    if (best < 0) { score.falsePlays++; continue; }
    score.correct++;
    if (used.has(best)) continue; // a play split in two: the second part is neither found nor false
    used.add(best);
    const t = truth[best];
    if (t.endSeconds - t.startSeconds < minSeconds) continue;
    score.found++;
    const se = d.startSeconds - t.startSeconds;
    const ee = d.endSeconds - t.endSeconds;
    score.startErrors.push(se);
    score.endErrors.push(ee);
    if (Math.abs(se) <= 5) score.startWithin5++;
    if (Math.abs(ee) <= 5) score.endWithin5++;
  }
  score.missed = counted.filter((t) => !used.has(truth.indexOf(t)));
  return score;
}
