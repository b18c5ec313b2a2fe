#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm ci` through `prepare`).
// Once the command has returned, nothing may keep the process alive. Everything the command owed was
// awaited before it returned (records acknowledged, offsets committed, sinks closed; stdout and stderr
// are synchronous on Linux pipes and files), so what is left is a client library's leftover: kafkajs
// reopens a coordinator socket for a heartbeat racing its own disconnect after a broker restart. It gets
// 1.5 s, then the process exits with its code, and the leftover is named in one warning line.
import { writeSync } from 'node:fs';

const DRAIN_MS = 1500;
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
