// xDS resource helpers: type URL constants, typed `packAny`/`unpackAny` between plain JS objects and
// `google.protobuf.Any`, and a validator that names the offending field (protobufjs would silently
// drop an unknown or misspelt field). Plain objects use the proto's snake_case field names, 64-bit
// integers as strings or numbers, enums by name; nested Anys may be written `{ '@type': url, ...fields }`
// and are packed recursively. Packed Anys are frozen and carry a cached content version, so a
// resource is encoded and hashed once per version, not once per client.
import { createHash } from 'node:crypto';
import type protobuf from 'protobufjs';
import { WeftError } from '../core/errors.ts';
import { messageType, decodeRaw } from './protos.ts';
import type { Listener, Listener__Output } from './generated/envoy/config/listener/v3/Listener.ts';
import type { RouteConfiguration, RouteConfiguration__Output } from './generated/envoy/config/route/v3/RouteConfiguration.ts';
import type { Cluster, Cluster__Output } from './generated/envoy/config/cluster/v3/Cluster.ts';
import type { ClusterLoadAssignment, ClusterLoadAssignment__Output } from './generated/envoy/config/endpoint/v3/ClusterLoadAssignment.ts';
import type { Secret, Secret__Output } from './generated/envoy/extensions/transport_sockets/tls/v3/Secret.ts';
import type {
  HttpConnectionManager,
  HttpConnectionManager__Output,
} from './generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.ts';
import type { Router, Router__Output } from './generated/envoy/extensions/filters/http/router/v3/Router.ts';
import type { HTTPFault, HTTPFault__Output } from './generated/envoy/extensions/filters/http/fault/v3/HTTPFault.ts';
import type { RBAC, RBAC__Output } from './generated/envoy/extensions/filters/http/rbac/v3/RBAC.ts';
import type { LocalRateLimit, LocalRateLimit__Output } from './generated/envoy/extensions/filters/http/local_ratelimit/v3/LocalRateLimit.ts';
import type { TcpProxy, TcpProxy__Output } from './generated/envoy/extensions/filters/network/tcp_proxy/v3/TcpProxy.ts';
import type { UpstreamTlsContext, UpstreamTlsContext__Output } from './generated/envoy/extensions/transport_sockets/tls/v3/UpstreamTlsContext.ts';
import type { DownstreamTlsContext, DownstreamTlsContext__Output } from './generated/envoy/extensions/transport_sockets/tls/v3/DownstreamTlsContext.ts';
import type { HttpProtocolOptions, HttpProtocolOptions__Output } from './generated/envoy/extensions/upstreams/http/v3/HttpProtocolOptions.ts';
import type { RoundRobin, RoundRobin__Output } from './generated/envoy/extensions/load_balancing_policies/round_robin/v3/RoundRobin.ts';
import type { LeastRequest, LeastRequest__Output } from './generated/envoy/extensions/load_balancing_policies/least_request/v3/LeastRequest.ts';
import type { RingHash, RingHash__Output } from './generated/envoy/extensions/load_balancing_policies/ring_hash/v3/RingHash.ts';
import type { WrrLocality, WrrLocality__Output } from './generated/envoy/extensions/load_balancing_policies/wrr_locality/v3/WrrLocality.ts';
import type { PickFirst, PickFirst__Output } from './generated/envoy/extensions/load_balancing_policies/pick_first/v3/PickFirst.ts';

/** The input type of a `google.protobuf.Any` field in generated types. */
export type AnyInput = import('./generated/google/protobuf/Any.ts').Any;

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** Type URLs of the resource types distributed over ADS. */
export const LISTENER_TYPE_URL = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const ROUTE_TYPE_URL = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const CLUSTER_TYPE_URL = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT_TYPE_URL = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** Short aliases: LDS, RDS, CDS, EDS, SDS. */
export const XDS_TYPE_URLS = {
  LDS: LISTENER_TYPE_URL,
  RDS: ROUTE_TYPE_URL,
  CDS: CLUSTER_TYPE_URL,
  EDS: ENDPOINT_TYPE_URL,
  SDS: SECRET_TYPE_URL,
} as const;

export type XdsTypeUrl = (typeof XDS_TYPE_URLS)[keyof typeof XDS_TYPE_URLS];

