/** Delivery (client zone): airplay events (`delivery`) or predictions (`report`) → a sink (JSONL file or stdout, webhook). */
import type { Sink } from '../../connectors/jsonl-sink.js';
import type { AirplayEvent, Prediction } from '../../schemas/messages.js';
import { defineStage, type TableView } from '../runtime/stage.js';

export interface DeliveryDeps {
  sink: Sink<AirplayEvent>;
  serves?(session: string): boolean;
  /**
   * Whether this client service holds the session: the airplay topic may carry other client services'
   * sessions (a `stream` beside a monitor, another monitor under its own key), which are theirs to deliver.
   */
  owns?(tables: TableView, session: string, partition: number): Promise<boolean>;
  delivered?(e: AirplayEvent): void;
}

export function createDeliveryStage(deps: DeliveryDeps) {
  return defineStage({
    name: 'delivery',
    input: 'airplay',
    async process(msg, ctx) {
      if (deps.serves && !deps.serves(msg.envelope.session)) return [];
      if (deps.owns && !(await deps.owns(ctx.tables, msg.envelope.session, msg.partition))) {
        ctx.logger.debug({ session: msg.envelope.session }, 'airplay of a session this service does not hold: not delivered here');
        return [];
      }
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
