/** Delivery sink for people: one readable line per prediction on a stream (stdout by default). */
import type { Writable } from 'node:stream';
import { isEndMarker, type Prediction } from '../schemas/messages.js';
import type { Sink } from './jsonl-sink.js';

export function formatPrediction(p: Prediction): string {
  const span = `${p.audioStartSeconds.toFixed(1).padStart(7)}-${p.audioEndSeconds.toFixed(1).padStart(7)} s`;
  const what = p.match
    ? `${p.match.title.padEnd(24)} ${p.match.path}  at ${p.match.offsetSeconds.toFixed(1)} s in the track, confidence ${p.match.confidence.toFixed(2)}`
    : 'unknown';
  return `${span}  ${what}  (${(p.latencyMs / 1000).toFixed(1)} s after the audio)`;
}

export function createTextSink(out: Writable = process.stdout): Sink<Prediction> {
  let last: Prediction | undefined;
  return {
    write: (p) => {
      // People read each decision once: an end marker closes the stream instead of repeating its line.
      const line = isEndMarker(p, last) ? `${' '.repeat(17)}  end of the stream` : formatPrediction(p);
      last = p;
      return new Promise((resolve, reject) => out.write(`${line}\n`, (e) => (e ? reject(e) : resolve())));
    },
    close: async () => undefined,
  };
}