/** Type URLs of well-known extension configs (typed_config values). */
export const EXTENSION_TYPE_URLS = {
  httpConnectionManager: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  tcpProxy: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  fault: 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
  rbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  localRateLimit: 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
  upstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  downstreamTlsContext: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  httpProtocolOptions: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  roundRobin: 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin',
  leastRequest: 'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest',
  ringHash: 'type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash',
  wrrLocality: 'type.googleapis.com/envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality',
  pickFirst: 'type.googleapis.com/envoy.extensions.load_balancing_policies.pick_first.v3.PickFirst',
} as const;

/** Input (permissive) and output (decoded, defaults filled) types of the messages weft names often. */
export interface XdsMessageTypes {
  'envoy.config.listener.v3.Listener': [Listener, Listener__Output];
  'envoy.config.route.v3.RouteConfiguration': [RouteConfiguration, RouteConfiguration__Output];
  'envoy.config.cluster.v3.Cluster': [Cluster, Cluster__Output];
  'envoy.config.endpoint.v3.ClusterLoadAssignment': [ClusterLoadAssignment, ClusterLoadAssignment__Output];
  'envoy.extensions.transport_sockets.tls.v3.Secret': [Secret, Secret__Output];
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager': [HttpConnectionManager, HttpConnectionManager__Output];
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy': [TcpProxy, TcpProxy__Output];
  'envoy.extensions.filters.http.router.v3.Router': [Router, Router__Output];
  'envoy.extensions.filters.http.fault.v3.HTTPFault': [HTTPFault, HTTPFault__Output];
  'envoy.extensions.filters.http.rbac.v3.RBAC': [RBAC, RBAC__Output];
  'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit': [LocalRateLimit, LocalRateLimit__Output];
  'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext': [UpstreamTlsContext, UpstreamTlsContext__Output];
  'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext': [DownstreamTlsContext, DownstreamTlsContext__Output];
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': [HttpProtocolOptions, HttpProtocolOptions__Output];
  'envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin': [RoundRobin, RoundRobin__Output];
  'envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest': [LeastRequest, LeastRequest__Output];
  'envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash': [RingHash, RingHash__Output];
  'envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality': [WrrLocality, WrrLocality__Output];
  'envoy.extensions.load_balancing_policies.pick_first.v3.PickFirst': [PickFirst, PickFirst__Output];
}

export type XdsMessageName = keyof XdsMessageTypes;
export type XdsInput<N extends XdsMessageName> = XdsMessageTypes[N][0];
export type XdsOutput<N extends XdsMessageName> = XdsMessageTypes[N][1];

/** Decoded resources by type URL (what `unpackAny` returns for the ADS resource types). */
export interface XdsResourceByTypeUrl {
  [LISTENER_TYPE_URL]: Listener__Output;
  [ROUTE_TYPE_URL]: RouteConfiguration__Output;
  [CLUSTER_TYPE_URL]: Cluster__Output;
  [ENDPOINT_TYPE_URL]: ClusterLoadAssignment__Output;
  [SECRET_TYPE_URL]: Secret__Output;
}

/** A packed `google.protobuf.Any`. Frozen: the same object may be shared by many snapshots. */
export interface XdsAny {
  readonly type_url: string;
  readonly value: Buffer;
}

/** One problem found while validating a plain object against its message type. */
export interface FieldIssue {
  /** Field path such as `Listener.filter_chains[0].filters[0].name`. */
  readonly path: string;
  readonly message: string;
}

/** A plain object does not fit its proto message; `details.issues` lists every problem with its field path. */
export class XdsResourceError extends WeftError {
  readonly issues: readonly FieldIssue[];
  constructor(typeName: string, issues: readonly FieldIssue[]) {
    const shown = issues.slice(0, 5).map((i) => `${i.path}: ${i.message}`);
    const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
    super('XDS_RESOURCE_INVALID', `invalid ${typeName}: ${shown.join('; ')}${more}`, { details: { typeName, issues } });
    this.issues = issues;
  }
}

/** An Any or a message could not be decoded (unknown type URL, malformed bytes). */
export class XdsDecodeError extends WeftError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('XDS_DECODE_FAILED', message, options);
  }
}

/** `type.googleapis.com/a.b.C` → `a.b.C` (any host prefix is accepted, as in the Any spec). */
export function typeNameOf(typeUrl: string): string {
  const slash = typeUrl.lastIndexOf('/');
  return slash < 0 ? typeUrl : typeUrl.slice(slash + 1);
}

