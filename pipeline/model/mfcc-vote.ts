/**
 * The client's decision for the "mfcc-sum" kind, from decrypted per-window scores: each window votes for
 * its argmax track, the most-voted track wins, and the answer is "unknown" when its share of the votes is
 * below `minVoteShare`. The kind has no notion of position in a track, so offsetSeconds is always 0.
 */
import type { MfccSumParams } from '../../schemas/feature-mfcc.js';
import { BlindearError } from '../errors.js';
import type { Decision } from '../features/types.js';

const RANKING_LENGTH = 3;

export function decideMfccVote(scores: Float64Array[], params: Pick<MfccSumParams, 'minVoteShare'>): Decision {
  if (scores.length === 0) throw new BlindearError('BLINDEAR_ERR_AUDIO_TOO_SHORT', 'no window scores to vote with');
  const C = scores[0].length;
  const votes = new Int32Array(C);
  // Summed scores break vote ties: by linearity they are the score of the summed windows.
  const total = new Float64Array(C);
  for (const s of scores) {
    if (s.length !== C) throw new RangeError(`score vectors differ in length (${s.length} vs ${C})`);
    let best = 0;
    for (let c = 0; c < C; c++) {
      total[c] += s[c];
      if (s[c] > s[best]) best = c;
    }
    votes[best]++;
  }
  const order = Array.from({ length: C }, (_, c) => c)
    .filter((c) => votes[c] > 0)
    .sort((a, b) => votes[b] - votes[a] || total[b] - total[a] || a - b);
  const bestTrack = order[0];
  const confidence = votes[bestTrack] / scores.length;
  return {
    track: confidence >= params.minVoteShare ? bestTrack : null,
    bestTrack,
    confidence,
    offsetSeconds: 0,
    ranking: order.slice(0, RANKING_LENGTH).map((track) => ({ track, vote: votes[track] })),
  };
}

/**
 * The decision for 'mean' queries: each score vector is already the mean of its windows' scores, so the
 * query's scores are their average; the answer is the argmax, "unknown" when its softmax probability is
 * below `minProbability` (the model is a multinomial logistic regression: softmax gives its probabilities).
 */
export function decideMfccMean(scores: Float64Array[], params: Pick<MfccSumParams, 'minProbability'>): Decision {
  if (scores.length === 0) throw new BlindearError('BLINDEAR_ERR_AUDIO_TOO_SHORT', 'no window scores to decide with');
  const C = scores[0].length;
  const mean = new Float64Array(C);
  for (const s of scores) {
    if (s.length !== C) throw new RangeError(`score vectors differ in length (${s.length} vs ${C})`);
    for (let c = 0; c < C; c++) mean[c] += s[c] / scores.length;
  }
  let max = -Infinity;
  for (const v of mean) max = Math.max(max, v);
  let z = 0;
  const p = mean.map((v) => Math.exp(v - max));
  for (const v of p) z += v;
  const order = Array.from({ length: C }, (_, c) => c).sort((a, b) => p[b] - p[a] || a - b);
  const bestTrack = order[0];
  const confidence = p[bestTrack] / z;
  return {
    track: confidence >= params.minProbability ? bestTrack : null,
    bestTrack,
    confidence,
    offsetSeconds: 0,
    ranking: order.slice(0, RANKING_LENGTH).map((track) => ({ track, vote: p[track] / z })),
  };
}
