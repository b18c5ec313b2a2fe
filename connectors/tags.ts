/** A file's own tags (title, artist), read with the bundled ffmpeg's metadata muxer. */
import { spawn } from 'node:child_process';
import { ffmpegPath } from './ffmpeg.js';

export interface AudioTags {
  title?: string;
  artist?: string;
}

/** Tags of the file's container and first stream; empty when it has none or ffmpeg cannot read them. */
export async function readTags(file: string): Promise<AudioTags> {
  // Container tags (ID3, MP4, FLAC), then the first stream's (Ogg/Opus comments live there).
  const container = await readWith(file, []);
  const stream = await readWith(file, ['-map_metadata', '0:s:0']);
  return { title: container.title ?? stream.title, artist: container.artist ?? stream.artist };
}

async function readWith(file: string, extra: string[]): Promise<AudioTags> {
  const bin = await ffmpegPath();
  return new Promise((resolve) => {
    const child = spawn(bin, ['-v', 'error', '-nostdin', '-i', file, ...extra, '-f', 'ffmetadata', '-'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    child.stdout.on('data', (c: Buffer) => { if (text.length < 65536) text += c.toString('utf8'); });
    child.on('error', () => resolve({}));
    child.on('close', () => {
      const tags: AudioTags = {};
      for (const line of text.split('\n')) {
        const m = /^(title|artist)=(.+)$/i.exec(line.trim());
        if (m && !tags[m[1].toLowerCase() as keyof AudioTags]) tags[m[1].toLowerCase() as keyof AudioTags] = m[2].replace(/\\(.)/g, '$1').trim();
      }
      resolve(tags);
    });
  });
}
