// The xDS `Node` an ADS client announces (id, cluster, metadata, locality) as a plain, JSON-friendly
// object, plus conversions between google.protobuf.Struct and JSON, and the SPIFFE ID of a TLS peer.
import type { Node, Node__Output } from './generated/envoy/config/core/v3/Node.ts';
import type { Struct, Struct__Output } from './generated/google/protobuf/Struct.ts';
import type { Value, Value__Output } from './generated/google/protobuf/Value.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * The xDS Node metadata keys a weft proxy announces its workload with (written by src/proxy/xds,
 * read by src/control). Flat and upper-case (Istio style) so Envoy bootstraps can set them too. Both
 * sides import this one table: the proxy and the control plane share only config, identity and xds.
 */
export const META = {
  service: 'WEFT_SERVICE',
  namespace: 'WEFT_NAMESPACE',
  serviceAccount: 'WEFT_SERVICE_ACCOUNT',
  labels: 'WEFT_LABELS',
  address: 'WEFT_ADDRESS',
  /** Application ports: [{ name, port, protocol? }]; the first is the main port. */
  ports: 'WEFT_PORTS',
  /** The proxy's inbound (mTLS) listener port; absent = not meshed inbound (e.g. proxyless gRPC client). */
  inboundPort: 'WEFT_INBOUND_PORT',
  ready: 'WEFT_READY',
  /** Services this workload calls, `namespace/name` or `name` (own namespace); absent = all. */
  upstreams: 'WEFT_UPSTREAMS',
  /** `sidecar` (weft proxy), `envoy`, or `proxyless` (gRPC xDS client). */
  kind: 'WEFT_KIND',
} as const;

export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  /** `Node.metadata` as JSON (weft puts workload service, namespace, labels, ports here). */
  readonly metadata: Readonly<Record<string, JsonValue>>;
  readonly locality: { readonly region: string; readonly zone: string; readonly sub_zone: string } | undefined;
  readonly userAgentName: string;
  readonly userAgentVersion: string;
}

export function valueToJson(v: Value__Output | null | undefined): JsonValue {
  if (v == null) return null;
  switch (v.kind) {
    case 'nullValue':
      return null;
    case 'numberValue':
      return v.numberValue ?? 0;
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return v.boolValue ?? false;
    case 'structValue':
      return structToJson(v.structValue);
    case 'listValue':
      return (v.listValue?.values ?? []).map(valueToJson);
    default:
      return null;
  }
}

export function structToJson(s: Struct__Output | null | undefined): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  if (s == null) return out;
  for (const [k, v] of Object.entries(s.fields ?? {})) out[k] = valueToJson(v);
  return out;
}

export function jsonToValue(v: unknown): Value {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(jsonToValue) } };
  if (typeof v === 'object') return { structValue: jsonToStruct(v as Record<string, unknown>) };
  return { stringValue: String(v) };
}

export function jsonToStruct(obj: Readonly<Record<string, unknown>>): Struct {
  const fields: Record<string, Value> = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = jsonToValue(v);
  return { fields };
}

export function nodeInfoFrom(node: Node__Output | null | undefined): NodeInfo {
  const loc = node?.locality;
  return Object.freeze({
    id: node?.id ?? '',
    cluster: node?.cluster ?? '',
    metadata: Object.freeze(structToJson(node?.metadata)),
    locality: loc ? { region: loc.region, zone: loc.zone, sub_zone: loc.sub_zone } : undefined,
    userAgentName: node?.user_agent_name ?? '',
    userAgentVersion: node?.user_agent_version ?? '',
  });
}

/** A `Node` message for a request, from JSON metadata. */
export function nodeMessage(info: { id: string; cluster?: string; metadata?: Readonly<Record<string, unknown>>; locality?: { region?: string; zone?: string; sub_zone?: string } }): Node {
  return {
    id: info.id,
    cluster: info.cluster ?? '',
    metadata: jsonToStruct(info.metadata ?? {}),
    ...(info.locality ? { locality: info.locality } : {}),
    user_agent_name: 'weft',
    user_agent_version: '0.1.0',
    client_features: ['envoy.lb.does_not_support_overprovisioning', 'xds.config.resource-in-sotw'],
  };
}

/** The first `URI:spiffe://…` of a node:tls `subjectaltname` string, if any. */
export function spiffeIdFromSubjectAltName(san: string | undefined): string | undefined {
  if (!san) return undefined;
  for (const part of san.split(/,\s*/)) {
    if (part.startsWith('URI:spiffe://')) return part.slice(4);
  }
  return undefined;
}
