/**
 * Broker ACLs for the two trust zones (a broker with an authorizer, e.g. `infra/kafka.sh start --sasl`):
 * the server-zone principal (scoring workers) may read queries and session keys and write scores only;
 * the client-zone principal the reverse, plus its own zone's topics. Nothing else is allowed
 * (`allow.everyone.if.no.acl.found=false`), so neither principal can read the other zone's data.
 */
import kafkajs from 'kafkajs';
import type { AclEntry } from 'kafkajs';
import { TOPICS, dlqName, type TopicKey } from '../../schemas/topics.js';
import type { KafkaClient } from './kafka.js';

const { AclOperationTypes: Op, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

export interface ZonePrincipals {
  /** e.g. 'User:server' */
  server: string;
  /** e.g. 'User:client' */
  client: string;
}

/** Consumer-group prefixes of each zone (worker.ts, stream.ts, kafka-scoring.ts). */
export const GROUP_PREFIXES = { server: ['blindear-scorer'], client: ['blindear-client-', 'blindear-identify-'] } as const;

type Grant = [TopicKey | `${TopicKey}.dlq`, ('read' | 'write')[]];

/**
 * Topic grants per zone. Dead letters are written by the zone that consumed the source topic; workers
 * also read the end of the session-keys dead letters (how far they were sent: dead-letter-ledger.ts).
 */
export const ZONE_GRANTS: { server: Grant[]; client: Grant[] } = {
  server: [['queries', ['read']], ['sessionKeys', ['read']], ['scores', ['write']], ['queries.dlq', ['write']], ['sessionKeys.dlq', ['read', 'write']]],
  client: [
    ['audio', ['read', 'write']], ['features', ['read', 'write']], ['predictions', ['read', 'write']],
    ['queries', ['write']], ['sessionKeys', ['write']], ['scores', ['read']],
    ['audio.dlq', ['write']], ['features.dlq', ['write']], ['scores.dlq', ['write']], ['predictions.dlq', ['write']],
  ],
};

function topicOf(name: Grant[0]): string {
  return name.endsWith('.dlq') ? dlqName(TOPICS[name.slice(0, -4) as TopicKey].name) : TOPICS[name as TopicKey].name;
}

export function zoneAcls(principals: ZonePrincipals): AclEntry[] {
  const allow = (principal: string, resourceType: kafkajs.AclResourceTypes, resourceName: string, operation: kafkajs.AclOperationTypes, prefixed = false): AclEntry => ({
    resourceType, resourceName, principal, operation, host: '*',
    resourcePatternType: prefixed ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
    permissionType: AclPermissionTypes.ALLOW,
  });
  const out: AclEntry[] = [];
  for (const zone of ['server', 'client'] as const) {
    const principal = principals[zone];
    for (const [topic, ops] of ZONE_GRANTS[zone]) {
      const name = topicOf(topic);
      out.push(allow(principal, AclResourceTypes.TOPIC, name, Op.DESCRIBE));
      if (ops.includes('read')) out.push(allow(principal, AclResourceTypes.TOPIC, name, Op.READ));
      if (ops.includes('write')) out.push(allow(principal, AclResourceTypes.TOPIC, name, Op.WRITE));
    }
    for (const prefix of GROUP_PREFIXES[zone]) {
      out.push(allow(principal, AclResourceTypes.GROUP, prefix, Op.READ, true));
      out.push(allow(principal, AclResourceTypes.GROUP, prefix, Op.DELETE, true));
    }
  }
  return out;
}

/** Creates the zone ACLs (as a principal allowed to alter them, e.g. the broker's super user). */
export async function applyZoneAcls(kafka: KafkaClient, principals: ZonePrincipals): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const acl = zoneAcls(principals);
    await admin.createAcls({ acl });
    return acl.length;
  } finally {
    await admin.disconnect();
  }
}
