// The field reference of docs/CONFIG.md, generated from the same schema descriptions as the
// validator and the JSON Schemas: one table per kind (field path, type, default, description).
import { DURATION_PATTERN } from './duration.ts';
import type { Schema } from './schema.ts';
import type { KindDefinition } from './kinds-common.ts';

function typeName(schema: Schema): string {
  switch (schema.type) {
    case 'enum':
      return schema.values.map((v) => `\`${v}\``).join(' \\| ');
    case 'duration':
      return 'duration';
    case 'array':
      return `list of ${schema.items.type === 'object' ? 'objects' : typeName(schema.items)}`;
    case 'map':
      return `map of ${typeName(schema.values)}`;
    case 'intOrString':
      return 'integer or string';
    case 'any':
      return 'any';
    case 'object':
      return 'object';
    default: {
      const range =
        (schema.type === 'integer' || schema.type === 'number') && (schema.minimum !== undefined || schema.maximum !== undefined)
          ? ` (${schema.minimum ?? '…'}–${schema.maximum ?? '…'})`
          : '';
      return `${schema.type}${range}`;
    }
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function rows(schema: Schema, path: string, out: string[], depth: number): void {
  if (depth > 12) return;
  if (schema.type === 'object') {
    for (const [key, field] of Object.entries(schema.fields)) {
      const p = path === '' ? key : `${path}.${key}`;
      const dflt = field.default === undefined ? '' : `\`${JSON.stringify(field.default)}\``;
      out.push(`| \`${p}\` | ${typeName(field)}${field.required ? ' (required)' : ''} | ${dflt} | ${cell(field.description ?? '')} |`);
      rows(field, p, out, depth + 1);
    }
  } else if (schema.type === 'array') {
    rows(schema.items, `${path}[]`, out, depth + 1);
  } else if (schema.type === 'map') {
    rows(schema.values, `${path}.*`, out, depth + 1);
  }
}

/** The markdown field table of one kind's spec. */
export function fieldReference(def: KindDefinition): string {
  const out = ['| field | type | default | description |', '|---|---|---|---|'];
  rows(def.spec, 'spec', out, 0);
  return out.join('\n');
}

/** The generated part of docs/CONFIG.md: one section per kind. */
export function fieldReferenceDocument(defs: readonly KindDefinition[]): string {
  const parts = [
    `Generated from the schemas in \`src/config/kinds*.ts\` by \`scripts/write-schemas.ts\`; do not edit by hand. Durations match \`${DURATION_PATTERN}\`. Every kind also accepts \`metadata.name\` (required), \`metadata.namespace\` (default \`default\`; not for Mesh), \`metadata.labels\` and \`metadata.annotations\`; \`status\` is ignored.`,
  ];
  for (const def of defs) {
    parts.push(`### ${def.kind} (\`${def.apiVersions.join('`, `')}\`)\n\n${def.description}\n\n${fieldReference(def)}`);
  }
  return parts.join('\n\n');
}
