/**
 * Runs the acceptance harness (../shared/eval/eval-cli.py) for one operating point: it enrols with the
 * plain `blindear enroll <dir> --catalog <dir>` (the point's options ride in BLINDEAR_ENROLL_*) and
 * identifies every query with `blindear identify --json`, in-process encrypted.
 *
 * The harness wants `ffmpeg` on PATH (a private folder with a symlink to the bundled binary goes first)
 * and numpy (the venv of infra/pyenv.sh). It leaves its work folder, `catalog/` inside, under
 * tempfile.mkdtemp(prefix="heldout-"): TMPDIR points at a folder of ours so the catalogue can be found
 * (and timed) afterwards, and the whole folder is removed by `dispose()` or the bench's cleanup.
 * The harness and everything it starts run in their own process group, stopped as one.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvalCliReport, type FrontPointConfig } from '../schemas/front.js';
import { now, onCleanup, REPO, round } from './util.js';

export interface EvalRunOptions {
  point: FrontPointConfig;
  python: string;
  evalCli: string;
  music: string;
  negatives: string;
  perCondition: number;
  negativeQueries: number;
  seed: number;
  /** Enrol only this many tracks (drawn by the harness), 0 = all. */
  maxTracks: number;
  log: (s: string) => void;
  /** Seconds between progress lines while the harness runs. */
  progressEverySeconds?: number;
}

export interface EvalRun {
  report: EvalCliReport;
  /** The catalogue the harness enrolled (alive until dispose()). */
  catalogDir: string;
  /** The harness's own summary table. */
  stdout: string;
  wallSeconds: number;
  /** Removes everything the run left on disk. */
  dispose(): Promise<void>;
  /** Removes the query files and enrol links, keeping only the catalogue. */
  pruneToCatalog(): Promise<void>;
}

/** A folder holding only an `ffmpeg` symlink to the bundled binary, for PATH. */
async function ffmpegBinDir(base: string): Promise<string> {
  const require = createRequire(import.meta.url);
  const ffmpeg = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  const dir = join(base, 'bin');
  await mkdir(dir, { recursive: true });
  await symlink(ffmpeg, join(dir, 'ffmpeg'));
  return dir;
}

async function heldoutDir(tmp: string): Promise<string | undefined> {
  const names = existsSync(tmp) ? await readdir(tmp) : [];
  const h = names.filter((n) => n.startsWith('heldout-')).sort();
  return h.length > 0 ? join(tmp, h[h.length - 1]) : undefined;
}

export async function runEvalCli(o: EvalRunOptions): Promise<EvalRun> {
  const base = await mkdtemp(join(tmpdir(), 'blindear-front-'));
  const removeBase = onCleanup(() => rm(base, { recursive: true, force: true }));
  const tmp = join(base, 'tmp');
  await mkdir(tmp);
  const bin = await ffmpegBinDir(base);
  const out = join(base, 'eval.json');
  const args = [
    o.evalCli, '--project', REPO, '--catalog-dir', o.music, '--negatives-dir', o.negatives,
    '--per-condition', String(o.perCondition), '--negatives', String(o.negativeQueries), '--seed', String(o.seed), '--out', out,
    ...(o.maxTracks > 0 ? ['--max-tracks', String(o.maxTracks)] : []),
  ];
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BLINDEAR_ENROLL_'))),
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    TMPDIR: tmp,
    BLINDEAR_ENROLL_KIND: o.point.kind,
    BLINDEAR_ENROLL_PARAMS: JSON.stringify(o.point.params),
    BLINDEAR_ENROLL_HE: JSON.stringify(o.point.he),
    BLINDEAR_ENROLL_SCHEME: o.point.scheme,
    PYTHONUNBUFFERED: '1',
  };
  const t0 = now();
  // Own process group (detached): the harness, npx and blindear stop together.
  const child = spawn(o.python, args, { cwd: REPO, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-20_000); });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (code) => resolve(code));
  });
  const killGroup = (sig: NodeJS.Signals): void => {
    try { if (child.pid) process.kill(-child.pid, sig); } catch { /* already gone */ }
  };
  const lastResort = (): void => killGroup('SIGKILL');
  process.on('exit', lastResort);
  const stop = onCleanup(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killGroup('SIGTERM');
    const timer = setTimeout(() => killGroup('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  });

  // Progress: what the harness's folder shows (the harness itself prints only at the end).
  const expected = o.perCondition * 6 + o.negativeQueries; // at most: a track too short for an excerpt is skipped
  let enrolledAt: number | undefined;
  let lastWavs = -1;
  const progress = setInterval(() => {
    void (async () => {
      const elapsed = round((now() - t0) / 1000, 0);
      const work = await heldoutDir(tmp);
      if (!work) return o.log(`${elapsed} s: harness starting`);
      if (!existsSync(join(work, 'catalog', 'catalog.json'))) return o.log(`${elapsed} s: enrolling`);
      enrolledAt ??= elapsed;
      const wavs = (await readdir(work).catch(() => [] as string[])).filter((n) => n.endsWith('.wav')).length;
      const identifying = wavs >= expected || (wavs > 0 && wavs === lastWavs);
      lastWavs = wavs;
      o.log(`${elapsed} s: enrolled (by ${enrolledAt} s); ${wavs} of ≤ ${expected} query files written${identifying ? ', identifying' : ''}`);
    })().catch(() => undefined);
  }, (o.progressEverySeconds ?? 60) * 1000);

  let code: number | null;
  try {
    code = await exited;
  } finally {
    clearInterval(progress);
    process.off('exit', lastResort);
    await stop();
  }
  const wallSeconds = round((now() - t0) / 1000, 1);
  const work = await heldoutDir(tmp);
  const fail = (why: string): never => {
    throw new Error(`eval-cli.py (${o.point.name}): ${why}\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`);
  };
  if (code !== 0) fail(`exited with ${code}`);
  if (!work || !existsSync(join(work, 'catalog', 'catalog.json'))) fail('no catalogue left behind');
  const catalogDir = join(work!, 'catalog');
  const report = EvalCliReport.safeParse(JSON.parse(await readFile(out, 'utf8').catch(() => 'null')));
  if (!report.success) fail(`unexpected report: ${report.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  if (/identify exited/.test(stdout)) o.log(`warning: blindear identify exited non-zero: ${stdout.split('\n').filter((l) => /identify exited/.test(l)).join(' ')}`);
  return {
    report: report.data!,
    catalogDir,
    stdout,
    wallSeconds,
    dispose: removeBase,
    async pruneToCatalog() {
      for (const name of await readdir(work!)) if (name !== 'catalog') await rm(join(work!, name), { recursive: true, force: true });
    },
  };
}
