/** Server zone of the encrypted scoring: evaluation only. Never imports pipeline/he/client/. */
export { ScoringEngine, type ScoringEngineOptions } from './engine.js';
export { SessionKeys } from './session-keys.js';
export { LweScoringEngine, type LweEngineOptions } from './lwe-engine.js';

export { catalogueEngine, type CatalogueEngine } from './catalogue-engine.js';
export { PositionEngine } from './position-engine.js';
