/**
 * A station's audio source kept connected: files (paced at real time or as fast as taken), HTTP/Icecast/HLS
 * URLs and stdin, decoded by ffmpeg to mono float PCM. A URL that fails, ends or stops sending for
 * `stallSeconds` is reported (BLINDEAR_ERR_STREAM_DROPPED) and reconnected with exponential backoff,
 * for as long as the source runs; a file or stdin ends the source when it ends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { access } from 'node:fs/promises';
import { BlindearError } from '../pipeline/errors.js';
import { decodeStream, type PcmStream } from './ffmpeg.js';

export type SourceKind = 'file' | 'url' | 'stdin';

export function sourceKind(source: string): SourceKind {
  if (source === '-') return 'stdin';
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? 'url' : 'file';
}

export interface SourceEvents {
  /** A chunk of PCM; `discontinuity` on the first chunk after a reconnect. */
  chunk(pcm: Float32Array, info: { discontinuity: boolean }): Promise<void>;
  connected(): void;
  dropped(err: BlindearError, retryInSeconds: number): void;
}

export interface StationSourceOptions {
  source: string;
  sampleRate: number;
  chunkSeconds: number;
  /** Files only: 'realtime' paces the file as a live stream would arrive. */
  pace: 'realtime' | 'fast';
  /** Files only: seconds to skip (resuming a session). */
  startSeconds: number;
  /** A connected URL or stdin that sends nothing for this long is dropped. */
  stallSeconds: number;
  maxBackoffSeconds: number;
  signal: AbortSignal;
}

/** Runs until a file/stdin source ends (resolves) or `signal` aborts (resolves); throws only for a missing file. */
export async function runStationSource(opts: StationSourceOptions, on: SourceEvents): Promise<'ended' | 'stopped'> {
  const kind = sourceKind(opts.source);
  if (kind === 'file') {
    try { await access(opts.source); } catch { throw new BlindearError('BLINDEAR_ERR_INPUT_NOT_FOUND', opts.source); }
  }
  let attempt = 0;
  let discontinuity = false;
  while (!opts.signal.aborted) {
    let stream: PcmStream | undefined;
    let got = false;
    try {
      stream = await decodeStream(opts.source, {
        sampleRate: opts.sampleRate,
        chunkSeconds: opts.chunkSeconds,
        realtime: kind === 'file' && opts.pace === 'realtime',
        startSeconds: kind === 'file' && opts.startSeconds > 0 ? opts.startSeconds : undefined,
      });
      const s = stream;
      // Its outcome is awaited below, or dropped with the stream after a stall: never left unhandled.
      s.done.catch(() => undefined);
      const onAbort = (): void => s.stop();
      opts.signal.addEventListener('abort', onAbort, { once: true });
      try {
        // The first chunk may take longer: connecting and probing the format come first.
        for await (const pcm of withDeadline(s.chunks, opts.stallSeconds * 1000, opts.stallSeconds * 1000 + 10_000, () => s.stop())) {
          if (!got) { got = true; attempt = 0; on.connected(); }
          await on.chunk(pcm, { discontinuity });
          discontinuity = false;
        }
        await s.done;
      } finally {
        opts.signal.removeEventListener('abort', onAbort);
      }
      if (opts.signal.aborted) return 'stopped';
      if (kind !== 'url') return 'ended';
      throw new BlindearError('BLINDEAR_ERR_STREAM_DROPPED', `${opts.source}: the stream ended`);
    } catch (err) {
      stream?.stop();
      if (opts.signal.aborted) return 'stopped';
      const e = err instanceof BlindearError ? err : new BlindearError('BLINDEAR_ERR_STREAM_DROPPED', `${opts.source}: ${(err as Error).message}`, { cause: err });
      if (kind !== 'url') throw e.code === 'BLINDEAR_ERR_STREAM_DROPPED' ? e : new BlindearError('BLINDEAR_ERR_STREAM_DROPPED', e.message, { cause: e });
      const dropped = e.code === 'BLINDEAR_ERR_STREAM_DROPPED' ? e : new BlindearError('BLINDEAR_ERR_STREAM_DROPPED', e.message, { cause: e });
      const wait = Math.min(opts.maxBackoffSeconds, 2 ** attempt);
      attempt++;
      on.dropped(dropped, wait);
      discontinuity = true;
      await sleep(wait * 1000, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  }
  return 'stopped';
}

/** Passes the chunks through; when none comes for `ms`, calls `onStall` (which ends the stream) and throws. */
async function* withDeadline<T>(it: AsyncIterable<T>, ms: number, firstMs: number, onStall: () => void): AsyncGenerator<T> {
  const iter = it[Symbol.asyncIterator]();
  let stalled = false;
  let first = true;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const next = iter.next();
    const wait = first ? firstMs : ms;
    first = false;
    const deadline = new Promise<'stall'>((resolve) => { timer = setTimeout(() => resolve('stall'), wait); });
    const r = await Promise.race([next, deadline]);
    clearTimeout(timer);
    if (r === 'stall') {
      next.catch(() => undefined);
      stalled = true;
      onStall();
      throw new BlindearError('BLINDEAR_ERR_STREAM_DROPPED', `no audio for ${wait / 1000} s`);
    }
    if (r.done || stalled) return;
    yield r.value;
  }
}
