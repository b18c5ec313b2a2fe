// The airplay tracker on decision sequences with a known truth: plays open, extend, hand over and close.
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../pipeline/features/types.js';
import { AirplayTracker } from '../../pipeline/model/airplay.js';
import type { StreamDecision } from '../../pipeline/model/stream-decisions.js';
import type { OpenPlay } from '../../schemas/messages.js';

const HOP = 15;
/** A decision over windows k-1, k (30 s) naming `track` at `offset` seconds into it at the span's start. */
function decision(k: number, track: number | null, offset = 0, final = false): StreamDecision {
  const decision: Decision = { track, bestTrack: track ?? 0, confidence: track === null ? 0 : 5, offsetSeconds: offset, ranking: [] };
  return { fromSeq: k - 1, toSeq: k, audioStartSeconds: (k - 1) * HOP, audioEndSeconds: (k + 1) * HOP, decision, capturedAtMs: 0, final };
}

function run(steps: StreamDecision[], durations = [200, 100, 90], boundaries: number[] = []) {
  const t = new AirplayTracker('s', durations.map((d) => ({ durationSeconds: d })), { hopSeconds: HOP, spanSeconds: 30, missesToEnd: 1, confidence: (c) => (c > 1 ? 0.9 : 0.1) });
  let play: OpenPlay | null = null;
  const events = [];
  for (const d of steps) {
    const r = t.step(play, d, 0, boundaries);
    play = r.play;
    events.push(...r.events);
  }
  return { events, play };
}

describe('airplay tracker', () => {
  it('a track played from 20 s to its natural end, then unknown: one play, placed from its offsets', () => {
    // Track 1 (100 s) starts at stream second 20: the span 15–45 sees it 5 s in... offsets say where it began.
    const { events, play } = run([decision(1, null), decision(2, 1, 0), decision(3, 1, 10), decision(4, 1, 25), decision(5, 1, 40), decision(6, 1, 55), decision(7, 1, 70), decision(8, null), decision(9, null)]);
    expect(play).toBeNull();
    expect(events.map((e) => e.event)).toEqual(['started', 'ended']);
    expect(events[0].track).toBe(1);
    expect(events[0].streamStartSeconds).toBe(15);
    expect(events[1].streamEndSeconds).toBe(115);
    expect(events[1].durationSeconds).toBe(100);
  });

  it('another track taking over ends the open play where the new one starts; the stream end closes the last', () => {
    const { events } = run([decision(1, 0, 0), decision(2, 0, 15), decision(3, 2, 0), decision(4, 2, 15, true)]);
    expect(events.map((e) => `${e.event}:${e.track}`)).toEqual(['started:0', 'ended:0', 'started:2', 'ended:2']);
    expect(events[1].streamEndSeconds).toBe(events[2].streamStartSeconds);
    expect(events[3].streamEndSeconds).toBeLessThanOrEqual(75);
    expect(new Set(events.map((e) => e.playId)).size).toBe(2);
  });

  it('confidence is mapped to 0–1 and the strongest decision of a play is kept', () => {
    const { events } = run([decision(1, 0, 0), decision(2, 0, 15, true)]);
    expect(events[0].confidence).toBe(0.9);
    expect(events.at(-1)!.event).toBe('ended');
  });

  it('a play cut short ends on the silence the client heard, not on the window grid', () => {
    // Track 0 (200 s) from stream second 0, cut at 52 s (silence 52–55), then unknown.
    const steps = [decision(1, 0, 0), decision(2, 0, 15), decision(3, 0, 30), decision(4, null), decision(5, null)];
    expect(run(steps).events.at(-1)!.streamEndSeconds).toBe(52.5);
    const hinted = run(steps, [200, 100, 90], [52, 55]).events.at(-1)!;
    expect(hinted.streamEndSeconds).toBe(52);
  });
});
