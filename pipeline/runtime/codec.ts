/**
 * Topic codecs: the one place a Kafka record becomes a typed message and back. Binary topics carry the
 * payload as the record value and the envelope as JSON in a header; json topics carry the envelope as
 * the value. Both directions validate with the topic's zod schema, so producer and consumer cannot drift.
 */
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import { ENVELOPE_HEADER, TOPICS, type TopicKey } from '../../schemas/topics.js';
import { BlindearError } from '../errors.js';
import type { EnvelopeOf, Outbound } from './stage.js';

function headerString(headers: IHeaders | undefined, name: string): string | undefined {
  const h = headers?.[name];
  const v = Array.isArray(h) ? h[0] : h;
  return v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

export function decodeRecord<K extends TopicKey>(topic: K, record: KafkaMessage): { envelope: EnvelopeOf<K>; value: Buffer } {
  const spec = TOPICS[topic];
  const value = record.value ?? Buffer.alloc(0);
  if (value.length > spec.maxMessageBytes) {
    throw new BlindearError('BLINDEAR_ERR_MSG_TOO_LARGE', `${value.length} bytes > ${spec.maxMessageBytes}`);
  }
  const raw = spec.value === 'json' ? value.toString('utf8') : headerString(record.headers, ENVELOPE_HEADER);
  if (raw === undefined) throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', `missing ${ENVELOPE_HEADER} header`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', 'envelope is not JSON');
  }
  const parsed = spec.envelope.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'envelope'}: ${i.message}`).join('; ');
    throw new BlindearError('BLINDEAR_ERR_MSG_SCHEMA', why);
  }
  return { envelope: parsed.data as EnvelopeOf<K>, value: spec.value === 'json' ? Buffer.alloc(0) : value };
}

export function encodeRecord(out: Outbound): Message {
  const spec = TOPICS[out.topic];
  const envelope = spec.envelope.parse(out.envelope);
  const json = JSON.stringify(envelope);
  if (spec.value === 'json') return { key: out.key, value: json };
  const value = out.value ? Buffer.from(out.value.buffer, out.value.byteOffset, out.value.byteLength) : Buffer.alloc(0);
  if (value.length > spec.maxMessageBytes) {
    throw new BlindearError('BLINDEAR_ERR_MSG_TOO_LARGE', `${spec.name}: ${value.length} bytes > ${spec.maxMessageBytes}`);
  }
  return { key: out.key, value, headers: { [ENVELOPE_HEADER]: json } };
}
