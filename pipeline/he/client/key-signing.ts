/**
 * The client's per-session signing key (Ed25519, node:crypto): it signs the session's key record and its
 * tombstone, so that only the session that owns keys can replace or delete them (workers pin the first
 * signing key they see for a session). The private key can be exported as bytes (PKCS#8 DER) so that a
 * client service persists it beside the session and signs its tombstone after a restart.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { SessionKeysEnvelope, SessionKeysTombstone } from '../../../schemas/messages.js';
import { keyFingerprint, keyRecordMessage, tombstoneMessage, type SignedKeyFields } from '../key-signature.js';

export interface SessionSigner {
  /** Base64 SPKI DER: goes into every key record's envelope. */
  readonly publicKey: string;
  /** PKCS#8 DER bytes of the private key, to persist (keep it with the session's secrets). */
  exportPrivateKey(): Uint8Array;
  signBytes(message: Uint8Array): string;
}

function signerOf(privateKey: KeyObject): SessionSigner {
  const publicKey = (createPublicKey(privateKey).export({ format: 'der', type: 'spki' }) as Buffer).toString('base64');
  return {
    publicKey,
    exportPrivateKey: () => new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer),
    signBytes: (message) => sign(null, message, privateKey).toString('base64'),
  };
}

/** A fresh signing key for one session. */
export function createSigner(): SessionSigner {
  return signerOf(generateKeyPairSync('ed25519').privateKey);
}

/** The signer whose private key `exportPrivateKey()` returned. */
export function importSigner(pkcs8: Uint8Array): SessionSigner {
  const key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('not an Ed25519 private key');
  return signerOf(key);
}

/** The full envelope of a session-keys record for `value` (the session's public evaluation material). */
export function signSessionKeys(signer: SessionSigner, fields: SignedKeyFields, value: Uint8Array): SessionKeysEnvelope {
  return { ...fields, signingKey: signer.publicKey, signature: signer.signBytes(keyRecordMessage(fields, value)) };
}

/** The header value of the session's tombstone. */
export function signTombstone(signer: SessionSigner, session: string, endedAtMs = Date.now()): SessionKeysTombstone {
  return { session, endedAtMs, signature: signer.signBytes(tombstoneMessage(session, endedAtMs)) };
}

/**
 * A session id bound to `signer`: `<prefix>.k<fingerprint>`. Workers accept keys for it only when signed
 * by this signer, so the id cannot be taken over even by a producer that writes first.
 */
export function selfCertifiedSessionId(signer: SessionSigner, prefix = 's'): string {
  return `${prefix}.k${keyFingerprint(signer.publicKey)}`;
}
