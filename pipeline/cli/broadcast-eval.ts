/**
 * `blindear broadcast-eval`: builds a seeded broadcast day from a catalogue's music folder and a folder of
 * never-enrolled music, streams it through `blindear monitor` (with its own scoring workers) as fast as the
 * pipeline takes it, and scores the airplay log against the truth. Writes broadcast.json and broadcast.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { AirplayEvent } from '../../schemas/messages.js';
import { BlindearError } from '../errors.js';
import { planDay, scorePlays, varispeed, type DayItem, type TruthPlay } from '../eval/broadcast-day.js';
import { createProgress } from '../eval/progress.js';
import { loadManifest } from '../model/catalog-store.js';

const RATE = 22050;
const BIN = fileURLToPath(new URL('../../../bin/blindear.js', import.meta.url));

export interface BroadcastEvalOptions {
  catalog: string;
  negatives: string;
  brokers: string;
  hours: number;
  seed: number;
  workers: number;
  maxSpeedUp: number;
  outDir: string;
  logLevel: string;
}

const AUDIO = /\.(ogg|oga|mp3|flac|wav|opus|m4a)$/i;
function audioFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? audioFiles(p) : AUDIO.test(n) ? [p] : [];
  }).sort();
}

/** Writes a mono 16-bit WAV as it is rendered: the day need not fit in memory. */
class WavWriter {
  private readonly out;
  samples = 0;
  constructor(readonly path: string) {
    this.out = createWriteStream(path);
    this.out.write(Buffer.alloc(44));
  }
  write(pcm: Float32Array): void {
    const b = Buffer.alloc(pcm.length * 2);
    for (let i = 0; i < pcm.length; i++) b.writeInt16LE(Math.round(Math.max(-1, Math.min(1, pcm[i])) * 32767), i * 2);
    this.out.write(b);
    this.samples += pcm.length;
  }
  async close(): Promise<void> {
    this.out.end();
    await once(this.out, 'finish');
    const h = Buffer.alloc(44);
    h.write('RIFF', 0); h.writeUInt32LE(36 + this.samples * 2, 4); h.write('WAVE', 8);
    h.write('fmt ', 12); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22);
    h.writeUInt32LE(RATE, 24); h.writeUInt32LE(RATE * 2, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34);
    h.write('data', 36); h.writeUInt32LE(this.samples * 2, 40);
    const { openSync, writeSync, closeSync } = await import('node:fs');
    const fd = openSync(this.path, 'r+');
    writeSync(fd, h, 0, 44, 0);
    closeSync(fd);
  }
}

const rms = (x: Float32Array): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / Math.max(1, x.length));

/** DJ speech from espeak-ng when it is installed; null otherwise (the day then has no talk-over). */
async function speech(dir: string, n: number): Promise<Float32Array | null> {
  if (spawnSync('espeak-ng', ['--version']).status !== 0) return null;
  const file = join(dir, `speech-${n}.wav`);
  const lines = ['You are listening to blindear radio, the best music all day long', 'That was a great one, and here comes the next track for you', 'Good afternoon, traffic is light on the ring road, now more music'];
  spawnSync('espeak-ng', ['-w', file, '-s', '160', lines[n % lines.length]]);
  return existsSync(file) ? decodeFile(file, { sampleRate: RATE }) : null;
}

