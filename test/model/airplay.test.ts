// The airplay tracker on decision sequences with a known truth: plays open, extend, hand over and close.
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../pipeline/features/types.js';
import { AirplayTracker } from '../../pipeline/model/airplay.js';
import type { StreamDecision } from '../../pipeline/model/stream-decisions.js';
import { PRESENT_Z } from '../../pipeline/model/presence.js';
import { DecideState, type OpenPlay, type ProbePresence } from '../../schemas/messages.js';

const HOP = 15;
type Hint = { t: number; strength: number };
const edge = (t: number): Hint => ({ t, strength: 0.3 });
/** A decision over windows k-1, k (30 s) naming `track` at `offset` seconds into it at the span's start. */
function decision(k: number, track: number | null, offset = 0, final = false): StreamDecision {
  const decision: Decision = { track, bestTrack: track ?? 0, confidence: track === null ? 0 : 5, offsetSeconds: offset, ranking: [] };
  return { fromSeq: k - 1, toSeq: k, audioStartSeconds: (k - 1) * HOP, audioEndSeconds: (k + 1) * HOP, decision, capturedAtMs: 0, final };
}

function run(steps: StreamDecision[], durations = [200, 100, 90], boundaries: Hint[] = [], missesToEnd = 1, from: OpenPlay | null = null) {
  const t = new AirplayTracker('s', durations.map((d) => ({ durationSeconds: d })), { hopSeconds: HOP, spanSeconds: 30, missesToEnd, confidence: (c) => (c > 1 ? 0.9 : 0.1) });
  let play: OpenPlay | null = from;
  const events = [];
  for (const d of steps) {
    const r = t.step(play, d, 0, boundaries);
    play = r.play;
    events.push(...r.events);
  }
  return { events, play };
}

/** A decision named with raw confidence `raw` (the test's mapping: 0.9 above 1, 0.1 below; 0.95 at 8 and above). */
function weighed(k: number, track: number | null, raw: number, offset = 0, final = false): StreamDecision {
  const d = decision(k, track, offset, final);
  return { ...d, decision: { ...d.decision, confidence: raw } };
}

describe('a play first named weakly waits for a second decision', () => {
  const tracker = () => new AirplayTracker('s', [200, 100, 90].map((d) => ({ durationSeconds: d })), { hopSeconds: HOP, spanSeconds: 30, missesToEnd: 3, confidence: (c) => (c >= 8 ? 0.95 : c > 1 ? 0.8 : 0.1) });
  const feed = (steps: StreamDecision[]) => {
    const t = tracker();
    let play: OpenPlay | null = null;
    const events = [];
    for (const d of steps) {
      const r = t.step(play, d, 0, []);
      play = r.play;
      events.push(...r.events);
    }
    return { events, play };
  };

  it('one weak decision between plays of other tracks logs nothing for it', () => {
    const { events } = feed([weighed(1, 0, 9, 0), weighed(2, 0, 9, 15), weighed(3, null, 0), weighed(4, 2, 5, 40), weighed(5, null, 0), weighed(6, null, 0), weighed(7, null, 0), weighed(8, 1, 9, 0), weighed(9, 1, 9, 15, true)]);
    expect(events.map((e) => `${e.event}:${e.track}`)).toEqual(['started:0', 'ended:0', 'started:1', 'ended:1']);
  });

  it('a weak first decision named again is logged from where the play began, with both decisions\' evidence', () => {
    const { events } = feed([weighed(1, null, 0), weighed(2, 1, 5, 0), weighed(3, 1, 5, 10), weighed(4, 1, 9, 25), weighed(5, null, 0), weighed(6, null, 0), weighed(7, null, 0)]);
    expect(events.map((e) => `${e.event}:${e.track}`)).toEqual(['started:1', 'ended:1']);
    // Named at stream 15–45 first (offset 0): the play began inside that span, not at the confirming one.
    expect(events[0].streamStartSeconds).toBeLessThan(30);
    expect(events[1].confidence).toBe(0.95);
  });

  it('a weak play named by the stream\'s last decision is logged: the stream left no time for a second', () => {
    const { events } = feed([weighed(1, 0, 9, 0), weighed(2, 0, 9, 15), weighed(3, 2, 5, 0, true)]);
    expect(events.map((e) => `${e.event}:${e.track}`)).toEqual(['started:0', 'ended:0', 'started:2', 'ended:2']);
  });

  it('a track with a lookalike in the catalogue waits for a second decision, however sure the first', () => {
    // Track 0 resembles track 1 (another version): one sure decision for 0 at a cut, then 1 plays.
    const t = new AirplayTracker('s', [{ durationSeconds: 200, lookalike: true }, { durationSeconds: 100, lookalike: true }, { durationSeconds: 90 }], { hopSeconds: HOP, spanSeconds: 30, missesToEnd: 3, confidence: () => 0.99 });
    let play: OpenPlay | null = null;
    const events = [];
    for (const d of [weighed(1, 2, 9, 0), weighed(2, 2, 9, 15), weighed(3, 0, 9, 0), weighed(4, 1, 9, 5), weighed(5, 1, 9, 20, true)]) {
      const r = t.step(play, d, 0, []);
      play = r.play;
      events.push(...r.events);
    }
    expect(events.map((e) => `${e.event}:${e.track}`)).toEqual(['started:2', 'ended:2', 'started:1', 'ended:1']);
  });

  it('a play state written before weak plays waited reads as logged', () => {
    const state = DecideState.parse({ session: 's', lastSeq: 3, sinceEmit: 0, recent: [], originMs: 0, play: { track: 1, playId: 'p', streamStartSeconds: 0, lastEndSeconds: 30, startedAtMs: 0, offsetSeconds: 0, confidence: 0.6, misses: 0 } });
    expect(state.play?.confirmed).toBe(true);
  });
});

