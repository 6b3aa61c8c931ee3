// Build step: writes the JSON Schema (draft 2020-12) of every resource kind to schemas/<kind>.json,
// generated from the same schema descriptions the validator uses (src/config/kinds*.ts).
// Usage: node --import tsx scripts/write-schemas.ts [--check]   (--check: fail if a file is stale)
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KIND_SCHEMAS, jsonSchemaFor } from '../src/config/index.ts';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const dir = join(root, 'schemas');
const check = process.argv.includes('--check');
mkdirSync(dir, { recursive: true });
let stale = 0;
for (const def of KIND_SCHEMAS) {
  const file = join(dir, def.schemaFile);
  const text = JSON.stringify(jsonSchemaFor(def), null, 2) + '\n';
  if (check) {
    if (!existsSync(file) || readFileSync(file, 'utf8') !== text) {
      console.error(`stale: schemas/${def.schemaFile}`);
      stale++;
    }
    continue;
  }
  writeFileSync(file, text);
  console.log(`wrote schemas/${def.schemaFile}`);
}
if (stale > 0) {
  console.error(`${stale} schema file(s) out of date: run node --import tsx scripts/write-schemas.ts`);
  process.exit(1);
}
