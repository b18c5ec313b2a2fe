/**
 * The landmark decision's confidence on hand-made score vectors, and how catalogues enrolled before the
 * confidence choice existed are read.
 */
import { describe, expect, it } from 'vitest';
import { decideLandmarkVote } from '../../pipeline/model/landmark-vote.js';
import type { Segment } from '../../pipeline/model/segment-templates.js';
import { FeatureSpec } from '../../schemas/catalog.js';
import { LandmarkParams } from '../../schemas/feature-landmark.js';

/** Three tracks of two 35 s segments each; one 15 s window whose scores favour track 0, then track 1. */
const segments: Segment[] = [0, 1, 2].flatMap((track) => [0, 20].map((startSeconds) => ({ track, startSeconds, endSeconds: startSeconds + 35 })));

function scoresFor(own: number, other: number): Float64Array[] {
  const s = new Float64Array(120).fill(0);
  // 114 background classes (manySegments) make the z-scores meaningful; the six segments above come first.
  for (let c = 6; c < 120; c++) s[c] = 0.1 + 0.01 * Math.sin(c);
  s[0] = own;
  s[2] = other;
  return [s];
}

function manySegments(): Segment[] {
  const many: Segment[] = [...segments];
  for (let c = 6; c < 120; c++) many.push({ track: 3 + c, startSeconds: 0, endSeconds: 35 });
  return many;
}

describe('landmark decision confidence', () => {
  const base = { ...LandmarkParams.parse({}), threshold: -Infinity };

  it("'sharp' keeps a clear win and doubts a near-tie that 'margin' would accept alike", () => {
    const clear = scoresFor(0.6, 0.2);
    const tie = scoresFor(0.6, 0.5);
    const seg = manySegments();
    const m = (s: Float64Array[]) => decideLandmarkVote(s, [0], seg, { ...base, confidence: 'margin' }, { clipSeconds: 10 });
    const sh = (s: Float64Array[]) => decideLandmarkVote(s, [0], seg, { ...base, confidence: 'sharp' }, { clipSeconds: 10 });
    expect(m(clear).bestTrack).toBe(0);
    expect(sh(clear).bestTrack).toBe(0);
    const [v1, v2] = m(tie).ranking.map((r) => r.vote);
    expect(sh(tie).confidence).toBeCloseTo(m(tie).confidence * (1 - v2 / v1) ** 2, 9);
    expect(sh(tie).confidence / m(tie).confidence).toBeLessThan(sh(clear).confidence / m(clear).confidence);
  });

  it('reads a catalogue enrolled before the choice with the plain margin and hashed codes', () => {
    const stored = LandmarkParams.parse({ bucketMode: 'hash' }) as Record<string, unknown>;
    delete stored.confidence;
    const spec = FeatureSpec.parse({ kind: 'landmark', params: stored, idf: [1] });
    expect(spec.kind === 'landmark' && spec.params.confidence).toBe('margin');
    const fresh = FeatureSpec.parse({ kind: 'landmark', params: LandmarkParams.parse({}), idf: [1] });
    expect(fresh.kind === 'landmark' && [fresh.params.confidence, fresh.params.bucketMode]).toEqual(['sharp', 'ratio']);
  });

  it('reads a catalogue enrolled before query framings with one framing per query, and a new one with four', () => {
    const stored = LandmarkParams.parse({}) as Record<string, unknown>;
    delete stored.queryShifts;
    const old = FeatureSpec.parse({ kind: 'landmark', params: stored, idf: [1] });
    expect(old.kind === 'landmark' && old.params.queryShifts).toBe(1);
    const fresh = FeatureSpec.parse({ kind: 'landmark', params: LandmarkParams.parse({}), idf: [1] });
    expect(fresh.kind === 'landmark' && fresh.params.queryShifts).toBe(4);
  });
});
