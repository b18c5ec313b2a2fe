// Real music for tests: the `ci` set (infra/music.sh ci, run by `npm test`'s pretest), or BLINDEAR_MUSIC_DIR.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const MUSIC_DIR = process.env.BLINDEAR_MUSIC_DIR ?? join(REPO, '.cache', 'music', 'ci');

/** Track paths of the ci set (relative to MUSIC_DIR), in manifest order; fails loudly without music. */
export function musicTracks(): string[] {
  const manifest = join(MUSIC_DIR, 'manifest.tsv');
  if (!existsSync(manifest)) throw new Error(`no music at ${MUSIC_DIR}: run 'bash infra/music.sh ci' or set BLINDEAR_MUSIC_DIR`);
  return readFileSync(manifest, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t')[0]);
}

/** `perPackage` tracks of each package, skipping the first `skip` of each. */
export function tracksPerPackage(perPackage: number, skip = 0): string[] {
  const seen = new Map<string, number>();
  return musicTracks().filter((t) => {
    const pkg = t.split('/')[0];
    const n = (seen.get(pkg) ?? 0) + 1;
    seen.set(pkg, n);
    return n > skip && n <= skip + perPackage;
  });
}
