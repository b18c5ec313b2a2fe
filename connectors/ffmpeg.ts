/**
 * Decoding anything ffmpeg reads (files, HTTP/Icecast URLs, stdin) to mono float PCM at a fixed rate.
 * This module and its siblings in connectors/ are the only code that touches the outside world.
 */
import { spawn } from 'node:child_process';
import { access, chmod } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { BlindearError } from '../pipeline/errors.js';

const require = createRequire(import.meta.url);

let ffmpegPathPromise: Promise<string> | undefined;

/** Path of the bundled static ffmpeg (@ffmpeg-installer), made executable if npm skipped its postinstall. */
export function ffmpegPath(): Promise<string> {
  ffmpegPathPromise ??= (async () => {
    const path: string = process.env.BLINDEAR_FFMPEG ?? (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    try {
      await access(path, 1 /* X_OK */);
    } catch {
      await chmod(path, 0o755);
    }
    return path;
  })();
  return ffmpegPathPromise;
}

export interface DecodeOptions {
  sampleRate: number;
  /** Seconds to skip at the start of the input. */
  startSeconds?: number;
  /** Seconds to decode at most. */
  durationSeconds?: number;
}

function ffmpegArgs(input: string, opts: DecodeOptions): string[] {
  const args = ['-v', 'error', '-nostdin'];
  if (opts.startSeconds) args.push('-ss', String(opts.startSeconds));
  args.push('-i', input);
  if (opts.durationSeconds) args.push('-t', String(opts.durationSeconds));
  args.push('-f', 'f32le', '-ac', '1', '-ar', String(opts.sampleRate), '-');
  return args;
}

/**
 * BLINDEAR_ERR_INPUT_NOT_FOUND at once for a local path that cannot be read (a URL or stdin is checked
 * by ffmpeg when it opens it): a missing file is reported before any other work starts.
 */
export async function assertInputReadable(input: string): Promise<void> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input) || input === '-') return;
  try {
    await access(input, 4 /* R_OK */);
  } catch {
    throw new BlindearError('BLINDEAR_ERR_INPUT_NOT_FOUND', input);
  }
}

/** Decodes a whole file (or URL) into memory. Rejects with BLINDEAR_ERR_AUDIO_DECODE and ffmpeg's reason. */
export async function decodeFile(input: string, opts: DecodeOptions): Promise<Float32Array> {
  await assertInputReadable(input);
  const bin = await ffmpegPath();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ffmpegArgs(input, opts), { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', (err) => reject(new BlindearError('BLINDEAR_ERR_AUDIO_DECODE', `${input}: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code !== 0) {
        const reason = stderr.trim().split('\n').pop() ?? `exit ${code}`;
        reject(new BlindearError('BLINDEAR_ERR_AUDIO_DECODE', `${input}: ${reason}`));
        return;
      }
      const buf = Buffer.concat(chunks);
      const out = new Float32Array(buf.length >> 2);
      new Uint8Array(out.buffer).set(buf.subarray(0, out.length * 4));
      resolve(out);
    });
  });
}

export interface PcmStream {
  /** Float PCM chunks as they are decoded; ends when the source ends. */
  chunks: AsyncIterable<Float32Array>;
  /** Resolves when ffmpeg exits; rejects with a BlindearError carrying ffmpeg's last error line. */
  done: Promise<void>;
  stop(): void;
}

/**
 * Streams a file, URL or stdin ('-') as PCM chunks of `chunkSeconds`, without holding the whole input.
 * `stdin` is the readable piped to ffmpeg when the input is '-'.
 */
export async function decodeStream(
  input: string,
  opts: DecodeOptions & { chunkSeconds: number; stdin?: Readable; realtime?: boolean },
): Promise<PcmStream> {
  await assertInputReadable(input);
  const bin = await ffmpegPath();
  const args = ffmpegArgs(input, opts);
  if (opts.realtime) args.splice(args.indexOf('-i'), 0, '-re');
  // A live stream: start decoding after a small probe (the default probe of megabytes takes minutes of
  // a stream that arrives at real time) and give up on a dead connection instead of waiting for ever.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) args.splice(args.indexOf('-i'), 0, '-probesize', '65536', '-analyzeduration', '2000000', '-rw_timeout', '15000000');
  const child = spawn(bin, args, { stdio: [input === '-' ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const source = input === '-' ? opts.stdin ?? process.stdin : undefined;
  if (source && child.stdin) source.pipe(child.stdin);
  let stderr = '';
  child.stderr!.on("data", (c: Buffer) => { stderr += c.toString(); if (stderr.length > 8192) stderr = stderr.slice(-4096); });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new BlindearError('BLINDEAR_ERR_AUDIO_DECODE', `${input}: ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => {
      if (code === 0 || signal === 'SIGTERM') resolve();
      else reject(new BlindearError('BLINDEAR_ERR_AUDIO_DECODE', `${input}: ${stderr.trim().split('\n').pop() ?? `exit ${code}`}`));
    });
  });
  // Handled here so a failure met while the caller is still reading chunks is not an unhandled
  // rejection; the caller still gets it by awaiting `done`.
  done.catch(() => undefined);
  const chunkBytes = Math.max(4, Math.round(opts.chunkSeconds * opts.sampleRate) * 4);
  async function* chunks(): AsyncGenerator<Float32Array> {
    let pending: Buffer = Buffer.alloc(0);
    for await (const c of child.stdout as AsyncIterable<Buffer>) {
      pending = pending.length ? Buffer.concat([pending, c]) : c;
      while (pending.length >= chunkBytes) {
        yield toFloat32(pending.subarray(0, chunkBytes));
        pending = pending.subarray(chunkBytes);
      }
    }
    const usable = pending.length - (pending.length % 4);
    if (usable > 0) yield toFloat32(pending.subarray(0, usable));
  }
  const stop = (): void => {
    child.kill('SIGTERM');
    if (!source) return;
    // Stdin is read once: let go of it, or a writer that keeps the pipe open keeps this process alive.
    if (child.stdin) { source.unpipe(child.stdin); child.stdin.destroy(); }
    if (source === process.stdin) process.stdin.destroy();
  };
  return { chunks: chunks(), done, stop };
}

function toFloat32(buf: Buffer): Float32Array {
  const out = new Float32Array(buf.length >> 2);
  new Uint8Array(out.buffer).set(buf);
  return out;
}
