/**
 * The client service's own key: it seals (AES-256-GCM) each session's secret key and query MAC key before
 * they are stored on the client-zone `client-sessions` topic, so whoever reads that topic without the
 * service key learns nothing, and any instance holding the key can continue any session.
 *
 * The key comes from configuration (a file of 32 random bytes, hex or raw); it never goes to Kafka.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BlindearError } from '../../errors.js';

export interface ServiceKey {
  /** First 16 hex digits of SHA-256(key): names the key in stored records without revealing it. */
  readonly keyId: string;
  seal(plain: Uint8Array, context: string): string;
  open(sealed: string, context: string): Uint8Array;
}

function serviceKey(key: Buffer): ServiceKey {
  if (key.length !== 32) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `the client key must be 32 bytes, got ${key.length}`);
  const keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return {
    keyId,
    seal(plain, context) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([c.update(plain), c.final()]);
      return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
    },
    open(sealed, context) {
      const raw = Buffer.from(sealed, 'base64');
      if (raw.length < 29) throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', 'sealed key is truncated');
      try {
        const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
        d.setAAD(Buffer.from(context, 'utf8'));
        d.setAuthTag(raw.subarray(12, 28));
        return new Uint8Array(Buffer.concat([d.update(raw.subarray(28)), d.final()]));
      } catch {
        throw new BlindearError('BLINDEAR_ERR_HE_KEYS_INVALID', 'sealed key does not open under this client key (another key, or tampered)');
      }
    },
  };
}

/** A key from raw bytes (tests) . */
export function serviceKeyFromBytes(key: Uint8Array): ServiceKey {
  return serviceKey(Buffer.from(key));
}

/**
 * Reads the key file (64 hex digits, or 32 raw bytes); with `create`, makes a fresh one (mode 0600) when
 * the file does not exist yet.
 */
export async function loadServiceKey(path: string, opts: { create: boolean }): Promise<{ key: ServiceKey; created: boolean }> {
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !opts.create) {
      throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `client key file ${path}: ${(err as Error).message}`);
    }
    const fresh = randomBytes(32);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, fresh.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
    return { key: serviceKey(fresh), created: true };
  }
  const trimmed = text.toString('utf8').trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : text;
  return { key: serviceKey(key), created: false };
}

/** The fields of a query that the client binds with its MAC and checks when the scores come back. */
export interface QueryFields {
  session: string;
  seq: number;
  count: number;
  prev: number;
  final: boolean;
  capturedAtMs: number;
  paramsId: string;
  modelId: string;
  /** 'position' for a position query (bound, so scores cannot pass for a record or back). */
  kind?: 'scores' | 'position';
}

function macInput(q: QueryFields): string {
  const fields: unknown[] = [q.session, q.seq, q.count, q.prev, q.final, q.capturedAtMs, q.paramsId, q.modelId];
  if (q.kind === 'position') fields.push('position');
  return JSON.stringify(fields);
}

export function queryMac(macKey: Uint8Array, q: QueryFields): string {
  return createHmac('sha256', macKey).update(macInput(q)).digest('hex');
}

export function verifyQueryMac(macKey: Uint8Array, q: QueryFields, mac: string | undefined): boolean {
  if (!mac || !/^[0-9a-f]{64}$/.test(mac)) return false;
  return timingSafeEqual(Buffer.from(queryMac(macKey, q), 'hex'), Buffer.from(mac, 'hex'));
}

export function newMacKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

const NOTE_SLOTS = 16;

function noteKey(macKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', macKey, Buffer.alloc(0), 'blindear/query-note', 32));
}

/**
 * Seals up to 16 numbers (stream seconds) into a fixed-size note bound to the query (session and first
 * window): the server learns nothing from it, not even how many there are.
 */
