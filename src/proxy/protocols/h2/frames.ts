// HTTP/2 frame layer (RFC 9113 §4, §6): frame types, flags, settings identifiers, and allocation-light
// helpers that read and write the 9-byte frame header and build the small control frames a session sends.

export const FRAME_HEADER_LENGTH = 9;

export const FRAME_DATA = 0x0;
export const FRAME_HEADERS = 0x1;
export const FRAME_PRIORITY = 0x2;
export const FRAME_RST_STREAM = 0x3;
export const FRAME_SETTINGS = 0x4;
export const FRAME_PUSH_PROMISE = 0x5;
export const FRAME_PING = 0x6;
export const FRAME_GOAWAY = 0x7;
export const FRAME_WINDOW_UPDATE = 0x8;
export const FRAME_CONTINUATION = 0x9;

export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

/** Smallest and largest SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2). */
export const MIN_MAX_FRAME_SIZE = 16384;
export const MAX_MAX_FRAME_SIZE = 16777215;
/** Largest flow-control window (RFC 9113 §6.9.1). */
export const MAX_WINDOW = 0x7fffffff;
/** The window every stream and the connection start with before SETTINGS say otherwise. */
export const DEFAULT_WINDOW = 65535;

/** The client connection preface (RFC 9113 §3.4). */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Writes a frame header into `target` at `offset`. */
export function writeFrameHeader(target: Buffer, offset: number, length: number, type: number, flags: number, streamId: number): void {
  target[offset] = (length >>> 16) & 0xff;
  target[offset + 1] = (length >>> 8) & 0xff;
  target[offset + 2] = length & 0xff;
  target[offset + 3] = type;
  target[offset + 4] = flags;
  target.writeUInt32BE(streamId & 0x7fffffff, offset + 5);
}

/** A fresh 9-byte frame header. */
export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
  writeFrameHeader(b, 0, length, type, flags, streamId);
  return b;
}

/** Payload length of the frame whose header starts at `offset`. */
export function readFrameLength(source: Buffer, offset: number): number {
  return (source[offset]! << 16) | (source[offset + 1]! << 8) | source[offset + 2]!;
}

/** Stream id of the frame whose header starts at `offset` (reserved bit cleared). */
export function readStreamId(source: Buffer, offset: number): number {
  return source.readUInt32BE(offset + 5) & 0x7fffffff;
}

/** A SETTINGS frame with the given [id, value] pairs (flat array). */
export function settingsFrame(pairs: readonly number[]): Buffer {
  const count = pairs.length >> 1;
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + count * 6);
  writeFrameHeader(b, 0, count * 6, FRAME_SETTINGS, 0, 0);
  for (let i = 0; i < count; i++) {
    b.writeUInt16BE(pairs[2 * i]!, FRAME_HEADER_LENGTH + i * 6);
    b.writeUInt32BE(pairs[2 * i + 1]! >>> 0, FRAME_HEADER_LENGTH + i * 6 + 2);
  }
  return b;
}

export const SETTINGS_ACK_FRAME: Buffer = frameHeader(0, FRAME_SETTINGS, FLAG_ACK, 0);

/** WINDOW_UPDATE for `streamId` (0 = connection). */
export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 4);
  writeFrameHeader(b, 0, 4, FRAME_WINDOW_UPDATE, 0, streamId);
  b.writeUInt32BE(increment & 0x7fffffff, FRAME_HEADER_LENGTH);
  return b;
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 4);
  writeFrameHeader(b, 0, 4, FRAME_RST_STREAM, 0, streamId);
  b.writeUInt32BE(code >>> 0, FRAME_HEADER_LENGTH);
  return b;
}

export function goawayFrame(lastStreamId: number, code: number, debug?: string): Buffer {
  const debugBytes = debug === undefined ? 0 : Buffer.byteLength(debug);
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 8 + debugBytes);
  writeFrameHeader(b, 0, 8 + debugBytes, FRAME_GOAWAY, 0, 0);
  b.writeUInt32BE(lastStreamId & 0x7fffffff, FRAME_HEADER_LENGTH);
  b.writeUInt32BE(code >>> 0, FRAME_HEADER_LENGTH + 4);
  if (debug !== undefined) b.write(debug, FRAME_HEADER_LENGTH + 8);
  return b;
}

/** PING (or its ack) carrying the 8 opaque bytes of `payload` at `offset`. */
export function pingFrame(payload: Buffer, offset: number, ack: boolean): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 8);
  writeFrameHeader(b, 0, 8, FRAME_PING, ack ? FLAG_ACK : 0, 0);
  payload.copy(b, FRAME_HEADER_LENGTH, offset, offset + 8);
  return b;
}
