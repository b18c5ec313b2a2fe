/**
 * A station's decisions as operator metrics: each decrypted prediction observes the window → decision
 * latency, counts an unknown window, and moves a tiny play tracker (a play starts when a prediction
 * names a track other than the one playing, and ends when another track or "unknown" follows it, or
 * when the source ends).
 */
import type { Prediction } from '../../schemas/messages.js';
import type { StationMetrics } from './metrics.js';

export interface PredictionObserver {
  observe(p: Prediction): void;
  /** The source ended: a play still open ends here. */
  end(): void;
}

export function observePredictions(station: StationMetrics): PredictionObserver {
  let playing: string | null = null;
  const close = (): void => {
    if (playing !== null) station.play('ended');
    playing = null;
  };
  return {
    observe(p) {
      station.decided(p.decidedAtMs - p.latencyMs, p.decidedAtMs);
      const track = p.outcome === 'match' && p.match ? p.match.path : null;
      if (track === null) station.unknownWindow();
      if (track !== playing) {
        close();
        if (track !== null) {
          station.play('started');
          playing = track;
        }
      }
      if (p.final) close();
    },
    end: close,
  };
}
