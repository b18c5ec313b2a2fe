/**
 * Turns a session's stream of decisions into plays: a play opens ("started") at the first decision that
 * names a track and closes ("ended") when decisions have stopped naming it for `missesToEnd` decisions in
 * a row, when another track takes over, or when the stream ends. One decision that misses (a sped-up
 * passage, talk over the music) does not split a play; the "ended" event of a play that fades out comes
 * that many hops later, its end still placed at the audio, not at the decision. Pure: the state is plain
 * data the decide stage stores after each record.
 *
 * Boundaries. Decisions come every hop over the last `span` seconds, so the raw edges of a play are only
 * known to a hop. A decision also says where in the track its audio starts (`offsetSeconds`): `stream time
 * - offset` is where the track's beginning passed (stations speed tracks up, so this holds near the
 * start; all of them give the speed). The first few such estimates (their median: a looped passage can
 * fool one) place the start, and the offsets' line, run on to the track's length, the end it reaches
 * when played out. Inside the stretch where an edge must lie, it is put on the sharpest change the
 * client heard there (`BoundaryHint`s: spectral changes, silence edges, fade bottoms), else at the
 * estimate. The "started" event gives the start from the first decision; the "ended" event the start as
 * placed by the first minute of decisions.
 */
import type { OpenPlay, ProbePresence } from '../../schemas/messages.js';
import type { BoundaryHint } from '../dsp/boundaries.js';
import { heardFrom, heardUntil } from './presence.js';
import type { StreamDecision } from './stream-decisions.js';

export interface TrackInfo {
  durationSeconds: number;
  /**
   * Another track of the catalogue resembles it closely (another version, a shared theme: the enrolment's
   * near-duplicates): a play of it is logged once a second decision names it, however sure the first.
   */
  lookalike?: boolean;
}

export interface PlayEvent {
  event: 'started' | 'ended';
  track: number;
  playId: string;
  streamStartSeconds: number;
  streamEndSeconds?: number;
  offsetSeconds: number;
  confidence: number;
  /** Stream seconds heard so far (started) or in all (ended). */
  durationSeconds: number;
}

export interface AirplayOptions {
  /** Seconds between decisions. */
  hopSeconds: number;
  /** Seconds of audio each decision looks at. */
  spanSeconds: number;
  /** Decisions in a row that must miss before an open play is closed. */
  missesToEnd: number;
  /** Maps a decision's raw confidence to 0–1 (0.5 on the unknown threshold). */
  confidence(raw: number): number;
  /**
   * Plays are logged only once their position check passes (the client aligns the decision's landmarks
   * with the track's records, fetched by position query): see `checked`.
   */
  checkPlays?: boolean;
}

/** A play the decisions closed while its position check was in flight: logged, start and end, if it passes. */
export interface ClosedUnchecked {
  play: OpenPlay;
  endSeconds: number;
}

/** Position checks one play may have: a second one when the track is named again after the first failed. */
const MAX_CHECKS = 2;

/** Start estimates kept (the median places the start); later decisions only refine the speed. */
const START_ESTIMATES = 4;
/** Offsets up to this many seconds give start estimates: the speed-up shifts later ones too much. */
const START_OFFSET_MAX = 60;
/** How far a decision's offset is off, seconds (the model places a window to a block or two; loops). */
const OFFSET_SLACK = 3;
/** Stations speed tracks up by a few percent, never slow them much. */
const SPEED_MIN = 0.98;
const SPEED_MAX = 1.06;
/**
 * A play whose first decision is less sure than this (0–1, 0.5 on the unknown threshold) is logged only
 * once a second decision names the track: a lone weak decision is how a never-enrolled song, a jingle or
 * a cut between two plays gets a false play (broadcast days: every false play was one decision at
 * 0.5–0.8, or one naming another version of the track that then played; every real play first named
 * that weakly was named again within its next decisions).
 */
export const CONFIRM_CONFIDENCE = 0.9;
/** Two plays overlap by up to this much (a crossfade): a play can begin this long before the one before it ended. */
const CROSSFADE_SLACK = 5;
/**
 * A play began at most HEARD_AFTER of a probe's length into the first probe that heard its track, and at
 * most HEARD_BEFORE of one before it (broadcast days seeds 7, 11 and 23: starts within 5 s are the same
 * from 0.7 to 0.8 and from 0.2 to 0.4; 1 and 0.5, a whole probe and half of one, lose 4 of 166).
 */
