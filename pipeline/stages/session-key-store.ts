/**
 * The scorer's view of session keys, read from the compacted session-keys topic. Every record is checked
 * before it is kept: record key = envelope session, size within the layout's bound, and a signature by
 * the session's own Ed25519 key. A session id ending in `.k<fingerprint>` names its signing key outright;
 * for other ids the first signing key seen is pinned (trust on first use). A later record or tombstone
 * for that session signed by anything else is refused, so a producer that can write the topic cannot
 * replace or delete another session's keys.
 *
 * Memory is bounded twice: raw key records by count and bytes (least recently used dropped first; a
 * query for a dropped session gets BLINDEAR_ERR_SESSION_EVICTED), and keys loaded into SEAL (megabytes
 * of WASM heap each) by count.
 */
import type { SessionKeysEnvelope, SessionKeysTombstone } from '../../schemas/messages.js';
import { BlindearError } from '../errors.js';
import { keyFingerprint, keyRecordMessage, requiredFingerprint, tombstoneMessage, verifySignature } from '../he/key-signature.js';
import type { CatalogueEngine, SessionKeys } from '../he/server/index.js';

export interface KeyStoreLimits {
  /** Sessions whose raw key records are held. */
  maxSessions: number;
  /** Bytes of raw key records held in all. */
  maxBytes: number;
  /** Bytes of one key record (the layout's uncompressed key size is the natural bound). */
  maxRecordBytes: number;
  /** Sessions whose keys are loaded into SEAL. */
  maxLoaded: number;
  /** Sessions whose pinned signing key is remembered (a pin is ~100 bytes). */
  maxPins: number;
}

export const DEFAULT_KEY_STORE_LIMITS: KeyStoreLimits = {
  maxSessions: 4096,
  maxBytes: 512 * 1024 * 1024,
  maxRecordBytes: 64 * 1024 * 1024,
  maxLoaded: 32,
  maxPins: 200_000,
};

interface Entry {
  envelope: SessionKeysEnvelope;
  bytes: Uint8Array;
  loaded?: SessionKeys;
  loading?: Promise<SessionKeys>;
  /** Set when SEAL refused the keys: every query of the session fails at once, without reloading. */
  invalid?: BlindearError;
}

export type KeyStatus = 'ready' | 'absent' | 'evicted';

/** A record the store refused: the caller dead-letters it (once) with this error. */
export type PutOutcome = { ok: true; changed: boolean } | { ok: false; error: BlindearError };

export class SessionKeyStore {
  /** Raw key records, least recently used first (Map keeps insertion order; a use re-inserts). */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  /** Loaded sessions, least recently used first. */
  private readonly lru: string[] = [];
  /** Session → pinned signing key, oldest first; `evicted` remembers sessions whose record was dropped. */
  private readonly pins = new Map<string, { key: string; evicted: boolean; ended: boolean; createdAtMs: number }>();
  private readonly listeners: ((session: string) => void)[] = [];
  readonly limits: KeyStoreLimits;

  constructor(private readonly engine: Pick<CatalogueEngine, 'loadSessionKeys'>, limits: Partial<KeyStoreLimits> | number = {}) {
    // A bare number is the old `maxLoaded` argument.
    this.limits = { ...DEFAULT_KEY_STORE_LIMITS, ...(typeof limits === 'number' ? { maxLoaded: limits } : limits) };
  }

