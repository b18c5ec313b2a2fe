/**
 * Catalogue files of any size: a catalogue of 10^5–10^6 classes has a model and a hint of several GiB,
 * past what `readFile` returns (2 GiB) and what a Buffer holds (4 GiB). Files are read in chunks straight
 * into the ArrayBuffer their typed arrays will view (one copy in memory, not two), hashed as they arrive.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

/** Bytes per read, and per hash update. */
export const FILE_CHUNK_BYTES = 64 * 2 ** 20;

/** sha256 (hex) of bytes of any length, fed to the hash in chunks. */
export function sha256Hex(bytes: Uint8Array, chunk = FILE_CHUNK_BYTES): string {
  const h = createHash('sha256');
  for (let at = 0; at < bytes.byteLength; at += chunk) h.update(bytes.subarray(at, Math.min(bytes.byteLength, at + chunk)));
  return h.digest('hex');
}

/**
 * The whole file in a fresh ArrayBuffer, with its sha256; the file's size must be `expectedBytes`
 * (else `wrongSize` names what was found, before anything is read).
 */
export async function readWhole(path: string, expectedBytes: number, wrongSize: (bytes: number) => Error, chunk = FILE_CHUNK_BYTES): Promise<{ buffer: ArrayBuffer; sha256: string }> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size !== expectedBytes) throw wrongSize(size);
    const buffer = new ArrayBuffer(size);
    const h = createHash('sha256');
    let at = 0;
    while (at < size) {
      const view = new Uint8Array(buffer, at, Math.min(chunk, size - at));
      const { bytesRead } = await fh.read(view, 0, view.byteLength, at);
      if (bytesRead === 0) throw wrongSize(at);
      h.update(view.subarray(0, bytesRead));
      at += bytesRead;
    }
    return { buffer, sha256: h.digest('hex') };
  } finally {
    await fh.close();
  }
}
