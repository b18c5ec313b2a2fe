/**
 * The "mfcc-sum" kind end to end on real music, in clear: decode whole ci tracks, window them, train the
 * logistic regression, then vote on seeded 10 s excerpts cut at random offsets (not on the window grid).
 *
 * Music: $BLINDEAR_MUSIC_DIR, else .cache/music/ci in the repo (shared/data/fetch-music.sh ci <dir>).
 * Missing music fails the suite: these bars are the kind's quality contract, not an optional extra.
 *
 * Bars (14 tracks, every 5th of the ci manifest; 100 excerpts, seed 7). Measured when written (librosa-exact
 * MFCC, default training options): seed-style `sum`: window accuracy 82.3%, excerpts 87/100; the default
 * `mean-std-delta`: window accuracy 96.1%, excerpts 92/100. Bars leave 6 to 12 points of margin, so a
 * different ffmpeg build or libm cannot flip the test while a broken feature or optimiser still does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeFile } from '../../connectors/ffmpeg.js';
import { Mfcc, type MfccFrames } from '../../pipeline/dsp/mfcc.js';
import { windowsFromFrames } from '../../pipeline/features/mfcc-sum.js';
import { scoreWindow, trainLogisticRegression } from '../../pipeline/model/logistic-regression.js';
import { decideMfccVote } from '../../pipeline/model/mfcc-vote.js';
import { MfccSumParams } from '../../schemas/feature-mfcc.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MUSIC_DIR = process.env.BLINDEAR_MUSIC_DIR ?? join(REPO, '.cache', 'music', 'ci');
const TRACK_STRIDE = 5;
const EXCERPTS = 100;
const EXCERPT_SECONDS = 10;
const SEED = 7;
const SR = 22050;

const BARS: Record<'sum' | 'mean-std-delta', { windowAccuracy: number; excerptTop1: number }> = {
  sum: { windowAccuracy: 0.75, excerptTop1: 0.75 },
  'mean-std-delta': { windowAccuracy: 0.9, excerptTop1: 0.85 },
};

/** mulberry32: a tiny seeded PRNG, so excerpt offsets repeat run to run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function argmax(s: Float64Array): number {
  let b = 0;
  for (let c = 1; c < s.length; c++) if (s[c] > s[b]) b = c;
  return b;
}

interface Music {
  tracks: Float32Array[];
  /** Excerpts drawn once for every configuration: [track, first sample]. */
  excerpts: [number, number][];
  /** One MFCC pass per track and per excerpt (the excerpt's own, as a query computes it) serves both summaries. */
  trackFrames: MfccFrames[];
  excerptFrames: MfccFrames[];
}

/** Decoded once, awaited by each test, so missing music fails every test that needs it with the reason. */
let music: Promise<Music> | undefined;

