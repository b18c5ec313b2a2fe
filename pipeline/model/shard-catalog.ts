/**
 * Splits an LWE catalogue into shards of contiguous class ranges, so a catalogue grows by adding scoring
 * machines: each shard folder holds its rows of the model and of the hint and is served by a worker group
 * of its own; the whole catalogue (every class's track, the whole hint) stays with the client, which
 * merges the shards' parts of each query's scores.
 *
 *   <out>/catalog.json, model.bin, lwe-hint.bin   the whole catalogue, its manifest listing the shards
 *   <out>/shard-<i>-of-<n>/                       shard i: its classes, model rows, hint rows and biases
 *
 * A shard keeps the whole catalogue's model id and LWE parameters: queries are made for the whole.
 */
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CATALOG_LWE_HINT, CATALOG_MANIFEST, CATALOG_MODEL, CatalogManifest, type ShardRange } from '../../schemas/catalog.js';
import { BlindearError } from '../errors.js';
import { loadLweHint, loadManifest, loadModel } from './catalog-store.js';
import { sha256Hex } from './large-file.js';

/** Folder of shard `index` (0-based) of `count` inside a sharded catalogue. */
export const shardDirName = (index: number, count: number): string => `shard-${index}-of-${count}`;

/** `count` contiguous ranges covering `classes`, their sizes differing by one at most. */
export function shardRanges(classes: number, count: number): ShardRange[] {
  if (!Number.isInteger(count) || count < 2 || count > classes) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `--shards must be 2..${classes} (the catalogue's classes), got ${count}`);
  }
  const out: ShardRange[] = [];
  let first = 0;
  for (let i = 0; i < count; i++) {
    const size = Math.floor(classes / count) + (i < classes % count ? 1 : 0);
    out.push({ firstClass: first, classes: size });
    first += size;
  }
  return out;
}

const sha256 = (b: Uint8Array): string => sha256Hex(b);

async function writeAtomically(dir: string, files: Record<string, Uint8Array | string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  // The manifest last: a reader never sees a manifest whose files are not there yet.
  const names = [...Object.keys(files).filter((n) => n !== CATALOG_MANIFEST), ...(CATALOG_MANIFEST in files ? [CATALOG_MANIFEST] : [])];
  for (const n of names) await writeFile(join(dir, `${n}.tmp`), files[n]);
  for (const n of names) await rename(join(dir, `${n}.tmp`), join(dir, n));
}

export interface ShardedCatalog {
  /** The whole catalogue, listing its shards (the client's catalogue). */
  manifest: CatalogManifest;
  /** Each shard's folder and manifest (a worker group's catalogue). */
  shards: { dir: string; manifest: CatalogManifest }[];
}

export async function shardCatalog(opts: { catalogDir: string; shards: number; outDir: string }): Promise<ShardedCatalog> {
  const whole = await loadManifest(opts.catalogDir);
  if (whole.shards || whole.shard) throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', `${opts.catalogDir} is already sharded: split the original catalogue`);
  if (whole.scheme !== 'lwe' || !whole.lwe) {
    throw new BlindearError('BLINDEAR_ERR_CONFIG_INVALID', 'only LWE catalogues are split in shards (enrol with --scheme lwe): a CKKS session\'s keys and layout are made for the whole class count');
  }
  const C = whole.classes.track.length;
  const ranges = shardRanges(C, opts.shards);
  const model = await loadModel(opts.catalogDir, whole);
  const hint = await loadLweHint(opts.catalogDir, whole);
  const n = whole.lwe.n;
  const d = whole.dim;

  // The position table is not split: a sharded catalogue's answers keep the offsets of the segment scores.
  const manifest = CatalogManifest.parse({ ...whole, position: undefined, shards: ranges });
  await mkdir(opts.outDir, { recursive: true });
  for (const f of [CATALOG_MODEL, CATALOG_LWE_HINT]) {
    await copyFile(join(opts.catalogDir, f), join(opts.outDir, `${f}.tmp`));
    await rename(join(opts.outDir, `${f}.tmp`), join(opts.outDir, f));
  }
  await writeAtomically(opts.outDir, { [CATALOG_MANIFEST]: JSON.stringify(manifest) });

  const shards: ShardedCatalog['shards'] = [];
  for (const [index, r] of ranges.entries()) {
    const end = r.firstClass + r.classes;
    // model.bin: the rows' weights, then their biases; lwe-hint.bin: the rows of H, then the same biases.
    const rows = new Float32Array(r.classes * d + r.classes);
    rows.set(model.weights.subarray(r.firstClass * d, end * d), 0);
    rows.set(model.bias.subarray(r.firstClass, end), r.classes * d);
    const hintWords = new Int32Array(r.classes * n + r.classes);
    hintWords.set(hint.hint.subarray(r.firstClass * n, end * n), 0);
    new Float32Array(hintWords.buffer, r.classes * n * 4, r.classes).set(hint.bias.subarray(r.firstClass, end));
    const modelBytes = new Uint8Array(rows.buffer);
    const hintBytes = new Uint8Array(hintWords.buffer);
    const shardManifest = CatalogManifest.parse({
      ...whole,
      position: undefined,
      classes: {
        track: whole.classes.track.slice(r.firstClass, end),
        startSeconds: whole.classes.startSeconds.slice(r.firstClass, end),
        endSeconds: whole.classes.endSeconds.slice(r.firstClass, end),
      },
      checksums: { [CATALOG_MODEL]: sha256(modelBytes), [CATALOG_LWE_HINT]: sha256(hintBytes) },
      shard: { index, count: ranges.length, firstClass: r.firstClass, totalClasses: C },
    });
    const dir = join(opts.outDir, shardDirName(index, ranges.length));
    await writeAtomically(dir, { [CATALOG_MODEL]: modelBytes, [CATALOG_LWE_HINT]: hintBytes, [CATALOG_MANIFEST]: JSON.stringify(shardManifest) });
    shards.push({ dir, manifest: shardManifest });
  }
  return { manifest, shards };
}
