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
import { readWhole, sha256Hex } from './large-file.js';
import { bitShares, POSITION_SLOT_SECONDS } from './position.js';

export type ManifestDraft = Omit<CatalogManifest, 'modelId' | 'createdAt' | 'format' | 'version' | 'scheme' | 'lwe' | 'position'>;

/** A landmark catalogue's position table as enrolment builds it (pipeline/model/position.ts). */
export interface PositionTable {
  table: Uint8Array;
  slots: number;
  bytes: number;
  slotBits: number;
}

/** The table's public parameters and its hint file (H' = D·A', m × n words) under a fresh seed of A'. */
function positionFor(t: PositionTable, classes: number): { position: PositionParams; hintBytes: Buffer } {
  const position: PositionParams = {
    slotSeconds: POSITION_SLOT_SECONDS, slotBits: t.slotBits, slots: t.slots, n: LWE_N, bitShare: bitShares(t.table, t.slotBits),
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
function lweFor(model: LinearModel, choice: SchemeChoice): { lwe: LweParams; hintBytes: Uint8Array } {
  const engine = LweScoringEngine.create(model, { weightBits: choice.weightBits ?? 10 });
  const lwe: LweParams = {
    scheme: 'lwe', n: LWE_N, seed: engine.setup.seed, weightBits: choice.weightBits ?? 10,
    weightScale: engine.setup.weightScale, inputScale: engine.setup.inputScale, maxWindowsPerQuery: choice.maxWindowsPerQuery ?? 32,
  };
  const hint = engine.hint();
  // Not a Buffer: a large catalogue's hint passes a Buffer's 4 GiB.
  const words = new Int32Array(hint.length + model.bias.length);
  words.set(hint, 0);
  new Float32Array(words.buffer, hint.byteLength, model.bias.length).set(model.bias);
  return { lwe, hintBytes: new Uint8Array(words.buffer) };
}

function modelBytes(model: LinearModel): Uint8Array {
  const out = new Float32Array(model.weights.length + model.bias.length);
  out.set(model.weights, 0);
  out.set(model.bias, model.weights.length);
  return new Uint8Array(out.buffer);
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
  const modelSha = sha256Hex(bytes);
  // The model id hashes the model's bytes (by their checksum), its features and its encryption parameters.
  const modelId = createHash('sha256').update(modelSha).update(JSON.stringify(draft.feature)).update(JSON.stringify(draft.he)).digest('hex').slice(0, 16);
  const checksums: Record<string, string> = { [CATALOG_MODEL]: modelSha };
  if (choice.scheme === 'lwe' && draft.feature.kind !== 'landmark') {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', "scheme 'lwe' needs unit-norm windows: enrol with the landmark features");
  }
  const lwe = choice.scheme === 'lwe' ? lweFor(model, choice) : undefined;
  if (lwe) checksums[CATALOG_LWE_HINT] = sha256Hex(lwe.hintBytes);
  // Beyond maxPositionClasses a record byte would not decrypt exactly: such a catalogue keeps the scores' offsets.
  const pos = positionTable && model.classes <= maxPositionClasses() ? positionFor(positionTable, model.classes) : undefined;
  const files: [string, Uint8Array][] = [[CATALOG_MODEL, bytes]];
  if (lwe) files.push([CATALOG_LWE_HINT, lwe.hintBytes]);
  if (pos && positionTable) files.push([CATALOG_POSITION, positionTable.table], [CATALOG_POSITION_HINT, pos.hintBytes]);
  for (const [name, b] of files.slice(1)) checksums[name] = sha256Hex(b);
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
  const expected = manifest.checksums?.[CATALOG_MODEL];
  if (!expected) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${CATALOG_MANIFEST} in ${dir} has no checksum of ${CATALOG_MODEL} (enrolled by an older version): enrol it again`);
  const read = await readCatalogFile(dir, CATALOG_MODEL, (C * d + C) * 4, `no ${CATALOG_MODEL} in ${dir}`);
  if (read.sha256 !== expected) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${CATALOG_MODEL} in ${dir} does not match its checksum (sha256 ${read.sha256.slice(0, 12)}…, manifest says ${expected.slice(0, 12)}…): the file is corrupted or not this catalogue's`);
  const all = new Float32Array(read.buffer);
  return { classes: C, dim: d, weights: all.subarray(0, C * d), bias: all.subarray(C * d) };
}

/** A catalogue file of exactly `bytes`, read whole with its sha256 (BLINDEAR_ERR_CATALOG_INVALID: `missing` when absent, else the size found). */
async function readCatalogFile(dir: string, name: string, bytes: number, missing: string): Promise<{ buffer: ArrayBuffer; sha256: string }> {
  try {
    return await readWhole(join(dir, name), bytes, (found) => new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${name} has ${found} bytes, expected ${bytes}`));
  } catch (err) {
    if (err instanceof BlindearError) throw err;
    throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', missing);
  }
}

/** The client's download of an LWE catalogue: its hint and biases, checked against the manifest's checksum. */
export async function loadLweHint(dir: string, manifest: CatalogManifest): Promise<LweHint> {
  if (manifest.scheme !== 'lwe' || !manifest.lwe) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `the catalogue in ${dir} is not scored with LWE`);
  const C = manifest.classes.track.length;
  const words = C * manifest.lwe.n + C;
  const read = await readCatalogFile(dir, CATALOG_LWE_HINT, words * 4, `no ${CATALOG_LWE_HINT} in ${dir} (an LWE catalogue needs its hint)`);
  if (read.sha256 !== manifest.checksums?.[CATALOG_LWE_HINT]) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${CATALOG_LWE_HINT} in ${dir} does not match its checksum: the file is corrupted or not this catalogue's`);
  return { hint: new Int32Array(read.buffer, 0, C * manifest.lwe.n), bias: new Float32Array(read.buffer, C * manifest.lwe.n * 4, C) };
}

async function readChecked(dir: string, manifest: CatalogManifest, name: string, expectedBytes: number): Promise<ArrayBuffer> {
  const read = await readCatalogFile(dir, name, expectedBytes, `no ${name} in ${dir} (the manifest lists a position table)`);
  if (read.sha256 !== manifest.checksums?.[name]) throw new BlindearError('BLINDEAR_ERR_CATALOG_INVALID', `${name} in ${dir} does not match its checksum: the file is corrupted or not this catalogue's`);
  return read.buffer;
}

/** The server's half of the position query: the records (C × m bytes), or null when the catalogue has none. */
export async function loadPositionTable(dir: string, manifest: CatalogManifest): Promise<{ setup: PositionPirSetup; table: Uint8Array } | null> {
  if (!manifest.position) return null;
  const setup = positionSetup(manifest.position, manifest.classes.track.length);
  return { setup, table: new Uint8Array(await readChecked(dir, manifest, CATALOG_POSITION, setup.classes * setup.bytes)) };
}

/** The client's half: the table's hint (m × n words), or null when the catalogue has none. */
export async function loadPositionHint(dir: string, manifest: CatalogManifest): Promise<{ setup: PositionPirSetup; hint: Int32Array } | null> {
  if (!manifest.position) return null;
  const setup = positionSetup(manifest.position, manifest.classes.track.length);
  return { setup, hint: new Int32Array(await readChecked(dir, manifest, CATALOG_POSITION_HINT, setup.bytes * setup.n * 4)) };
}
