/**
 * The query plan: every track gets a near-equal share of the slots, the same seed deals the same plan,
 * another seed another one, and the never-enrolled tracks split into two disjoint halves.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../pipeline/model/calibrate.js';
import { dealSlots, deriveSeed, splitNegatives } from '../../pipeline/eval/query-plan.js';

const tracks = Array.from({ length: 67 }, (_, i) => `pkg/track-${String(i).padStart(2, '0')}.ogg`);
const randOf = (seed: number) => (label: string) => seededRandom(deriveSeed(seed, label));
const plan = (seed: number) => [...dealSlots(tracks, [10, 5], 100, randOf(seed))].map(([t, s]) => [t, s.map((x) => `${x.seconds}/${x.index}`)]);

describe('query plan', () => {
  it('deals every slot once, at most one apart between tracks', () => {
    const dealt = dealSlots(tracks, [10, 5], 100, randOf(7));
    const all = [...dealt.values()].flat();
    expect(all).toHaveLength(200);
    expect(new Set(all.map((s) => `${s.seconds}/${s.index}`)).size).toBe(200);
    for (const seconds of [10, 5]) {
      const counts = [...dealt.values()].map((s) => s.filter((x) => x.seconds === seconds).length);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
  });

  it('is the same for the same seed and differs for another', () => {
    expect(plan(7)).toEqual(plan(7));
    expect(plan(8)).not.toEqual(plan(7));
    expect(deriveSeed(7, 'excerpt/10s/0')).not.toBe(deriveSeed(7, 'excerpt/10s/1'));
  });

  it('splits never-enrolled tracks into disjoint babble and query halves', () => {
    const { babble, queries } = splitNegatives(tracks, seededRandom(1));
    expect(babble.length + queries.length).toBe(tracks.length);
    expect(babble.filter((t) => queries.includes(t))).toEqual([]);
    expect(Math.abs(babble.length - queries.length)).toBeLessThanOrEqual(1);
  });
});
