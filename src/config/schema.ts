// The schema DSL: each resource kind is described once with these builders (string, integer, enum,
// duration, array, object, map…, with defaults, required fields, descriptions and custom checks).
// From that one description come both the validator (`validateValue`: normalises input, applies
// defaults, reports every problem with its field path) and the JSON Schema (`toJsonSchema`, draft 2020-12).
import type { ConfigIssueCode, ConfigIssueSeverity } from './types.ts';
import { parseDuration, DURATION_PATTERN } from './duration.ts';
import { suggest } from './suggest.ts';

export type PathSegment = string | number;

/** A problem found while validating one document; positions are resolved later from `path`. */
export interface RawIssue {
  readonly code: ConfigIssueCode;
  readonly severity: ConfigIssueSeverity;
  readonly path: readonly PathSegment[];
  /** Point at the key of the last path segment (unknown fields) rather than its value. */
  readonly atKey: boolean;
  readonly message: string;
  readonly expected?: string;
  readonly found?: string;
  readonly suggestion?: string;
}

export interface IssueOptions {
  /** Path relative to the current node. */
  at?: readonly PathSegment[];
  atKey?: boolean;
  severity?: ConfigIssueSeverity;
  expected?: string;
  found?: string;
  suggestion?: string;
}

/** Validation state: the current path (a stack) and the issues found so far. */
export class ValidationContext {
  readonly path: PathSegment[];
  readonly issues: RawIssue[] = [];

  constructor(base: readonly PathSegment[] = []) {
    this.path = [...base];
  }

  issue(code: ConfigIssueCode, message: string, options: IssueOptions = {}): void {
    this.issues.push({
      code,
      severity: options.severity ?? 'error',
      path: options.at ? [...this.path, ...options.at] : [...this.path],
      atKey: options.atKey ?? false,
      message,
      ...(options.expected !== undefined ? { expected: options.expected } : {}),
      ...(options.found !== undefined ? { found: options.found } : {}),
      ...(options.suggestion !== undefined ? { suggestion: options.suggestion } : {}),
    });
  }

  get errorCount(): number {
    let n = 0;
    for (const i of this.issues) if (i.severity === 'error') n++;
    return n;
  }
}

/** A custom check runs on a node's normalised value once the node itself is valid. */
export type Check = (value: any, ctx: ValidationContext) => void;

interface SchemaBase {
  readonly description?: string;
  /** Applied when the field is absent (or null); given in input form (durations as strings). */
  readonly default?: unknown;
  readonly required?: boolean;
  readonly check?: Check;
}

export interface StringSchema extends SchemaBase {
  readonly type: 'string';
  readonly pattern?: RegExp;
  /** What the pattern means, for messages: e.g. `DNS-1123 name`. */
  readonly patternName?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
}
export interface IntegerSchema extends SchemaBase {
  readonly type: 'integer';
  readonly minimum?: number;
  readonly maximum?: number;
}
export interface NumberSchema extends SchemaBase {
  readonly type: 'number';
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: boolean;
}
export interface BooleanSchema extends SchemaBase {
  readonly type: 'boolean';
}
export interface EnumSchema<V extends string | number = string | number> extends SchemaBase {
  readonly type: 'enum';
  readonly values: readonly V[];
}
/** A Gateway API duration string; normalised to milliseconds. */
export interface DurationSchema extends SchemaBase {
  readonly type: 'duration';
}
export interface ArraySchema<I extends Schema = Schema> extends SchemaBase {
  readonly type: 'array';
  readonly items: I;
  readonly minItems?: number;
  readonly maxItems?: number;
}
export interface ObjectSchema<F extends Readonly<Record<string, Schema>> = Readonly<Record<string, Schema>>> extends SchemaBase {
  readonly type: 'object';
  readonly fields: F;
  /** Fields accepted and dropped silently (e.g. Kubernetes bookkeeping such as `metadata.uid`). */
  readonly ignoredFields?: readonly string[];
  /** Accept unknown fields silently (foreign kinds only). */
  readonly open?: boolean;
}
export interface MapSchema<V extends Schema = Schema> extends SchemaBase {
  readonly type: 'map';
  readonly values: V;
  readonly keyPattern?: RegExp;
  readonly keyPatternName?: string;
  readonly maxProperties?: number;
}
export interface IntOrStringSchema extends SchemaBase {
  readonly type: 'intOrString';
  readonly minimum?: number;
  readonly maximum?: number;
}
/** Any value, kept as is and not descended into. */
export interface AnySchema extends SchemaBase {
  readonly type: 'any';
}

