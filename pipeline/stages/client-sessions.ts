/**
 * The client service's open sessions: each session's secret key and query MAC key, unsealed from its
 * `client-sessions` record with the service key and loaded into SEAL on first use, least recently used
 * dropped past a bound. Shared by the encrypt and decide stages of one process.
 */
import type { CatalogManifest } from '../../schemas/catalog.js';
import type { ClientSessionRecord } from '../../schemas/messages.js';
import { BlindearError } from '../errors.js';
import type { ScoringClient, ScoringClients } from '../he/client/index.js';
import type { ServiceKey } from '../he/client/service-key.js';
import type { TableView } from '../runtime/stage.js';

export interface OpenSession {
  client: ScoringClient;
  macKey: Uint8Array;
  record: ClientSessionRecord;
}

export const secretKeyContext = (session: string): string => `blindear/secret-key/${session}`;
export const macKeyContext = (session: string): string => `blindear/mac-key/${session}`;
export const signingKeyContext = (session: string): string => `blindear/signing-key/${session}`;

/** Sessions remembered as another client service's (or ended): their records are skipped without a table read. */
const MAX_FOREIGN = 4096;

export class ClientSessions {
  private readonly open = new Map<string, Promise<OpenSession>>();
  private readonly foreign = new Set<string>();

  constructor(private readonly manifest: CatalogManifest, private readonly clients: ScoringClients, private readonly serviceKey: ServiceKey, private readonly max = 512) {}

  get size(): number {
    return this.open.size;
  }

  /**
   * The session's record when this service holds it: present in the `client-sessions` table (read again
   * to its end on a miss) and sealed under this service's key. The audio, feature and score topics are
   * shared with every client service of the cluster (a `stream` beside a monitor, a service with another
   * key): another's session, or one that ended (its record deleted), is not this service's to process,
   * and is neither worked on nor dead-lettered here. The record is written before the session's first
   * audio, so a miss after reading the partition to its end is final.
   */
  async owned(tables: TableView, session: string, partition: number): Promise<ClientSessionRecord | undefined> {
    if (this.foreign.has(session)) return undefined;
    const record = await tables.fetch('clientSessions', session, partition);
    if (record && record.keyId === this.serviceKey.keyId) return record;
    if (this.foreign.size >= MAX_FOREIGN) this.foreign.delete(this.foreign.values().next().value as string);
    this.foreign.add(session);
    return undefined;
  }

  /** The session of `record`, restored with its stored secret key (BLINDEAR_ERR_HE_KEYS_INVALID if it does not open). */
  async get(record: ClientSessionRecord): Promise<OpenSession> {
    const hit = this.open.get(record.session);
    if (hit) {
      const s = await hit;
      if (s.record.sealedSecretKey === record.sealedSecretKey) {
        this.open.delete(record.session);
        this.open.set(record.session, hit);
        return s;
      }
      this.drop(record.session);
    }
    const p = this.restore(record);
    this.open.set(record.session, p);
    p.catch(() => this.open.delete(record.session));
    while (this.open.size > this.max) this.drop(this.open.keys().next().value as string);
    return p;
  }

  private async restore(record: ClientSessionRecord): Promise<OpenSession> {
    if (record.modelId !== this.manifest.modelId) throw new BlindearError('BLINDEAR_ERR_MODEL_MISMATCH', `session ${record.session} is for model ${record.modelId}`);
    if (record.keyId !== this.serviceKey.keyId) {
      throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', `session ${record.session} was sealed under client key ${record.keyId}, this service has ${this.serviceKey.keyId}`);
    }
    const client = await this.clients.restore(() => this.serviceKey.open(record.sealedSecretKey, secretKeyContext(record.session)));
    if (client.paramsId !== record.paramsId) {
      client.dispose();
      throw new BlindearError('BLINDEAR_ERR_HE_PARAMS_MISMATCH', `session ${record.session} was opened for ${record.paramsId}`);
    }
    return { client, macKey: this.serviceKey.open(record.sealedMacKey, macKeyContext(record.session)), record };
  }

  drop(session: string): void {
    const p = this.open.get(session);
    this.open.delete(session);
    p?.then((s) => { s.client.dispose(); s.macKey.fill(0); }, () => undefined);
  }

  dispose(): void {
    for (const k of [...this.open.keys()]) this.drop(k);
  }
}
