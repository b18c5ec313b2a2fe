/**
 * Decodes files one at a time per lane, `lanes` at once, and hands each track's PCM to `use` while only
 * that track is in memory. A file ffmpeg cannot decode is reported through `onSkip`, never thrown.
 */
import { decodeFile } from '../../connectors/ffmpeg.js';
import { isBlindearError } from '../errors.js';

export interface DecodeJob {
  /** Path to read. */
  file: string;
  /** Name in reports. */
  path: string;
}

export async function decodeEach<J extends DecodeJob>(
  jobs: readonly J[],
  opts: { sampleRate: number; lanes: number; onSkip(job: J, reason: string): void },
  use: (job: J, pcm: Float32Array) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++];
      let pcm: Float32Array;
      try {
        pcm = await decodeFile(job.file, { sampleRate: opts.sampleRate });
      } catch (err) {
        if (!isBlindearError(err)) throw err;
        opts.onSkip(job, err.message);
        continue;
      }
      if (pcm.length === 0) {
        opts.onSkip(job, 'no audio samples');
        continue;
      }
      await use(job, pcm);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.lanes, jobs.length)) }, lane));
}