export function sealNote(macKey: Uint8Array, bind: { session: string; seq: number }, values: readonly number[]): string {
  const slots = new Float32Array(NOTE_SLOTS).fill(Number.NaN);
  values.slice(0, NOTE_SLOTS).forEach((v, i) => { slots[i] = v; });
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', noteKey(macKey), iv);
  c.setAAD(Buffer.from(`${bind.session}/${bind.seq}`));
  const body = Buffer.concat([c.update(new Uint8Array(slots.buffer)), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

/** Boundary hints a note holds: two numbers each (time, strength). */
export const NOTE_HINTS = NOTE_SLOTS / 2;

/** `hints` (the first NOTE_HINTS) as the numbers of a note. */
export function hintsToNote(hints: readonly { t: number; strength: number }[]): number[] {
  return hints.slice(0, NOTE_HINTS).flatMap((h) => [h.t, h.strength]);
}

/** The hints of a note's numbers; a pair that is not a time and a strength in 0–1 is dropped. */
export function hintsFromNote(values: readonly number[]): { t: number; strength: number }[] {
  const out: { t: number; strength: number }[] = [];
  for (let i = 0; i + 1 < values.length; i += 2) {
    const [t, strength] = [values[i], values[i + 1]];
    if (t >= 0 && strength >= 0 && strength <= 1) out.push({ t, strength });
  }
  return out;
}

/**
 * Landmarks a sealed window holds at most: a 15 s window of music has 130–330 (dev catalogue), thinned
 * evenly beyond this.
 */
export const SEALED_LANDMARKS = 640;
const SEALED_WINDOW_BYTES = 4 + SEALED_LANDMARKS * 4;

function landmarkKey(macKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', macKey, Buffer.alloc(0), 'blindear/query-landmarks', 32));
}

/**
 * Seals each window's packed landmarks (u32 words) into one fixed-size value per query, bound to the
 * query (session and first window): the server sees the same length whatever the audio held.
 */
export function sealLandmarks(macKey: Uint8Array, bind: { session: string; seq: number }, windows: readonly Uint32Array[]): string {
  const plain = Buffer.alloc(windows.length * SEALED_WINDOW_BYTES);
  windows.forEach((w, i) => {
    const at = i * SEALED_WINDOW_BYTES;
    const n = Math.min(w.length, SEALED_LANDMARKS);
    plain.writeUInt32LE(n, at);
    for (let k = 0; k < n; k++) plain.writeUInt32LE(w[Math.floor((k * w.length) / n)], at + 4 + 4 * k);
  });
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', landmarkKey(macKey), iv);
  c.setAAD(Buffer.from(`${bind.session}/${bind.seq}/landmarks`));
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

/** The windows' packed landmarks of a sealed value, or null when it does not open for `count` windows of this query. */
export function openLandmarks(macKey: Uint8Array, bind: { session: string; seq: number }, sealed: string, count: number): Uint32Array[] | null {
  const raw = Buffer.from(sealed, 'base64');
  if (raw.length !== 28 + count * SEALED_WINDOW_BYTES) return null;
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', landmarkKey(macKey), raw.subarray(0, 12));
    d.setAAD(Buffer.from(`${bind.session}/${bind.seq}/landmarks`));
    d.setAuthTag(raw.subarray(12, 28));
    plain = Buffer.concat([d.update(raw.subarray(28)), d.final()]);
  } catch {
    return null;
  }
  const out: Uint32Array[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * SEALED_WINDOW_BYTES;
    const n = plain.readUInt32LE(at);
    if (n > SEALED_LANDMARKS) return null;
    out.push(Uint32Array.from({ length: n }, (_, k) => plain.readUInt32LE(at + 4 + 4 * k)));
  }
  return out;
}

/** The numbers of a note, or null when it does not open (not made by this session for this query). */
export function openNote(macKey: Uint8Array, bind: { session: string; seq: number }, note: string): number[] | null {
  const raw = Buffer.from(note, 'base64');
  if (raw.length !== 28 + NOTE_SLOTS * 4) return null;
  try {
    const d = createDecipheriv('aes-256-gcm', noteKey(macKey), raw.subarray(0, 12));
    d.setAAD(Buffer.from(`${bind.session}/${bind.seq}`));
    d.setAuthTag(raw.subarray(12, 28));
    const plain = Buffer.concat([d.update(raw.subarray(28)), d.final()]);
    const slots = new Float32Array(plain.buffer.slice(plain.byteOffset, plain.byteOffset + plain.length));
    return Array.from(slots).filter((v) => Number.isFinite(v));
  } catch {
    return null;
  }
}
