/**
 * Counts of one condition from its queries' answers. The encrypted answer is the one counted (it is the
 * product's); the clear-text answer only feeds the "encrypted differs" count and a reference top-1.
 */
import type { ConditionSummary, EvalQuery } from '../../schemas/eval.js';

/** How far an offset may be from the excerpt's start and still count as located (DESIGN.md §5). */
export const OFFSET_TOLERANCE_SECONDS = 2;

export function summarise(name: string, seconds: number, queries: readonly EvalQuery[], hasOffsets: boolean): ConditionSummary {
  let top1 = 0;
  let top3 = 0;
  let unknown = 0;
  let rejectedRight = 0;
  let wrong = 0;
  let offsetOk = 0;
  let differs = 0;
  let plainTop1 = 0;
  for (const q of queries) {
    const e = q.encrypted;
    if (e.track !== q.plain.track) differs++;
    if (q.truth !== null && q.plain.track === q.truth) plainTop1++;
    if (q.truth !== null && e.top3.includes(q.truth)) top3++;
    if (e.track === null) {
      unknown++;
      if (q.truth !== null && e.top3[0] === q.truth) rejectedRight++;
    } else if (e.track === q.truth) {
      top1++;
      if (Math.abs(e.offsetSeconds - q.startSeconds) <= OFFSET_TOLERANCE_SECONDS) offsetOk++;
    } else {
      wrong++;
    }
  }
  const n = queries.length;
  const r = (k: number, of: number): number | null => (of > 0 ? k / of : null);
  return {
    name,
    seconds,
    n,
    top1,
    top3,
    unknown,
    rejectedRight,
    wrong,
    offsetWithin2s: hasOffsets ? offsetOk : null,
    encryptedDiffers: differs,
    plainTop1,
    rates: { top1: r(top1, n), top3: r(top3, n), unknown: r(unknown, n), wrong: r(wrong, n), offsetWithin2s: hasOffsets ? r(offsetOk, top1) : null },
  };
}
