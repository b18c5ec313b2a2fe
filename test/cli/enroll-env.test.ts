/**
 * `blindear enroll` takes defaults for --kind, --param and --he from BLINDEAR_ENROLL_KIND / _PARAMS / _HE
 * (so the acceptance harness, which always runs the plain command, can enrol any operating point):
 * the catalogue records them, flags win over them, and a malformed value is one line, before any audio.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CatalogManifest } from '../../schemas/catalog.js';
import type { CliResult } from '../helpers/cli.js';
import { MUSIC_DIR, REPO, musicTracks } from '../helpers/music.js';

const BIN = join(REPO, 'bin', 'blindear.js');
const WORK = mkdtempSync(join(tmpdir(), 'blindear-enroll-env-'));

/** The real CLI with extra environment variables (and none of the caller's BLINDEAR_ENROLL_*). */
function enroll(args: string[], env: Record<string, string>): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLINDEAR_ENROLL_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'enroll', ...args, '--log-level', 'warn'], { cwd: REPO, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`enroll timed out: ${stderr.slice(-2000)}`)); }, 110_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

const manifestOf = (dir: string): CatalogManifest => CatalogManifest.parse(JSON.parse(readFileSync(join(dir, 'catalog.json'), 'utf8')));

// The two shortest ci tracks (by file size): a catalogue in seconds.
const TRACKS = ['drascula-music/track17.ogg', 'colobot-common-sounds/music010.ogg'];

describe('blindear enroll: defaults from the environment', () => {
  afterAll(() => rmSync(WORK, { recursive: true, force: true }));

  it('the ci set holds the tracks this test enrols', () => {
    expect(musicTracks()).toEqual(expect.arrayContaining(TRACKS));
  });

  it('records BLINDEAR_ENROLL_PARAMS and BLINDEAR_ENROLL_HE in the catalogue; --param keys win over the same keys', async () => {
    const dir = join(WORK, 'landmark');
    const r = await enroll([...TRACKS.map((t) => join(MUSIC_DIR, t)), '--catalog', dir, '--param', 'segmentHopSeconds=5'], {
      BLINDEAR_ENROLL_PARAMS: JSON.stringify({ d: 256, segmentSeconds: 10, segmentHopSeconds: 10, maxClasses: 512 }),
      BLINDEAR_ENROLL_HE: JSON.stringify({ polyModulusDegree: 8192, coeffModulusBits: [60, 60] }),
    });
    expect(r.code, r.stderr).toBe(0);
    const m = manifestOf(dir);
    expect(m.feature.kind).toBe('landmark');
    if (m.feature.kind !== 'landmark') return;
    expect(m.dim).toBe(256);
    expect(m.feature.params).toMatchObject({ d: 256, segmentSeconds: 10, segmentHopSeconds: 5, maxClasses: 512 });
    expect(m.he).toMatchObject({ polyModulusDegree: 8192, coeffModulusBits: [60, 60] });
    expect(m.tracks.map((t) => t.path).sort()).toEqual(TRACKS.map((t) => t.split('/')[1]).sort());
  });

  it('takes the kind from BLINDEAR_ENROLL_KIND unless --kind is given', async () => {
    const fromEnv = join(WORK, 'mfcc');
    const r = await enroll([join(MUSIC_DIR, TRACKS[0]), join(MUSIC_DIR, TRACKS[1]), '--catalog', fromEnv], {
      BLINDEAR_ENROLL_KIND: 'mfcc-sum',
      BLINDEAR_ENROLL_PARAMS: JSON.stringify({ summary: 'sum' }),
    });
    expect(r.code, r.stderr).toBe(0);
    const m = manifestOf(fromEnv);
    expect(m.feature.kind).toBe('mfcc-sum');
    expect(m.feature.params).toMatchObject({ summary: 'sum' });
    expect(m.dim).toBe(20);

    // --kind landmark on the command line beats the environment's mfcc-sum (whose params it then ignores).
    const flag = join(WORK, 'flag');
    const f = await enroll([join(MUSIC_DIR, TRACKS[0]), '--catalog', flag, '--kind', 'landmark', '--param', 'd=128'], { BLINDEAR_ENROLL_KIND: 'mfcc-sum' });
    expect(f.code, f.stderr).toBe(0);
    expect(manifestOf(flag).feature.kind).toBe('landmark');
    expect(manifestOf(flag).dim).toBe(128);
  });

  it.each([
    ['BLINDEAR_ENROLL_KIND', 'mfcc', /BLINDEAR_ENROLL_KIND: .*"landmark"\|"mfcc-sum"/],
    ['BLINDEAR_ENROLL_PARAMS', '{d:1024', /BLINDEAR_ENROLL_PARAMS: not JSON/],
    ['BLINDEAR_ENROLL_PARAMS', '[1024]', /BLINDEAR_ENROLL_PARAMS: must be a JSON object/],
    ['BLINDEAR_ENROLL_PARAMS', '{"d":3}', /landmark parameters \(BLINDEAR_ENROLL_PARAMS\): d: /],
    ['BLINDEAR_ENROLL_HE', '{"polyModulusDegree":1000}', /encryption parameters \(BLINDEAR_ENROLL_HE\): polyModulusDegree: /],
  ])('%s=%s fails with one line naming it', async (name, value, why) => {
    const dir = join(WORK, 'bad');
    const r = await enroll([join(MUSIC_DIR, TRACKS[0]), '--catalog', dir], { [name]: value });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^blindear: configuration is invalid: /);
    expect(r.stderr).toMatch(why);
    expect(r.stderr).toMatch(/\(BLINDEAR_ERR_CONFIG_INVALID\)$/m);
  });
});
