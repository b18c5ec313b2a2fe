// The checked-in JSON Schemas are the zod schemas' current output; an event written by the product validates.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonSchemas, serialise } from '../../schemas/json-schema.js';
import { AirplayEvent } from '../../schemas/messages.js';

const dir = join(import.meta.dirname, '../../schemas/json');

describe('published JSON Schemas', () => {
  it('schemas/json matches the zod schemas (run `npm run schemas` after changing a schema)', () => {
    const want = jsonSchemas();
    const have = readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort();
    expect(have).toEqual(Object.keys(want).map((n) => `${n}.schema.json`).sort());
    for (const [name, schema] of Object.entries(want)) expect(readFileSync(join(dir, `${name}.schema.json`), 'utf8'), name).toBe(serialise(schema));
  });

  it('the airplay event schema names the fields the README documents, and rejects an event without them', () => {
    const s = JSON.parse(readFileSync(join(dir, 'blindear.airplay.v1.schema.json'), 'utf8')) as { properties: Record<string, unknown>; required: string[] };
    for (const f of ['event', 'station', 'session', 'path', 'title', 'streamStartSeconds', 'streamEndSeconds', 'startedAt', 'endedAt', 'durationSeconds', 'offsetSeconds', 'confidence', 'modelId']) expect(Object.keys(s.properties)).toContain(f);
    expect(s.required).not.toContain('streamEndSeconds');
    expect(AirplayEvent.safeParse({ event: 'started', station: 'a' }).success).toBe(false);
  });
});
