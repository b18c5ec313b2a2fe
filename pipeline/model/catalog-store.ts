/** Reads and writes a catalogue folder: the validated manifest and the binary linear model. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CATALOG_LWE_HINT, CATALOG_MANIFEST, CATALOG_MODEL, CATALOG_POSITION, CATALOG_POSITION_HINT, CatalogManifest, type PositionParams } from '../../schemas/catalog.js';
import type { LweParams } from '../../schemas/he.js';
import { BlindearError } from '../errors.js';
import type { LinearModel } from '../features/types.js';
import { LWE_N, type LweHint } from '../he/lwe.js';
import { LweScoringEngine } from '../he/server/lwe-engine.js';
import { maxPositionClasses, POSITION_DELTA_BITS, positionHint, type PositionPirSetup } from '../he/position-pir.js';
import { POSITION_SLOT_BITS, POSITION_SLOT_SECONDS } from './position.js';

export type ManifestDraft = Omit<CatalogManifest, 'modelId' | 'createdAt' | 'format' | 'version' | 'scheme' | 'lwe' | 'position'>;

/** A landmark catalogue's position table as enrolment builds it (pipeline/model/position.ts). */
export interface PositionTable {
  table: Uint8Array;
  slots: number;
  bytes: number;
}

/** The table's public parameters and its hint file (H' = D·A', m × n words) under a fresh seed of A'. */
function positionFor(t: PositionTable, classes: number): { position: PositionParams; hintBytes: Buffer } {
  const position: PositionParams = {
    slotSeconds: POSITION_SLOT_SECONDS, slotBits: POSITION_SLOT_BITS, slots: t.slots, n: LWE_N,
    seed: randomBytes(16).toString('hex'), deltaBits: POSITION_DELTA_BITS,
  };
  const hint = positionHint(positionSetup(position, classes), t.table);
  return { position, hintBytes: Buffer.from(hint.buffer, hint.byteOffset, hint.byteLength) };
}

/** What both halves of the position query know of a catalogue's table. */
export function positionSetup(p: PositionParams, classes: number): PositionPirSetup {
  return { classes, bytes: p.slots * (p.slotBits / 8), n: p.n, seed: p.seed, deltaBits: p.deltaBits };
}

/** How the catalogue's queries are scored (schemas/catalog.ts `scheme`). */
export interface SchemeChoice {
  scheme: 'ckks' | 'lwe';
  /** LWE: signed bits of the quantised weights (default 10). */
  weightBits?: number;
  /** LWE: most windows per query (default 32). */
  maxWindowsPerQuery?: number;
}

/** The LWE parameters and the hint file (H = W_q·A, then the biases) of `model`, under a fresh seed of A. */
function lweFor(model: LinearModel, choice: SchemeChoice): { lwe: LweParams; hintBytes: Buffer } {
  const engine = LweScoringEngine.create(model, { weightBits: choice.weightBits ?? 10 });
  const lwe: LweParams = {
    scheme: 'lwe', n: LWE_N, seed: engine.setup.seed, weightBits: choice.weightBits ?? 10,
    weightScale: engine.setup.weightScale, inputScale: engine.setup.inputScale, maxWindowsPerQuery: choice.maxWindowsPerQuery ?? 32,
  };
  const hint = engine.hint();
  const hintBytes = Buffer.alloc((hint.length + model.bias.length) * 4);
  Buffer.from(hint.buffer, hint.byteOffset, hint.byteLength).copy(hintBytes, 0);
  Buffer.from(model.bias.buffer, model.bias.byteOffset, model.bias.byteLength).copy(hintBytes, hint.byteLength);
  return { lwe, hintBytes };
}

function modelBytes(model: LinearModel): Buffer {
  const out = Buffer.alloc((model.weights.length + model.bias.length) * 4);
  Buffer.from(model.weights.buffer, model.weights.byteOffset, model.weights.byteLength).copy(out, 0);
  Buffer.from(model.bias.buffer, model.bias.byteOffset, model.bias.byteLength).copy(out, model.weights.byteLength);
  return out;
}