export async function renderDay(items: DayItem[], opts: { musicDir: string; wav: string; work: string }): Promise<{ truth: TruthPlay[]; seconds: number }> {
  const writer = new WavWriter(opts.wav);
  const truth: TruthPlay[] = [];
  let tail = new Float32Array(0); // the end of the previous item, kept for a crossfade
  let at = 0; // samples written + tail
  let speechN = 0;
  const progress = createProgress({ label: 'rendering the day', total: items.length });
  for (const item of items) {
    let pcm: Float32Array;
    if (item.kind === 'silence' || !item.path) pcm = new Float32Array(Math.round(item.sourceSeconds * RATE));
    else {
      const file = item.kind === 'play' ? join(opts.musicDir, item.path) : item.path;
      pcm = varispeed(await decodeFile(file, { sampleRate: RATE, durationSeconds: item.sourceSeconds }), item.speed);
    }
    if (item.kind === 'play' && pcm.length > RATE) {
      // A cut-short play fades out over its last 2 s.
      const fade = Math.min(pcm.length, 2 * RATE);
      for (let i = 0; i < fade; i++) pcm[pcm.length - fade + i] *= 1 - i / fade;
    }
    if (item.talkOverDb !== null) {
      const voice = await speech(opts.work, speechN++);
      if (voice) {
        const gain = (rms(pcm.subarray(0, voice.length)) / Math.max(1e-6, rms(voice))) * 10 ** (item.talkOverDb / 20);
        for (let i = 0; i < Math.min(voice.length, pcm.length); i++) pcm[i] += voice[i] * gain;
      }
    }
    const cross = Math.min(Math.round(item.crossfadeSeconds * RATE), tail.length, pcm.length);
    const startSample = at - cross;
    // Crossfade: the tail's last `cross` samples fade out under the new item's first ones.
    for (let i = 0; i < cross; i++) {
      const f = i / Math.max(1, cross);
      pcm[i] = pcm[i] * f + tail[tail.length - cross + i] * (1 - f);
    }
    writer.write(tail.subarray(0, tail.length - cross));
    const keep = Math.min(pcm.length, 3 * RATE);
    // From the item's first sample: its first `cross` samples hold the crossfade (the tail's end mixed in).
    writer.write(pcm.subarray(0, pcm.length - keep));
    tail = pcm.slice(pcm.length - keep);
    at = startSample + pcm.length;
    if (item.kind === 'play' && item.path) truth.push({ path: item.path, startSeconds: startSample / RATE, endSeconds: (startSample + pcm.length) / RATE, speed: item.speed, talkOver: item.talkOverDb !== null });
    progress.increment();
  }
  writer.write(tail);
  progress.stop();
  await writer.close();
  return { truth, seconds: writer.samples / RATE };
}

const pct = (a: number, b: number): string => (b ? `${((100 * a) / b).toFixed(1)}%` : '—');
const median = (a: number[]): number => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };

