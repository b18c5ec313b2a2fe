#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm ci` through `prepare`).
import('../dist/pipeline/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  process.stderr.write(`blindear: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
