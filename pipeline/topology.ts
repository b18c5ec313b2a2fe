/**
 * The topology, as data: every stage with its zone, its input topic, the topics it writes, the compacted
 * topics it reads as tables, and its consumer group. The runtime runs it (and refuses a stage whose
 * topics cross its zone), the CLI starts stages from it, the tests import it.
 *
 *   ingest ─► audio ─► windowing ─► features ─► encrypt ─► queries ─► scorer ─► scores ─► decide ─► airplay ─► delivery
 *   (client)          (client)                 (client)  session-keys (server)          (client)  predictions ─► report
 *                                                              ▲                             │
 *                                                              └── position queries (play checks)
 *
 * A sharded catalogue runs the scorer once per shard, each shard in a group of its own on the same queries
 * topic; decide merges the parts of every shard before deciding.
 */
import { TOPICS, type TopicKey, type Zone } from '../schemas/topics.js';
import type { StageName } from './runtime/stage.js';

export interface StageSpec {
  name: StageName;
  zone: Zone;
  /** The topic consumed (ingest reads its sources from outside). */
  input: TopicKey | null;
  outputs: readonly TopicKey[];
  /** Compacted topics restored for the input partitions an instance is assigned. */
  tables: readonly TopicKey[];
  /** One consumer group per stage: every instance of the stage shares it, and with it the sessions. */
  group: string | null;
  /**
   * A stage serving a sharded catalogue runs one group per shard, `<group>-shard-<i>-of-<n>`, so every
   * shard's group sees every query (stages that cannot be sharded: false).
   */
  sharded: boolean;
  description: string;
}

const spec = (s: StageSpec): StageSpec => Object.freeze(s);

export const TOPOLOGY = Object.freeze({
  ingest: spec({
    name: 'ingest', zone: 'client', input: null, outputs: ['audio', 'clientSessions', 'ingestProgress', 'sessionKeys'], tables: [], group: null, sharded: false,
    description: 'station sources (files, URLs, stdin) → PCM chunks keyed by session; opens sessions and publishes their evaluation keys',
  }),
  windowing: spec({
    name: 'windowing', zone: 'client', input: 'audio', outputs: ['features'], tables: ['clientSessions'], group: 'blindear-client-windowing', sharded: false,
    description: 'PCM chunks → feature windows on the catalogue grid, batched one query ciphertext at a time',
  }),
  encrypt: spec({
    name: 'encrypt', zone: 'client', input: 'features', outputs: ['queries'], tables: ['clientSessions'], group: 'blindear-client-encrypt', sharded: false,
    description: 'feature windows → query ciphertexts under the session key, with the query MAC',
  }),
  scorer: spec({
    name: 'scorer', zone: 'server', input: 'queries', outputs: ['scores'], tables: [], group: 'blindear-scorer', sharded: true,
    description: 'query ciphertexts → encrypted catalogue scores W·x + b (ciphertexts and evaluation keys only)',
  }),
  decide: spec({
    name: 'decide', zone: 'client', input: 'scores', outputs: ['predictions', 'airplay', 'decideState', 'queries'], tables: ['clientSessions', 'decideState'], group: 'blindear-client-decide', sharded: false,
    description: 'encrypted scores → checked, decrypted, decided: predictions per window and the airplay log (a play is logged once its position query, sent on queries, aligns)',
  }),
  delivery: spec({
    name: 'delivery', zone: 'client', input: 'airplay', outputs: [], tables: ['clientSessions'], group: 'blindear-client-delivery', sharded: false,
    description: 'airplay events of the sessions this client service holds → sinks (JSONL file or stdout, webhook)',
  }),
  report: spec({
    name: 'report', zone: 'client', input: 'predictions', outputs: [], tables: [], group: 'blindear-client-report', sharded: false,
    description: 'predictions → sinks (the `stream` command)',
  }),
} satisfies Partial<Record<StageName, StageSpec>>);

export type TopologyStage = keyof typeof TOPOLOGY;

/** The consumer group of a stage's instances: the stage's group, or with a shard, that shard's own group. */
export function stageGroup(s: Pick<StageSpec, 'name' | 'group' | 'sharded'>, shard?: { index: number; count: number }): string {
  if (!s.group) throw new Error(`stage ${s.name} has no consumer group`);
  if (!shard) return s.group;
  if (!s.sharded) throw new Error(`stage ${s.name} is not sharded`);
  return `${s.group}-shard-${shard.index}-of-${shard.count}`;
}

/** The client-zone services `blindear worker <stage>` and `blindear monitor` run. */
export const CLIENT_SERVICES = ['windowing', 'encrypt', 'decide', 'delivery'] as const satisfies readonly TopologyStage[];
export type ClientService = (typeof CLIENT_SERVICES)[number];

export function stageSpec(name: StageName): StageSpec {
  const s = (TOPOLOGY as Partial<Record<StageName, StageSpec>>)[name];
  if (!s) throw new Error(`stage ${name} is not in the topology`);
  return s;
}

/**
 * Zone rule: a server-zone stage may read and write server-zone topics only; a client-zone stage may read
 * server-zone topics (scores) and write them (queries, keys). Returns the violations, empty when none.
 */
export function zoneViolations(s: Pick<StageSpec, 'name' | 'zone' | 'input' | 'outputs' | 'tables'>): string[] {
  if (s.zone === 'client') return [];
  const touched = [...(s.input ? [s.input] : []), ...s.outputs, ...s.tables];
  return touched
    .filter((t) => TOPICS[t].zone !== 'server')
    .map((t) => `${s.name} (server zone) may not touch ${TOPICS[t].name} (${TOPICS[t].zone} zone)`);
}
