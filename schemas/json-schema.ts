/**
 * The published contracts: a JSON Schema (draft 2020-12) for every topic's JSON (the value of a json topic,
 * the `blindear-envelope` header of a binary one) and for the stations file, generated from the zod
 * schemas. `npm run schemas` writes them to schemas/json/; a test fails when the checked-in files are stale.
 */
import { z } from 'zod';
import { StationsFile } from './stations.js';
import { TOPICS } from './topics.js';

export function jsonSchemas(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of Object.values(TOPICS)) {
    const schema = z.toJSONSchema(spec.envelope, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
    out[`${spec.name}${spec.value === 'json' ? '' : '.envelope'}`] = {
      ...schema,
      $id: `https://blindear.dev/schemas/${spec.name}${spec.value === 'json' ? '' : '.envelope'}.schema.json`,
      title: spec.name,
      description: `${spec.value === 'json' ? 'Record value' : 'The blindear-envelope header'} of ${spec.name} (${spec.zone} zone${spec.compacted ? ', compacted' : ''}).`,
    };
  }
  out.stations = { ...z.toJSONSchema(StationsFile, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>, title: 'blindear monitor stations file' };
  return out;
}

export const serialise = (schema: unknown): string => `${JSON.stringify(schema, null, 2)}\n`;
