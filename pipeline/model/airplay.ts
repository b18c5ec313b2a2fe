/**
 * Turns a session's stream of decisions into plays: a play opens ("started") at the first decision that
 * names a track and closes ("ended") when decisions stop naming it, when another track takes over, or when
 * the stream ends. Pure: the state is plain data the decide stage stores after each record.
 *
 * Boundaries. Decisions come every hop over the last `span` seconds, so the raw edges of a play are only
 * known to a hop. A decision also says where in the track its audio starts (`offsetSeconds`): when a play
 * is recognised, `stream time - offset` is where the track began playing, and `that + track length` is
 * where it would end if played out; both are kept when they agree with the windows that did and did not
 * match, and the window edges are used otherwise.
 */
import type { OpenPlay } from '../../schemas/messages.js';
import type { StreamDecision } from './stream-decisions.js';

export interface TrackInfo {
  durationSeconds: number;
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
}

export class AirplayTracker {
  private boundaries: readonly number[] = [];

  constructor(private readonly session: string, private readonly tracks: readonly TrackInfo[], private readonly opts: AirplayOptions) {}

  /**
   * Feeds one decision; returns the events it causes and the play left open. `boundaries` are where the
   * client's clear view of the audio saw a play could begin or end (silence edges, fade bottoms).
   */
  step(play: OpenPlay | null, d: StreamDecision, nowMs: number, boundaries: readonly number[] = []): { events: PlayEvent[]; play: OpenPlay | null } {
    this.boundaries = boundaries;
    const events: PlayEvent[] = [];
    const track = d.decision.track;
    let open = play;
    if (open && track !== null && track !== open.track) {
      // Another track took over: the open play ended where the new one began.
      const next = this.startOf(d, open.lastEndSeconds - this.opts.spanSeconds);
      events.push(this.ended(open, Math.max(open.streamStartSeconds, Math.min(next, open.lastEndSeconds))));
      open = null;
    }
    if (track !== null) {
      const conf = this.opts.confidence(d.decision.confidence);
      if (!open) {
        const floor = play && play.track !== track ? Math.min(play.lastEndSeconds, d.audioStartSeconds) : 0;
        const start = Math.max(floor, this.startOf(d, floor));
        open = {
          track,
          playId: `${this.session}:${d.fromSeq}:${track}`,
          streamStartSeconds: start,
          lastEndSeconds: d.audioEndSeconds,
          startedAtMs: nowMs,
          offsetSeconds: Math.max(0, d.decision.offsetSeconds - (d.audioStartSeconds - start)),
          confidence: conf,
          misses: 0,
        };
        events.push({ event: 'started', track, playId: open.playId, streamStartSeconds: start, offsetSeconds: open.offsetSeconds, confidence: conf, durationSeconds: d.audioEndSeconds - start });
      } else {
        open = { ...open, lastEndSeconds: d.audioEndSeconds, confidence: Math.max(open.confidence, conf), misses: 0 };
      }
    } else if (open) {
      open = { ...open, misses: open.misses + 1 };
      if (open.misses >= this.opts.missesToEnd) {
        events.push(this.ended(open, this.endOf(open)));
        open = null;
      }
    }
    if (d.final && open) {
      events.push(this.ended(open, Math.min(d.audioEndSeconds, this.endOf(open, d.audioEndSeconds))));
      open = null;
    }
    return { events, play: open };
  }

  /** Where the track of decision `d` began playing, bounded by the windows that did not hear it. */
  private startOf(d: StreamDecision, floor: number): number {
    const fromOffset = d.audioStartSeconds - d.decision.offsetSeconds;
    const earliest = Math.max(floor, d.audioStartSeconds - this.opts.hopSeconds);
    const latest = d.audioEndSeconds - this.opts.hopSeconds;
    const guess = fromOffset >= earliest && fromOffset <= latest ? fromOffset : Math.max(earliest, Math.min(latest, d.audioStartSeconds));
    return this.snap(guess, earliest, latest, fromOffset >= earliest && fromOffset <= latest ? 2 : this.opts.hopSeconds);
  }

  /** Where an open play ended: the track's natural end when it falls in the last matched stretch. */
  private endOf(p: OpenPlay, streamEnd = Infinity): number {
    const natural = p.streamStartSeconds - p.offsetSeconds + (this.tracks[p.track]?.durationSeconds ?? Infinity);
    const latest = Math.min(p.lastEndSeconds, streamEnd);
    const earliest = Math.max(p.streamStartSeconds, latest - this.opts.spanSeconds);
    if (natural >= earliest && natural <= latest) return this.snap(natural, earliest, latest, 2);
    return this.snap(Math.max(p.streamStartSeconds, latest - this.opts.hopSeconds / 2), earliest, Math.min(streamEnd, latest + this.opts.hopSeconds / 2), this.opts.hopSeconds);
  }

  /** The boundary hint nearest `guess` within `reach` of it and inside [lo, hi], else `guess`. */
  private snap(guess: number, lo: number, hi: number, reach: number): number {
    let best = guess;
    let dist = Infinity;
    for (const b of this.boundaries) {
      if (b < lo || b > hi) continue;
      const dd = Math.abs(b - guess);
      if (dd <= reach && dd < dist) { best = b; dist = dd; }
    }
    return best;
  }

  private ended(p: OpenPlay, end: number): PlayEvent {
    const e = Math.max(end, p.streamStartSeconds);
    return {
      event: 'ended', track: p.track, playId: p.playId, streamStartSeconds: p.streamStartSeconds, streamEndSeconds: e,
      offsetSeconds: p.offsetSeconds, confidence: p.confidence, durationSeconds: e - p.streamStartSeconds,
    };
  }
}
