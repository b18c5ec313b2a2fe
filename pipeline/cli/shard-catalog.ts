/** `blindear shard-catalog`: split an LWE catalogue into shards served by worker groups of their own. */
import { shardCatalog } from '../model/shard-catalog.js';
import { createLogger } from '../runtime/logger.js';

export async function runShardCatalog(opts: { catalog: string; shards: number; out: string; logLevel: string }): Promise<void> {
  const logger = createLogger(opts.logLevel, { command: 'shard-catalog' });
  const { manifest, shards } = await shardCatalog({ catalogDir: opts.catalog, shards: opts.shards, outDir: opts.out });
  logger.info({ modelId: manifest.modelId, classes: manifest.classes.track.length, shards: shards.length }, 'catalogue split');
  // Data on stdout: one line per shard folder, for `blindear worker scorer --catalog <it>`.
  for (const s of shards) process.stdout.write(`${s.dir}\tclasses ${s.manifest.shard!.firstClass}..${s.manifest.shard!.firstClass + s.manifest.classes.track.length - 1}\n`);
}
