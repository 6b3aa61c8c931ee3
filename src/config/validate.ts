// validateDocuments: in-memory sources → an immutable MeshConfig, or every error (never a partial
// config). Steps: parse each source safely, validate each document against its kind's schema, build
// the kind's Config, check the whole set (duplicates, cross-references), then freeze. Issue positions
// are resolved by field path at the end, only for the issues there are.
import { ok, err } from '../core/result.ts';
import { ValidationContext, INVALID, describeValue, validateValue, type PathSegment, type RawIssue } from './schema.ts';
import { parseSource, PositionResolver, DEFAULT_PARSE_LIMITS, type ParsedSource } from './parse.ts';
import { KIND_SCHEMAS, IGNORED_KINDS, SUPPORTED_KIND_NAMES, apiGroup, lookupKind, type KindDefinition } from './kinds.ts';
import { metadataSchema, EMPTY_RECORD, type ResourceBaseFields } from './kinds-common.ts';
import { suggest } from './suggest.ts';
import { MESH_DEFAULTS } from './defaults.ts';
import { deepFreeze, FrozenMap } from './freeze.ts';
import { crossCheck, type ValidatedEntry } from './cross-refs.ts';
import type { ConfigIssue, ConfigIssueCode, ConfigLoadOptions, ConfigLoadResult, IgnoredResourceConfig, MeshConfig, MeshSettingsConfig, ObjectMetaConfig, SourceDocument } from './types.ts';

export const DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_ISSUES = 1000;

/** An issue waiting for its position: either located already (line set) or by document + path. */
interface PendingIssue extends RawIssue {
  readonly fileIndex: number;
  readonly docIndex: number;
  readonly line?: number;
  readonly column?: number;
  readonly resource?: string;
  /** Start of the issue's document, used when the path cannot be found in the source. */
  readonly docLine?: number;
  readonly docColumn?: number;
}

const TOP_LEVEL_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

/** `spec.rules[0].backendRefs[1].weight`; odd keys in brackets: `labels["app.kubernetes.io/name"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

class IssueCollector {
  readonly errors: PendingIssue[] = [];
  readonly warnings: PendingIssue[] = [];
  droppedErrors = 0;
  droppedWarnings = 0;
  constructor(readonly max: number) {}

  add(issue: PendingIssue): void {
    if (issue.severity === 'error') {
      if (this.errors.length < this.max) this.errors.push(issue);
      else this.droppedErrors++;
    } else if (this.warnings.length < this.max) this.warnings.push(issue);
    else this.droppedWarnings++;
  }

  get errorCount(): number {
    return this.errors.length + this.droppedErrors;
  }
}

function located(fileIndex: number, code: ConfigIssueCode, message: string, line: number, column: number, extra: Partial<RawIssue> = {}, severity: 'error' | 'warning' = 'error'): PendingIssue {
  return { code, severity, path: [], atKey: false, message, fileIndex, docIndex: -1, line, column, ...extra };
}

/**
 * Validates in-memory sources (file paths or store keys with their text) as one configuration.
 * Pure: no I/O. Returns the frozen MeshConfig, or all errors; warnings either way.
 */
