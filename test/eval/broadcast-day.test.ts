// The broadcast day's plan is seeded and shaped as documented; the play scorer counts what it says.
import { describe, expect, it } from 'vitest';
import { planDay, scorePlays, varispeed } from '../../pipeline/eval/broadcast-day.js';

const cat = Array.from({ length: 20 }, (_, i) => ({ path: `t${i}.ogg`, durationSeconds: 120 + i * 10 }));
const unk = Array.from({ length: 5 }, (_, i) => ({ path: `/n/u${i}.ogg`, durationSeconds: 600 }));

describe('broadcast day', () => {
  it('plans hours of plays (20 s to whole tracks, 0–4 % fast), unknowns, jingles and silences, the same for a seed', () => {
    const a = planDay(cat, unk, { hours: 3, seed: 7, maxSpeedUp: 0.04, talkOver: true });
    expect(planDay(cat, unk, { hours: 3, seed: 7, maxSpeedUp: 0.04, talkOver: true })).toEqual(a);
    const total = a.reduce((s, i) => s + i.sourceSeconds / i.speed - i.crossfadeSeconds, 0);
    expect(total).toBeGreaterThanOrEqual(3 * 3600);
    const plays = a.filter((i) => i.kind === 'play');
    for (const p of plays) {
      expect(p.sourceSeconds).toBeGreaterThanOrEqual(20);
      expect(p.speed).toBeGreaterThanOrEqual(1);
      expect(p.speed).toBeLessThanOrEqual(1.04);
    }
    expect(new Set(a.map((i) => i.kind))).toEqual(new Set(['play', 'unknown', 'jingle', 'silence']));
    expect(plays.some((p) => p.speed > 1.02)).toBe(true);
    expect(plays.some((p) => p.talkOverDb !== null)).toBe(true);
  });

  it('varispeed shortens by the factor', () => {
    expect(varispeed(new Float32Array(10_000).fill(0.5), 1.04).length).toBe(9615);
  });

  it('scores recall, precision, boundary errors and false plays', () => {
    const truth = [
      { path: 'a', startSeconds: 0, endSeconds: 100, speed: 1, talkOver: false },
      { path: 'b', startSeconds: 100, endSeconds: 200, speed: 1.03, talkOver: false },
      { path: 'c', startSeconds: 200, endSeconds: 210, speed: 1, talkOver: false }, // < 20 s: not counted
    ];
    const s = scorePlays(truth, [
      { path: 'a', startSeconds: 3, endSeconds: 108 },
      { path: 'x', startSeconds: 120, endSeconds: 150 },
      { path: 'c', startSeconds: 200, endSeconds: 210 },
    ]);
    expect(s.plays).toBe(2);
    expect(s.found).toBe(1);
    expect(s.correct).toBe(2);
    expect(s.falsePlays).toBe(1);
    expect(s.startWithin5).toBe(1);
    expect(s.endWithin5).toBe(0);
    expect(s.missed.map((m) => m.path)).toEqual(['b']);
  });
});
