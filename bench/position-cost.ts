/**
 * Scenario 9: what the position query (pipeline/he/position-pir.ts, pipeline/model/position.ts) costs, at
 * C classes and the default record (70 slots × 128 bits = 1120 bytes for 35 s segments): the table's
 * hint (once per catalogue: seconds to compute, MiB to download), the client's query (C words up) and
 * decoding (m words down), the server's answer with each kernel, and the clear alignment of a 10 s
 * query's landmarks (≈150, three speed hypotheses) against one record. Random tables at the dev
 * catalogue's bit density (15%): the cost depends on the shape only. Every decoded record is checked
 * against the table.
 */
import { randomBytes } from 'node:crypto';
import { PositionClient } from '../pipeline/he/client/position-client.js';
import { positionHint, type PositionPirSetup } from '../pipeline/he/position-pir.js';
import { PositionEngine } from '../pipeline/he/server/position-engine.js';
import { alignInRecord, bitShares, POSITION_CANDIDATES, POSITION_SLOT_BITS, POSITION_TRACKS, positionSlots, type PositionQuery } from '../pipeline/model/position.js';
import { mdTable, now, round, timeLoop } from './util.js';

export interface PositionRow {
  C: number;
  recordBytes: number;
  hintSeconds: number;
  hintMiB: number;
  queryMs: number;
  answerMsSimd: number;
  answerMsJs: number;
  openMs: number;
  alignMs: number;
  upKiB: number;
  downKiB: number;
  exact: string;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
}

/** Records one `identify` answer fetches. */
const ANSWER_RECORDS = POSITION_CANDIDATES * POSITION_TRACKS;

export async function runPositionCost(opts: { classes: number[]; log: (s: string) => void }): Promise<{ rows: PositionRow[]; markdown: string }> {
  const slots = positionSlots(35);
  const bytes = slots * (POSITION_SLOT_BITS / 8);
  const rows: PositionRow[] = [];
  for (const C of opts.classes) {
    const rand = lcg(C);
    const table = new Uint8Array(C * bytes);
    for (let i = 0; i < table.length; i++) for (let b = 0; b < 8; b++) if (rand() < 0.03) table[i] |= 1 << b;
    const setup: PositionPirSetup = { classes: C, bytes, n: 1024, seed: randomBytes(16).toString('hex'), deltaBits: 24 };
    const t0 = now();
    const hint = positionHint(setup, table);
    const hintSeconds = (now() - t0) / 1000;
    const client = new PositionClient(setup, hint);
    const simd = new PositionEngine(setup, table, 'simd');
    const js = new PositionEngine(setup, table, 'js');
    const k = Math.floor(C / 3);
    const q = client.query(k);
    const answer = simd.answer(q.bytes);
    const exact = Buffer.from(q.open(answer)).equals(Buffer.from(table.subarray(k * bytes, (k + 1) * bytes)));
    const queryMs = (await timeLoop(() => client.query(k))).cpuMs;
    const answerMsSimd = (await timeLoop(() => simd.answer(q.bytes))).cpuMs;
    const answerMsJs = (await timeLoop(() => js.answer(q.bytes))).cpuMs;
    const openMs = (await timeLoop(() => { const qq = client.query(k); qq.open(simd.answer(qq.bytes)); })).cpuMs - queryMs - answerMsSimd;
    // A 10 s query: ~15 landmarks per second, three speed hypotheses.
    const pq: PositionQuery = {
      durationSeconds: 10,
      hypotheses: [0.97, 1, 1.03].map((speed) => ({
        speed, hashes: Uint32Array.from({ length: 150 }, () => Math.floor(rand() * 2 ** 32)), seconds: Float64Array.from({ length: 150 }, () => rand() * 10 * speed),
      })),
    };
    const record = table.subarray(0, bytes);
    const share = bitShares(table, POSITION_SLOT_BITS);
    const alignMs = (await timeLoop(() => alignInRecord(pq, record, slots, share))).cpuMs;
    rows.push({
      C, recordBytes: bytes, hintSeconds: round(hintSeconds, 2), hintMiB: round((hint.byteLength) / 2 ** 20, 2),
      queryMs: round(queryMs, 2), answerMsSimd: round(answerMsSimd, 3), answerMsJs: round(answerMsJs, 2), openMs: round(Math.max(0, openMs), 2), alignMs: round(alignMs, 2),
      upKiB: round((ANSWER_RECORDS * C * 4) / 1024, 1), downKiB: round((ANSWER_RECORDS * bytes * 4) / 1024, 1), exact: exact ? 'yes' : 'NO',
    });
    opts.log(`position: C=${C} done`);
  }
  const markdown = [
    '## Position query (scenario 9)',
    '',
    `Per answer \`identify\` fetches ${ANSWER_RECORDS} records (${POSITION_CANDIDATES} segments of each of ${POSITION_TRACKS} tracks, one query each; a monitor's play check ${POSITION_CANDIDATES}); records of ${POSITION_SLOT_BITS}-bit slots, 3% of bits set; CPU ms per query or record on one core.`,
    '',
    mdTable(
      ['C', 'record bytes', 'hint s (once)', 'hint MiB', 'client query ms', 'server ms (SIMD)', 'server ms (JS)', 'client decode ms', 'align ms / record', 'KiB up / answer', 'KiB down / answer', 'record exact'],
      rows.map((r) => [r.C, r.recordBytes, r.hintSeconds, r.hintMiB, r.queryMs, r.answerMsSimd, r.answerMsJs, r.openMs, r.alignMs, r.upKiB, r.downKiB, r.exact]),
    ),
  ].join('\n');
  return { rows, markdown };
}
