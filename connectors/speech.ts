/**
 * Synthetic speech from Debian's espeak-ng (`apt-get install espeak-ng`), decoded to mono float PCM at
 * the pipeline's rate: the voice of a presenter talking over the music in the evaluation's speech
 * conditions. espeak-ng's output is a pure function of its version, voice, speed and text.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlindearError } from '../pipeline/errors.js';
import { decodeFile } from './ffmpeg.js';

const ESPEAK = process.env.BLINDEAR_ESPEAK ?? 'espeak-ng';

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(ESPEAK, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', (err) => resolve({ code: null, stderr: err.message }));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

let available: Promise<string | null> | undefined;

/** Why speech cannot be synthesised here, or null when it can. */
export function speechUnavailableReason(): Promise<string | null> {
  available ??= run(['--version']).then((r) => (r.code === 0 ? null : `${ESPEAK} is not installed (apt-get install espeak-ng): ${r.stderr.trim()}`));
  return available;
}

export interface SpeechOptions {
  /** espeak-ng voice, e.g. `en-us+m3`. */
  voice: string;
  /** Words per minute. */
  wordsPerMinute: number;
  sampleRate: number;
}

/** Speaks `text` and returns it as PCM. Rejects with BLINDEAR_ERR_AUDIO_DECODE and espeak-ng's reason. */
export async function synthesiseSpeech(text: string, opts: SpeechOptions): Promise<Float32Array> {
  const dir = await mkdtemp(join(tmpdir(), 'blindear-speech-'));
  try {
    const wav = join(dir, 'speech.wav');
    const r = await run(['-v', opts.voice, '-s', String(opts.wordsPerMinute), '-w', wav, text]);
    if (r.code !== 0) throw new BlindearError('BLINDEAR_ERR_AUDIO_DECODE', `espeak-ng ${opts.voice}: ${r.stderr.trim() || `exit ${r.code}`}`);
    return await decodeFile(wav, { sampleRate: opts.sampleRate });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
