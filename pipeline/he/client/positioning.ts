/** The client's side of a catalogue's position query: its PositionClient from the downloaded hint. */
import type { CatalogManifest } from '../../../schemas/catalog.js';
import { loadPositionHint } from '../../model/catalog-store.js';
import { PositionClient } from './position-client.js';

/** null when the catalogue has no position table (offsets then come from the segment scores). */
export async function openPositionClient(dir: string, manifest: CatalogManifest): Promise<PositionClient | null> {
  const h = await loadPositionHint(dir, manifest);
  return h ? new PositionClient(h.setup, h.hint) : null;
}