function loadMusic(): Promise<Music> {
  music ??= (async () => {
    const manifest = join(MUSIC_DIR, 'manifest.tsv');
    if (!existsSync(manifest)) {
      throw new Error(`no music at ${MUSIC_DIR}: set BLINDEAR_MUSIC_DIR or run shared/data/fetch-music.sh ci ${MUSIC_DIR}`);
    }
    const paths = readFileSync(manifest, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t')[0]);
    const chosen = paths.filter((_, i) => i % TRACK_STRIDE === 0);
    const tracks = await Promise.all(chosen.map((p) => decodeFile(join(MUSIC_DIR, p), { sampleRate: SR })));
    const rand = prng(SEED);
    const len = EXCERPT_SECONDS * SR;
    const excerpts = Array.from({ length: EXCERPTS }, () => {
      const t = Math.floor(rand() * tracks.length);
      const pcm = tracks[t];
      // Silence is not a query (DESIGN.md §5): draw again below −45 dBFS.
      for (;;) {
        const start = Math.floor(rand() * (pcm.length - len));
        let ss = 0;
        for (let i = start; i < start + len; i++) ss += pcm[i] * pcm[i];
        if (10 * Math.log10(ss / len) >= -45) return [t, start] as [number, number];
      }
    });
    const mfcc = new Mfcc(MfccSumParams.parse({}));
    const trackFrames = tracks.map((pcm) => mfcc.compute(pcm));
    const excerptFrames = excerpts.map(([t, start]) => mfcc.compute(tracks[t].subarray(start, start + len)));
    return { tracks, excerpts, trackFrames, excerptFrames };
  })();
  return music;
}

describe.each(['sum', 'mean-std-delta'] as const)('mfcc-sum kind, summary %s, on real music', (summary) => {
  it('learns the training windows and votes 10 s excerpts at random offsets right', { timeout: 600_000 }, async () => {
    const { tracks, excerpts, trackFrames, excerptFrames } = await loadMusic();
    const params = MfccSumParams.parse({ summary });
    const X: Float32Array[] = [];
    const y: number[] = [];
    tracks.forEach((pcm, t) => {
      for (const v of windowsFromFrames(trackFrames[t], pcm.length, params).vectors) {
        X.push(v);
        y.push(t);
      }
    });
    const model = trainLogisticRegression(X, y, tracks.length, { l2: params.l2 });
    expect(model.dim).toBe(X[0].length);

    let windowsRight = 0;
    X.forEach((x, i) => { if (argmax(scoreWindow(model, x)) === y[i]) windowsRight++; });
    const windowAccuracy = windowsRight / X.length;

    let excerptsRight = 0;
    for (const [e, [t]] of excerpts.entries()) {
      const w = windowsFromFrames(excerptFrames[e], EXCERPT_SECONDS * SR, params);
      expect(w.vectors.length).toBe(EXCERPT_SECONDS / params.hopSeconds);
      const d = decideMfccVote(w.vectors.map((v) => scoreWindow(model, v)), params);
      if (d.bestTrack === t) excerptsRight++;
    }
    const excerptTop1 = excerptsRight / excerpts.length;
    console.log(`${summary}: ${X.length} windows, window accuracy ${(100 * windowAccuracy).toFixed(1)}%, excerpts ${excerptsRight}/${excerpts.length}`);
    expect(windowAccuracy).toBeGreaterThanOrEqual(BARS[summary].windowAccuracy);
    expect(excerptTop1).toBeGreaterThanOrEqual(BARS[summary].excerptTop1);
  });
});

describe('trainLogisticRegression', () => {
  // Three Gaussian blobs on very different feature scales: standardisation must be folded back correctly.
  const rand = prng(3);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centres = [[0, 1000], [5, 1000], [0, 1030]];
  const X: Float32Array[] = [];
  const y: number[] = [];
  for (let i = 0; i < 300; i++) {
    const c = i % 3;
    X.push(Float32Array.from([centres[c][0] + gauss(), centres[c][1] + 5 * gauss()]));
    y.push(c);
  }

  it('is deterministic and scores raw (unstandardised) vectors', () => {
    const a = trainLogisticRegression(X, y, 3, { l2: 1e-3 });
    const b = trainLogisticRegression(X, Int32Array.from(y), 3, { l2: 1e-3 });
    expect(Array.from(a.weights)).toEqual(Array.from(b.weights));
    expect(Array.from(a.bias)).toEqual(Array.from(b.bias));
    const right = X.filter((x, i) => argmax(scoreWindow(a, x)) === y[i]).length;
    expect(right / X.length).toBeGreaterThan(0.9);
    expect(argmax(scoreWindow(a, [5, 1000]))).toBe(1);
    expect(argmax(scoreWindow(a, [0, 1030]))).toBe(2);
  });

  it('reports convergence and rejects bad input', () => {
    let report: { iterations: number; gradientNorm: number } | undefined;
    trainLogisticRegression(X, y, 3, { l2: 1e-2 }, (r) => { report = r; });
    expect(report!.gradientNorm).toBeLessThan(1e-4);
    expect(() => trainLogisticRegression(X, y.slice(1), 3)).toThrow(/labels/);
    expect(() => trainLogisticRegression(X, y.map(() => 3), 3)).toThrow(/outside/);
    expect(() => trainLogisticRegression(X, y.map((c) => c + 0.5), 3)).toThrow(/outside/);
    expect(() => trainLogisticRegression([...X.slice(1), Float32Array.from([NaN, 0])], y, 3)).toThrow(/non-finite/);
    expect(() => trainLogisticRegression(X, y, 3, { l2: -1 })).toThrow();
  });
});