export function typeUrlOf(typeName: string): string {
  return TYPE_URL_PREFIX + typeName;
}

// ---------------------------------------------------------------------------------------------
// Validation and normalisation of plain objects

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64 = new Set(['uint64', 'fixed64']);
const MAX_DEPTH = 64;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

class Normalizer {
  readonly issues: FieldIssue[] = [];

  message(type: protobuf.Type, value: unknown, path: string, depth: number): Record<string, unknown> | undefined {
    if (!isPlainObject(value)) {
      this.issues.push({ path, message: `expected an object (${type.name}), got ${describe(value)}` });
      return undefined;
    }
    if (depth > MAX_DEPTH) {
      this.issues.push({ path, message: 'nested too deeply' });
      return undefined;
    }
    if (type.fullName === '.google.protobuf.Any') return this.any(value, path, depth);
    const out: Record<string, unknown> = {};
    const oneofSeen = new Map<string, string>();
    for (const [key, fieldValue] of Object.entries(value)) {
      if (fieldValue === undefined || fieldValue === null) continue;
      const field = type.fields[key];
      if (field === undefined) {
        // A virtual oneof discriminator (`cluster_discovery_type: 'type'`) is allowed and ignored.
        const oneof = type.oneofs?.[key];
        if (oneof !== undefined) {
          if (typeof fieldValue !== 'string' || !oneof.oneof.includes(fieldValue)) {
            this.issues.push({ path: `${path}.${key}`, message: `oneof discriminator must name one of ${oneof.oneof.join(', ')}` });
          }
          continue;
        }
        const hint = type.fields[snakeCase(key)] !== undefined ? ` (did you mean "${snakeCase(key)}"? field names are snake_case)` : '';
        this.issues.push({ path: `${path}.${key}`, message: `unknown field of ${type.name}${hint}` });
        continue;
      }
      if (field.partOf !== null && field.partOf !== undefined) {
        const other = oneofSeen.get(field.partOf.name);
        if (other !== undefined) {
          this.issues.push({ path: `${path}.${key}`, message: `only one of oneof "${field.partOf.name}" may be set (also set: ${other})` });
        }
        oneofSeen.set(field.partOf.name, key);
      }
      const converted = this.field(field, fieldValue, `${path}.${key}`, depth);
      if (converted !== undefined) out[key] = converted;
    }
    return out;
  }

  any(value: Record<string, unknown>, path: string, depth: number): Record<string, unknown> | undefined {
    if ('@type' in value) {
      const url = value['@type'];
      if (typeof url !== 'string') {
        this.issues.push({ path: `${path}.@type`, message: 'expected a type URL string' });
        return undefined;
      }
      let inner: protobuf.Type;
      try {
        inner = messageType(typeNameOf(url));
      } catch {
        this.issues.push({ path: `${path}.@type`, message: `unknown type "${url}"` });
        return undefined;
      }
      const { '@type': _ignored, ...fields } = value;
      const normalized = this.message(inner, fields, `${path}<${inner.name}>`, depth + 1);
      if (normalized === undefined) return undefined;
      return { type_url: url, value: encodeNormalized(inner, normalized) };
    }
    const { type_url, value: bytes, ...rest } = value;
    for (const key of Object.keys(rest)) this.issues.push({ path: `${path}.${key}`, message: 'unknown field of Any (use type_url and value, or "@type" with fields)' });
    if (typeof type_url !== 'string' || type_url === '') {
      this.issues.push({ path: `${path}.type_url`, message: 'expected a type URL string' });
      return undefined;
    }
    if (bytes !== undefined && !(bytes instanceof Uint8Array) && typeof bytes !== 'string') {
      this.issues.push({ path: `${path}.value`, message: `expected bytes, got ${describe(bytes)}` });
      return undefined;
    }
    return { type_url, value: bytes ?? Buffer.alloc(0) };
  }

