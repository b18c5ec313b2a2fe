/**
 * Which track each query comes from, and the seed of everything random about it. Every excerpt and every
 * noise draw has its own seed derived from (run seed, what it is for), so results do not depend on the
 * order in which worker threads finish, nor on which other conditions the run measures.
 *
 * Queries are paired across conditions: slot i of a given length is one excerpt, and every condition of
 * that length distorts that same excerpt, so two conditions differ only by their distortion.
 */
import { createHash } from 'node:crypto';

/** A 32-bit seed for `label` under the run's seed. */
export function deriveSeed(seed: number, label: string): number {
  return createHash('sha256').update(`${seed}\u0000${label}`).digest().readUInt32LE(0);
}

/** Fisher–Yates with the given generator; the input is left alone. */
export function seededShuffle<T>(items: readonly T[], rand: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export interface Slot {
  /** Excerpt length in seconds. */
  seconds: number;
  /** Index among the slots of that length. */
  index: number;
}

export const excerptSeedLabel = (s: Slot): string => `excerpt/${s.seconds}s/${s.index}`;
export const distortionSeedLabel = (condition: string, s: Slot): string => `distortion/${condition}/${s.index}`;
export const negativeSeedLabel = (index: number): string => `negative/${index}`;
export const babbleSourceSeedLabel = (path: string): string => `babble-source/${path}`;

/**
 * Deals `perLength` slots of each length over the tracks: a seeded order of the tracks per length, then
 * round robin, so every track gets a near-equal share. Returns the slots per track.
 */
export function dealSlots(tracks: readonly string[], lengths: readonly number[], perLength: number, rand: (label: string) => () => number): Map<string, Slot[]> {
  const out = new Map<string, Slot[]>(tracks.map((t) => [t, []]));
  if (tracks.length === 0) return out;
  for (const seconds of lengths) {
    const order = seededShuffle([...tracks].sort(), rand(`tracks/${seconds}s`));
    for (let index = 0; index < perLength; index++) out.get(order[index % order.length])!.push({ seconds, index });
  }
  return out;
}

/**
 * Splits the never-enrolled tracks into two disjoint halves: babble sources and unknown queries, so no
 * track is both part of the noise and a query that must come out unknown.
 */
export function splitNegatives(paths: readonly string[], rand: () => number): { babble: string[]; queries: string[] } {
  const shuffled = seededShuffle([...paths].sort(), rand);
  const half = Math.floor(shuffled.length / 2);
  return { babble: shuffled.slice(0, half).sort(), queries: shuffled.slice(half).sort() };
}