export async function saveCatalog(
  dir: string, draft: ManifestDraft, model: LinearModel, choice: SchemeChoice = { scheme: 'ckks' }, positionTable?: PositionTable,
): Promise<CatalogManifest> {
  if (model.classes !== draft.classes.track.length || model.dim !== draft.dim) {
    throw new RangeError(`model is ${model.classes}×${model.dim}, manifest says ${draft.classes.track.length}×${draft.dim}`);
  }
  const bytes = modelBytes(model);
  if (!model.weights.some((w) => w !== 0)) {
    throw new BlindearError('BLINDEAR_ERR_CATALOG_EMPTY', 'every weight of the model is zero (silent or featureless audio): nothing written');
  }
  const modelId = createHash('sha256').update(bytes).update(JSON.stringify(draft.feature)).update(JSON.stringify(draft.he)).digest('hex').slice(0, 16);
  const checksums: Record<string, string> = { [CATALOG_MODEL]: createHash('sha256').update(bytes).digest('hex') };
  if (choice.scheme === 'lwe' && draft.feature.kind !== 'landmark') {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', "scheme 'lwe' needs unit-norm windows: enrol with the landmark features");
  }
  const lwe = choice.scheme === 'lwe' ? lweFor(model, choice) : undefined;
  if (lwe) checksums[CATALOG_LWE_HINT] = createHash('sha256').update(lwe.hintBytes).digest('hex');
  // Beyond maxPositionClasses a record byte would not decrypt exactly: such a catalogue keeps the scores' offsets.
  const pos = positionTable && model.classes <= maxPositionClasses() ? positionFor(positionTable, model.classes) : undefined;
  const files: [string, Uint8Array][] = [[CATALOG_MODEL, bytes]];
  if (lwe) files.push([CATALOG_LWE_HINT, lwe.hintBytes]);
  if (pos && positionTable) files.push([CATALOG_POSITION, positionTable.table], [CATALOG_POSITION_HINT, pos.hintBytes]);
  for (const [name, b] of files.slice(1)) checksums[name] = createHash('sha256').update(b).digest('hex');
  const manifest = CatalogManifest.parse({
    ...draft, scheme: choice.scheme, ...(lwe ? { lwe: lwe.lwe } : {}), ...(pos ? { position: pos.position } : {}), format: 'blindear-catalog', version: 1, modelId, createdAt: new Date().toISOString(), checksums,
  });
  await mkdir(dir, { recursive: true });
  // Write-then-rename: a reader never sees a half-written catalogue.
  for (const [name, b] of files) await writeFile(join(dir, `${name}.tmp`), b);
  await writeFile(join(dir, `${CATALOG_MANIFEST}.tmp`), JSON.stringify(manifest));
  for (const [name] of files) await rename(join(dir, `${name}.tmp`), join(dir, name));
  await rename(join(dir, `${CATALOG_MANIFEST}.tmp`), join(dir, CATALOG_MANIFEST));
  return manifest;
}

/** The client's part: everything but the weights. */
export async function loadManifest(dir: string): Promise<CatalogManifest> {
  let text: string;
  try {
    text = await readFile(join(dir, CATALOG_MANIFEST), 'utf8');
  } catch {
    throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `no ${CATALOG_MANIFEST} in ${dir} (run \`blindear enroll\` first)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${CATALOG_MANIFEST} is not JSON`);
  }
  const parsed = CatalogManifest.safeParse(json);
  if (!parsed.success) {
    throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

/** The server's part: the linear model, checked against the manifest's shape. */
export async function loadModel(dir: string, manifest: CatalogManifest): Promise<LinearModel> {
  const C = manifest.classes.track.length;
  const d = manifest.dim;
  let buf: Buffer;
  try {
    buf = await readFile(join(dir, CATALOG_MODEL));
  } catch {
    throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `no ${CATALOG_MODEL} in ${dir}`);
  }
  if (buf.length !== (C * d + C) * 4) {
    throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${CATALOG_MODEL} has ${buf.length} bytes, expected ${(C * d + C) * 4}`);
  }
  const expected = manifest.checksums?.[CATALOG_MODEL];
  if (!expected) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${CATALOG_MANIFEST} in ${dir} has no checksum of ${CATALOG_MODEL} (enrolled by an older version): enrol it again`);
  const actual = createHash('sha256').update(buf).digest('hex');
  if (actual !== expected) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${CATALOG_MODEL} in ${dir} does not match its checksum (sha256 ${actual.slice(0, 12)}…, manifest says ${expected.slice(0, 12)}…): the file is corrupted or not this catalogue's`);
  const all = new Float32Array(buf.length / 4);
  new Uint8Array(all.buffer).set(buf);
  return { classes: C, dim: d, weights: all.subarray(0, C * d), bias: all.subarray(C * d) };
}

