// Build step: writes the JSON Schema (draft 2020-12) of every resource kind to schemas/<kind>.json,
// generated from the same schema descriptions the validator uses (src/config/kinds*.ts), and the
// generated field reference between the markers in docs/CONFIG.md.
// Usage: node --import tsx scripts/write-schemas.ts [--check]   (--check: fail if a file is stale)
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KIND_SCHEMAS, jsonSchemaFor, jsonSchemaForAll } from '../src/config/index.ts';
import { fieldReferenceDocument } from '../src/config/docs.ts';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const dir = join(root, 'schemas');
const check = process.argv.includes('--check');
mkdirSync(dir, { recursive: true });
let stale = 0;
const outputs: [string, Record<string, unknown>][] = [...KIND_SCHEMAS.map((def) => [def.schemaFile, jsonSchemaFor(def)] as [string, Record<string, unknown>]), ['weft.json', jsonSchemaForAll()]];
for (const [name, schema] of outputs) {
  const file = join(dir, name);
  const text = JSON.stringify(schema, null, 2) + '\n';
  if (check) {
    if (!existsSync(file) || readFileSync(file, 'utf8') !== text) {
      console.error(`stale: schemas/${name}`);
      stale++;
    }
    continue;
  }
  writeFileSync(file, text);
  console.log(`wrote schemas/${name}`);
}
const BEGIN = '<!-- field-reference:begin -->';
const END = '<!-- field-reference:end -->';
const docsFile = join(root, 'docs', 'CONFIG.md');
if (existsSync(docsFile)) {
  const doc = readFileSync(docsFile, 'utf8');
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a >= 0 && b > a) {
    const next = `${doc.slice(0, a + BEGIN.length)}\n${fieldReferenceDocument(KIND_SCHEMAS)}\n${doc.slice(b)}`;
    if (check) {
      if (next !== doc) {
        console.error('stale: docs/CONFIG.md field reference');
        stale++;
      }
    } else if (next !== doc) {
      writeFileSync(docsFile, next);
      console.log('wrote docs/CONFIG.md field reference');
    }
  }
}
if (stale > 0) {
  console.error(`${stale} schema file(s) out of date: run node --import tsx scripts/write-schemas.ts`);
  process.exit(1);
}
