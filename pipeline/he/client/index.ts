/** Client zone of the encrypted scoring: keys, encryption, decryption. Never imported by server code. */
export { ClientSession } from './session.js';
export type { EncryptedWindows, ModelShape, PublicMaterial, ScoringClient } from '../types.js';
export { openScoringClients, scoringClients, type ScoringClients } from './scoring-clients.js';
export { createSigner, importSigner, selfCertifiedSessionId, signSessionKeys, signTombstone, type SessionSigner } from './key-signing.js';
export { LweClient, LweClientSession, LweQuery } from './lwe-session.js';
export { PositionClient, type PositionQuery as PositionRecordQuery } from './position-client.js';
export { openPositionClient } from './positioning.js';
