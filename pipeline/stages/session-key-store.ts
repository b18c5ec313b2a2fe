/**
 * The scorer's view of session keys: raw records from the compacted session-keys topic, loaded into
 * SEAL on a session's first query and kept for the most recently used sessions only (Galois keys are
 * megabytes of WASM heap each).
 */
import type { SessionKeysEnvelope } from '../../schemas/messages.js';
import { BlindearError } from '../errors.js';
import type { ScoringEngine, SessionKeys } from '../he/server/index.js';

interface Entry {
  envelope: SessionKeysEnvelope;
  bytes: Uint8Array;
  loaded?: SessionKeys;
}

export class SessionKeyStore {
  private readonly entries = new Map<string, Entry>();
  /** Loaded sessions, least recently used first. */
  private readonly lru: string[] = [];

  constructor(private readonly engine: ScoringEngine, private readonly maxLoaded = 32) {}

  get size(): number {
    return this.entries.size;
  }

  /** A record from the session-keys topic; null is a tombstone (session over). */
  put(session: string, entry: { envelope: SessionKeysEnvelope; value: Uint8Array } | null): void {
    this.evict(session);
    if (entry) this.entries.set(session, { envelope: entry.envelope, bytes: entry.value });
  }

  /** The session's loaded keys; BLINDEAR_ERR_SESSION_UNKNOWN (retriable) while its keys have not arrived. */
  async get(session: string, expect: { paramsId: string; modelId: string }): Promise<SessionKeys> {
    const e = this.entries.get(session);
    if (!e) throw new BlindearError('BLINDEAR_ERR_SESSION_UNKNOWN', session);
    if (e.envelope.paramsId !== expect.paramsId) throw new BlindearError('BLINDEAR_ERR_HE_PARAMS_MISMATCH', `session keys are for ${e.envelope.paramsId}, query for ${expect.paramsId}`);
    if (e.envelope.modelId !== expect.modelId) throw new BlindearError('BLINDEAR_ERR_MODEL_MISMATCH', `session keys are for model ${e.envelope.modelId}`);
    if (!e.loaded) {
      e.loaded = await this.engine.loadSessionKeys(e.bytes);
      this.lru.push(session);
      while (this.lru.length > this.maxLoaded) this.unload(this.lru[0]);
    } else {
      this.lru.splice(this.lru.indexOf(session), 1);
      this.lru.push(session);
    }
    return e.loaded;
  }

  dispose(): void {
    for (const s of [...this.lru]) this.unload(s);
    this.entries.clear();
  }

  private unload(session: string): void {
    const i = this.lru.indexOf(session);
    if (i >= 0) this.lru.splice(i, 1);
    const e = this.entries.get(session);
    e?.loaded?.dispose();
    if (e) e.loaded = undefined;
  }

  private evict(session: string): void {
    this.unload(session);
    this.entries.delete(session);
  }
}