  field(field: protobuf.Field, value: unknown, path: string, depth: number): unknown {
    if (field.map) {
      if (!isPlainObject(value)) {
        this.issues.push({ path, message: `expected an object (map), got ${describe(value)}` });
        return undefined;
      }
      const out: Record<string, unknown> = {};
      const keyType = (field as unknown as protobuf.MapField).keyType;
      for (const [k, v] of Object.entries(value)) {
        if (keyType !== 'string' && keyType !== 'bool' && !/^-?\d+$/.test(k)) this.issues.push({ path: `${path}[${k}]`, message: `map key must be an integer (${keyType})` });
        const c = this.single(field, v, `${path}[${JSON.stringify(k)}]`, depth);
        if (c !== undefined) out[k] = c;
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        this.issues.push({ path, message: `expected an array, got ${describe(value)}` });
        return undefined;
      }
      const out: unknown[] = [];
      value.forEach((item, i) => {
        const c = this.single(field, item, `${path}[${i}]`, depth);
        if (c !== undefined) out.push(c);
      });
      return out;
    }
    return this.single(field, value, path, depth);
  }

  single(field: protobuf.Field, value: unknown, path: string, depth: number): unknown {
    const resolved = field.resolvedType;
    if (resolved !== null && resolved !== undefined && 'fields' in resolved) {
      return this.message(resolved as protobuf.Type, value, path, depth + 1);
    }
    if (resolved !== null && resolved !== undefined && 'values' in resolved) {
      const e = resolved as protobuf.Enum;
      if (typeof value === 'string') {
        if (!(value in e.values)) {
          const names = Object.keys(e.values);
          this.issues.push({ path, message: `unknown ${e.name} value "${value}" (one of ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', …' : ''})` });
          return undefined;
        }
        return value;
      }
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      this.issues.push({ path, message: `expected an enum name (${e.name}), got ${describe(value)}` });
      return undefined;
    }
    return this.scalar(field.type, value, path);
  }

