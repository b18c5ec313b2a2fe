/**
 * The one table of blindear error codes. A stage throws `BlindearError`; the runtime retries the
 * retriable ones and routes the others to the source topic's dead-letter topic with the code as reason.
 * Every code is documented in README.md ("Error codes"); a test checks the two stay in step.
 */
export const ERROR_CODES = {
  BLINDEAR_ERR_CONFIG_INVALID: { retriable: false, message: 'configuration is invalid' },
  BLINDEAR_ERR_INPUT_NOT_FOUND: { retriable: false, message: 'input file or URL not found' },
  BLINDEAR_ERR_AUDIO_DECODE: { retriable: false, message: 'ffmpeg could not decode the audio' },
  BLINDEAR_ERR_AUDIO_TOO_SHORT: { retriable: false, message: 'audio is too short to make one window' },
  BLINDEAR_ERR_AUDIO_SILENT: { retriable: false, message: 'audio is silent' },
  BLINDEAR_ERR_STREAM_DROPPED: { retriable: true, message: 'the audio source stopped sending' },
  BLINDEAR_ERR_CATALOG_INVALID: { retriable: false, message: 'catalogue files are missing or malformed' },
  BLINDEAR_ERR_CATALOG_EMPTY: { retriable: false, message: 'no decodable audio to enrol' },
  BLINDEAR_ERR_MSG_SCHEMA: { retriable: false, message: 'message does not match its topic schema' },
  BLINDEAR_ERR_MSG_TOO_LARGE: { retriable: false, message: 'message exceeds the size limit' },
  BLINDEAR_ERR_HE_PARAMS_MISMATCH: { retriable: false, message: 'ciphertext was made for other encryption parameters' },
  BLINDEAR_ERR_HE_CIPHERTEXT_INVALID: { retriable: false, message: 'ciphertext failed validation' },
  BLINDEAR_ERR_HE_KEYS_INVALID: { retriable: false, message: 'evaluation keys failed validation' },
  BLINDEAR_ERR_SESSION_UNKNOWN: { retriable: true, message: 'no evaluation keys for this session yet' },
  BLINDEAR_ERR_SESSION_KEYS_FORGED: { retriable: false, message: 'session keys or tombstone not signed by the session\'s signing key' },
  BLINDEAR_ERR_SESSION_EVICTED: { retriable: false, message: 'the session\'s keys were evicted from the worker\'s bounded key store' },
  BLINDEAR_ERR_RATE_LIMITED: { retriable: false, message: 'the session exceeded its scoring budget' },
  BLINDEAR_ERR_MODEL_MISMATCH: { retriable: false, message: 'query was made for another catalogue model' },
  BLINDEAR_ERR_SINK_DELIVERY: { retriable: true, message: 'a delivery sink did not accept the record' },
  BLINDEAR_ERR_BROKER_UNAVAILABLE: { retriable: true, message: 'the Kafka broker cannot be reached' },
  BLINDEAR_ERR_ZONE_VIOLATION: { retriable: false, message: 'a stage would cross its trust zone' },
  BLINDEAR_ERR_SCORES_FORGED: { retriable: false, message: 'scores do not match a query this client sent' },
  BLINDEAR_ERR_SCORES_OUT_OF_RANGE: { retriable: false, message: 'decrypted scores are outside the bounds the model allows' },
  BLINDEAR_ERR_NO_DECISION: { retriable: false, message: 'no decision arrived after the audio ended' },
  BLINDEAR_ERR_SCORES_INCOMPLETE: { retriable: false, message: 'not every shard of the catalogue answered the query in time' },
} as const satisfies Record<string, { retriable: boolean; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class BlindearError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  /** `retriable` overrides the table for one occurrence (a webhook's 4xx is final, its 5xx is not). */
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(detail ? `${ERROR_CODES[code].message}: ${detail}` : ERROR_CODES[code].message, options);
    this.name = 'BlindearError';
    this.code = code;
    this.retriable = options?.retriable ?? ERROR_CODES[code].retriable;
  }
}

export function isBlindearError(err: unknown): err is BlindearError {
  return err instanceof BlindearError;
}
