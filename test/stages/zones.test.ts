/**
 * Zones are code: the topology declares each stage's zone and topics; the runtime refuses a server-zone
 * stage that touches a client-zone topic; and no server-zone module can reach client-zone code or secret
 * keys through its imports (static or dynamic, transitively).
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isBlindearError } from '../../pipeline/errors.js';
import { checkStageZone } from '../../pipeline/runtime/run-stage.js';
import { defineStage } from '../../pipeline/runtime/stage.js';
import { TOPOLOGY, zoneViolations } from '../../pipeline/topology.js';
import { TOPICS } from '../../schemas/topics.js';
import { reachableFrom as reachable } from '../helpers/imports.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const files = (dir: string): string[] => readdirSync(join(root, dir)).flatMap((n) => {
  const p = join(root, dir, n);
  return statSync(p).isDirectory() ? files(relative(root, p)) : p.endsWith('.ts') ? [p] : [];
});

/** Server-zone code: the scoring engine, the scorer stage and its key store, the scorer's command. */
const SERVER_ENTRIES = [...files('pipeline/he/server'), join(root, 'pipeline/stages/scorer.ts'), join(root, 'pipeline/stages/session-key-store.ts'), join(root, 'pipeline/cli/worker.ts')];
/** Client-zone code and secret keys: none of it may be reachable from server-zone code. */
const CLIENT_ONLY = ['pipeline/he/client/', 'pipeline/service/', 'pipeline/stages/windowing.ts', 'pipeline/stages/encrypt.ts', 'pipeline/stages/decide.ts', 'pipeline/stages/client-sessions.ts', 'pipeline/stages/delivery.ts', 'pipeline/cli/monitor.ts', 'pipeline/cli/stream.ts', 'connectors/'];

describe('trust zones', () => {
  it('every stage of the topology keeps to its zone, and the server zone only touches server-zone topics', () => {
    for (const s of Object.values(TOPOLOGY)) expect(zoneViolations(s), s.name).toEqual([]);
    expect(TOPOLOGY.scorer.zone).toBe('server');
    for (const t of [TOPOLOGY.scorer.input!, ...TOPOLOGY.scorer.outputs]) expect(TOPICS[t].zone).toBe('server');
    // What the client zone keeps to itself.
    for (const t of ['audio', 'features', 'predictions', 'airplay', 'clientSessions', 'decideState', 'ingestProgress'] as const) expect(TOPICS[t].zone).toBe('client');
  });

  it('the runtime refuses a server-zone stage that reads a client-zone topic', () => {
    const misconfigured = defineStage({ name: 'scorer', input: 'audio', process: async () => [] });
    let err: unknown;
    try { checkStageZone(misconfigured as never); } catch (e) { err = e; }
    expect(isBlindearError(err) && err.code).toBe('BLINDEAR_ERR_ZONE_VIOLATION');
    expect(String((err as Error).message)).toMatch(/scorer \(server zone\) may not touch blindear\.audio\.v1 \(client zone\)/);
    // And a declared topology entry that writes a client topic from the server zone.
    expect(zoneViolations({ ...TOPOLOGY.scorer, outputs: ['scores', 'predictions'] })).toEqual([
      'scorer (server zone) may not touch blindear.predictions.v1 (client zone)',
    ]);
  });

  it('no server-zone module reaches client-zone or secret-key code through its imports', () => {
    const seen = reachable(SERVER_ENTRIES);
    expect(seen.size).toBeGreaterThan(SERVER_ENTRIES.length);
    const offenders = [...seen]
      .filter(([file]) => CLIENT_ONLY.some((c) => relative(root, file).startsWith(c)))
      .map(([file, by]) => `${relative(root, by)} -> ${relative(root, file)}`);
    expect(offenders).toEqual([]);
  });
});
