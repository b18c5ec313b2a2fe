/**
 * The crypto boundary (STYLE.md): server code never reaches client code. Follows every static and
 * dynamic relative import from the files of pipeline/he/server/, transitively, and fails if one of them
 * resolves into pipeline/he/client/.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { reachableFrom, relativeImports, resolveTs } from '../helpers/imports.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const serverDir = join(root, 'pipeline/he/server');
const clientDir = join(root, 'pipeline/he/client');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('crypto boundary', () => {
  it('no server file imports client code, directly or transitively', () => {
    const entries = tsFiles(serverDir);
    expect(entries.length).toBeGreaterThan(0);
    const offenders = [...reachableFrom(entries)]
      .filter(([file]) => file.startsWith(clientDir))
      .map(([file, by]) => `${relative(root, by)} -> ${relative(root, file)}`);
    expect(offenders).toEqual([]);
  });

  it('the import scanner sees every import form (self-check)', () => {
    const src = `import a from '../client/x.js';\nexport { b } from "./y.js";\nconst c = await import('../client/z.js');\nimport './side.js';\nimport type { T } from '../client/t.js';`;
    expect(relativeImports(src).sort()).toEqual(['../client/t.js', '../client/x.js', '../client/z.js', './side.js', './y.js']);
    const fake = join(serverDir, 'fake.ts');
    expect(resolveTs(fake, '../client/index.js').startsWith(clientDir)).toBe(true);
  });
});
