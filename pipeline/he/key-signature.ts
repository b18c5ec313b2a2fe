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
