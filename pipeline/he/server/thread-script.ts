/**
 * The compiled script of a worker thread that lives beside this module (pipeline/he/server). Under vitest
 * the modules run from their TypeScript sources, and a worker thread cannot load TypeScript: it then
 * takes the build in dist/ (made by `npx tsc -p .`).
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function threadScript(file: string): string {
  const here = fileURLToPath(import.meta.url);
  const beside = join(dirname(here), file);
  if (here.endsWith('.js')) return beside;
  const repo = resolve(dirname(here), '..', '..', '..');
  const built = join(repo, 'dist', relative(repo, dirname(here)), file);
  if (!existsSync(built)) throw new Error(`${built} is missing: build with 'npx tsc -p .' first`);
  return built;
}
