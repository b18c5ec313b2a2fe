/** Client zone of the encrypted scoring: keys, encryption, decryption. Never imported by server code. */
export { ClientSession } from './session.js';
export type { EncryptedWindows, ModelShape, PublicMaterial } from '../types.js';
export { LweClient, LweQuery } from './lwe-session.js';
