#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm ci` through `prepare`).
// Once the command has returned, nothing may keep the process alive: a socket that a client library
// reopened during a broker outage gets a few seconds to drain, then the process exits with its code.
import { writeSync } from 'node:fs';

const DRAIN_MS = 5000;
import('../dist/pipeline/cli/main.js')
  .then((m) => m.main(process.argv))
  .then(() => {
    setTimeout(() => {
      // Written synchronously: process.exit() would drop an asynchronous warning.
      writeSync(2, `blindear: warning: still open ${DRAIN_MS / 1000} s after the command ended: ${process.getActiveResourcesInfo().join(', ')} (BLINDEAR_OPEN_HANDLES)\n`);
      process.exit();
    }, DRAIN_MS).unref();
  })
  .catch((err) => {
    process.stderr.write(`blindear: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
