import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../pipeline/errors.js';

describe('error codes', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

  it.each(Object.entries(ERROR_CODES))('%s is documented in the README with its retriability', (code, def) => {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${code}\``));
    expect(row, `README "Error codes" lacks ${code}`).toBeDefined();
    expect(row).toContain(def.retriable ? '| yes |' : '| no |');
  });
});
