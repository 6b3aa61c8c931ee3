// Wire encoding of ADS messages and the gRPC method definitions of the AggregatedDiscoveryService.
// Responses are encoded by hand from pre-encoded Anys: each resource's bytes (Any and, for delta,
// the Resource wrapper) are built once per Any object and cached, so pushing one snapshot to a
// thousand clients costs a buffer concatenation per client, not a protobuf encode per resource.
// Requests (and, on the client side, responses) go through protobufjs with the options of proto-files.ts.
import type * as grpc from '@grpc/grpc-js';
import { XdsDecodeError, decodeMessage, encodeMessage, type XdsAny } from './resources.ts';
import type { DiscoveryRequest__Output, DiscoveryRequest } from './generated/envoy/service/discovery/v3/DiscoveryRequest.ts';
import type { DiscoveryResponse__Output } from './generated/envoy/service/discovery/v3/DiscoveryResponse.ts';
import type { DeltaDiscoveryRequest__Output, DeltaDiscoveryRequest } from './generated/envoy/service/discovery/v3/DeltaDiscoveryRequest.ts';
import type { DeltaDiscoveryResponse__Output } from './generated/envoy/service/discovery/v3/DeltaDiscoveryResponse.ts';

export type { DiscoveryRequest, DiscoveryRequest__Output, DiscoveryResponse__Output, DeltaDiscoveryRequest, DeltaDiscoveryRequest__Output, DeltaDiscoveryResponse__Output };

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const SOTW_METHOD_PATH = `/${ADS_SERVICE}/StreamAggregatedResources`;
export const DELTA_METHOD_PATH = `/${ADS_SERVICE}/DeltaAggregatedResources`;

const REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';
const DELTA_REQUEST = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';
const DELTA_RESPONSE = 'envoy.service.discovery.v3.DeltaDiscoveryResponse';

// ---------------------------------------------------------------------------------------------
// Minimal protobuf writer

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[offset++] = n;
  return offset;
}

/** A length-delimited field: tag, length, payload. */
function lengthDelimited(fieldNumber: number, payload: Buffer): Buffer {
  const tag = (fieldNumber << 3) | 2;
  const out = Buffer.allocUnsafe(varintLength(tag) + varintLength(payload.length) + payload.length);
  let o = writeVarint(out, 0, tag);
  o = writeVarint(out, o, payload.length);
  payload.copy(out, o);
  return out;
}

function stringField(fieldNumber: number, value: string): Buffer {
  return lengthDelimited(fieldNumber, Buffer.from(value, 'utf8'));
}

const anyFieldCache = new WeakMap<XdsAny, Buffer>();

/** The Any encoded as a message body (type_url = 1, value = 2), cached per Any object. */
function anyBody(any: XdsAny): Buffer {
  let b = anyFieldCache.get(any);
  if (b === undefined) {
    b = Buffer.concat([stringField(1, any.type_url), lengthDelimited(2, any.value)]);
    anyFieldCache.set(any, b);
  }
  return b;
}

const sotwEntryCache = new WeakMap<XdsAny, Buffer>();

/** `resources` entry (field 2) of a DiscoveryResponse for this Any, cached. */
function sotwEntry(any: XdsAny): Buffer {
  let b = sotwEntryCache.get(any);
  if (b === undefined) {
    b = lengthDelimited(2, anyBody(any));
    sotwEntryCache.set(any, b);
  }
  return b;
}

const deltaEntryCache = new WeakMap<XdsAny, { name: string; version: string; bytes: Buffer }>();

/** `resources` entry (field 2) of a DeltaDiscoveryResponse: Resource{version=1, resource=2, name=3}, cached. */
function deltaEntry(name: string, version: string, any: XdsAny): Buffer {
  const hit = deltaEntryCache.get(any);
  if (hit !== undefined && hit.name === name && hit.version === version) return hit.bytes;
  const body = Buffer.concat([stringField(1, version), lengthDelimited(2, anyBody(any)), stringField(3, name)]);
  const bytes = lengthDelimited(2, body);
  deltaEntryCache.set(any, { name, version, bytes });
  return bytes;
}

export interface SotwResponseParts {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly XdsAny[];
  controlPlaneId?: string;
}

