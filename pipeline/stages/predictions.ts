/** Builds the client's prediction record from a decision, naming the track from the catalogue. */
import type { CatalogManifest } from '../../schemas/catalog.js';
import type { Prediction } from '../../schemas/messages.js';
import type { StreamDecision } from '../model/stream-decisions.js';

export function predictionOf(session: string, d: StreamDecision, manifest: CatalogManifest, nowMs: number): Prediction {
  const t = d.decision.track === null ? undefined : manifest.tracks[d.decision.track];
  return {
    session,
    fromSeq: d.fromSeq,
    toSeq: d.toSeq,
    audioStartSeconds: d.audioStartSeconds,
    audioEndSeconds: d.audioEndSeconds,
    outcome: t ? 'match' : 'unknown',
    match: t ? { path: t.path, title: t.title, confidence: d.decision.confidence, offsetSeconds: d.decision.offsetSeconds } : null,
    final: d.final,
    latencyMs: Math.max(0, nowMs - d.capturedAtMs),
    decidedAtMs: nowMs,
  };
}
