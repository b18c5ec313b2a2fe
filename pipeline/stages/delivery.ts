/** Delivery (client zone): prediction records → a sink (JSONL file or stdout, webhook). */
import type { Sink } from '../../connectors/jsonl-sink.js';
import type { Prediction } from '../../schemas/messages.js';
import { defineStage } from '../runtime/stage.js';

export function createDeliveryStage(deps: { sink: Sink<Prediction>; serves(session: string): boolean; delivered?(p: Prediction): void }) {
  return defineStage({
    name: 'delivery',
    input: 'predictions',
    async process(msg) {
      if (!deps.serves(msg.envelope.session)) return [];
      await deps.sink.write(msg.envelope);
      deps.delivered?.(msg.envelope);
      return [];
    },
  });
}
