/**
 * Every topic blindear uses, with its trust zone and message shape. No topic name appears anywhere else:
 * stages get topics from here through the topology, so no topic is used without its shape and zone.
 */
import { z } from 'zod';
import {
  AirplayEvent,
  AudioChunkEnvelope,
  ClientSessionRecord,
  DecideState,
  FeatureWindowEnvelope,
  IngestProgress,
  Prediction,
  QueryEnvelope,
  ScoresEnvelope,
  SessionKeysEnvelope,
} from './messages.js';

export type Zone = 'client' | 'server';

export interface TopicSpec<E extends z.ZodType = z.ZodType> {
  name: string;
  zone: Zone;
  /** Validates the `blindear-envelope` header (binary topics) or the JSON value (json topics). */
  envelope: E;
  value: 'binary' | 'json';
  compacted: boolean;
  /** Broker-side limit, checked by producers before sending. */
  maxMessageBytes: number;
}

const MiB = 1024 * 1024;

/** `blindear.<entity>.v<major>`: the one place topic names are built. */
export const topicName = (entity: string, major = 1): string => `blindear.${entity}.v${major}`;
export const dlqName = (topic: string): string => `${topic}.dlq`;

function spec<E extends z.ZodType>(s: TopicSpec<E>): TopicSpec<E> {
  return Object.freeze(s);
}

export const TOPICS = {
  audio: spec({ name: topicName('audio'), zone: 'client', envelope: AudioChunkEnvelope, value: 'binary', compacted: false, maxMessageBytes: 4 * MiB }),
  features: spec({ name: topicName('features'), zone: 'client', envelope: FeatureWindowEnvelope, value: 'binary', compacted: false, maxMessageBytes: 1 * MiB }),
  sessionKeys: spec({ name: topicName('session-keys'), zone: 'server', envelope: SessionKeysEnvelope, value: 'binary', compacted: true, maxMessageBytes: 64 * MiB }),
  queries: spec({ name: topicName('queries'), zone: 'server', envelope: QueryEnvelope, value: 'binary', compacted: false, maxMessageBytes: 8 * MiB }),
  scores: spec({ name: topicName('scores'), zone: 'server', envelope: ScoresEnvelope, value: 'binary', compacted: false, maxMessageBytes: 16 * MiB }),
  predictions: spec({ name: topicName('predictions'), zone: 'client', envelope: Prediction, value: 'json', compacted: false, maxMessageBytes: 1 * MiB }),
  airplay: spec({ name: topicName('airplay'), zone: 'client', envelope: AirplayEvent, value: 'json', compacted: false, maxMessageBytes: 1 * MiB }),
  clientSessions: spec({ name: topicName('client-sessions'), zone: 'client', envelope: ClientSessionRecord, value: 'json', compacted: true, maxMessageBytes: 1 * MiB }),
  ingestProgress: spec({ name: topicName('ingest-progress'), zone: 'client', envelope: IngestProgress, value: 'json', compacted: true, maxMessageBytes: 64 * 1024 }),
  decideState: spec({ name: topicName('decide-state'), zone: 'client', envelope: DecideState, value: 'json', compacted: true, maxMessageBytes: 4 * MiB }),
} as const;

export type TopicKey = keyof typeof TOPICS;
export type EnvelopeOf<K extends TopicKey> = z.infer<(typeof TOPICS)[K]['envelope']>;

export const ENVELOPE_HEADER = 'blindear-envelope';
/** Headers a dead-letter record carries beside the original key, value and headers. */
export const DLQ_HEADERS = {
  code: 'blindear-dlq-code',
  reason: 'blindear-dlq-reason',
  stage: 'blindear-dlq-stage',
  topic: 'blindear-dlq-topic',
  partition: 'blindear-dlq-partition',
  offset: 'blindear-dlq-offset',
} as const;