export type Schema =
  | StringSchema
  | IntegerSchema
  | NumberSchema
  | BooleanSchema
  | EnumSchema
  | DurationSchema
  | ArraySchema
  | ObjectSchema
  | MapSchema
  | IntOrStringSchema
  | AnySchema;

type Opts<S> = Omit<S, 'type'>;

/** The builders. Their types carry the shape, so `Infer<typeof schema>` is the raw input type. */
export const s = {
  string: (o: Opts<StringSchema> = {}): StringSchema => ({ type: 'string', ...o }),
  integer: (o: Opts<IntegerSchema> = {}): IntegerSchema => ({ type: 'integer', ...o }),
  number: (o: Opts<NumberSchema> = {}): NumberSchema => ({ type: 'number', ...o }),
  boolean: (o: Opts<BooleanSchema> = {}): BooleanSchema => ({ type: 'boolean', ...o }),
  enum: <const V extends string | number>(values: readonly V[], o: Opts<Omit<EnumSchema, 'values'>> = {}): EnumSchema<V> => ({ type: 'enum', values, ...o }),
  duration: (o: Opts<DurationSchema> = {}): DurationSchema => ({ type: 'duration', ...o }),
  array: <I extends Schema>(items: I, o: Opts<Omit<ArraySchema, 'items'>> = {}): ArraySchema<I> => ({ type: 'array', items, ...o }),
  object: <F extends Readonly<Record<string, Schema>>>(fields: F, o: Opts<Omit<ObjectSchema, 'fields'>> = {}): ObjectSchema<F> => ({ type: 'object', fields, ...o }),
  map: <V extends Schema>(values: V, o: Opts<Omit<MapSchema, 'values'>> = {}): MapSchema<V> => ({ type: 'map', values, ...o }),
  intOrString: (o: Opts<IntOrStringSchema> = {}): IntOrStringSchema => ({ type: 'intOrString', ...o }),
  any: (o: Opts<AnySchema> = {}): AnySchema => ({ type: 'any', ...o }),
};

