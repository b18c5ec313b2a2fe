/** Client zone of the encrypted scoring: keys, encryption, decryption. Never imported by server code. */
export { ClientSession } from './session.js';
export type { EncryptedWindows, ModelShape, PublicMaterial } from '../types.js';
export { createSigner, importSigner, selfCertifiedSessionId, signSessionKeys, signTombstone, type SessionSigner } from './key-signing.js';
