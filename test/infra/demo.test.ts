/**
 * The README's main job stays working: the demo starts its own broker, enrols, streams the programme
 * through two scoring workers, prints predictions for what played, and leaves nothing running.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/music.js';

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('npm run demo', () => {
  it('prints predictions naming the programme\'s enrolled tracks and unknown, then stops what it started', async () => {
    const { code, out } = await run('bash', ['infra/demo.sh']);
    expect(code, out.slice(-3000)).toBe(0);
    const truth = JSON.parse(readFileSync(join(REPO, '.cache', 'demo', 'radio.wav.truth.json'), 'utf8')) as { plays: { path: string | null }[] };
    const predicted = out.split('\n').filter((l) => / s in the track, confidence /.test(l) || /\d s\s+unknown/.test(l));
    expect(predicted.length).toBeGreaterThan(4);
    for (const play of truth.plays) {
      if (play.path) expect(predicted.some((l) => l.includes(play.path!)), `no prediction named ${play.path}`).toBe(true);
    }
    expect(predicted.some((l) => l.includes('unknown'))).toBe(true);
    // Nothing left behind: the demo's broker is stopped and its workers are gone.
    expect(existsSync(join(REPO, 'var', 'kafka-demo', 'kafka.pid'))).toBe(false);
    // This checkout's processes only: another checkout's demo may be running on the same machine.
    const ps = await run('ps', ['-eo', 'args']);
    const here = REPO.replace(/\/$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(ps.out).not.toMatch(new RegExp(`${here}/bin/blindear\\.js worker scorer `));
    expect(ps.out).not.toMatch(new RegExp(`kafka\\.logs\\.dir=${here}/var/kafka-demo`));
  }, 600_000); // a broker start, an enrolment and a streamed programme: minutes on a busy machine

  it('rejects a --music folder that does not exist, or an unknown option, in one line before starting anything', async () => {
    for (const args of [['--music', '/nonexistent/music'], ['--bogus']]) {
      const { code, out } = await run('bash', ['infra/demo.sh', ...args]);
      expect(code).toBe(2);
      expect(out.trim().split('\n').filter((l) => l.startsWith('demo: '))).toHaveLength(1);
    }
  });
});