/** The same schema, marked required. */
export function req<S extends Schema>(schema: S): S & { readonly required: true } {
  return { ...schema, required: true } as S & { readonly required: true };
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type RequiredKeys<F> = { [K in keyof F]: F[K] extends { readonly required: true } ? K : never }[keyof F];

/**
 * The raw input type a schema accepts (the `XSpec` of a kind): what a user writes, before defaults
 * (durations are strings here, milliseconds in the Config).
 */
export type Infer<S> = S extends StringSchema
  ? string
  : S extends IntegerSchema | NumberSchema
    ? number
    : S extends BooleanSchema
      ? boolean
      : S extends EnumSchema<infer V>
        ? V
        : S extends DurationSchema
          ? string
          : S extends IntOrStringSchema
            ? number | string
            : S extends ArraySchema<infer I>
              ? Infer<I>[]
              : S extends MapSchema<infer V>
                ? Record<string, Infer<V>>
                : S extends ObjectSchema<infer F>
                  ? Simplify<{ [K in RequiredKeys<F>]: Infer<F[K]> } & { [K in Exclude<keyof F, RequiredKeys<F>>]?: Infer<F[K]> }>
                  : unknown;

/** Marks a value that failed validation (parents skip their custom checks). */
export const INVALID: unique symbol = Symbol('invalid');

/** `string "ten"`, `integer 5`, `mapping`…: how a found value is described in messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return `string ${JSON.stringify(shown)}`;
  }
  if (typeof value === 'number') return Number.isInteger(value) ? `integer ${value}` : `number ${value}`;
  if (typeof value === 'boolean') return `boolean ${value}`;
  if (Array.isArray(value)) return 'sequence';
  if (typeof value === 'object') return 'mapping';
  return typeof value;
}

/** The human name of what a schema accepts. */
export function expectedName(schema: Schema): string {
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
      return 'integer';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'enum':
      return `one of ${schema.values.join(', ')}`;
    case 'duration':
      return 'duration (e.g. 10s, 1h30m, 500ms)';
    case 'array':
      return 'sequence';
    case 'object':
    case 'map':
      return 'mapping';
    case 'intOrString':
      return 'integer or string';
    case 'any':
      return 'any value';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function wrongType(schema: Schema, value: unknown, ctx: ValidationContext): typeof INVALID {
  const expected = expectedName(schema);
  const found = describeValue(value);
  ctx.issue('WRONG_TYPE', `expected ${expected}, found ${found}`, { expected, found });
  return INVALID;
}

function rangeText(min: number | undefined, max: number | undefined, what: string): string {
  if (min !== undefined && max !== undefined) return `${what} between ${min} and ${max}`;
  if (min !== undefined) return `${what} >= ${min}`;
  return `${what} <= ${max}`;
}

function checkRange(value: number, schema: { minimum?: number; maximum?: number }, what: string, ctx: ValidationContext): boolean {
  if ((schema.minimum !== undefined && value < schema.minimum) || (schema.maximum !== undefined && value > schema.maximum)) {
    const expected = rangeText(schema.minimum, schema.maximum, what);
    ctx.issue('INVALID_VALUE', `${value} is out of range; expected ${expected}`, { expected, found: describeValue(value) });
    return false;
  }
  return true;
}

/**
 * Validates `value` against `schema` at the context's current path. Returns the normalised value
 * (defaults applied, durations in ms, unknown fields dropped) or INVALID after recording issues.
 */
export function validateValue(schema: Schema, value: unknown, ctx: ValidationContext): unknown {
  const result = validateInner(schema, value, ctx);
  if (result !== INVALID && schema.check !== undefined) {
    const before = ctx.errorCount;
    schema.check(result, ctx);
    if (ctx.errorCount > before) return INVALID;
  }
  return result;
}

function validateInner(schema: Schema, value: unknown, ctx: ValidationContext): unknown {
  switch (schema.type) {
    case 'string': {
      if (typeof value !== 'string') return wrongType(schema, value, ctx);
      if (schema.minLength !== undefined && value.length < schema.minLength) {
        const expected = schema.minLength === 1 ? 'a non-empty string' : `a string of at least ${schema.minLength} characters`;
        ctx.issue('INVALID_VALUE', value.length === 0 ? `empty string; expected ${expected}` : `string too short; expected ${expected}`, {
          expected,
          found: describeValue(value),
        });
        return INVALID;
      }
      if (schema.maxLength !== undefined && value.length > schema.maxLength) {
        const expected = `at most ${schema.maxLength} characters`;
        ctx.issue('INVALID_VALUE', `string of ${value.length} characters is too long; expected ${expected}`, { expected, found: `${value.length} characters` });
        return INVALID;
      }
      if (schema.pattern !== undefined && !schema.pattern.test(value)) {
        const expected = schema.patternName ?? `a string matching ${schema.pattern.source}`;
        ctx.issue('INVALID_VALUE', `${JSON.stringify(value)} is not a valid ${expected}`, { expected, found: describeValue(value) });
        return INVALID;
      }
      return value;
    }
    case 'integer': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return wrongType(schema, value, ctx);
      return checkRange(value, schema, 'an integer', ctx) ? value : INVALID;
    }
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return wrongType(schema, value, ctx);
      return checkRange(value, schema, 'a number', ctx) ? value : INVALID;
    }
    case 'boolean':
      return typeof value === 'boolean' ? value : wrongType(schema, value, ctx);
    case 'enum': {
      if (schema.values.includes(value as string | number)) return value;
      const expected = `one of ${schema.values.join(', ')}`;
      if (typeof value !== 'string' && typeof value !== 'number') return wrongType(schema, value, ctx);
      const suggestion = typeof value === 'string' ? suggest(value, schema.values.map(String)) : undefined;
      ctx.issue(
        'INVALID_VALUE',
        `${JSON.stringify(value)} is not ${expected}${suggestion !== undefined ? `; did you mean \`${suggestion}\`?` : ''}`,
        { expected, found: describeValue(value), ...(suggestion !== undefined ? { suggestion } : {}) },
      );
      return INVALID;
    }
    case 'duration': {
      if (typeof value !== 'string') return wrongType(schema, value, ctx);
      const ms = parseDuration(value);
      if (ms === undefined) {
        const expected = 'a duration like 10s, 1h30m or 500ms (1-5 digits per unit h, m, s, ms)';
        ctx.issue('INVALID_VALUE', `${JSON.stringify(value)} is not a duration; expected ${expected}`, { expected, found: describeValue(value) });
        return INVALID;
      }
      return ms;
    }
    case 'intOrString': {
      if (typeof value === 'string') return value.length > 0 ? value : wrongType(schema, value, ctx);
      if (typeof value !== 'number' || !Number.isInteger(value)) return wrongType(schema, value, ctx);
      return checkRange(value, schema, 'an integer', ctx) ? value : INVALID;
    }
    case 'any':
      return value;
    case 'array':
      return validateArray(schema, value, ctx);
    case 'object':
      return validateObject(schema, value, ctx);
    case 'map':
      return validateMap(schema, value, ctx);
  }
}

function validateArray(schema: ArraySchema, value: unknown, ctx: ValidationContext): unknown {
  if (!Array.isArray(value)) return wrongType(schema, value, ctx);
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    const expected = `at most ${schema.maxItems} items`;
    ctx.issue('INVALID_VALUE', `${value.length} items are too many; expected ${expected}`, { expected, found: `${value.length} items` });
    return INVALID;
  }
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    const expected = `at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}`;
    ctx.issue('INVALID_VALUE', `${value.length === 0 ? 'empty sequence' : `${value.length} items`}; expected ${expected}`, { expected, found: `${value.length} items` });
    return INVALID;
  }
  const out = new Array<unknown>(value.length);
  let ok = true;
  for (let i = 0; i < value.length; i++) {
    ctx.path.push(i);
    const v = value[i] === null ? nullItem(schema.items, ctx) : validateValue(schema.items, value[i], ctx);
    ctx.path.pop();
    if (v === INVALID) ok = false;
    out[i] = v;
  }
  return ok ? out : INVALID;
}

function nullItem(schema: Schema, ctx: ValidationContext): unknown {
  return wrongType(schema, null, ctx);
}

function validateObject(schema: ObjectSchema, value: unknown, ctx: ValidationContext): unknown {
  if (!isPlainObject(value)) return wrongType(schema, value, ctx);
  const out: Record<string, unknown> = {};
  let ok = true;
  const fields = schema.fields;
  for (const key in value) {
    if (Object.prototype.hasOwnProperty.call(fields, key) || !Object.prototype.hasOwnProperty.call(value, key)) continue;
    if (schema.open || schema.ignoredFields?.includes(key)) continue;
    const suggestion = suggest(key, Object.keys(fields));
    const message =
      suggestion !== undefined
        ? `unknown field \`${key}\`; did you mean \`${suggestion}\`?`
        : `unknown field \`${key}\`; expected one of: ${Object.keys(fields).join(', ')}`;
    ctx.issue('UNKNOWN_FIELD', message, {
      at: [key],
      atKey: true,
      expected: `one of: ${Object.keys(fields).join(', ')}`,
      found: key,
      ...(suggestion !== undefined ? { suggestion } : {}),
    });
    ok = false;
  }
  for (const key in fields) {
    const field = fields[key] as Schema;
    const raw = value[key];
    if (raw === undefined || raw === null) {
      if (field.required) {
        ctx.issue('MISSING_FIELD', `missing required field \`${key}\``, { at: [key], expected: expectedName(field) });
        ok = false;
        continue;
      }
      if (field.default === undefined) continue;
      ctx.path.push(key);
      const v = validateValue(field, structuredCloneSmall(field.default), ctx);
      ctx.path.pop();
      if (v === INVALID) ok = false;
      else out[key] = v;
      continue;
    }
    ctx.path.push(key);
    const v = validateValue(field, raw, ctx);
    ctx.path.pop();
    if (v === INVALID) ok = false;
    else out[key] = v;
  }
  return ok ? out : INVALID;
}

