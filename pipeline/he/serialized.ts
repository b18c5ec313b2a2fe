/**
 * SEAL's serialized form, read in plain TypeScript before any byte reaches the WASM parser, and the
 * upper bounds of serialized sizes (for byte-length limits and the topics' max.message.bytes).
 *
 * Why the header check matters: node-seal 6.0.3 does not survive every malformed input. A header whose
 * size field exceeds the buffer, or a payload ending early, makes SEAL's stream read fail inside WASM
 * ("Aborted()", a WebAssembly.RuntimeError) and can leave that instance's heap corrupted. The checks
 * here reject those cheaply; whatever passes is still parsed only in an isolated instance first
 * (untrusted-loader.ts).
 *
 * SEALHeader (SEAL 4.x, 16 bytes, little endian): magic u16 = 0xA15E, header size u8 = 16, version
 * major u8, minor u8, compression mode u8 (0 none, 1 zlib, 2 zstd), reserved u16 = 0, total size u64.
 */
import { BlindearError, type ErrorCode } from '../errors.js';
import type { HeParams, ScoringLayout } from '../../schemas/he.js';
import { galoisSteps } from './layout.js';

export const SEAL_HEADER_BYTES = 16;
const SEAL_MAGIC = 0xa15e;
const SEAL_VERSION_MAJOR = 4;
/** Smallest payload after the header that any of our objects can have. */
const MIN_PAYLOAD_BYTES = 64;

export type ComprMode = 'none' | 'zstd';

export interface SealHeader {
  versionMajor: number;
  versionMinor: number;
  comprMode: ComprMode;
  size: number;
}

/**
 * Parses and checks the header of a serialized SEAL object: length within `maxBytes`
 * (BLINDEAR_ERR_MSG_TOO_LARGE otherwise), magic, version 4.x, compression none or zstd, declared size
 * equal to the byte length (`invalidCode` otherwise).
 */
export function checkSealHeader(bytes: Uint8Array, maxBytes: number, invalidCode: ErrorCode): SealHeader {
  if (bytes.byteLength > maxBytes) {
    throw new BlindearError('BLINDEAR_ERR_MSG_TOO_LARGE', `${bytes.byteLength} bytes, limit ${maxBytes}`);
  }
  if (bytes.byteLength < SEAL_HEADER_BYTES + MIN_PAYLOAD_BYTES) throw new BlindearError(invalidCode, `${bytes.byteLength} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0, true) !== SEAL_MAGIC) throw new BlindearError(invalidCode, 'not a SEAL object (bad magic)');
  if (view.getUint8(2) !== SEAL_HEADER_BYTES) throw new BlindearError(invalidCode, 'bad SEAL header size');
  const versionMajor = view.getUint8(3);
  const versionMinor = view.getUint8(4);
  if (versionMajor !== SEAL_VERSION_MAJOR) throw new BlindearError(invalidCode, `SEAL version ${versionMajor}.${versionMinor} is not 4.x`);
  const mode = view.getUint8(5);
  if (mode !== 0 && mode !== 2) throw new BlindearError(invalidCode, `compression mode ${mode} is not none (0) or zstd (2)`);
  if (view.getUint16(6, true) !== 0) throw new BlindearError(invalidCode, 'reserved SEAL header bits set');
  const size = view.getBigUint64(8, true);
  if (size !== BigInt(bytes.byteLength)) throw new BlindearError(invalidCode, `declared size ${size} differs from the ${bytes.byteLength} bytes received`);
  return { versionMajor, versionMinor, comprMode: mode === 0 ? 'none' : 'zstd', size: bytes.byteLength };
}

/** Serialized bytes of an uncompressed, unseeded ciphertext of `size` polynomials over `primes` primes, plus slack for the metadata. */
function ciphertextBound(N: number, primes: number, size = 2): number {
  return SEAL_HEADER_BYTES + 256 + size * N * primes * 8;
}

/** Largest query ciphertext accepted: a full (unseeded, uncompressed) ciphertext at the first level. */
export function maxQueryBytes(p: HeParams): number {
  return ciphertextBound(p.polyModulusDegree, p.coeffModulusBits.length - 1);
}

/** Largest result ciphertext: a full ciphertext at the last level (one prime). */
export function maxResultBytes(p: HeParams): number {
  return ciphertextBound(p.polyModulusDegree, 1);
}

/**
 * Largest Galois-key set for a layout: per key, one key-level ciphertext (all primes) for each data
 * prime, unseeded and uncompressed.
 */
export function maxKeyBytes(p: HeParams, l: ScoringLayout): number {
  const primes = p.coeffModulusBits.length;
  const perKey = (primes - 1) * (ciphertextBound(p.polyModulusDegree, primes) + 64);
  return SEAL_HEADER_BYTES + 1024 + galoisSteps(l).length * perKey;
}
