/**
 * The crypto boundary (STYLE.md): server code never reaches client code. Follows every static and
 * dynamic relative import from the files of pipeline/he/server/, transitively, and fails if one of them
 * resolves into pipeline/he/client/.
 */
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const serverDir = join(root, 'pipeline/he/server');
const clientDir = join(root, 'pipeline/he/client');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative module specifiers of a file: import/export ... from '…', import('…'), bare import '…'. */
export function relativeImports(source: string): string[] {
  const specs = new Set<string>();
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\bimport\s+['"]([^'"]+)['"]/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of source.matchAll(re)) if (m[1].startsWith('.')) specs.add(m[1]);
  return [...specs];
}

function resolveTs(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts'), base]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return base;
}

function reachableFrom(entries: string[]): Map<string, string> {
  const seen = new Map<string, string>(); // file -> the file that imported it
  const stack: [string, string][] = entries.map((e) => [e, '(entry)']);
  while (stack.length > 0) {
    const [file, by] = stack.pop()!;
    if (seen.has(file)) continue;
    seen.set(file, by);
    if (!file.endsWith('.ts') || !existsSync(file)) continue;
    for (const spec of relativeImports(readFileSync(file, 'utf8'))) stack.push([resolveTs(file, spec), file]);
  }
  return seen;
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
