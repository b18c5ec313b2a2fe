/** Delivery (client zone): airplay events (`delivery`) or predictions (`report`) → a sink (JSONL file or stdout, webhook). */
import type { Sink } from '../../connectors/jsonl-sink.js';
import type { AirplayEvent, Prediction } from '../../schemas/messages.js';
import { defineStage } from '../runtime/stage.js';

export function createDeliveryStage(deps: { sink: Sink<AirplayEvent>; serves?(session: string): boolean; delivered?(e: AirplayEvent): void }) {
  return defineStage({
    name: 'delivery',
    input: 'airplay',
    async process(msg) {
      if (deps.serves && !deps.serves(msg.envelope.session)) return [];
      await deps.sink.write(msg.envelope);
      deps.delivered?.(msg.envelope);
      return [];
    },
  });
}

export function createReportStage(deps: { sink: Sink<Prediction>; serves(session: string): boolean; delivered?(p: Prediction): void }) {
  return defineStage({
    name: 'report',
    input: 'predictions',
    async process(msg) {
      if (!deps.serves(msg.envelope.session)) return [];
      await deps.sink.write(msg.envelope);
      deps.delivered?.(msg.envelope);
      return [];
    },
  });
}
