/**
 * Turns a session's stream of decrypted window scores into decisions: every `emitEvery` windows (and at
 * the end of the stream) it decides over the last `span` windows, the way a query of that length would
 * be decided. Pure and per session; the decrypt stage owns one per session it serves.
 */
import type { Decider } from '../features/registry.js';
import type { Decision } from '../features/types.js';

export interface ScoredWindow {
  seq: number;
  startSeconds: number;
  scores: Float64Array;
  capturedAtMs: number;
}

export interface StreamDecision {
  fromSeq: number;
  toSeq: number;
  audioStartSeconds: number;
  audioEndSeconds: number;
  decision: Decision;
  capturedAtMs: number;
  /** The stream ended with this decision's last window. */
  final: boolean;
}

export interface StreamDecisionOptions {
  /** Windows each decision looks at. */
  span: number;
  /** A decision after every this many windows. */
  emitEvery: number;
  windowSeconds: number;
}

export interface StreamDecisionsSnapshot {
  recent: ScoredWindow[];
  sinceEmit: number;
  lastSeq: number;
}

export class StreamDecisions {
  private readonly recent: ScoredWindow[] = [];
  private sinceEmit = 0;
  private lastSeq = -1;

  constructor(private readonly decide: Decider, private readonly opts: StreamDecisionOptions, from?: StreamDecisionsSnapshot) {
    if (opts.span < 1 || opts.emitEvery < 1) throw new RangeError('span and emitEvery must be >= 1');
    if (from) {
      this.recent.push(...from.recent.slice(-opts.span));
      this.sinceEmit = from.sinceEmit;
      this.lastSeq = from.lastSeq;
    }
  }

  /** What a restarted decider needs to continue exactly where this one is. */
  snapshot(): StreamDecisionsSnapshot {
    return { recent: [...this.recent], sinceEmit: this.sinceEmit, lastSeq: this.lastSeq };
  }

  /** Adds windows (in seq order; a repeated seq — a redelivery — is ignored) and returns the decisions due. */
  add(windows: readonly ScoredWindow[], final: boolean): StreamDecision[] {
    const out: StreamDecision[] = [];
    for (const w of windows) {
      if (w.seq <= this.lastSeq) continue;
      this.lastSeq = w.seq;
      this.recent.push(w);
      if (this.recent.length > this.opts.span) this.recent.shift();
      if (++this.sinceEmit >= this.opts.emitEvery) out.push(this.decideNow());
    }
    if (final && this.recent.length) {
      if (this.sinceEmit > 0 || out.length === 0) out.push(this.decideNow());
      out[out.length - 1].final = true;
    }
    return out;
  }

  private decideNow(): StreamDecision {
    this.sinceEmit = 0;
    const ws = this.recent;
    const first = ws[0];
    const last = ws[ws.length - 1];
    const starts = ws.map((w) => w.startSeconds - first.startSeconds);
    const clipSeconds = last.startSeconds + this.opts.windowSeconds - first.startSeconds;
    const decision = this.decide(ws.map((w) => w.scores), starts, clipSeconds);
    return {
      fromSeq: first.seq,
      toSeq: last.seq,
      audioStartSeconds: first.startSeconds,
      audioEndSeconds: last.startSeconds + this.opts.windowSeconds,
      // The decision's offset is where the span's first window sits in the track.
      decision,
      capturedAtMs: last.capturedAtMs,
      final: false,
    };
  }
}