describe('airplay tracker', () => {
  it('a track played from 20 s to its natural end, then unknown: one play, placed from its offsets', () => {
    // Track 1 (100 s) starts at stream second 20: the first span that names it (15–45) starts before it
    // (offset 0), so it began in that span's first window: its middle, 22.5, without a boundary heard there.
    const { events, play } = run([decision(1, null), decision(2, 1, 0), decision(3, 1, 10), decision(4, 1, 25), decision(5, 1, 40), decision(6, 1, 55), decision(7, 1, 70), decision(8, null), decision(9, null)]);
    expect(play).toBeNull();
    expect(events.map((e) => e.event)).toEqual(['started', 'ended']);
    expect(events[0].track).toBe(1);
    expect(events[0].streamStartSeconds).toBe(22.5);
    // The next decisions' offsets put the track's beginning at 20: the ended event carries that start,
    // and the end where the track ends, 100 s later.
    expect(events[1].streamStartSeconds).toBe(20);
    expect(events[1].streamEndSeconds).toBe(120);
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

  it('a play that begins at a silence the client heard starts there', () => {
    const { events } = run([decision(1, null), decision(2, 1, 0), decision(3, 1, 10), decision(4, null), decision(5, null)], [200, 100, 90], [edge(18), edge(19.5)]);
    // Of two edges as sharp, the one nearer the estimate (the middle of the first window, then 20).
    expect(events[0].streamStartSeconds).toBe(19.5);
    expect(events[1].streamStartSeconds).toBe(19.5);
  });

  it('a play cut short ends on the silence the client heard, not on the window grid', () => {
    // Track 0 (200 s) from stream second 0, cut at 52 s (silence 52–55), then unknown.
    const steps = [decision(1, 0, 0), decision(2, 0, 15), decision(3, 0, 30), decision(4, null), decision(5, null)];
    expect(run(steps).events.at(-1)!.streamEndSeconds).toBe(52.5);
    const hinted = run(steps, [200, 100, 90], [edge(52), edge(55)]).events.at(-1)!;
    expect(hinted.streamEndSeconds).toBe(52);
  });
  it('a crossfade with no silence: the start is the sharpest spectral change in the window, not the nearest weak one', () => {
    // Track 1 begins at 26.2 (a crossfade: a strong spectral change there), inside the first window of
    // the span 15–45 that names it first; a weak change (a drum entry) at 21 is nearer the window's middle.
    const hints = [{ t: 21, strength: 0.15 }, { t: 26.2, strength: 0.6 }, { t: 40, strength: 0.05 }];
    const { events } = run([decision(1, null), decision(2, 1, 0), decision(3, 1, 4), decision(4, 1, 19), decision(5, null)], [200, 100, 90], hints);
    expect(events[0].streamStartSeconds).toBe(26.2);
    expect(events[1].streamStartSeconds).toBe(26.2);
    // Without hints the middle of the window, then the offsets' estimate (30 - 4 = 26).
    expect(run([decision(1, null), decision(2, 1, 0), decision(3, 1, 4), decision(4, 1, 19), decision(5, null)]).events[1].streamStartSeconds).toBe(26);
  });

  it('one offset off by a looped passage does not move the start: the median of the first estimates places it', () => {
    // Track 2 begins at 40; the second decision matches a repeat of its opening (offset 6 at 60, not 20).
    const steps = [decision(3, null), decision(4, 2, 5), decision(5, 2, 6), decision(6, 2, 35), decision(7, 2, 50), decision(8, null)];
    const { events } = run(steps);
    expect(events[1].streamStartSeconds).toBe(40);
  });

  it('one or two decisions that miss do not split a play; after missesToEnd it ends at the audio, not at the decision', () => {
    // Track 0 (200 s) from 0, cut at 116 (a silence there); decisions 5 and 6 miss it (sped up, talked over).
    const named = (k: number): StreamDecision => decision(k, 0, (k - 1) * HOP);
    const steps = [named(1), named(2), named(3), named(4), decision(5, null), decision(6, null), named(7), named(8), decision(9, null), decision(10, null), decision(11, null)];
    const split = run(steps, [200], [edge(116)], 1).events.filter((e) => e.event === 'ended');
    expect(split).toHaveLength(2);
    const { events, play } = run(steps, [200], [edge(116)], 3);
    expect(play).toBeNull();
    expect(events.map((e) => e.event)).toEqual(['started', 'ended']);
    expect(events[1].streamStartSeconds).toBe(0);
    expect(events[1].streamEndSeconds).toBe(116);
    // A different track taking over still ends it at once.
    const handed = run([named(1), named(2), named(3), decision(4, null), decision(5, 1, 0)], [200, 100], [], 3).events;
    expect(handed.map((e) => `${e.event}:${e.track}`)).toEqual(['started:0', 'ended:0', 'started:1']);
  });

  it('a track played 4 % fast ends where its offsets run out, not at its length after the start', () => {
    // Track 0 (200 s) from stream second 10 at 1.04×: it ends at 10 + 200 / 1.04 = 202.3, the next track
    // (1) follows straight on; the decisions' offsets grow 1.04 s per stream second. The decision over
    // 180–210 (22 s of track 0, 8 s of track 1) names neither, the next one names track 1.
    const speed = 1.04;
    const start = 10;
    const end = start + 200 / speed;
    const steps: StreamDecision[] = [];
    for (let k = 1; (k + 1) * HOP <= end + HOP / 2; k++) steps.push(decision(k, 0, Math.max(0, Math.round(((k - 1) * HOP - start) * speed * 2) / 2)));
    const k = steps.length + 1;
    steps.push(decision(k, null), decision(k + 1, 1, 0), decision(k + 2, 1, (k + 1) * HOP - end));
    const { events } = run(steps, [200, 100]);
    const ended = events.find((e) => e.event === 'ended' && e.track === 0)!;
    expect(Math.abs(ended.streamEndSeconds! - end)).toBeLessThan(1.5);
    expect(Math.abs(ended.streamStartSeconds - start)).toBeLessThan(1.5);
  });

  it('a stored state from before the start estimates restores and the play goes on', () => {
    // The open play as an earlier version stored it in the compacted state topic: no estimates, no fit.
    const state = DecideState.parse({
      session: 's', lastSeq: 4, sinceEmit: 0, recent: [], originMs: 0, boundaries: [52, { t: 55, strength: 0.4 }],
      play: { track: 0, playId: 's:0:0', streamStartSeconds: 0, lastEndSeconds: 60, startedAtMs: 0, offsetSeconds: 0, confidence: 0.9, misses: 0 },
    });
    expect(state.play!.starts).toEqual([]);
    const { events, play } = run([decision(4, 0, 45), decision(5, null)], [200], [{ t: 75, strength: 0.5 }], 1, state.play);
    expect(play).toBeNull();
    expect(events.map((e) => e.event)).toEqual(['ended']);
    expect(events[0].streamEndSeconds).toBe(75);
  });
});

describe('with probe windows, a play begins and ends where the probes heard its track', () => {
  /** 5 s probes over [0, until): track `a` heard in [a0, a1), track `b` in [b0, b1), `noise` elsewhere. */
  function probes(until: number, plays: [track: number, from: number, to: number][], missing: number[] = []): ProbePresence[] {
    const out: ProbePresence[] = [];
    for (let t = 0; t < until; t += 5) {
      const heard = plays.filter(([, a, b]) => t >= a && t + 5 <= b && !missing.includes(t)).map(([tr]): [number, number] => [tr, 6]);
      // Another track just below "heard" everywhere: the nearest impostor a probe shows.
      out.push({ t, len: 5, tracks: [...heard, [1, PRESENT_Z - 0.3]] });
    }
    return out;
  }
  const feed = (steps: StreamDecision[], heard: ProbePresence[], boundaries: Hint[] = []) => {
    const t = new AirplayTracker('s', [200, 100, 90].map((d) => ({ durationSeconds: d })), { hopSeconds: HOP, spanSeconds: 30, missesToEnd: 3, confidence: () => 0.95 });
    let play: OpenPlay | null = null;
    const events = [];
    for (const d of steps) {
      // What the probes up to the decision's audio end heard (the decider has no later ones).
      const r = t.step(play, d, 0, boundaries, heard.filter((p) => p.t + p.len <= d.audioEndSeconds));
      play = r.play;
      events.push(...r.events);
    }
    return events;
  };

  it('a play cut short at 50 s ends there, not where the decisions stopped naming it or at a change inside the music', () => {
    // Track 0 from stream second 10 (its beginning) to 50, then unknown; a sharp change inside the music at 40.
    const steps = [decision(1, 0, 0), decision(2, 0, 5), decision(3, 0, 20), decision(4, null), decision(5, null), decision(6, null), decision(7, null)];
    const events = feed(steps, probes(120, [[0, 10, 50]]), [{ t: 40, strength: 0.9 }]);
    expect(events.map((e) => `${e.event}:${e.track}`)).toEqual(['started:0', 'ended:0']);
    // "started" from the first decision (its audio heard the beginning): inside the probes' bounds; "ended"
    // from the offsets, which the probes agree with.
    expect(events[0].streamStartSeconds).toBeGreaterThanOrEqual(5);
    expect(events[0].streamStartSeconds).toBeLessThanOrEqual(12.5);
    expect(events[1].streamStartSeconds).toBe(10);
    expect(events[1].streamEndSeconds).toBe(50);
  });

  it('one probe talked over does not end the play; another track taking over ends it where its probes stop', () => {
    // Track 0 from 0 to 65 (a probe at 50 talked over), track 2 from its beginning at 65.
    const steps = [decision(1, 0, 0), decision(2, 0, 15), decision(3, 0, 30), decision(4, 0, 45), decision(5, 2, 0), decision(6, 2, 10, true)];
    const events = feed(steps, probes(120, [[0, 0, 65], [2, 65, 120]], [50]));
    expect(events.map((e) => `${e.event}:${e.track}`)).toEqual(['started:0', 'ended:0', 'started:2', 'ended:2']);
    expect(events[1].streamEndSeconds).toBe(65);
    expect(events[3].streamStartSeconds).toBe(65);
  });

  it('a probe that heard the next track a gap before its run does not move its start back', () => {
    // Track 0 from 0 to 63, track 2 from its beginning at 63 (a cut there); the probe at 55, inside track
    // 0, also shows track 2 (the impostor a strong match lifts), the one at 60 does not.
    const heard = probes(120, [[0, 0, 63], [2, 63, 120]]).map((p) => (p.t === 55 ? { ...p, tracks: [...p.tracks, [2, 6] as [number, number]] } : p));
    const steps = [decision(1, 0, 0), decision(2, 0, 15), decision(3, 0, 30), decision(4, 0, 45), decision(5, 2, 0), decision(6, 2, 15, true)];
    const events = feed(steps, heard, [{ t: 63, strength: 0.9 }]);
    expect(events.map((e) => `${e.event}:${e.track}`)).toEqual(['started:0', 'ended:0', 'started:2', 'ended:2']);
    expect(events[2].streamStartSeconds).toBe(63);
  });

  it('a decider state without probes (written before them) reads as none', () => {
    const s = DecideState.parse({ session: 's', lastSeq: 3, sinceEmit: 0, recent: [], play: null, originMs: 0 });
    expect(s.probes).toEqual([]);
  });
});

describe('with position checks, a play is logged once its check passes', () => {
  const tracker = () => new AirplayTracker('s', [200, 100, 90].map((d) => ({ durationSeconds: d })), { hopSeconds: HOP, spanSeconds: 30, missesToEnd: 3, confidence: (c) => (c >= 8 ? 0.95 : c > 1 ? 0.8 : 0.1), checkPlays: true });

  it('holds "started" until the check passes, then logs the play from where it began', () => {
    const t = tracker();
    const first = t.step(null, weighed(1, 1, 9, 0), 0);
    // Sure enough to log, but only the check is awaited: nothing goes out, a check is wanted.
    expect(first.events).toEqual([]);
    expect(first.play).toMatchObject({ track: 1, ready: true, confirmed: false, check: 'wanted' });
    const pending = { ...first.play!, check: 'pending' as const, checks: 1 };
    // Named again while the check is in flight: still nothing, no second check.
    const second = t.step(pending, weighed(2, 1, 9, 15), 0);
    expect(second.events).toEqual([]);
    expect(second.play).toMatchObject({ check: 'pending' });
    const passed = t.checked(second.play!, true);
    expect(passed.events.map((e) => e.event)).toEqual(['started']);
    // From where the decisions so far place the play's start.
    expect(passed.events[0].streamStartSeconds).toBe(second.play!.streamStartSeconds);
    expect(passed.events[0].streamStartSeconds).toBeLessThan(HOP);
    expect(passed.play).toMatchObject({ confirmed: true, check: 'passed' });
    // Once passed, the play goes on and ends as without checks.
    let play: OpenPlay | null = passed.play;
    const events = [];
    for (const d of [weighed(3, null, 0), weighed(4, null, 0), weighed(5, null, 0)]) {
      const r = t.step(play, d, 0);
      play = r.play;
      events.push(...r.events);
    }
    expect(events.map((e) => e.event)).toEqual(['ended']);
  });

  it('a failed check logs nothing; the track named again is checked once more, and never after a second failure', () => {
    const t = tracker();
    const first = t.step(null, weighed(1, 1, 9, 0), 0);
    const failed = t.checked({ ...first.play!, check: 'pending', checks: 1 }, false);
    expect(failed.events).toEqual([]);
    const again = t.step(failed.play, weighed(2, 1, 9, 15), 0);
    expect(again.events).toEqual([]);
    expect(again.play).toMatchObject({ check: 'wanted' });
    const failedTwice = t.checked({ ...again.play!, check: 'pending', checks: 2 }, false);
    const third = t.step(failedTwice.play, weighed(3, 1, 9, 30), 0);
    expect(third.play).toMatchObject({ check: 'failed' });
    // It ends unlogged: no "started", no "ended".
    let play: OpenPlay | null = third.play;
    const events = [...third.events];
    for (const d of [weighed(4, null, 0), weighed(5, null, 0), weighed(6, null, 0, 0, true)]) {
      const r = t.step(play, d, 0);
      play = r.play;
      events.push(...r.events);
    }
    expect(events).toEqual([]);
    expect(play).toBeNull();
  });

  it('a play that closes while its check is in flight is handed back, and logged start and end if the check passes', () => {
    const t = tracker();
    const first = t.step(null, weighed(1, 1, 9, 0), 0);
    const pending = { ...first.play!, check: 'pending' as const, checks: 1 };
    // Another track takes over before the answer comes.
    const over = t.step(pending, weighed(2, 2, 9, 0), 0);
    expect(over.events).toEqual([]);
    expect(over.closed).toHaveLength(1);
    expect(over.closed[0].play.track).toBe(1);
    const logged = t.checked(over.closed[0].play, true, over.closed[0].endSeconds);
    expect(logged.events.map((e) => e.event)).toEqual(['started', 'ended']);
    expect(logged.events[1].streamEndSeconds).toBe(over.closed[0].endSeconds);
    expect(t.checked(over.closed[0].play, false, over.closed[0].endSeconds).events).toEqual([]);
  });
});