/** The client's download of an LWE catalogue: its hint and biases, checked against the manifest's checksum. */
export async function loadLweHint(dir: string, manifest: CatalogManifest): Promise<LweHint> {
  if (manifest.scheme !== 'lwe' || !manifest.lwe) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `the catalogue in ${dir} is not scored with LWE`);
  const C = manifest.classes.track.length;
  const words = C * manifest.lwe.n + C;
  let buf: Buffer;
  try {
    buf = await readFile(join(dir, CATALOG_LWE_HINT));
  } catch {
    throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `no ${CATALOG_LWE_HINT} in ${dir} (an LWE catalogue needs its hint)`);
  }
  if (buf.length !== words * 4) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${CATALOG_LWE_HINT} has ${buf.length} bytes, expected ${words * 4}`);
  const expected = manifest.checksums?.[CATALOG_LWE_HINT];
  const actual = createHash('sha256').update(buf).digest('hex');
  if (actual !== expected) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${CATALOG_LWE_HINT} in ${dir} does not match its checksum: the file is corrupted or not this catalogue's`);
  const all = new ArrayBuffer(buf.length);
  new Uint8Array(all).set(buf);
  return { hint: new Int32Array(all, 0, C * manifest.lwe.n), bias: new Float32Array(all, C * manifest.lwe.n * 4, C) };
}

async function readChecked(dir: string, manifest: CatalogManifest, name: string, expectedBytes: number): Promise<Buffer> {
  let buf: Buffer;
  try {
    buf = await readFile(join(dir, name));
  } catch {
    throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `no ${name} in ${dir} (the manifest lists a position table)`);
  }
  if (buf.length !== expectedBytes) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${name} has ${buf.length} bytes, expected ${expectedBytes}`);
  const actual = createHash('sha256').update(buf).digest('hex');
  if (actual !== manifest.checksums?.[name]) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${name} in ${dir} does not match its checksum: the file is corrupted or not this catalogue's`);
  return buf;
}

/** The server's half of the position query: the records (C × m bytes), or null when the catalogue has none. */
export async function loadPositionTable(dir: string, manifest: CatalogManifest): Promise<{ setup: PositionPirSetup; table: Uint8Array } | null> {
  if (!manifest.position) return null;
  const setup = positionSetup(manifest.position, manifest.classes.track.length);
  const buf = await readChecked(dir, manifest, CATALOG_POSITION, setup.classes * setup.bytes);
  return { setup, table: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
}

/** The client's half: the table's hint (m × n words), or null when the catalogue has none. */
export async function loadPositionHint(dir: string, manifest: CatalogManifest): Promise<{ setup: PositionPirSetup; hint: Int32Array } | null> {
  if (!manifest.position) return null;
  const setup = positionSetup(manifest.position, manifest.classes.track.length);
  const buf = await readChecked(dir, manifest, CATALOG_POSITION_HINT, setup.bytes * setup.n * 4);
  const words = new Int32Array(buf.length / 4);
  new Uint8Array(words.buffer).set(buf);
  return { setup, hint: words };
}
