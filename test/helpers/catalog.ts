// Test catalogues, enrolled once per run of a given (kind, tracks, params) and reused across test files.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { enrollCatalog, type FeatureKindName } from '../../pipeline/model/enroll.js';
import { createLogger } from '../../pipeline/runtime/logger.js';
import { MUSIC_DIR, REPO } from './music.js';

export interface TestCatalog {
  dir: string;
  /** Folder whose files were enrolled (symlinks into the music set). */
  enrolDir: string;
}

/** Hash of every source file enrolment depends on: a cached catalogue is reused only while they are unchanged. */
function enrolmentSourceHash(): string {
  const h = createHash('sha256');
  for (const dir of ['schemas', 'pipeline/dsp', 'pipeline/features', 'pipeline/model', 'pipeline/he']) {
    for (const f of readdirSync(join(REPO, dir)).filter((n) => n.endsWith('.ts')).sort()) h.update(f).update(readFileSync(join(REPO, dir, f)));
  }
  return h.digest('hex');
}

export async function testCatalog(kind: FeatureKindName, tracks: string[], params: Record<string, unknown> = {}, scheme: 'ckks' | 'lwe' = 'ckks'): Promise<TestCatalog> {
  const key = createHash('sha256').update(JSON.stringify({ kind, tracks, params, sources: enrolmentSourceHash(), ...(scheme === 'ckks' ? {} : { scheme }) })).digest('hex').slice(0, 12);
  const base = join(REPO, '.cache', 'test-catalogs', key);
  const dir = join(base, 'catalog');
  const enrolDir = join(base, 'enrol');
  if (existsSync(join(dir, 'catalog.json'))) return { dir, enrolDir };
  rmSync(base, { recursive: true, force: true });
  for (const t of tracks) {
    mkdirSync(dirname(join(enrolDir, t)), { recursive: true });
    symlinkSync(join(MUSIC_DIR, t), join(enrolDir, t));
  }
  await enrollCatalog({ inputs: [enrolDir], catalogDir: dir, kind, params, scheme, logger: createLogger('warn') });
  return { dir, enrolDir };
}
