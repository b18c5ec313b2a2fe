import { describe, expect, it } from 'vitest';
import type { Decider } from '../../pipeline/features/registry.js';
import { StreamDecisions, type ScoredWindow } from '../../pipeline/model/stream-decisions.js';

// A decider that answers the class with the largest summed score, to check which windows it was given.
const sumArgmax: Decider = (scores, starts) => {
  const total = scores.reduce((acc, s) => acc.map((v, i) => v + s[i]), new Array(scores[0].length).fill(0) as number[]);
  const best = total.indexOf(Math.max(...total));
  return { track: best, bestTrack: best, confidence: scores.length, offsetSeconds: starts[0], ranking: [] };
};
const win = (seq: number, cls: number): ScoredWindow => ({ seq, startSeconds: seq * 0.5, scores: Float64Array.from([0, 1, 2], (c) => (c === cls ? 1 : 0)), capturedAtMs: seq });

describe('StreamDecisions', () => {
  it('decides every emitEvery windows over the last span windows, and once more at the end', () => {
    const sd = new StreamDecisions(sumArgmax, { span: 4, emitEvery: 2, windowSeconds: 0.5 });
    const out = sd.add([0, 1, 2, 3, 4].map((s) => win(s, s < 2 ? 1 : 2)), true);
    expect(out.map((d) => [d.fromSeq, d.toSeq, d.final])).toEqual([[0, 1, false], [0, 3, false], [1, 4, true]]);
    expect(out.map((d) => d.decision.track)).toEqual([1, 1, 2]);
    expect(out[2].audioStartSeconds).toBe(0.5);
    expect(out[2].audioEndSeconds).toBe(2.5);
  });

  it('ignores a redelivered window and marks the last emission final when it coincides with the end', () => {
    const sd = new StreamDecisions(sumArgmax, { span: 2, emitEvery: 2, windowSeconds: 1 });
    expect(sd.add([win(0, 0), win(1, 0)], false)).toHaveLength(1);
    expect(sd.add([win(1, 0)], false)).toHaveLength(0);
    const end = sd.add([win(2, 0), win(3, 0)], true);
    expect(end.map((d) => [d.toSeq, d.final])).toEqual([[3, true]]);
  });
});
