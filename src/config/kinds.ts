// The registry of resource kinds: every modelled kind (explicitly listed), the foreign kinds that are
// accepted and ignored, and the JSON Schema of each kind's whole document.
import { s, req, toJsonSchema, type ObjectSchema } from './schema.ts';
import { metadataSchema, type KindDefinition } from './kinds-common.ts';
import { gatewayKind, grpcRouteKind, httpRouteKind, referenceGrantKind } from './kinds-gateway.ts';
import {
  authorizationPolicyKind,
  backendTrafficPolicyKind,
  kubernetesServiceKind,
  meshKind,
  mtlsPolicyKind,
  rateLimitPolicyKind,
  serviceKind,
  workloadKind,
} from './kinds-weft.ts';

export type { KindDefinition } from './kinds-common.ts';

/** Every modelled kind, in documentation order. */
export const KIND_SCHEMAS: readonly KindDefinition[] = [
  meshKind,
  serviceKind,
  workloadKind,
  kubernetesServiceKind,
  gatewayKind,
  httpRouteKind,
  grpcRouteKind,
  referenceGrantKind,
  mtlsPolicyKind,
  authorizationPolicyKind,
  backendTrafficPolicyKind,
  rateLimitPolicyKind,
];

const byKind = new Map<string, KindDefinition[]>();
for (const def of KIND_SCHEMAS) {
  const list = byKind.get(def.kind) ?? [];
  list.push(def);
  byKind.set(def.kind, list);
}

/** The definition for an apiVersion and kind; `undefined` with the list of candidates when the apiVersion is not accepted. */
export function lookupKind(apiVersion: string, kind: string): { def: KindDefinition | undefined; candidates: readonly KindDefinition[] } {
  const candidates = byKind.get(kind) ?? [];
  return { def: candidates.find((d) => d.apiVersions.includes(apiVersion)), candidates };
}

/** Names of every modelled kind (for messages and suggestions). */
export const SUPPORTED_KIND_NAMES: readonly string[] = [...byKind.keys()];

/**
 * Foreign kinds that appear in Kubernetes manifests next to mesh config; they are accepted and
 * ignored with an IGNORED_KIND warning. Keyed by kind, valued by API group (`''` = core).
 */
export const IGNORED_KINDS: ReadonlyMap<string, readonly string[]> = new Map([
  ['Namespace', ['']],
  ['ConfigMap', ['']],
  ['Secret', ['']],
  ['ServiceAccount', ['']],
  ['Pod', ['']],
  ['Endpoints', ['']],
  ['Deployment', ['apps']],
  ['StatefulSet', ['apps']],
  ['DaemonSet', ['apps']],
  ['ReplicaSet', ['apps']],
  ['EndpointSlice', ['discovery.k8s.io']],
  ['GatewayClass', ['gateway.networking.k8s.io']],
  ['BackendTLSPolicy', ['gateway.networking.k8s.io']],
  ['TLSRoute', ['gateway.networking.k8s.io']],
  ['TCPRoute', ['gateway.networking.k8s.io']],
  ['UDPRoute', ['gateway.networking.k8s.io']],
  ['CustomResourceDefinition', ['apiextensions.k8s.io']],
]);

/** The API group of an apiVersion (`apps/v1` → `apps`, `v1` → `''`). */
export function apiGroup(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** The top-level document schema of a kind (apiVersion, kind, metadata, spec, status). */
export function documentSchema(def: KindDefinition): ObjectSchema {
  return s.object(
    {
      apiVersion: req(s.enum(def.apiVersions, { description: 'API version.' })),
      kind: req(s.enum([def.kind], { description: 'Kind.' })),
      metadata: req(metadataSchema(def.namespaced)),
      spec: def.specRequired ? req(def.spec) : def.spec,
    },
    { description: def.description, ignoredFields: ['status'] },
  );
}

/** The JSON Schema (draft 2020-12) of a kind's documents, as written to schemas/<file>. */
export function jsonSchemaFor(def: KindDefinition): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `https://weft.dev/schemas/${def.schemaFile}`,
    title: `${def.kind} (${def.apiVersions.join(', ')})`,
    ...toJsonSchema(documentSchema(def)),
  };
}

/** One schema for any weft document (what an editor can use for a multi-kind file): dispatches on apiVersion and kind. */
export function jsonSchemaForAll(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://weft.dev/schemas/weft.json',
    title: 'Any weft resource',
    type: 'object',
    required: ['apiVersion', 'kind'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { enum: [...SUPPORTED_KIND_NAMES, ...IGNORED_KINDS.keys()] },
    },
    allOf: KIND_SCHEMAS.map((def) => ({
      if: { properties: { apiVersion: { enum: [...def.apiVersions] }, kind: { const: def.kind } }, required: ['apiVersion', 'kind'] },
      then: { $ref: def.schemaFile },
    })),
  };
}
