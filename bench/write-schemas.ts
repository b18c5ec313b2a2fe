// `npm run schemas`: writes schemas/json/*.schema.json from the zod schemas.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonSchemas, serialise } from '../schemas/json-schema.js';

const dir = join(process.argv[2] ?? 'schemas/json');
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith('.schema.json')) rmSync(join(dir, f));
for (const [name, schema] of Object.entries(jsonSchemas())) writeFileSync(join(dir, `${name}.schema.json`), serialise(schema));
process.stdout.write(`wrote ${Object.keys(jsonSchemas()).length} schemas to ${dir}\n`);
