/**
 * A copy of a landmark catalogue whose position table has narrower slots, folded from its own: a slot's
 * bit is hash mod slotBits, so for slotBits dividing the catalogue's, OR-ing its chunks is exactly the
 * table enrolment would build at that width. Compares slot widths on one enrolment.
 *
 *   node dist/bench/position-fold.js <catalog> <out> <slotBits>
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOG_MANIFEST, CATALOG_POSITION, CATALOG_POSITION_HINT } from '../schemas/catalog.js';
import { positionHint } from '../pipeline/he/position-pir.js';
import { loadManifest, loadPositionTable, positionSetup } from '../pipeline/model/catalog-store.js';
import { bitShares, setBits } from '../pipeline/model/position.js';
import { sha256Hex } from '../pipeline/model/large-file.js';

async function main(): Promise<void> {
  const [src, dst, bitsArg] = process.argv.slice(2);
  const bits = Number(bitsArg);
  const manifest = await loadManifest(src);
  const served = await loadPositionTable(src, manifest);
  if (!served || !manifest.position) throw new Error(`${src} has no position table`);
  const from = manifest.position.slotBits;
  if (!(bits > 0 && bits % 8 === 0 && from % bits === 0)) throw new Error(`${bits} bits must be a multiple of 8 dividing ${from}`);
  const { slots } = manifest.position;
  const fromBytes = from / 8;
  const toBytes = bits / 8;
  const C = manifest.classes.track.length;
  const table = new Uint8Array(C * slots * toBytes);
  for (let s = 0; s < C * slots; s++) {
    for (let k = 0; k < fromBytes; k++) table[s * toBytes + (k % toBytes)] |= served.table[s * fromBytes + k];
  }
  // BLINDEAR_FOLD_UNWEIGHTED=1: without bit shares (the alignment unweighted), to compare.
  const { bitShare: _old, ...rest } = manifest.position;
  const position = { ...rest, slotBits: bits, ...(process.env.BLINDEAR_FOLD_UNWEIGHTED ? {} : { bitShare: bitShares(table, bits) }) };
  const hint = positionHint(positionSetup(position, C), table);
  cpSync(src, dst, { recursive: true });
  const hintBytes = new Uint8Array(hint.buffer, hint.byteOffset, hint.byteLength);
  writeFileSync(join(dst, CATALOG_POSITION), table);
  writeFileSync(join(dst, CATALOG_POSITION_HINT), hintBytes);
  const out = { ...manifest, position, checksums: { ...manifest.checksums, [CATALOG_POSITION]: sha256Hex(table), [CATALOG_POSITION_HINT]: sha256Hex(hintBytes) } };
  writeFileSync(join(dst, CATALOG_MANIFEST), JSON.stringify(out));
  JSON.parse(readFileSync(join(dst, CATALOG_MANIFEST), 'utf8'));
  process.stdout.write(`${dst}: ${bits}-bit slots, density ${(setBits(table) / (table.length * 8)).toFixed(4)}\n`);
}

main().catch((err) => { console.error(err); process.exit(1); });