function validateMap(schema: MapSchema, value: unknown, ctx: ValidationContext): unknown {
  if (!isPlainObject(value)) return wrongType(schema, value, ctx);
  const keys = Object.keys(value);
  if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
    const expected = `at most ${schema.maxProperties} entries`;
    ctx.issue('INVALID_VALUE', `${keys.length} entries are too many; expected ${expected}`, { expected, found: `${keys.length} entries` });
    return INVALID;
  }
  const out: Record<string, unknown> = {};
  let ok = true;
  for (const key of keys) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      ctx.issue('INVALID_VALUE', `key \`${key}\` is not allowed`, { at: [key], atKey: true, expected: 'an ordinary key', found: key });
      ok = false;
      continue;
    }
    if (schema.keyPattern !== undefined && !schema.keyPattern.test(key)) {
      const expected = schema.keyPatternName ?? `a key matching ${schema.keyPattern.source}`;
      ctx.issue('INVALID_VALUE', `${JSON.stringify(key)} is not a valid ${expected}`, { at: [key], atKey: true, expected, found: describeValue(key) });
      ok = false;
      continue;
    }
    ctx.path.push(key);
    const v = validateValue(schema.values, value[key], ctx);
    ctx.path.pop();
    if (v === INVALID) ok = false;
    else out[key] = v;
  }
  return ok ? out : INVALID;
}

