import { describe, expect, it } from 'vitest';
import { decideMfccVote } from '../../pipeline/model/mfcc-vote.js';
import { isBlindearError } from '../../pipeline/errors.js';

/** A score vector whose argmax is `best` among `classes`, with `margin` over the others. */
function window(best: number, classes = 4, margin = 1): Float64Array {
  const s = new Float64Array(classes);
  s[best] = margin;
  return s;
}

describe('decideMfccVote', () => {
  it('answers the most-voted track with its vote share as confidence and no offset', () => {
    const d = decideMfccVote([window(2), window(2), window(1), window(2), window(0)], { minVoteShare: 0.5 });
    expect(d).toEqual({
      track: 2,
      bestTrack: 2,
      confidence: 0.6,
      offsetSeconds: 0,
      ranking: [{ track: 2, vote: 3 }, { track: 0, vote: 1 }, { track: 1, vote: 1 }],
    });
  });

  it('says unknown below the vote-share threshold but still reports the best track', () => {
    const d = decideMfccVote([window(0), window(1), window(2), window(2)], { minVoteShare: 0.6 });
    expect(d.track).toBeNull();
    expect(d.bestTrack).toBe(2);
    expect(d.confidence).toBe(0.5);
    expect(decideMfccVote([window(0), window(1), window(2), window(2)], { minVoteShare: 0.5 }).track).toBe(2);
  });

  it('breaks vote ties by the summed scores, i.e. the score of the summed windows', () => {
    const d = decideMfccVote([window(1, 4, 1), window(3, 4, 5)], { minVoteShare: 0 });
    expect(d.bestTrack).toBe(3);
    expect(d.ranking.map((r) => r.track)).toEqual([3, 1]);
  });

  it('refuses to decide from no windows', () => {
    let err: unknown;
    try {
      decideMfccVote([], { minVoteShare: 0.2 });
    } catch (e) {
      err = e;
    }
    expect(isBlindearError(err) && err.code).toBe('BLINDEAR_ERR_AUDIO_TOO_SHORT');
  });
});
