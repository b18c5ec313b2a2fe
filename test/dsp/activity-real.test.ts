/**
 * The activity classifier on real audio: songs of the ci set are music (the worst of the 66 songs' first
 * minutes: 84% of its sounding frames), and speech synthesised by espeak-ng (when installed; Debian: apt-get install espeak-ng) is speech.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { analyseActivity, type ActivityKind } from '../../pipeline/dsp/activity.js';
import { MUSIC_DIR, tracksPerPackage } from '../helpers/music.js';

const SR = 22050;
const share = (kinds: ActivityKind[], kind: ActivityKind): number => kinds.filter((k) => k === kind).length / Math.max(1, kinds.filter((k) => k !== 'silence').length);
const ESPEAK = spawnSync('espeak-ng', ['--version'], { stdio: 'ignore' }).status === 0;

describe('activity on real audio', () => {
  it('a minute of each of three songs is at least 80% music', async () => {
    for (const t of tracksPerPackage(1)) {
      const pcm = await decodeFile(join(MUSIC_DIR, t), { sampleRate: SR });
      expect(share(analyseActivity(pcm.subarray(0, 60 * SR), SR).kind, 'music'), t).toBeGreaterThan(0.8);
    }
  });

  it.skipIf(!ESPEAK)(`speech is at least 90% speech${ESPEAK ? '' : ' (skipped: espeak-ng is not installed)'}`, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'blindear-speech-')), 'news.wav');
    const said = spawnSync('espeak-ng', ['-w', file, 'Good evening. Here are the headlines for tonight. The weather will be cold and windy, with rain spreading from the west during the night, and the trains will run late tomorrow morning.']);
    expect(said.status).toBe(0);
    const pcm = await decodeFile(file, { sampleRate: SR });
    expect(share(analyseActivity(pcm, SR).kind, 'speech')).toBeGreaterThan(0.9);
  });
});
