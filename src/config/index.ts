// The config subsystem's public API: load resources from files or in-memory documents and validate
// them into an immutable MeshConfig (or every issue found), format issues, resolve policies, and
// the kind registry (whose schemas also produce the JSON Schemas under schemas/).
export type * from './types.ts';
export type * from './specs.ts';
export type { Infer } from './schema.ts';
export { resourceKey, serviceKey } from './types.ts';
export { loadConfigFiles, loadConfigFilesOrThrow, loadConfigFilesWithSources, readSourceDocuments, ConfigReadError } from './load.ts';
export { validateDocuments, formatPath, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_ISSUES } from './validate.ts';
export { formatIssue, formatIssues } from './format.ts';
export { parseDuration, formatDuration } from './duration.ts';
export { MESH_DEFAULTS, BACKEND_TRAFFIC_DEFAULTS, DEFAULT_RETRY_BUDGET } from './defaults.ts';
export { resolveMtlsMode, resolveBackendTraffic, applicablePolicies, type ResolvedBackendTraffic, type PolicySubject } from './resolve.ts';
export { KIND_SCHEMAS, IGNORED_KINDS, SUPPORTED_KIND_NAMES, jsonSchemaFor, jsonSchemaForAll, documentSchema, type KindDefinition } from './kinds.ts';
