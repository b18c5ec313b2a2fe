// Runs the real CLI (bin/blindear.js over dist/, built by `npm test` before vitest) as child processes.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './music.js';

const BIN = join(REPO, 'bin', 'blindear.js');

export interface CliResult { code: number | null; stdout: string; stderr: string }

export function runCli(args: string[], opts: { timeoutMs?: number; input?: Buffer } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`blindear ${args[0]} timed out; stderr: ${stderr.slice(-2000)}`)); }, opts.timeoutMs ?? 300_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(opts.input);
  });
}

/** A long-running CLI process (a worker): stop() sends SIGTERM and waits for it to exit; `exited` resolves when it exits by itself. */
export function startCli(args: string[]): { child: ChildProcessWithoutNullStreams; stderr: () => string; exited: Promise<number | null>; stop(): Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; if (stderr.length > 1e6) stderr = stderr.slice(-5e5); });
  child.stdout.resume();
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return {
    child,
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Polls a condition until it holds or the deadline passes (no sleeps-then-assert): the bench's helper. */
export { waitFor } from '../../bench/util.js';
