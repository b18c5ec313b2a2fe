/**
 * Lossy round trips through the bundled ffmpeg: mono float PCM is encoded (mp3, Opus, or G.711 μ-law at
 * 8 kHz) and decoded back to the same rate, as a query that reached us through that codec would be.
 * Two ffmpeg processes piped together; nothing touches the disk.
 */
import { spawn } from 'node:child_process';
import { BlindearError } from '../pipeline/errors.js';
import { ffmpegPath } from './ffmpeg.js';

export type LossyCodec = 'mp3' | 'opus' | 'mulaw';

/** ffmpeg encoder each codec needs (checked with `ffmpeg -encoders`). */
export const CODEC_ENCODERS: Readonly<Record<LossyCodec, string>> = { mp3: 'libmp3lame', opus: 'libopus', mulaw: 'pcm_mulaw' };

export interface TranscodeOptions {
  codec: LossyCodec;
  /** Target bitrate (mp3, opus); μ-law is always 64 kbit/s. */
  bitrateKbps?: number;
}

/** Encoder output arguments, and the decoder's input arguments for that stream. */
function codecArgs(o: TranscodeOptions): { encode: string[]; decodeInput: string[] } {
  const kbps = `${o.bitrateKbps ?? 64}k`;
  switch (o.codec) {
    case 'mp3':
      return { encode: ['-c:a', 'libmp3lame', '-b:a', kbps, '-f', 'mp3'], decodeInput: ['-f', 'mp3'] };
    case 'opus':
      // libopus takes 48 kHz (among a few rates); ffmpeg resamples to it and back.
      return { encode: ['-c:a', 'libopus', '-b:a', kbps, '-ar', '48000', '-f', 'ogg'], decodeInput: ['-f', 'ogg'] };
    case 'mulaw':
      // Raw G.711 has no header: the decoder is told its rate and layout.
      return { encode: ['-c:a', 'pcm_mulaw', '-ar', '8000', '-f', 'mulaw'], decodeInput: ['-f', 'mulaw', '-ar', '8000', '-ac', '1'] };
  }
}

let encodersPromise: Promise<Set<string>> | undefined;

/** Names of the encoders the bundled ffmpeg was built with. */
export function availableEncoders(): Promise<Set<string>> {
  encodersPromise ??= (async () => {
    const bin = await ffmpegPath();
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(bin, ['-hide_banner', '-encoders'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let s = '';
      child.stdout.on('data', (c: Buffer) => { s += c.toString(); });
      child.on('error', reject);
      child.on('close', () => resolve(s));
    });
    // Lines look like " A..... libopus   libopus Opus (codec opus)".
    return new Set(out.split('\n').map((l) => /^\s*[AVS][.A-Z]{5}\s+(\S+)/.exec(l)?.[1]).filter((n): n is string => !!n));
  })();
  return encodersPromise;
}

/** Why a codec cannot be used here, or null when it can. */
export async function codecUnavailableReason(codec: LossyCodec): Promise<string | null> {
  const encoder = CODEC_ENCODERS[codec];
  return (await availableEncoders()).has(encoder) ? null : `the bundled ffmpeg has no ${encoder} encoder`;
}

/**
 * Encodes `pcm` (mono float at sampleRate) with the codec and decodes it back to the same rate, trimmed
 * or zero-padded to the input's length (codecs add a few ms of delay and padding). Rejects with
 * BLINDEAR_ERR_AUDIO_DECODE and ffmpeg's last error line.
 */
export async function transcodePcm(pcm: Float32Array, sampleRate: number, opts: TranscodeOptions): Promise<Float32Array> {
  const bin = await ffmpegPath();
  const { encode, decodeInput } = codecArgs(opts);
  const rate = String(sampleRate);
  const encoder = spawn(bin, ['-v', 'error', '-nostdin', '-f', 'f32le', '-ac', '1', '-ar', rate, '-i', 'pipe:0', ...encode, 'pipe:1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const decoder = spawn(bin, ['-v', 'error', '-nostdin', ...decodeInput, '-i', 'pipe:0', '-f', 'f32le', '-ac', '1', '-ar', rate, 'pipe:1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const finished = (child: typeof encoder, role: string): Promise<string> => new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', (err) => reject(new BlindearError('BLINDEAR_ERR_AUDIO_DECODE', `${opts.codec} ${role}: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) resolve(stderr);
      else reject(new BlindearError('BLINDEAR_ERR_AUDIO_DECODE', `${opts.codec} ${role}: ${stderr.trim().split('\n').pop() ?? `exit ${code}`}`));
    });
  });
  const encoded = finished(encoder, 'encode');
  const decoded = finished(decoder, 'decode');
  // A process that fails early closes its stdin: the write error is reported through its exit instead.
  encoder.stdin.on('error', () => {});
  decoder.stdin.on('error', () => {});
  encoder.stdout.pipe(decoder.stdin);
  const chunks: Buffer[] = [];
  decoder.stdout.on('data', (c: Buffer) => chunks.push(c));
  encoder.stdin.end(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
  await Promise.all([encoded, decoded]);
  const buf = Buffer.concat(chunks);
  const out = new Float32Array(pcm.length);
  const got = Math.min(out.length, buf.length >> 2);
  new Uint8Array(out.buffer).set(buf.subarray(0, got * 4));
  return out;
}
