/**
 * Scenario 6: server cost of LWE scoring (pipeline/he/lwe.ts) at the landmark default shape (d = 2048,
 * one query per 15 s) and at the seed's shape (20 summed MFCCs, the mean of a 15 s query's windows), C classes, next to a plaintext Float32 matvec of the same shape in the same
 * run: CPU ms per query, ns per useful multiply-add (C·d per query), real-time streams per core; the
 * scan's two kernels (WASM SIMD, plain JS), one query per pass or a batch of sessions' queries per pass
 * over the weights; the client's encrypt/decrypt ms, the bytes on the wire and the catalogue's hint; the
 * argmax of every decrypted window against the clear one. Random models: the cost depends on the shape.
 */
import { LweClient } from '../pipeline/he/client/lwe-session.js';
import { LweScoringEngine } from '../pipeline/he/server/lwe-engine.js';
import { LandmarkParams } from '../schemas/feature-landmark.js';
import { MfccSumParams, mfccSumDim } from '../schemas/feature-mfcc.js';
import { errorAndMargin, matvec, randomModel, randomWindows } from './scoring-cost.js';
import { mdTable, now, round, timeLoop } from './util.js';

export interface LweRow {
  shape: string;
  C: number;
  d: number;
  kernel: 'simd' | 'js';
  batch: number;
  cpuMsPerQuery: number;
  nsPerMultiplyAdd: number;
  streamsPerCore: number;
  plainMsPerQuery: number;
  slowdown: number;
  queryKiBPerAudioSecond: number;
  resultKiBPerAudioSecond: number;
  hintMiB: number;
  hintSeconds: number;
  encryptMs: number;
  decryptMs: number;
  argmaxAgree: string;
  maxErrorOfRange: number;
  argmaxAgreeBeyondError: string;
}

interface LweShape {
  label: string;
  d: number;
  hopSeconds: number;
  classes: number[];
}

/** The landmark default (one 2048-bucket window per 15 s), the seed's MFCC shape as one mean query per 15 s, and the landmark quality probe. */
export function lweShapes(landmarkClasses: number[], seedClasses: number[], probe: boolean): LweShape[] {
  const l = LandmarkParams.parse({});
  const m = MfccSumParams.parse({ summary: 'sum' });
  const shapes: LweShape[] = [
    { label: `landmark (d=${l.d})`, d: l.d, hopSeconds: l.hopSeconds, classes: landmarkClasses },
    { label: `mfcc-sum, mean of ${m.meanOfWindows} windows (d=${mfccSumDim(m)})`, d: mfccSumDim(m), hopSeconds: m.meanOfWindows * m.hopSeconds, classes: seedClasses },
  ];
  // The quality probe of README "Tuning": 1.5 s windows every 0.5 s, 7 s segments, d = 4096 (8187 classes on dev).
  if (probe) shapes.push({ label: 'landmark probe (d=4096, 1.5 s windows every 0.5 s)', d: 4096, hopSeconds: 0.5, classes: [8187] });
  return shapes;
}

const argmax = (v: ArrayLike<number>): number => {
  let b = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[b]) b = i;
  return b;
};

