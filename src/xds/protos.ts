// Loads, once and lazily, the Envoy v3 protos weft speaks (list in proto-files.ts) from the pinned
// @grpc/grpc-js-xds package into one protobufjs Root, and hands out message types by full name.
// Field names keep the proto's snake_case (keepCase). Loading takes ~100 ms and ~10 MB; nothing is
// loaded until the first call.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { WeftError } from '../core/errors.ts';
import { DECODE_OPTIONS, PROTO_FILES, PROTO_INCLUDE_DIRS } from './proto-files.ts';

export type ProtoType = protobuf.Type;
export type ProtoRoot = protobuf.Root;

/** A proto could not be loaded, or a message name is not among the loaded protos. */
export class XdsProtoError extends WeftError {
  constructor(code: 'XDS_PROTO_LOAD_FAILED' | 'XDS_UNKNOWN_TYPE', message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}

let root: protobuf.Root | undefined;
const typeCache = new Map<string, protobuf.Type>();

function registerCommonProtos(): void {
  // protobufjs bundles any/duration/struct/wrappers/…; descriptor.proto (imported by the
  // validate/udpa annotations) ships as JSON and must be registered by hand, as proto-loader does.
  const require = createRequire(import.meta.url);
  for (const name of ['api', 'descriptor', 'source_context', 'type']) {
    const json = require(`protobufjs/google/protobuf/${name}.json`) as { nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } } };
    protobuf.common(name, json.nested.google.nested.protobuf.nested as Record<string, unknown> as protobuf.INamespace);
  }
}

/** The protobufjs Root holding every loaded Envoy message (loaded on first use). */
export function xdsRoot(): protobuf.Root {
  if (root !== undefined) return root;
  try {
    registerCommonProtos();
    const next = new protobuf.Root();
    next.resolvePath = (_origin: string, target: string): string => {
      for (const dir of PROTO_INCLUDE_DIRS) {
        const full = join(dir, target);
        if (existsSync(full)) return full;
      }
      return target; // bundled well-known types (google/protobuf/*.proto) resolve by name
    };
    next.loadSync([...PROTO_FILES], { keepCase: true });
    next.resolveAll();
    root = next;
    return next;
  } catch (error) {
    throw new XdsProtoError('XDS_PROTO_LOAD_FAILED', `cannot load the Envoy v3 protos from @grpc/grpc-js-xds: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** The message type with this full name (`envoy.config.listener.v3.Listener`, no leading dot). */
export function messageType(fullName: string): protobuf.Type {
  const cached = typeCache.get(fullName);
  if (cached !== undefined) return cached;
  const found = xdsRoot().lookup(fullName);
  if (!(found instanceof protobuf.Type)) {
    throw new XdsProtoError('XDS_UNKNOWN_TYPE', `unknown xDS message type "${fullName}" (not among the protos listed in src/xds/proto-files.ts)`, {
      details: { typeName: fullName },
    });
  }
  typeCache.set(fullName, found);
  return found;
}

/** True when `fullName` names a loaded message type. */
export function hasMessageType(fullName: string): boolean {
  try {
    messageType(fullName);
    return true;
  } catch {
    return false;
  }
}

/** Encodes a plain object (keepCase names) without validation; prefer `packAny`/`encodeMessage` in resources.ts. */
export function encodeRaw(fullName: string, value: object): Buffer {
  const type = messageType(fullName);
  const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes bytes into a plain object with the documented options (see DECODE_OPTIONS). Throws protobufjs errors. */
export function decodeRaw<T = Record<string, unknown>>(fullName: string, bytes: Uint8Array): T {
  const type = messageType(fullName);
  return type.toObject(type.decode(bytes), DECODE_OPTIONS as protobuf.IConversionOptions) as T;
}
