// The config subsystem's public API: load resources from files or in-memory documents and validate
// them into an immutable MeshConfig (or every issue found), plus lookups and policy resolution.
//
// Planned signatures (landing next, additive):
//   loadConfigFiles(paths: readonly string[], options?: ConfigLoadOptions): Promise<ConfigLoadResult>
//   validateDocuments(docs: readonly SourceDocument[], options?: ConfigLoadOptions): ConfigLoadResult
//   formatIssue(issue: ConfigIssue, text?: string): string
//   parseDuration(text: string): number | undefined
//   resolveMtlsMode(config, { namespace, service, port }): MtlsMode
//   resolveBackendTraffic(config, { namespace, service }): ResolvedBackendTraffic
export type * from './types.ts';
export { resourceKey, serviceKey } from './types.ts';