/** A copy of a (tiny, plain) default value, so that normalising it never touches the schema's own. */
function structuredCloneSmall(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(structuredCloneSmall);
  const out: Record<string, unknown> = {};
  for (const key in value) out[key] = structuredCloneSmall((value as Record<string, unknown>)[key]);
  return out;
}

// ───────────────────────────── JSON Schema ─────────────────────────────

/** The JSON Schema (draft 2020-12 vocabulary) of one DSL node. */
export function toJsonSchema(schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (schema.description !== undefined) out.description = schema.description;
  switch (schema.type) {
    case 'string':
      out.type = 'string';
      if (schema.pattern !== undefined) out.pattern = schema.pattern.source;
      if (schema.minLength !== undefined) out.minLength = schema.minLength;
      if (schema.maxLength !== undefined) out.maxLength = schema.maxLength;
      break;
    case 'integer':
    case 'number':
      out.type = schema.type;
      if (schema.minimum !== undefined) out.minimum = schema.minimum;
      if (schema.maximum !== undefined) out.maximum = schema.maximum;
      break;
    case 'boolean':
      out.type = 'boolean';
      break;
    case 'enum':
      out.type = typeof schema.values[0] === 'number' ? 'integer' : 'string';
      out.enum = [...schema.values];
      break;
    case 'duration':
      out.type = 'string';
      out.pattern = DURATION_PATTERN;
      break;
    case 'intOrString':
      out.type = ['integer', 'string'];
      break;
    case 'any':
      break;
    case 'array':
      out.type = 'array';
      out.items = toJsonSchema(schema.items);
      if (schema.minItems !== undefined) out.minItems = schema.minItems;
      if (schema.maxItems !== undefined) out.maxItems = schema.maxItems;
      break;
    case 'map':
      out.type = 'object';
      out.additionalProperties = toJsonSchema(schema.values);
      if (schema.keyPattern !== undefined) out.propertyNames = { pattern: schema.keyPattern.source };
      if (schema.maxProperties !== undefined) out.maxProperties = schema.maxProperties;
      break;
    case 'object': {
      out.type = 'object';
      const properties: Record<string, unknown> = {};
      const required: string[] = [];
      for (const [key, field] of Object.entries(schema.fields)) {
        properties[key] = toJsonSchema(field);
        if (field.required) required.push(key);
      }
      for (const key of schema.ignoredFields ?? []) properties[key] = { description: 'accepted and ignored' };
      out.properties = properties;
      if (required.length > 0) out.required = required;
      if (!schema.open) out.additionalProperties = false;
      break;
    }
  }
  if (schema.default !== undefined) out.default = schema.default;
  return out;
}