/** Encodes a DiscoveryResponse from cached resource entries. */
export function encodeDiscoveryResponse(parts: SotwResponseParts): Buffer {
  const chunks: Buffer[] = [stringField(1, parts.versionInfo)];
  for (const r of parts.resources) chunks.push(sotwEntry(r));
  chunks.push(stringField(4, parts.typeUrl), stringField(5, parts.nonce));
  if (parts.controlPlaneId) chunks.push(lengthDelimited(6, stringField(1, parts.controlPlaneId)));
  return Buffer.concat(chunks);
}

export interface DeltaResponseParts {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: ReadonlyArray<{ name: string; version: string; resource: XdsAny }>;
  removed: readonly string[];
  controlPlaneId?: string;
}

/** Encodes a DeltaDiscoveryResponse from cached resource entries. */
export function encodeDeltaDiscoveryResponse(parts: DeltaResponseParts): Buffer {
  const chunks: Buffer[] = [stringField(1, parts.systemVersionInfo)];
  for (const r of parts.resources) chunks.push(deltaEntry(r.name, r.version, r.resource));
  chunks.push(stringField(4, parts.typeUrl), stringField(5, parts.nonce));
  for (const name of parts.removed) chunks.push(stringField(6, name));
  if (parts.controlPlaneId) chunks.push(lengthDelimited(7, stringField(1, parts.controlPlaneId)));
  return Buffer.concat(chunks);
}

/** Repeated string field entries, pre-encoded (e.g. the resource_names of every ACK a client sends). */
export function encodeRepeatedString(fieldNumber: number, values: readonly string[]): Buffer {
  return Buffer.concat(values.map((v) => stringField(fieldNumber, v)));
}

function statusField(fieldNumber: number, error: { code: number; message: string } | undefined): Buffer[] {
  if (error === undefined) return [];
  const codeTag = Buffer.from([0x08]);
  const code = Buffer.allocUnsafe(varintLength(error.code));
  writeVarint(code, 0, error.code);
  return [lengthDelimited(fieldNumber, Buffer.concat([codeTag, code, stringField(2, error.message)]))];
}

/** A SotW ACK/NACK DiscoveryRequest without node, encoded by hand (`resourceNames` from encodeRepeatedString(3, …)). */
export function encodeSotwAck(p: { versionInfo: string; typeUrl: string; nonce: string; resourceNames?: Buffer; error?: { code: number; message: string } }): Buffer {
  return Buffer.concat([stringField(1, p.versionInfo), p.resourceNames ?? Buffer.alloc(0), stringField(4, p.typeUrl), stringField(5, p.nonce), ...statusField(6, p.error)]);
}

/** A delta ACK/NACK DeltaDiscoveryRequest without node or subscription changes, encoded by hand. */
export function encodeDeltaAck(p: { typeUrl: string; nonce: string; error?: { code: number; message: string } }): Buffer {
  return Buffer.concat([stringField(2, p.typeUrl), stringField(6, p.nonce), ...statusField(7, p.error)]);
}

// ---------------------------------------------------------------------------------------------
// Reading SotW requests by hand: a SotW client repeats every subscribed name in every ACK (a
// thousand EDS names, a thousand times per push at N=1000), so the server keeps the raw bytes of
// the names and decodes them only when they differ from the stream's previous request.

/** A DiscoveryRequest as the server reads it: the fields of DiscoveryRequest__Output it uses, names decoded lazily. */
export interface SotwRequest {
  readonly version_info: string;
  readonly node: import('./generated/envoy/config/core/v3/Node.ts').Node__Output | null;
  readonly type_url: string;
  readonly response_nonce: string;
  readonly error_detail: { code: number; message: string } | null;
  /** The raw bytes of every resource_names entry, for cheap "same names as last time" checks. */
  readonly namesKey: Buffer;
  /** resource_names, decoded on first access. */
  readonly resource_names: string[];
}

function malformed(what: string): XdsDecodeError {
  return new XdsDecodeError(`malformed DiscoveryRequest: ${what}`);
}

