/**
 * Bad audio and catalogues (issue #17, point 7), through the real CLI: each case is one line on stderr
 * naming the reason and a non-zero exit, and nothing half-written. Silence and audio too short for a
 * window are refused at enrolment and at query time alike; a corrupted model of the right length is
 * refused on load by its checksum; a missing file is reported at once.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { encodeWav } from '../../connectors/wav.js';
import { testCatalog, type TestCatalog } from '../helpers/catalog.js';
import { runCli } from '../helpers/cli.js';
import { MUSIC_DIR, REPO, tracksPerPackage } from '../helpers/music.js';

const WORK = join(REPO, '.cache', 'test-bad-audio');
const SR = 22050;

const blindearLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('blindear:'));

describe('bad audio and catalogues', () => {
  let catalog: TestCatalog;
  const enrolled = tracksPerPackage(4);

  beforeAll(async () => {
    catalog = await testCatalog('landmark', enrolled);
    rmSync(WORK, { recursive: true, force: true });
    mkdirSync(join(WORK, 'silent'), { recursive: true });
    writeFileSync(join(WORK, 'silent', 'silence.wav'), encodeWav(new Float32Array(20 * SR), SR));
    const music = await decodeFile(join(MUSIC_DIR, enrolled[2]), { sampleRate: SR });
    writeFileSync(join(WORK, 'short.wav'), encodeWav(music.subarray(60 * SR, Math.round(60.38 * SR)), SR));
    writeFileSync(join(WORK, 'excerpt.wav'), encodeWav(music.subarray(60 * SR, 75 * SR), SR));
  });

  it('enrolling only silence fails with one line and writes no catalogue', async () => {
    const out = join(WORK, 'silent-catalog');
    const r = await runCli(['enroll', join(WORK, 'silent'), '--catalog', out, '--log-level', 'silent']);
    expect(r.code).not.toBe(0);
    expect(blindearLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/BLINDEAR_ERR_CATALOG_EMPTY/);
    expect(r.stderr).toMatch(/silent/);
    expect(existsSync(join(out, 'catalog.json'))).toBe(false);
  });

  it.each([
    ['silence', 'silent/silence.wav', 'BLINDEAR_ERR_AUDIO_SILENT'],
    ['0.38 s of music', 'short.wav', 'BLINDEAR_ERR_AUDIO_TOO_SHORT'],
    ['a missing file', 'no-such-file.wav', 'BLINDEAR_ERR_INPUT_NOT_FOUND'],
  ])('identify refuses %s with one line and exit 1', async (_what, file, code) => {
    const r = await runCli(['identify', join(WORK, file), '--catalog', catalog.dir]);
    expect(r.code).toBe(1);
    expect(blindearLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain(code);
  });

  it('identify still names a real excerpt (the decoder streams)', async () => {
    const r = await runCli(['identify', join(WORK, 'excerpt.wav'), '--catalog', catalog.dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).match?.path).toBe(enrolled[2]);
  });

  it('a model.bin corrupted in place (same length) is refused by its checksum, by identify and by the worker', async () => {
    const copy = join(WORK, 'corrupt-catalog');
    cpSync(catalog.dir, copy, { recursive: true });
    const model = readFileSync(join(copy, 'model.bin'));
    for (let i = 1000; i < 1100; i++) model[i] ^= 0x5a;
    writeFileSync(join(copy, 'model.bin'), model);
    const r = await runCli(['identify', join(WORK, 'excerpt.wav'), '--catalog', copy]);
    expect(r.code).not.toBe(0);
    expect(blindearLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/BLINDEAR_ERR_CATALOG_INVALID.*checksum|checksum.*BLINDEAR_ERR_CATALOG_INVALID/);
    const w = await runCli(['worker', 'scorer', '--brokers', '127.0.0.1:1', '--catalog', copy, '--log-level', 'silent']);
    expect(w.code).not.toBe(0);
    expect(blindearLines(w.stderr)).toHaveLength(1);
    expect(w.stderr).toMatch(/checksum/);
  });
});