export async function runBroadcastEval(musicDir: string, opts: BroadcastEvalOptions): Promise<void> {
  const manifest = await loadManifest(opts.catalog);
  if (!existsSync(join(musicDir, manifest.tracks[0].path))) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `${musicDir} is not the folder ${opts.catalog} was enrolled from (${manifest.tracks[0].path} not in it)`);
  }
  const unknown = audioFiles(opts.negatives).map((p) => ({ path: p, durationSeconds: 600 }));
  mkdirSync(opts.outDir, { recursive: true });
  const work = join(tmpdir(), `blindear-broadcast-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const items = planDay(manifest.tracks, unknown, { hours: opts.hours, seed: opts.seed, maxSpeedUp: opts.maxSpeedUp, talkOver: true });
  const wav = join(work, 'day.wav');
  const { truth, seconds } = await renderDay(items, { musicDir, wav, work });
  writeFileSync(join(opts.outDir, 'truth.json'), JSON.stringify({ seed: opts.seed, seconds, items, truth }, null, 1));

  const children: ChildProcess[] = [];
  const started = Date.now();
  try {
    for (let i = 0; i < opts.workers; i++) {
      // The day is streamed as fast as it scores: far above the real-time budget a live session gets.
      children.push(spawn(process.execPath, [BIN, 'worker', 'scorer', '--brokers', opts.brokers, '--catalog', opts.catalog, '--max-speed', '1000', '--burst-seconds', String(Math.ceil(opts.hours * 3600 + 600)), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] }));
    }
    const stations = join(work, 'stations.json');
    writeFileSync(stations, JSON.stringify([{ id: `day-${opts.seed}-${Date.now().toString(36)}`, source: wav }]));
    const airplay = join(opts.outDir, 'airplay.jsonl');
    rmSync(airplay, { force: true });
    const mon = spawn(process.execPath, [BIN, 'monitor', '--stations', stations, '--catalog', opts.catalog, '--brokers', opts.brokers, '--output', airplay,
      '--pace', 'fast', '--client-key-file', join(work, 'client.key'), '--log-level', opts.logLevel], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(mon);
    const progress = createProgress({ label: 'streaming through monitor (stream seconds)', total: Math.round(seconds) });
    let shown = 0;
    const timer = setInterval(() => {
      if (!existsSync(airplay)) return;
      const events = readFileSync(airplay, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { streamStartSeconds: number; durationSeconds: number });
      const reached = Math.round(Math.max(0, ...events.map((e) => e.streamStartSeconds + e.durationSeconds)));
      if (reached > shown) { progress.increment(Math.min(reached, Math.round(seconds)) - shown); shown = Math.min(reached, Math.round(seconds)); }
    }, 2000);
    // A scoring worker that dies (a catalogue it refuses, a crash) ends the run with its code.
    const scorerDied = Promise.race(children.filter((c) => c !== mon).map((c) => once(c, 'exit').then(([code]) => code as number | null)));
    const code = await Promise.race([once(mon, 'exit').then(([c]) => c as number | null), scorerDied.then((c) => {
      throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `a scoring worker exited with ${c} (its error is above)`);
    })]);
    clearInterval(timer);
    progress.stop();
    if (code !== 0) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `monitor exited with ${code}`);
    const events = readFileSync(airplay, 'utf8').split('\n').filter(Boolean).map((l) => AirplayEvent.parse(JSON.parse(l)));
    const ended = events.filter((e) => e.event === 'ended');
    const startedEv = new Map(events.filter((e) => e.event === 'started').map((e) => [e.playId, e]));
    const detected = ended.map((e) => ({ path: e.path, startSeconds: e.streamStartSeconds, endSeconds: e.streamEndSeconds ?? e.streamStartSeconds }));
    const score = scorePlays(truth, detected);
    // How far into a play its "started" event was decided, in stream seconds.
    const recognisedAfter = ended.map((e) => {
      const s = startedEv.get(e.playId);
      const t = truth.find((p) => p.path === e.path && Math.min(p.endSeconds, e.streamEndSeconds ?? 0) > Math.max(p.startSeconds, e.streamStartSeconds));
      return s && t ? s.streamStartSeconds + s.durationSeconds - t.startSeconds : NaN;
    }).filter(Number.isFinite);
    const bySpeed = (lo: number, hi: number): string => {
      const sub = truth.filter((t) => t.endSeconds - t.startSeconds >= 20 && t.speed - 1 >= lo && t.speed - 1 < hi);
      const found = sub.filter((t) => !score.missed.includes(t)).length;
      return `${pct(found, sub.length)} (${found}/${sub.length})`;
    };
    const report = {
      seed: opts.seed, hours: seconds / 3600, catalogue: { tracks: manifest.tracks.length, modelId: manifest.modelId }, plays: score.plays,
      recall: score.found / Math.max(1, score.plays), precision: score.correct / Math.max(1, score.detected),
      startWithin5: score.startWithin5 / Math.max(1, score.found), endWithin5: score.endWithin5 / Math.max(1, score.found),
      medianAbsStartError: median(score.startErrors.map(Math.abs)), medianAbsEndError: median(score.endErrors.map(Math.abs)),
      falsePlaysPerHour: score.falsePlays / (seconds / 3600), falsePlays: score.falsePlays,
      recallAtSpeed: { '0%': bySpeed(0, 0.001), '0-2%': bySpeed(0.001, 0.02), '2-4%': bySpeed(0.02, 1) },
      recognisedAfterSecondsMedian: median(recognisedAfter), wallSeconds: (Date.now() - started) / 1000,
      missed: score.missed.map((m) => ({ ...m, path: relative('.', m.path) })),
    };
    writeFileSync(join(opts.outDir, 'broadcast.json'), JSON.stringify(report, null, 1));
    const md = [
      `Broadcast day: ${(seconds / 3600).toFixed(2)} h, seed ${opts.seed}, ${manifest.tracks.length} tracks enrolled, ${score.plays} plays ≥ 20 s (speed-ups 0–${(opts.maxSpeedUp * 100).toFixed(0)} % on half of them, talk-over on a fifth${spawnSync('espeak-ng', ['--version']).status === 0 ? '' : ' — skipped: espeak-ng not installed'})`,
      '',
      '| play recall | precision | start ±5 s | end ±5 s | median abs start / end error | false plays per hour | recall at 0 % / 0–2 % / 2–4 % speed | recognised after (median, stream s) |',
      '|---|---|---|---|---|---|---|---|',
      `| ${pct(score.found, score.plays)} | ${pct(score.correct, score.detected)} | ${pct(score.startWithin5, score.found)} | ${pct(score.endWithin5, score.found)} | ${report.medianAbsStartError.toFixed(1)} / ${report.medianAbsEndError.toFixed(1)} s | ${report.falsePlaysPerHour.toFixed(2)} (${score.falsePlays}) | ${report.recallAtSpeed['0%']} / ${report.recallAtSpeed['0-2%']} / ${report.recallAtSpeed['2-4%']} | ${report.recognisedAfterSecondsMedian.toFixed(1)} |`,
      '',
    ].join('\n');
    writeFileSync(join(opts.outDir, 'broadcast.md'), md);
    process.stdout.write(md);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
    rmSync(work, { recursive: true, force: true });
  }
}