/** Parses a DiscoveryRequest (throws XdsDecodeError on truncated or invalid input). */
export function readDiscoveryRequest(buf: Buffer): SotwRequest {
  let o = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 1;
    for (let i = 0; i < 10; i++) {
      if (o >= buf.length) throw malformed('truncated varint');
      const b = buf[o++]!;
      result += (b & 0x7f) * shift;
      if (b < 0x80) return result;
      shift *= 128;
    }
    throw malformed('varint too long');
  };
  let version = '';
  let typeUrl = '';
  let nonce = '';
  let nodeBytes: Buffer | undefined;
  let statusBytes: Buffer | undefined;
  const nameSpans: Array<[number, number]> = [];
  let namesStart = -1;
  let namesEnd = -1;
  let contiguous = true;
  while (o < buf.length) {
    const tagStart = o;
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw malformed('field number 0');
    if (wire === 0) {
      varint();
      continue;
    }
    if (wire === 1 || wire === 5) {
      o += wire === 1 ? 8 : 4;
      if (o > buf.length) throw malformed('truncated fixed field');
      continue;
    }
    if (wire !== 2) throw malformed(`invalid wire type ${wire} at offset ${tagStart}`);
    const len = varint();
    const start = o;
    o += len;
    if (o > buf.length) throw malformed(`field ${field} runs past the end`);
    switch (field) {
      case 1:
        version = buf.toString('utf8', start, o);
        break;
      case 2:
        nodeBytes = buf.subarray(start, o);
        break;
      case 3:
        nameSpans.push([start, o]);
        if (namesStart < 0) namesStart = tagStart;
        else if (namesEnd !== tagStart) contiguous = false;
        namesEnd = o;
        break;
      case 4:
        typeUrl = buf.toString('utf8', start, o);
        break;
      case 5:
        nonce = buf.toString('utf8', start, o);
        break;
      case 6:
        statusBytes = buf.subarray(start, o);
        break;
      default:
        break; // resource_locators and future fields
    }
  }
  const namesKey =
    namesStart < 0
      ? Buffer.alloc(0)
      : contiguous
        ? buf.subarray(namesStart, namesEnd)
        : Buffer.concat(nameSpans.map(([a, b]) => buf.subarray(a, b)));
  let names: string[] | undefined;
  const status = statusBytes ? decodeMessage<{ code: number; message: string }>('google.rpc.Status', statusBytes) : null;
  return {
    version_info: version,
    node: nodeBytes ? decodeMessage('envoy.config.core.v3.Node', nodeBytes) : null,
    type_url: typeUrl,
    response_nonce: nonce,
    error_detail: status ? { code: status.code, message: status.message } : null,
    namesKey,
    get resource_names(): string[] {
      names ??= nameSpans.map(([a, b]) => buf.toString('utf8', a, b));
      return names;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Method definitions

export function decodeDiscoveryRequest(bytes: Buffer): DiscoveryRequest__Output {
  return decodeMessage<DiscoveryRequest__Output>(REQUEST, bytes);
}
export function decodeDeltaDiscoveryRequest(bytes: Buffer): DeltaDiscoveryRequest__Output {
  return decodeMessage<DeltaDiscoveryRequest__Output>(DELTA_REQUEST, bytes);
}
export function decodeDiscoveryResponse(bytes: Buffer): DiscoveryResponse__Output {
  return decodeMessage<DiscoveryResponse__Output>(RESPONSE, bytes);
}
export function decodeDeltaDiscoveryResponse(bytes: Buffer): DeltaDiscoveryResponse__Output {
  return decodeMessage<DeltaDiscoveryResponse__Output>(DELTA_RESPONSE, bytes);
}
export function encodeDiscoveryRequest(request: DiscoveryRequest): Buffer {
  return encodeMessage(REQUEST, request);
}
export function encodeDeltaDiscoveryRequest(request: DeltaDiscoveryRequest): Buffer {
  return encodeMessage(DELTA_REQUEST, request);
}

const identity = (b: Buffer): Buffer => b;

/** Server side: requests decoded to plain objects, responses written as pre-encoded Buffers. */
export function adsServerDefinition(): grpc.ServiceDefinition {
  return {
    StreamAggregatedResources: {
      path: SOTW_METHOD_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: encodeDiscoveryRequest,
      requestDeserialize: readDiscoveryRequest,
      responseSerialize: identity,
      responseDeserialize: identity,
      originalName: 'streamAggregatedResources',
    },
    DeltaAggregatedResources: {
      path: DELTA_METHOD_PATH,
      requestStream: true,
      responseStream: true,
      requestSerialize: encodeDeltaDiscoveryRequest,
      requestDeserialize: decodeDeltaDiscoveryRequest,
      responseSerialize: identity,
      responseDeserialize: identity,
      originalName: 'deltaAggregatedResources',
    },
  } as grpc.ServiceDefinition;
}
