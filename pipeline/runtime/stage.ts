/**
 * What a stage is: a processor from one validated input message to zero or more output messages.
 * It never sees kafkajs, never names a topic string, never reads process.env. Throwing a BlindearError
 * flags the message; the runtime retries or dead-letters it.
 */
import type { z } from 'zod';
import type { TOPICS, TopicKey } from '../../schemas/topics.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export const STAGE_NAMES = ['ingest', 'windowing', 'encrypt', 'scorer', 'decrypt', 'delivery'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export type EnvelopeOf<K extends TopicKey> = z.infer<(typeof TOPICS)[K]['envelope']>;

export interface Inbound<K extends TopicKey> {
  key: string;
  envelope: EnvelopeOf<K>;
  /** Binary payload (empty for json topics, whose content is the envelope). */
  value: Buffer;
  partition: number;
  offset: string;
}

export interface Outbound<K extends TopicKey = TopicKey> {
  topic: K;
  key: string;
  envelope: EnvelopeOf<K>;
  value?: Uint8Array;
}

export interface StageContext {
  logger: Logger;
  metrics: Metrics;
  now(): number;
}

export interface Stage<K extends TopicKey> {
  name: StageName;
  input: K;
  process(msg: Inbound<K>, ctx: StageContext): Promise<Outbound[]>;
  close?(): Promise<void>;
}

/** Helper so stage factories get full inference of the input topic's envelope type. */
export function defineStage<K extends TopicKey>(stage: Stage<K>): Stage<K> {
  return stage;
}
