/**
 * What a stage is: a processor from one validated input message to zero or more output messages.
 * It never sees kafkajs, never names a topic string, never reads process.env. Throwing a BlindearError
 * flags the message; the runtime retries or dead-letters it.
 */
import type { z } from 'zod';
import type { TOPICS, TopicKey } from '../../schemas/topics.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export const STAGE_NAMES = ['ingest', 'windowing', 'encrypt', 'scorer', 'decide', 'delivery', 'report'] as const;
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

/** Read access to the compacted topics a stage declares as tables, for the partitions it is assigned. */
export interface TableView {
  get<T extends TopicKey>(topic: T, key: string): EnvelopeOf<T> | undefined;
  /** As `get`, reading the table's partition again on a miss (a record written since the restore). */
  fetch<T extends TopicKey>(topic: T, key: string, partition: number): Promise<EnvelopeOf<T> | undefined>;
}

export interface StageContext {
  logger: Logger;
  metrics: Metrics;
  tables: TableView;
  now(): number;
}

export interface Stage<K extends TopicKey> {
  name: StageName;
  input: K;
  process(msg: Inbound<K>, ctx: StageContext): Promise<Outbound[]>;
  /**
   * Offset of the oldest record of `partition` the stage still needs after a restart (its in-memory state
   * is rebuilt by reading again from there); undefined when it needs none. Stages that define it get
   * their offsets committed at this watermark instead of after each record.
   */
  retainFrom?(partition: number): string | undefined;
  /** These input partitions went to another instance: drop what is held for their sessions. */
  revoked?(partitions: readonly number[]): void;
  close?(): Promise<void>;
}

/** Helper so stage factories get full inference of the input topic's envelope type. */
export function defineStage<K extends TopicKey>(stage: Stage<K>): Stage<K> {
  return stage;
}

/** The tables of a stage that declares none. */
export const NO_TABLES: TableView = {
  get: () => undefined,
  fetch: async () => undefined,
};
