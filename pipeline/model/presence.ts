/**
 * Where a track is heard, from probe windows (short windows every few seconds, scored like any window):
 * the client keeps, per probe, the tracks whose segments stand out among all classes' scores. A track the
 * decisions name is heard in a probe when its z-score there reaches PRESENT_Z; measured on a 3 h broadcast
 * day (LWE dev catalogue, 5 s probes), 95 % of probes inside a play of a track reach 3.2 for it, and 99 %
 * of probes outside its plays stay under 2.4.
 */
import type { ProbePresence } from '../../schemas/messages.js';

/** A track is heard in a probe at this z-score or above. */
export const PRESENT_Z = 2.5;
/** Tracks below this z-score are not kept (below PRESENT_Z: not heard). */
const KEEP_Z = 2;
const KEEP_TRACKS = 16;
/** A play is over once this many probes in a row no longer hear its track. */
export const ABSENT_PROBES = 2;

/** The tracks probe [t, t + len) heard: per track its best segment's z-score, kept from KEEP_Z up. */
export function probePresence(scores: ArrayLike<number>, classTrack: ArrayLike<number>, t: number, len: number): ProbePresence {
  const C = scores.length;
  let sum = 0;
  let sum2 = 0;
  for (let c = 0; c < C; c++) {
    sum += scores[c];
    sum2 += scores[c] * scores[c];
  }
  const mu = sum / Math.max(1, C);
  const sd = Math.sqrt(Math.max(0, sum2 / Math.max(1, C) - mu * mu)) + 1e-9;
  const best = new Map<number, number>();
  for (let c = 0; c < C; c++) {
    const z = (scores[c] - mu) / sd;
    if (z < KEEP_Z) continue;
    const tr = classTrack[c];
    if (z > (best.get(tr) ?? -Infinity)) best.set(tr, z);
  }
  const tracks = [...best].sort((a, b) => b[1] - a[1]).slice(0, KEEP_TRACKS).map(([tr, z]): [number, number] => [tr, Math.round(z * 100) / 100]);
  return { t: Math.round(t * 1000) / 1000, len, tracks };
}

/** The z-score probe `p` heard track `track` at (0 when it was not kept). */
export function presenceOf(p: ProbePresence, track: number): number {
  for (const [tr, z] of p.tracks) if (tr === track) return z;
  return 0;
}

/**
 * Where `track` stops being heard after `from`: the end of the last probe that heard it before
 * ABSENT_PROBES in a row did not (or before the probes run out). Null when no probe from `from` on heard it.
 */
export function heardUntil(probes: readonly ProbePresence[], track: number, from: number): number | null {
  let last: ProbePresence | null = null;
  let misses = 0;
  for (const p of probes) {
    if (p.t + p.len <= from) continue;
    if (presenceOf(p, track) >= PRESENT_Z) {
      last = p;
      misses = 0;
    } else if (last && ++misses >= ABSENT_PROBES) break;
  }
  return last ? last.t + last.len : null;
}

/**
 * Where `track` began to be heard before `until`: the first probe of the unbroken run of probes that hear
 * it, going back from `until` but not to `notBefore`. Unbroken, unlike an end's run: in the last seconds of
 * the item before, a strong match of that item lifts other tracks' z-scores past PRESENT_Z now and then, and
 * one such probe a gap before the run would move the start back by two probes (broadcast days seeds 7, 11
 * and 23: two starts of 166 more within 5 s). Null when no probe there heard it.
 */
export function heardFrom(probes: readonly ProbePresence[], track: number, until: number, notBefore: number): ProbePresence | null {
  let first: ProbePresence | null = null;
  for (let i = probes.length - 1; i >= 0; i--) {
    const p = probes[i];
    if (p.t >= until) continue;
    if (p.t + p.len <= notBefore) break;
    if (presenceOf(p, track) >= PRESENT_Z) first = p;
    else if (first) break;
  }
  return first;
}
