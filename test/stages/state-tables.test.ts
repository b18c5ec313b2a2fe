/**
 * The client-zone tables against the real broker: a stage that misses a session's record re-reads the
 * table partition, and a record written just before the miss must be found even when another miss of
 * the same partition had re-read it a moment earlier (50 stations opening at once write their records
 * and first audio within the same second; a session wrongly missed is taken for another service's and
 * its audio ignored for good).
 */
import { describe, expect, it } from 'vitest';
import type { ClientSessionRecord } from '../../schemas/messages.js';
import { TOPICS } from '../../schemas/topics.js';
import { createClusters } from '../../pipeline/runtime/clusters.js';
import { encodeRecord } from '../../pipeline/runtime/codec.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import { StateTables } from '../../pipeline/runtime/state-tables.js';
import { ensureZoneTopics } from '../../pipeline/runtime/topics-admin.js';
import { testBrokers } from '../helpers/broker.js';

const record = (session: string): ClientSessionRecord => ({
  session, station: 'tables', modelId: 'm', paramsId: '0123456789abcdef', keyId: '0123456789abcdef',
  sealedSecretKey: 'AAAA', sealedMacKey: 'AAAA', sealedSigningKey: 'AAAA', createdAtMs: 0, windowPhaseSeconds: 0,
});

describe('state tables on the real broker', () => {
  it('finds a record written right after another miss re-read its partition', async () => {
    const logger = createLogger('silent');
    const clusters = createClusters({ brokers: testBrokers(), clientId: 'state-tables-test' }, logger, 'test');
    await ensureZoneTopics(clusters, 2);
    const tables = new StateTables(clusters, ['clientSessions'], logger);
    await tables.restoreAll();
    const producer = clusters.client.producer();
    await producer.connect();
    try {
      const stamp = Date.now().toString(36);
      for (let round = 0; round < 5; round++) {
        expect(await tables.fetch('clientSessions', `nobody-${stamp}-${round}`, 0)).toBeUndefined();
        const late = `late-${stamp}-${round}`;
        await producer.send({ topic: TOPICS.clientSessions.name, messages: [{ ...encodeRecord({ topic: 'clientSessions', key: late, envelope: record(late) }), partition: 0 }] });
        expect((await tables.fetch('clientSessions', late, 0))?.session, `round ${round}`).toBe(late);
      }
    } finally {
      await producer.disconnect();
    }
  });
});
