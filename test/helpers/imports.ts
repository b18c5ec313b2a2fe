// The import graph of the repository's TypeScript: what a module can reach through its relative imports.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Relative module specifiers of a file: import/export ... from '…', import('…'), bare import '…'. */
export function relativeImports(source: string): string[] {
  const specs = new Set<string>();
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\bimport\s+['"]([^'"]+)['"]/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of source.matchAll(re)) if (m[1].startsWith('.')) specs.add(m[1]);
  return [...specs];
}

export function resolveTs(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts'), base]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return base;
}

export function reachableFrom(entries: string[]): Map<string, string> {
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

