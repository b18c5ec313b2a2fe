import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { writeWav } from '../../connectors/wav.js';
import { mixRadio, type RadioItem } from '../eval/radio-mix.js';
import { PIPELINE_SAMPLE_RATE } from '../features/registry.js';

export async function runMixRadio(opts: { catalogDir: string; tracks: string[]; unknown?: string; out: string; excerptSeconds: number; seed: number }): Promise<void> {
  const items: RadioItem[] = [];
  for (const t of opts.tracks) items.push({ path: t, pcm: await decodeFile(join(opts.catalogDir, t), { sampleRate: PIPELINE_SAMPLE_RATE }) });
  if (opts.unknown) {
    // The never-enrolled track plays in the middle of the programme.
    items.splice(Math.floor(items.length / 2), 0, { path: null, pcm: await decodeFile(opts.unknown, { sampleRate: PIPELINE_SAMPLE_RATE }) });
  }
  const { pcm, plays } = mixRadio(items, { sampleRate: PIPELINE_SAMPLE_RATE, excerptSeconds: opts.excerptSeconds, seed: opts.seed });
  await writeWav(opts.out, pcm, PIPELINE_SAMPLE_RATE);
  await writeFile(`${opts.out}.truth.json`, JSON.stringify({ sampleRate: PIPELINE_SAMPLE_RATE, plays }, null, 1));
  for (const p of plays) {
    process.stdout.write(`${p.startSeconds.toFixed(1).padStart(7)}-${p.endSeconds.toFixed(1).padStart(7)} s  ${p.path ?? '(never enrolled)'}  from ${p.trackOffsetSeconds.toFixed(1)} s\n`);
  }
}