  get size(): number {
    return this.entries.size;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  /** Called with the session id whenever a session's keys become available. */
  onKeys(listener: (session: string) => void): void {
    this.listeners.push(listener);
  }

  status(session: string): KeyStatus {
    if (this.entries.has(session)) return 'ready';
    return this.pins.get(session)?.evicted ? 'evicted' : 'absent';
  }

  /**
   * A record of the session-keys topic under record key `key`: `entry` null is a tombstone, which must
   * carry the session's signed end (`tombstone`, from its header). Refused records leave the store as it was.
   */
  put(key: string, entry: { envelope: SessionKeysEnvelope; value: Uint8Array } | null, tombstone?: SessionKeysTombstone): PutOutcome {
    if (entry === null) return this.end(key, tombstone);
    const { envelope, value } = entry;
    if (envelope.session !== key) {
      return refuse('BLINDEAR_ERR_MSG_SCHEMA', `record key ${JSON.stringify(key.slice(0, 64))} is not the envelope's session ${envelope.session}`);
    }
    if (value.length === 0 || value.length > this.limits.maxRecordBytes) {
      return refuse('BLINDEAR_ERR_MSG_TOO_LARGE', `session keys of ${value.length} bytes (limit ${this.limits.maxRecordBytes})`);
    }
    if (!verifySignature(envelope.signingKey, keyRecordMessage(envelope, value), envelope.signature)) {
      return refuse('BLINDEAR_ERR_SESSION_KEYS_FORGED', `bad signature on the keys of ${key}`);
    }
    const fingerprint = requiredFingerprint(key);
    if (fingerprint && keyFingerprint(envelope.signingKey) !== fingerprint) {
      return refuse('BLINDEAR_ERR_SESSION_KEYS_FORGED', `keys of ${key} signed by a key its id does not name`);
    }
    const pin = this.pins.get(key);
    if (pin && pin.key !== envelope.signingKey) {
      return refuse('BLINDEAR_ERR_SESSION_KEYS_FORGED', `keys of ${key} signed by another key than the session's`);
    }
    const current = this.entries.get(key);
    if (current && current.envelope.createdAtMs > envelope.createdAtMs) {
      return refuse('BLINDEAR_ERR_SESSION_KEYS_FORGED', `a replay of older keys of ${key}`);
    }
    if (current && Buffer.compare(Buffer.from(current.bytes), Buffer.from(value)) === 0) return { ok: true, changed: false };
    this.drop(key);
    this.pin(key, envelope.signingKey, envelope.createdAtMs);
    this.entries.set(key, { envelope, bytes: value });
    this.bytes += value.length;
    this.enforceBounds(key);
    if (this.entries.has(key)) for (const l of this.listeners) l(key);
    return { ok: true, changed: true };
  }

  /** The session's loaded keys. BLINDEAR_ERR_SESSION_UNKNOWN (retriable) while its keys have not arrived. */
  async get(session: string, expect: { paramsId: string; modelId: string }): Promise<SessionKeys> {
    const e = this.entries.get(session);
    if (!e) {
      if (this.pins.get(session)?.evicted) throw new BlindearError('BLINDEAR_ERR_SESSION_EVICTED', `${session} (the worker holds at most ${this.limits.maxSessions} sessions, ${this.limits.maxBytes} bytes of keys)`);
      throw new BlindearError('BLINDEAR_ERR_SESSION_UNKNOWN', session);
    }
    if (e.envelope.paramsId !== expect.paramsId) throw new BlindearError('BLINDEAR_ERR_HE_PARAMS_MISMATCH', `session keys are for ${e.envelope.paramsId}, query for ${expect.paramsId}`);
    if (e.envelope.modelId !== expect.modelId) throw new BlindearError('BLINDEAR_ERR_MODEL_MISMATCH', `session keys are for model ${e.envelope.modelId}`);
    if (e.invalid) throw e.invalid;
    // Recently used: move to the end of both orders.
    this.entries.delete(session);
    this.entries.set(session, e);
    if (e.loaded) {
      this.lru.splice(this.lru.indexOf(session), 1);
      this.lru.push(session);
      return e.loaded;
    }
    e.loading ??= (async () => {
      try {
        const loaded = await this.engine.loadSessionKeys(e.bytes);
        if (this.entries.get(session) !== e) { loaded.dispose(); throw new BlindearError('BLINDEAR_ERR_SESSION_UNKNOWN', `${session} ended while its keys loaded`); }
        e.loaded = loaded;
        this.lru.push(session);
        while (this.lru.length > this.limits.maxLoaded) this.unload(this.lru[0]);
        return loaded;
      } catch (err) {
        if (err instanceof BlindearError && err.code !== 'BLINDEAR_ERR_SESSION_UNKNOWN') e.invalid = err;
        throw err;
      } finally {
        e.loading = undefined;
      }
    })();
    return e.loading;
  }

  dispose(): void {
    for (const s of [...this.lru]) this.unload(s);
    this.entries.clear();
    this.bytes = 0;
  }

  private end(key: string, tombstone: SessionKeysTombstone | undefined): PutOutcome {
    const pin = this.pins.get(key);
    // No pin: nothing of this session is held (or its record was compacted away): nothing to delete.
    if (!pin) return { ok: true, changed: false };
    if (!tombstone || tombstone.session !== key || !verifySignature(pin.key, tombstoneMessage(key, tombstone.endedAtMs), tombstone.signature)) {
      return refuse('BLINDEAR_ERR_SESSION_KEYS_FORGED', `tombstone of ${key} not signed by the session`);
    }
    this.drop(key);
    pin.ended = true;
    pin.evicted = false;
    return { ok: true, changed: true };
  }

  private pin(session: string, key: string, createdAtMs: number): void {
    const old = this.pins.get(session);
    this.pins.delete(session);
    this.pins.set(session, { key, evicted: false, ended: old?.ended ?? false, createdAtMs });
    while (this.pins.size > this.limits.maxPins) {
      const oldest = this.pins.keys().next().value as string;
      if (this.entries.has(oldest)) { const p = this.pins.get(oldest)!; this.pins.delete(oldest); this.pins.set(oldest, p); break; }
      this.pins.delete(oldest);
    }
  }

  /** Drops least recently used records until the count and byte bounds hold (never `keep` unless alone). */
  private enforceBounds(keep: string): void {
    for (const session of [...this.entries.keys()]) {
      if (this.entries.size <= this.limits.maxSessions && this.bytes <= this.limits.maxBytes) return;
      if (session === keep && this.entries.size > 1) continue;
      this.drop(session);
      const p = this.pins.get(session);
      if (p) p.evicted = true;
    }
  }

  private unload(session: string): void {
    const i = this.lru.indexOf(session);
    if (i >= 0) this.lru.splice(i, 1);
    const e = this.entries.get(session);
    e?.loaded?.dispose();
    if (e) e.loaded = undefined;
  }

  private drop(session: string): void {
    this.unload(session);
    const e = this.entries.get(session);
    if (e) this.bytes -= e.bytes.length;
    this.entries.delete(session);
  }
}

function refuse(code: ConstructorParameters<typeof BlindearError>[0], detail: string): PutOutcome {
  return { ok: false, error: new BlindearError(code, detail) };
}