export function validateDocuments(sources: readonly SourceDocument[], options: ConfigLoadOptions = {}): ConfigLoadResult {
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const limits = {
    maxDepth: options.maxDepth ?? DEFAULT_PARSE_LIMITS.maxDepth,
    maxAliasCount: options.maxAliasCount ?? DEFAULT_PARSE_LIMITS.maxAliasCount,
    maxDocuments: options.maxDocumentsPerFile ?? DEFAULT_PARSE_LIMITS.maxDocuments,
    preciseOnly: options.parser === 'precise',
  };
  const issues = new IssueCollector(options.maxIssues ?? DEFAULT_MAX_ISSUES);
  const parsed: (ParsedSource | undefined)[] = [];
  const entries: ValidatedEntry[] = [];
  const ignored: IgnoredResourceConfig[] = [];
  let documents = 0;
  let bytes = 0;

  sources.forEach((source, fileIndex) => {
    // A UTF-16 code unit is at most 3 UTF-8 bytes, so short texts skip the byte count.
    const size = source.text.length * 3 > maxFileBytes ? Buffer.byteLength(source.text) : source.text.length;
    bytes += size;
    if (size > maxFileBytes) {
      issues.add(located(fileIndex, 'FILE_TOO_LARGE', `file is larger than the limit of ${maxFileBytes} bytes`, 0, 0, { expected: `at most ${maxFileBytes} bytes`, found: `${size} bytes` }));
      parsed.push(undefined);
      return;
    }
    let result = parseSource(source.text, limits);
    // Documents are validated as they are loaded, so each raw document dies young. If the fast
    // parser gives up part-way, this file's partial results are dropped and it is parsed precisely.
    let fileIssues: PendingIssue[] = [];
    let fileEntries: ValidatedEntry[] = [];
    let fileIgnored: IgnoredResourceConfig[] = [];
    let fileDocs = 0;
    const consume = (r: ParsedSource): void => {
      for (const doc of r.docs) {
        fileDocs++;
        const out = validateDocument(doc.value, { file: source.source, line: doc.line, column: doc.column });
        for (const i of out.issues) fileIssues.push({ ...i, fileIndex, docIndex: doc.index, docLine: doc.line, docColumn: doc.column, ...(out.resource ? { resource: out.resource } : {}) });
        if (out.entry) fileEntries.push({ def: out.entry.def, config: out.entry.config, fileIndex, docIndex: doc.index, resource: out.resource as string });
        if (out.ignored) fileIgnored.push(out.ignored);
      }
    };
    try {
      consume(result);
    } catch {
      fileIssues = [];
      fileEntries = [];
      fileIgnored = [];
      fileDocs = 0;
      result = parseSource(source.text, { ...limits, preciseOnly: true });
      consume(result);
    }
    parsed.push(result);
    for (const p of result.issues) issues.add(located(fileIndex, p.code, p.message, p.line, p.column, { ...(p.expected ? { expected: p.expected } : {}), ...(p.found ? { found: p.found } : {}) }));
    if (fileDocs === 0 && result.issues.length === 0) {
      issues.add(located(fileIndex, 'NO_RESOURCES', 'no resources in this file (it is empty or only comments)', 0, 0, {}, 'warning'));
    }
    documents += fileDocs;
    for (const i of fileIssues) issues.add(i);
    for (const e of fileEntries) entries.push(e);
    for (const r of fileIgnored) ignored.push(r);
  });

  const namespaceLabels = new Map(ignored.filter((r) => r.kind === 'Namespace' && r.apiVersion === 'v1').map((r) => [r.name, r.labels] as const));
  for (const i of crossCheck(entries, namespaceLabels)) issues.add(i);

  const stats = { files: sources.length, documents, resources: entries.length, bytes };
  const resolve = makeResolver(sources, parsed);
  const warnings = finish(issues.warnings, issues.droppedWarnings, 'warning', resolve, sources);
  if (issues.errorCount > 0) {
    return { ...err(finish(issues.errors, issues.droppedErrors, 'error', resolve, sources)), warnings, stats };
  }
  return { ...ok(buildMeshConfig(entries, ignored)), warnings, stats };
}

interface DocumentOutcome {
  issues: RawIssue[];
  entry?: Omit<ValidatedEntry, 'fileIndex' | 'docIndex' | 'resource'>;
  ignored?: IgnoredResourceConfig;
  resource?: string;
}

