/**
 * Catalogue files read in chunks (pipeline/model/large-file.ts): what a catalogue of 10^5–10^6 classes
 * needs past readFile's 2 GiB. The chunk size is made small so every path of the loop runs on a small
 * file; the oracle is node's one-shot sha256 of the same bytes.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readWhole, sha256Hex } from '../../pipeline/model/large-file.js';

const dir = mkdtempSync(join(tmpdir(), 'blindear-large-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) & 0xff);
const oneShot = createHash('sha256').update(bytes).digest('hex');

describe('catalogue files in chunks', () => {
  it('hashes in chunks to the one-shot sha256, whatever the chunk', () => {
    for (const chunk of [1, 7, 999, 1000, 4096]) expect(sha256Hex(bytes, chunk)).toBe(oneShot);
  });

  it('reads a file whole into a fresh buffer over chunks of any size, with its sha256', async () => {
    const path = join(dir, 'model.bin');
    writeFileSync(path, bytes);
    for (const chunk of [64, 333, 1000, 1 << 20]) {
      const { buffer, sha256 } = await readWhole(path, bytes.length, () => new Error('size'), chunk);
      expect(sha256).toBe(oneShot);
      expect(Buffer.from(buffer).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it('refuses a file of another size before reading it, naming the size found', async () => {
    const path = join(dir, 'short.bin');
    writeFileSync(path, bytes.subarray(0, 999));
    await expect(readWhole(path, 1000, (found) => new Error(`found ${found}`), 64)).rejects.toThrow('found 999');
    await expect(readWhole(join(dir, 'absent.bin'), 1000, () => new Error('size'))).rejects.toThrow(/ENOENT/);
  });
});