const HEARD_BEFORE = 0.8;
const HEARD_AFTER = 0.3;
/** A change weaker than this is not taken for a play's edge. */
const MIN_STRENGTH = 0.1;
/** The speed is fitted once this many offsets spread over this many seconds (standard deviation) of stream. */
const SPEED_FIT_POINTS = 6;
const SPEED_FIT_SPREAD = 40;

const median = (a: readonly number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export class AirplayTracker {
  private hints: readonly BoundaryHint[] = [];
  private probes: readonly ProbePresence[] = [];

  constructor(private readonly session: string, private readonly tracks: readonly TrackInfo[], private readonly opts: AirplayOptions) {}

  /**
   * Feeds one decision; returns the events it causes and the play left open. `hints` are where the
   * client's clear view of the audio saw a play could begin or end, with how sharp a change each is;
   * `probes` what the probe windows of the recent audio heard (by time; empty without probes).
   */
  step(play: OpenPlay | null, d: StreamDecision, nowMs: number, hints: readonly BoundaryHint[] = [], probes: readonly ProbePresence[] = []): { events: PlayEvent[]; play: OpenPlay | null; closed: ClosedUnchecked[] } {
    this.hints = hints;
    this.probes = probes;
    const events: PlayEvent[] = [];
    const closed: ClosedUnchecked[] = [];
    /** A play dropped before it was logged, whose check may still log it. */
    const awaiting = (p: OpenPlay, end: number): void => {
      if (!p.confirmed && p.ready && (p.check === 'wanted' || p.check === 'pending')) closed.push({ play: p, endSeconds: Math.max(end, p.streamStartSeconds) });
    };
    const track = d.decision.track;
    let open = play;
    /** Where the play that another track takes over ended: the new one cannot have begun before it. */
    let handover: number | null = null;
    /** The earliest the new play can have begun: inside the last span that named the one before. */
    let floorNext = 0;
    if (open && track !== null && track !== open.track) {
      // Another track took over: the open play ended where the new one began, inside the last span that
      // named it (which held half a hop of it at least) or after.
      const floor = Math.max(open.streamStartSeconds, open.lastEndSeconds - this.opts.spanSeconds) + this.opts.hopSeconds / 2;
      floorNext = Math.max(open.streamStartSeconds, open.lastEndSeconds - this.opts.spanSeconds);
      const natural = this.naturalEnd(open);
      // The new track began by its own estimate (or inside its first decision's first window).
      const y = d.decision.offsetSeconds;
      const latest = d.audioStartSeconds + this.opts.hopSeconds / (y > 1 ? 2 : 1);
      // Where the probes last heard it; without probes, where it ends when played out, else where the new one began.
      const heard = this.heardEnd(open);
      handover = heard !== null ? Math.max(open.streamStartSeconds, Math.min(heard, d.audioEndSeconds))
        : natural !== null && natural >= floor && natural <= latest
        // Played out: it ended where the track does (decisions that missed it in between heard it sped up or talked over).
        ? this.strongest(natural - OFFSET_SLACK, natural + OFFSET_SLACK) ?? natural
        : Math.max(open.streamStartSeconds, Math.min(this.firstStart(d, floor), open.lastEndSeconds));
      if (open.confirmed) events.push(this.ended(open, handover));
      else awaiting(open, handover);
      open = null;
    }
    if (track !== null) {
      const conf = this.opts.confidence(d.decision.confidence);
      if (!open) {
        open = {
          track,
          playId: `${this.session}:${d.fromSeq}:${track}`,
          streamStartSeconds: 0,
          lastEndSeconds: d.audioEndSeconds,
          startedAtMs: nowMs,
          offsetSeconds: 0,
          confidence: conf,
          misses: 0,
          floorSeconds: handover === null ? 0 : Math.min(handover, floorNext + this.opts.hopSeconds / 2),
          firstAudioStartSeconds: d.audioStartSeconds,
          // Its audio starts before the track's beginning (offset 0): the play began inside it.
          notBeforeSeconds: d.decision.offsetSeconds <= 1 ? d.audioStartSeconds : 0,
          starts: [],
          fit: [0, 0, 0, 0, 0],
          confirmed: false,
          check: 'none',
          ready: false,
          checks: 0,
        };
        open = this.place(this.addOffset(open, d));
        if (conf >= CONFIRM_CONFIDENCE && !this.tracks[track]?.lookalike) open = this.release(open, d, events);
      } else {
        open = this.addOffset({ ...open, lastEndSeconds: d.audioEndSeconds, confidence: Math.max(open.confidence, conf), misses: 0 }, d);
        // The start is placed again while its estimates come in and the changes heard around it are still held.
        if (d.audioStartSeconds <= open.firstAudioStartSeconds + START_OFFSET_MAX) open = this.place(open);
        // Named again: the weak first decision was right; the play is logged from where it began (a play
        // whose check failed is checked once more on this decision).
        if (!open.confirmed) open = this.release(open, d, events);
      }
    } else if (open) {
      open = { ...open, misses: open.misses + 1 };
      if (open.misses >= this.opts.missesToEnd) {
        // Never named a second time: not logged.
        const end = this.endOf(open);
        if (open.confirmed) events.push(this.ended(open, end));
        else awaiting(open, end);
        open = null;
      }
    }
    if (d.final && open) {
      // The stream ended: with the track still named, the play ran to its end. A weak play the stream
      // left no time to confirm (named by its last decision) is logged: it had no chance of a second.
      if (!open.confirmed && track === open.track) open = this.release(open, d, events);
      const end = track === open.track ? d.audioEndSeconds : Math.min(d.audioEndSeconds, this.endOf(open, d.audioEndSeconds));
      if (open.confirmed) events.push(this.ended(open, end));
      else awaiting(open, end);
      open = null;
    }
    return { events, play: open, closed };
  }

  /**
   * The decisions would log play `p`: "started" goes out now, or with position checks once its check has
   * passed (a check is wanted here when none is in flight; a failed one is tried once more).
   */
  private release(p: OpenPlay, d: StreamDecision, events: PlayEvent[]): OpenPlay {
    if (this.opts.checkPlays && p.check !== 'passed') {
      const again = p.check === 'failed' && p.checks < MAX_CHECKS;
      return { ...p, ready: true, check: p.check === 'none' || again ? 'wanted' : p.check };
    }
    const logged = { ...p, ready: true, confirmed: true };
    events.push(this.started(logged, d));
    return logged;
  }

  /**
   * The outcome of play `p`'s position check. Passed: a play the decisions would log is logged now (with
   * its end too when it closed meanwhile: `closedEnd`); failed: it is not, unless a later decision names
   * the track again and a second check passes.
   */
  checked(p: OpenPlay, passed: boolean, closedEnd?: number): { play: OpenPlay; events: PlayEvent[] } {
    if (!passed) return { play: { ...p, check: 'failed' }, events: [] };
    const q: OpenPlay = { ...p, check: 'passed' };
    if (!q.ready || q.confirmed) return { play: q, events: [] };
    const logged: OpenPlay = { ...q, confirmed: true };
    const events: PlayEvent[] = [{ ...this.started(logged, null), durationSeconds: (closedEnd ?? logged.lastEndSeconds) - logged.streamStartSeconds }];
    if (closedEnd !== undefined) events.push(this.ended(logged, closedEnd));
    return { play: logged, events };
  }

  /** Records the decision's offset: a start estimate while they are near the start, a point for the speed always. */
  private addOffset(p: OpenPlay, d: StreamDecision): OpenPlay {
    const x = d.audioStartSeconds;
    const y = d.decision.offsetSeconds;
    if (y <= 1) return p;
    let starts = p.starts;
    if (starts.length < START_ESTIMATES && y <= START_OFFSET_MAX) starts = [...starts, x - y];
    // A point far off the start the estimates agree on (a looped passage matched elsewhere) is left out of the speed.
    const zero = starts.length ? median(starts) : x - y;
    const drift = Math.abs(x - zero - y / 1.02);
    if (drift > 2 * OFFSET_SLACK + 0.04 * y) return { ...p, starts };
    const [n, sx, sy, sxx, sxy] = p.fit;
    return { ...p, starts, fit: [n + 1, sx + x, sy + y, sxx + x * x, sxy + x * y] };
  }

  /** Where the track's beginning passed in the stream (its position 0), from the first estimates. */
  private trackZero(p: OpenPlay): number | null {
    return p.starts.length ? median(p.starts) : null;
  }

  /**
   * Where the track reaches its end in the stream when played out: offsets grow `speed` times as fast as
   * stream time (least squares, once SPEED_FIT_POINTS offsets spread over minutes; 1 before), taken from
   * their mean point, so a bias all offsets share does not tilt it. Null without an offset to go by.
   */
  private naturalEnd(p: OpenPlay): number | null {
    const duration = this.tracks[p.track]?.durationSeconds;
    const [n, sx, sy, sxx, sxy] = p.fit;
    if (duration === undefined || n === 0) return null;
    const mx = sx / n;
    const my = sy / n;
    const vx = sxx / n - mx * mx;
    const speed = n >= SPEED_FIT_POINTS && vx >= SPEED_FIT_SPREAD ** 2 ? Math.min(SPEED_MAX, Math.max(SPEED_MIN, (sxy / n - mx * my) / vx)) : 1;
    return mx + (duration - my) / speed;
  }

  /** Places the start of play `p` (and its offset into the track) from its estimates and the hints. */
  private place(p: OpenPlay): OpenPlay {
    const zero = this.trackZero(p);
    const floor = p.floorSeconds;
    // A decision whose audio starts before the track's beginning (offset 0) puts the start inside its audio.
    const lo = Math.max(floor, p.notBeforeSeconds);
    let start: number;
    if (zero === null && p.notBeforeSeconds >= p.firstAudioStartSeconds) {
      start = this.clampedStart(lo, floor);
    } else if (zero === null) {
      // Named well into the track from the first: joined under way.
      start = this.joinedStart(p.firstAudioStartSeconds, floor);
    } else if (this.joined(zero, p.firstAudioStartSeconds, floor)) {
      start = this.joinedStart(p.firstAudioStartSeconds, floor);
    } else {
      // Inside the stretch the estimates span (wider when a looped passage makes them disagree).
      let a = Math.max(lo, Math.min(...p.starts) - OFFSET_SLACK);
      let b = Math.max(lo, Math.max(...p.starts) + OFFSET_SLACK);
      if (b - a < OFFSET_SLACK) [a, b] = [lo, lo + 2 * OFFSET_SLACK];
      start = this.strongest(a, b, zero) ?? Math.min(b, Math.max(a, zero));
    }
    const heard = this.heardStart(p);
    if (heard) {
      // The probes bound it: the first probe that heard the track held most of it, the one before at most
      // a few seconds of it (talk-over can hide more).
      start = Math.min(Math.max(start, heard.t - HEARD_BEFORE * heard.len), heard.t + HEARD_AFTER * heard.len);
    }
    start = Math.max(0, start);
    return { ...p, streamStartSeconds: start, offsetSeconds: zero === null || zero >= start - 1 ? 0 : start - zero };
  }

  /** The start of a play whose first decision heard the track's beginning: inside that decision's audio. */
  private clampedStart(audioStart: number, floor: number): number {
    const lo = Math.max(floor, audioStart);
    const hi = Math.max(lo, audioStart + this.opts.hopSeconds);
    return this.strongest(lo, hi) ?? (lo + hi) / 2;
  }

  /** The start of the track of decision `d`, from it alone (the play it opens is placed again as decisions come). */
  private firstStart(d: StreamDecision, floor: number): number {
    const y = d.decision.offsetSeconds;
    if (y <= 1) return this.clampedStart(d.audioStartSeconds, floor);
    const zero = d.audioStartSeconds - y;
    if (this.joined(zero, d.audioStartSeconds, floor)) return this.joinedStart(d.audioStartSeconds, floor);
    return Math.max(floor, this.strongest(zero - OFFSET_SLACK, zero + OFFSET_SLACK) ?? zero);
  }

  /**
   * Whether the track was already playing when it could first be heard (its beginning passed before the
   * play before it ended, or long before the first decision that named it): the stream joined it there.
   */
  private joined(zero: number, audioStart: number, floor: number): boolean {
    return zero < Math.max(floor, audioStart - this.opts.spanSeconds) - OFFSET_SLACK;
  }

  /** Where a track joined under way became audible: the sharpest change around the first audio that named it. */
  private joinedStart(audioStart: number, floor: number): number {
    const lo = Math.max(floor, audioStart - this.opts.hopSeconds);
    return this.strongest(lo, Math.max(lo, audioStart + this.opts.hopSeconds / 2)) ?? Math.max(floor, audioStart);
  }

  /** Where an open play ended: the track's natural end when it comes about where decisions stopped naming it, else the sharpest change there. */
  private endOf(p: OpenPlay, streamEnd = Infinity): number {
    const heard = this.heardEnd(p);
    if (heard !== null) return Math.max(p.streamStartSeconds, Math.min(heard, streamEnd));
    const natural = this.naturalEnd(p) ?? p.streamStartSeconds - p.offsetSeconds + (this.tracks[p.track]?.durationSeconds ?? Infinity);
    const latest = Math.min(p.lastEndSeconds, streamEnd);
    const { hopSeconds, spanSeconds } = this.opts;
    let end: number;
    if (natural >= latest - spanSeconds && natural <= latest + hopSeconds) {
      end = this.strongest(natural - OFFSET_SLACK, natural + OFFSET_SLACK) ?? natural;
    } else {
      // Cut short: the last span that named it held some of it, the next one (a hop later) too little.
      end = this.strongest(Math.max(p.streamStartSeconds, latest - spanSeconds) + hopSeconds / 2, latest + hopSeconds / 2) ?? latest - hopSeconds / 2;
    }
    return Math.max(p.streamStartSeconds, Math.min(end, streamEnd));
  }

  /**
   * The first probe that heard the play's track, going back from the end of the first decision that named
   * it, not before the play before it ended (less a crossfade).
   */
  private heardStart(p: OpenPlay): ProbePresence | null {
    return heardFrom(this.probes, p.track, p.firstAudioStartSeconds + this.opts.spanSeconds, p.floorSeconds - CROSSFADE_SLACK);
  }

  /**
   * Where the probes last heard the play's track, from the last span that named it on (null without probes
   * that heard it there): the end of a play to a probe's length, whether cut short or played out.
   */
  private heardEnd(p: OpenPlay): number | null {
    return heardUntil(this.probes, p.track, Math.max(p.streamStartSeconds, p.lastEndSeconds - this.opts.spanSeconds));
  }

  /**
   * The sharpest change heard in [lo, hi] (of equal ones, the nearest `centre`, by default the middle), or
   * null when none there is sharp enough.
   */
  private strongest(lo: number, hi: number, centre = (lo + hi) / 2): number | null {
    let best: BoundaryHint | null = null;
    for (const h of this.hints) {
      if (h.t < lo || h.t > hi || h.strength < MIN_STRENGTH) continue;
      if (!best || h.strength > best.strength || (h.strength === best.strength && Math.abs(h.t - centre) < Math.abs(best.t - centre))) best = h;
    }
    return best ? best.t : null;
  }

  private started(p: OpenPlay, d: StreamDecision | null): PlayEvent {
    return { event: 'started', track: p.track, playId: p.playId, streamStartSeconds: p.streamStartSeconds, offsetSeconds: p.offsetSeconds, confidence: p.confidence, durationSeconds: (d?.audioEndSeconds ?? p.lastEndSeconds) - p.streamStartSeconds };
  }

  private ended(p: OpenPlay, end: number): PlayEvent {
    const e = Math.max(end, p.streamStartSeconds);
    return {
      event: 'ended', track: p.track, playId: p.playId, streamStartSeconds: p.streamStartSeconds, streamEndSeconds: e,
      offsetSeconds: p.offsetSeconds, confidence: p.confidence, durationSeconds: e - p.streamStartSeconds,
    };
  }
}