export async function runLweScoring(opts: { shapes: LweShape[]; jsUpTo: number; batch: number; reps: number; log: (s: string) => void }): Promise<{ rows: LweRow[]; markdown: string }> {
  const rows: LweRow[] = [];
  for (const { label, d, hopSeconds, classes } of opts.shapes) for (const C of classes) {
    const model = randomModel(C, d, C * 31 + d);
    const windows = randomWindows(Math.max(opts.reps, opts.batch) + 1, d, C + d);
    const simd = LweScoringEngine.create(model, { kernel: 'simd' });
    let t = now();
    const hint = simd.hint();
    const hintSeconds = (now() - t) / 1000;
    const client = new LweClient(simd.setup, hint, model.bias);
    const enc = await timeLoop(() => client.encrypt(windows[0]), { minRuns: 3, minWallMs: 100 });
    const queries = windows.map((x) => client.encrypt(x));
    // Agreement and error: every decrypted window against the clear W·x + b.
    const results = simd.scoreBatch(queries.map((q) => q.bytes));
    let agree = 0;
    const ref = new Float32Array(C);
    const checked: { same: boolean; errorOfRange: number; marginOfRange: number }[] = [];
    t = now();
    const decrypted = queries.map((q, i) => client.decrypt(q, results[i]));
    const decryptMs = (now() - t) / queries.length;
    queries.forEach((_, i) => {
      const s = decrypted[i];
      matvec(model, windows[i], ref);
      const same = argmax(s) === argmax(ref);
      if (same) agree++;
      checked.push({ same, ...errorAndMargin(s, ref) });
    });
    const worst = Math.max(...checked.map((c) => c.errorOfRange));
    const clear = checked.filter((c) => c.marginOfRange > 2 * worst);
    let n = 0;
    const plain = await timeLoop(() => matvec(model, windows[n++ % windows.length], ref), { minWallMs: 100 });
    const engines: [LweScoringEngine, 'simd' | 'js'][] = [[simd, 'simd']];
    if (C <= opts.jsUpTo) engines.push([LweScoringEngine.create(model, { kernel: 'js', seed: simd.setup.seed }), 'js']);
    for (const [engine, kernel] of engines) {
      for (const batch of [1, opts.batch]) {
        const bytes = queries.slice(0, batch).map((q) => q.bytes);
        engine.scoreBatch(bytes); // warm-up
        const timed = await timeLoop(() => engine.scoreBatch(bytes), { minRuns: Math.max(1, Math.ceil(opts.reps / batch)), minWallMs: 300 });
        const cpuMsPerQuery = timed.cpuMs / batch;
        const row: LweRow = {
          shape: label, C, d, kernel, batch,
          cpuMsPerQuery: round(cpuMsPerQuery, 3),
          nsPerMultiplyAdd: round((cpuMsPerQuery * 1e6) / (C * d), 3),
          streamsPerCore: round((hopSeconds * 1000) / cpuMsPerQuery, 0),
          plainMsPerQuery: round(plain.cpuMs, 3),
          slowdown: round(cpuMsPerQuery / plain.cpuMs, 2),
          queryKiBPerAudioSecond: round(engine.queryBytes / 1024 / hopSeconds, 2),
          resultKiBPerAudioSecond: round(engine.resultBytes / 1024 / hopSeconds, 2),
          hintMiB: round((C * simd.setup.n * 4) / 2 ** 20, 1),
          hintSeconds: round(hintSeconds, 1),
          encryptMs: round(enc.cpuMs, 2),
          decryptMs: round(decryptMs, 2),
          argmaxAgree: `${agree}/${queries.length}`,
          maxErrorOfRange: Number(worst.toPrecision(2)),
          argmaxAgreeBeyondError: `${clear.filter((c) => c.same).length}/${clear.length}`,
        };
        opts.log(`lwe ${label} C=${C} ${kernel} batch ${batch}: ${row.cpuMsPerQuery} ms/query, ${row.nsPerMultiplyAdd} ns per multiply-add`);
        rows.push(row);
      }
    }
  }
  const markdown = [
    '## 6. LWE scoring (server, one core)',
    '',
    `One query per window hop (15 s, or 0.5 s for the probe); random models. LWE n = 1024, q = 2^32, σ = 6.4, weights quantised to 10 bits. ` +
      'CPU ms of the server scan per query (validation and framing included), mean after a warm-up; "batch" = queries of different sessions scanned in one pass over the weights. ' +
      'ns per multiply-add = CPU time / (C·d). Plain = Float32 W·x + b in JS, same shape, same run. Hint = H = W_q·A, downloaded once per catalogue by clients; built once by the server. ' +
      'Error = largest |decrypted − clear| over the window\'s clear score range, worst window; the last column counts only windows whose clear top-2 margin exceeds twice that error.',
    '',
    mdTable(
      ['shape', 'C', 'kernel', 'batch', 'CPU ms / query', 'ns / multiply-add', 'real-time streams / core', 'plain ms / query', 'LWE / plain', 'query KiB / audio s', 'result KiB / audio s', 'hint MiB (build s)', 'client encrypt / decrypt ms', 'argmax = plain', 'max error / range', 'argmax = plain where margin > 2× error'],
      rows.map((r) => [r.shape, r.C, r.kernel, r.batch, r.cpuMsPerQuery, r.nsPerMultiplyAdd, r.streamsPerCore, r.plainMsPerQuery, `${r.slowdown}×`, r.queryKiBPerAudioSecond, r.resultKiBPerAudioSecond, `${r.hintMiB} (${r.hintSeconds})`, `${r.encryptMs} / ${r.decryptMs}`, r.argmaxAgree, r.maxErrorOfRange, r.argmaxAgreeBeyondError]),
    ),
  ].join('\n');
  return { rows, markdown };
}
