/**
 * Who may write a session's keys: the canonical bytes a session signs (its key record, its tombstone)
 * and their verification. Shared by the client (pipeline/he/client/key-signing.ts signs) and the server
 * (the scorer's key store verifies); holds no key.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

export interface SignedKeyFields {
  session: string;
  paramsId: string;
  modelId: string;
  createdAtMs: number;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** What a key record's signature covers: every envelope field that matters and the value's digest. */
export function keyRecordMessage(f: SignedKeyFields, value: Uint8Array): Buffer {
  return Buffer.from(`blindear-session-keys/v1\n${f.session}\n${f.paramsId}\n${f.modelId}\n${f.createdAtMs}\n${sha256(value)}`, 'utf8');
}

/** What a tombstone's signature covers. */
export function tombstoneMessage(session: string, endedAtMs: number): Buffer {
  return Buffer.from(`blindear-session-end/v1\n${session}\n${endedAtMs}`, 'utf8');
}

const publicKeys = new Map<string, KeyObject>();

/** True when `signature` (base64) is `publicKey`'s (base64 SPKI DER, Ed25519) over `message`. Never throws. */
export function verifySignature(publicKey: string, message: Uint8Array, signature: string): boolean {
  try {
    let key = publicKeys.get(publicKey);
    if (!key) {
      key = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' });
      if (key.asymmetricKeyType !== 'ed25519') return false;
      if (publicKeys.size > 4096) publicKeys.clear();
      publicKeys.set(publicKey, key);
    }
    return verify(null, message, key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** Fingerprint of a signing key (base64 SPKI DER): 32 hex digits of its sha256. */
export function keyFingerprint(publicKey: string): string {
  return createHash('sha256').update(Buffer.from(publicKey, 'base64')).digest('hex').slice(0, 32);
}

const SELF_CERTIFIED = /\.k([0-9a-f]{32})$/;

/**
 * A session id ending in `.k<fingerprint of its signing key>` names its owner: nobody else can sign for
 * it, even before its first key record (no trust on first use needed, so a guessed id cannot be
 * squatted). Returns the fingerprint it requires, or undefined for other ids.
 */
export function requiredFingerprint(session: string): string | undefined {
  return SELF_CERTIFIED.exec(session)?.[1];
}