function validateDocument(value: unknown, source: { file: string; line: number; column: number }): DocumentOutcome {
  const ctx = new ValidationContext();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.issue('NOT_AN_OBJECT', `expected a mapping with apiVersion, kind, metadata and spec, found ${describeValue(value)}`, {
      expected: 'mapping',
      found: describeValue(value),
    });
    return { issues: ctx.issues };
  }
  const doc = value as Record<string, unknown>;
  const apiVersion = doc.apiVersion;
  const kind = doc.kind;
  let bad = false;
  for (const [field, v] of [['apiVersion', apiVersion], ['kind', kind]] as const) {
    if (v === undefined || v === null) {
      ctx.issue('MISSING_FIELD', `missing required field \`${field}\``, { at: [field], expected: 'string' });
      bad = true;
    } else if (typeof v !== 'string') {
      ctx.issue('WRONG_TYPE', `expected string, found ${describeValue(v)}`, { at: [field], expected: 'string', found: describeValue(v) });
      bad = true;
    }
  }
  if (bad) return { issues: ctx.issues };
  const apiVersionText = apiVersion as string;
  const kindText = kind as string;
  const meta = doc.metadata as Record<string, unknown> | undefined;
  const rawName = typeof meta?.name === 'string' ? meta.name : '?';
  const rawNs = typeof meta?.namespace === 'string' ? meta.namespace : 'default';

  const { def, candidates } = lookupKind(apiVersionText, kindText);
  if (def === undefined) {
    if (candidates.length > 0) {
      const accepted = candidates.flatMap((c) => c.apiVersions);
      const suggestion = suggest(apiVersionText, accepted);
      ctx.issue('UNSUPPORTED_API_VERSION', `apiVersion \`${apiVersionText}\` is not supported for kind ${kindText}; expected ${accepted.join(' or ')}`, {
        at: ['apiVersion'],
        expected: accepted.join(' or '),
        found: apiVersionText,
        ...(suggestion !== undefined ? { suggestion } : {}),
      });
      return { issues: ctx.issues };
    }
    const groups = IGNORED_KINDS.get(kindText);
    if (groups !== undefined && groups.includes(apiGroup(apiVersionText))) {
      ctx.issue('IGNORED_KIND', `kind ${kindText} (${apiVersionText}) is not modelled by weft; ignored`, { at: ['kind'], severity: 'warning', found: kindText });
      const rawLabels = meta?.labels;
      const labels =
        typeof rawLabels === 'object' && rawLabels !== null && !Array.isArray(rawLabels) && Object.values(rawLabels).every((v) => typeof v === 'string')
          ? (rawLabels as Record<string, string>)
          : {};
      return { issues: ctx.issues, ignored: { apiVersion: apiVersionText, kind: kindText, name: rawName, namespace: rawNs, labels, source } };
    }
    const suggestion = suggest(kindText, SUPPORTED_KIND_NAMES);
    ctx.issue(
      'UNKNOWN_KIND',
      `unknown kind \`${kindText}\`${suggestion !== undefined ? `; did you mean \`${suggestion}\`? Supported` : '; supported'} kinds: ${SUPPORTED_KIND_NAMES.join(', ')}`,
      { at: ['kind'], expected: `one of ${SUPPORTED_KIND_NAMES.join(', ')}`, found: kindText, ...(suggestion !== undefined ? { suggestion } : {}) },
    );
    return { issues: ctx.issues };
  }
  const resource = `${def.kind} ${def.namespaced ? `${rawNs}/` : ''}${rawName}`;

  for (const key of Object.keys(doc)) {
    if (TOP_LEVEL_FIELDS.includes(key)) continue;
    const suggestion = suggest(key, TOP_LEVEL_FIELDS);
    ctx.issue('UNKNOWN_FIELD', `unknown field \`${key}\`${suggestion !== undefined ? `; did you mean \`${suggestion}\`?` : `; expected one of: ${TOP_LEVEL_FIELDS.join(', ')}`}`, {
      at: [key],
      atKey: true,
      expected: `one of: ${TOP_LEVEL_FIELDS.join(', ')}`,
      found: key,
      ...(suggestion !== undefined ? { suggestion } : {}),
    });
  }

  let metadata: ObjectMetaConfig | undefined;
  if (doc.metadata === undefined || doc.metadata === null) {
    ctx.issue('MISSING_FIELD', 'missing required field `metadata`', { at: ['metadata'], expected: 'mapping' });
  } else {
    ctx.path.push('metadata');
    const m = validateMetadata(def, doc.metadata, ctx);
    ctx.path.pop();
    if (m !== INVALID) metadata = m as ObjectMetaConfig;
  }

  let spec: unknown = INVALID;
  const rawSpec = doc.spec;
  if (rawSpec === undefined || rawSpec === null) {
    if (def.specRequired) ctx.issue('MISSING_FIELD', 'missing required field `spec`', { at: ['spec'], expected: 'mapping' });
    else {
      ctx.path.push('spec');
      spec = validateSpec(def, {}, ctx);
      ctx.path.pop();
    }
  } else {
    ctx.path.push('spec');
    spec = validateSpec(def, rawSpec, ctx);
    ctx.path.pop();
  }

  if (metadata === undefined || spec === INVALID || ctx.errorCount > 0) return { issues: ctx.issues, resource };
  const key = def.namespaced ? `${metadata.namespace}/${metadata.name}` : metadata.name;
  const base: ResourceBaseFields = { apiVersion: apiVersionText, metadata, key, source };
  ctx.path.push('spec');
  const config = def.build(spec, base, ctx);
  ctx.path.pop();
  if (ctx.errorCount > 0) return { issues: ctx.issues, resource };
  return { issues: ctx.issues, resource, entry: { def, config } };
}

const metadataSchemas = new Map<boolean, ReturnType<typeof metadataSchema>>([
  [true, metadataSchema(true)],
  [false, metadataSchema(false)],
]);

function validateMetadata(def: KindDefinition, raw: unknown, ctx: ValidationContext): ObjectMetaConfig | typeof INVALID {
  const v = validateValue(metadataSchemas.get(def.namespaced) as ReturnType<typeof metadataSchema>, raw, ctx) as typeof INVALID | Record<string, any>;
  if (v === INVALID) return INVALID;
  return {
    name: v.name,
    namespace: def.namespaced ? (v.namespace ?? 'default') : '',
    labels: v.labels ?? EMPTY_RECORD,
    annotations: v.annotations ?? EMPTY_RECORD,
  };
}

function validateSpec(def: KindDefinition, raw: unknown, ctx: ValidationContext): unknown {
  return validateValue(def.spec, raw, ctx);
}

function makeResolver(sources: readonly SourceDocument[], parsed: readonly (ParsedSource | undefined)[]) {
  const resolvers = new Map<number, PositionResolver>();
  return (fileIndex: number): PositionResolver => {
    let r = resolvers.get(fileIndex);
    if (r === undefined) {
      r = new PositionResolver((sources[fileIndex] as SourceDocument).text, parsed[fileIndex]);
      resolvers.set(fileIndex, r);
    }
    return r;
  };
}

function finish(
  pending: readonly PendingIssue[],
  dropped: number,
  severity: 'error' | 'warning',
  resolve: (fileIndex: number) => PositionResolver,
  sources: readonly SourceDocument[],
): ConfigIssue[] {
  const out = pending.map((p): ConfigIssue & { fileIndex: number } => {
    let line = p.line;
    let column = p.column;
    if (line === undefined || column === undefined) {
      const fallback = { line: p.docLine ?? 1, column: p.docColumn ?? 1 };
      ({ line, column } = resolve(p.fileIndex).locate(p.docIndex, p.path, p.atKey, fallback));
    }
    return {
      fileIndex: p.fileIndex,
      code: p.code,
      severity: p.severity,
      file: (sources[p.fileIndex] as SourceDocument).source,
      line,
      column,
      path: formatPath(p.path),
      message: p.message,
      ...(p.expected !== undefined ? { expected: p.expected } : {}),
      ...(p.found !== undefined ? { found: p.found } : {}),
      ...(p.suggestion !== undefined ? { suggestion: p.suggestion } : {}),
      ...(p.resource !== undefined ? { resource: p.resource } : {}),
    };
  });
  out.sort((a, b) => a.fileIndex - b.fileIndex || a.line - b.line || a.column - b.column);
  const result: ConfigIssue[] = out.map(({ fileIndex: _f, ...rest }) => rest);
  if (dropped > 0) {
    result.push({
      code: 'TOO_MANY_ISSUES',
      severity,
      file: sources[0]?.source ?? '',
      line: 0,
      column: 0,
      path: '',
      message: `and ${dropped} more ${severity}${dropped === 1 ? '' : 's'} not shown (limit ${pending.length})`,
    });
  }
  return result;
}

function buildMeshConfig(entries: readonly ValidatedEntry[], ignored: readonly IgnoredResourceConfig[]): MeshConfig {
  let mesh: MeshSettingsConfig = MESH_DEFAULTS;
  const collections = new Map<string, [string, object][]>();
  for (const c of KIND_SCHEMAS) if (c.collection !== 'mesh') collections.set(c.collection, []);
  for (const e of entries) {
    if (e.def.collection === 'mesh') mesh = e.config as MeshSettingsConfig;
    else (collections.get(e.def.collection) as [string, object][]).push([(e.config as { key: string }).key, e.config]);
  }
  const map = (name: string) => {
    const list = (collections.get(name) ?? []).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return new FrozenMap(list.map(([k, v]) => [k, deepFreeze(v)] as const));
  };
  const config = {
    mesh: deepFreeze(mesh),
    services: map('services'),
    workloads: map('workloads'),
    gateways: map('gateways'),
    httpRoutes: map('httpRoutes'),
    grpcRoutes: map('grpcRoutes'),
    referenceGrants: map('referenceGrants'),
    mtlsPolicies: map('mtlsPolicies'),
    authorizationPolicies: map('authorizationPolicies'),
    backendTrafficPolicies: map('backendTrafficPolicies'),
    rateLimitPolicies: map('rateLimitPolicies'),
    ignored: deepFreeze([...ignored]),
    resourceCount: entries.length,
  } as MeshConfig;
  return Object.freeze(config);
}