  scalar(kind: string, value: unknown, path: string): unknown {
    const bad = (expected: string): undefined => {
      this.issues.push({ path, message: `expected ${expected}, got ${describe(value)}` });
      return undefined;
    };
    if (kind === 'string') return typeof value === 'string' ? value : bad('a string');
    if (kind === 'bool') return typeof value === 'boolean' ? value : bad('a boolean');
    if (kind === 'double' || kind === 'float') {
      if (typeof value === 'number') return value;
      if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return Number(value);
      return bad('a number');
    }
    if (INT32.has(kind) || UINT32.has(kind)) {
      if (typeof value !== 'number' || !Number.isInteger(value)) return bad(`an integer (${kind})`);
      const [lo, hi] = UINT32.has(kind) ? [0, 0xffffffff] : [-0x80000000, 0x7fffffff];
      if (value < lo || value > hi) return bad(`an integer in [${lo}, ${hi}] (${kind})`);
      return value;
    }
    if (INT64.has(kind) || UINT64.has(kind)) {
      const unsigned = UINT64.has(kind);
      if (typeof value === 'number') {
        if (!Number.isSafeInteger(value) || (unsigned && value < 0)) return bad(`a safe ${unsigned ? 'non-negative ' : ''}integer (${kind})`);
        return value;
      }
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'string' && (unsigned ? /^\d+$/ : /^-?\d+$/).test(value)) return value;
      if (isPlainObject(value) && typeof value.low === 'number' && typeof value.high === 'number') return value;
      return bad(`a ${unsigned ? 'non-negative ' : ''}integer or decimal string (${kind})`);
    }
    if (kind === 'bytes') {
      if (value instanceof Uint8Array) return value;
      if (typeof value === 'string') return value; // base64, as protobufjs accepts
      return bad('bytes (Buffer, Uint8Array or base64 string)');
    }
    return bad(kind);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  if (typeof value === 'string') return `"${value.length > 40 ? value.slice(0, 40) + '…' : value}"`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function encodeNormalized(type: protobuf.Type, normalized: Record<string, unknown>): Buffer {
  const bytes = type.encode(type.fromObject(normalized)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Checks a plain object against a message type; returns every problem (empty when valid). */
export function validateMessage(typeName: string, value: unknown): FieldIssue[] {
  const type = messageType(typeName);
  const n = new Normalizer();
  n.message(type, value, type.name, 0);
  return n.issues;
}

/** Validates and encodes a plain object. Throws XdsResourceError naming each bad field. */
export function encodeMessage<N extends XdsMessageName>(typeName: N, value: XdsInput<N>): Buffer;
export function encodeMessage(typeName: string, value: object): Buffer;
export function encodeMessage(typeName: string, value: object): Buffer {
  const type = messageType(typeName);
  const n = new Normalizer();
  const normalized = n.message(type, value, type.name, 0);
  if (n.issues.length > 0 || normalized === undefined) throw new XdsResourceError(typeName, n.issues);
  return encodeNormalized(type, normalized);
}

/** Decodes bytes of a message (snake_case fields, defaults filled, enums by name, longs as strings). */
export function decodeMessage<N extends XdsMessageName>(typeName: N, bytes: Uint8Array): XdsOutput<N>;
export function decodeMessage<T = Record<string, unknown>>(typeName: string, bytes: Uint8Array): T;
export function decodeMessage(typeName: string, bytes: Uint8Array): unknown {
  try {
    return decodeRaw(typeName, bytes);
  } catch (error) {
    if (error instanceof WeftError) throw error;
    throw new XdsDecodeError(`cannot decode ${typeName}: ${(error as Error).message}`, { cause: error, details: { typeName } });
  }
}

/**
 * Validates `value` against `typeName`, encodes it once, and returns a frozen Any. Throws
 * XdsResourceError whose message and `issues` name each offending field path.
 */
export function packAny<N extends XdsMessageName>(typeName: N, value: XdsInput<N>): XdsAny;
export function packAny(typeName: string, value: object): XdsAny;
export function packAny(typeName: string, value: object): XdsAny {
  return Object.freeze({ type_url: typeUrlOf(typeName), value: encodeMessage(typeName, value) });
}

/**
 * A nested `typed_config` written as fields, packed (and validated) when the enclosing resource is
 * packed: `typed_config: typedConfig('envoy.extensions.filters.http.router.v3.Router', {})`.
 */
export function typedConfig<N extends XdsMessageName>(typeName: N, fields: XdsInput<N>): AnyInput;
export function typedConfig(typeName: string, fields: object): AnyInput;
export function typedConfig(typeName: string, fields: object): AnyInput {
  return { '@type': typeUrlOf(typeName), ...fields } as AnyInput;
}

/** Wraps already-encoded bytes as an Any (no validation). */
export function anyFromBytes(typeUrl: string, value: Buffer): XdsAny {
  return Object.freeze({ type_url: typeUrl, value });
}

/** Decodes an Any into a plain object of the type its URL names. Throws XdsDecodeError. */
export function unpackAny<U extends keyof XdsResourceByTypeUrl>(any: { type_url: U; value: Uint8Array }): XdsResourceByTypeUrl[U];
export function unpackAny<T = Record<string, unknown>>(any: { type_url: string; value: Uint8Array }, expectedTypeUrl?: string): T;
export function unpackAny(any: { type_url: string; value: Uint8Array }, expectedTypeUrl?: string): unknown {
  if (expectedTypeUrl !== undefined && typeNameOf(any.type_url) !== typeNameOf(expectedTypeUrl)) {
    throw new XdsDecodeError(`expected an Any of ${expectedTypeUrl}, got ${any.type_url}`, { details: { typeUrl: any.type_url, expectedTypeUrl } });
  }
  const name = typeNameOf(any.type_url);
  try {
    messageType(name);
  } catch (error) {
    throw new XdsDecodeError(`cannot unpack Any: unknown type URL "${any.type_url}"`, { cause: error, details: { typeUrl: any.type_url } });
  }
  return decodeMessage(name, any.value);
}

const versionCache = new WeakMap<object, string>();

/**
 * A content version for an Any (first 16 hex digits of SHA-256 over type URL and bytes), computed
 * once per Any object. Used as the per-resource version in delta xDS.
 */
export function contentVersion(any: XdsAny): string {
  let v = versionCache.get(any);
  if (v === undefined) {
    v = createHash('sha256').update(any.type_url).update(any.value).digest('hex').slice(0, 16);
    versionCache.set(any, v);
  }
  return v;
}

/** The `name` of a decoded resource (Listener, Cluster, RouteConfiguration, Secret) or `cluster_name` (CLA). */
export function resourceNameOf(typeUrl: string, resource: Record<string, unknown>): string {
  const key = typeNameOf(typeUrl) === typeNameOf(ENDPOINT_TYPE_URL) ? 'cluster_name' : 'name';
  const v = resource[key];
  return typeof v === 'string' ? v : '';
}
