// Body framing of HTTP/1.1 messages: decides how a body is delimited (none, Content-Length, chunked,
// until close) and walks the bytes with a small state machine that says where the message ends —
// a chunk may hold the end of one message and the start of the next.
//
// API:
//   const f = new BodyFramer({ maxTrailerBytes });
//   f.start(requestFraming(head), head.contentLength)            // or responseFraming(head, method)
//   const n = f.feed(buf, off, end)   // bytes of buf[off..end) that belong to this body (-1 on error: f.error)
//   f.done                            // true once the final byte was consumed
// Pass-through mode (no sink) forwards buf[off, off+n) untouched, chunk framing included.
// Decoded mode (`f.start(mode, len, sink)`) additionally calls sink.onBodyData(buf, start, end) with
// the payload bytes only and sink.onTrailers(list) with the trailer fields (bridging to HTTP/2).
import { Http1ParseError, Http1Codes } from './errors.ts';
import type { Http1Head } from './parser.ts';
import { TOKEN } from './parser.ts';

export const FRAMING_NONE = 0;
export const FRAMING_LENGTH = 1;
export const FRAMING_CHUNKED = 2;
/** Response body delimited by the upstream closing the connection. */
export const FRAMING_CLOSE = 3;

/** Framing of a request body (RFC 9112 §6.3): chunked, Content-Length, or none. */
export function requestFraming(head: Http1Head): number {
  if (head.chunked) return FRAMING_CHUNKED;
  return head.contentLength > 0 ? FRAMING_LENGTH : FRAMING_NONE;
}

/** Framing of a response body to a request with `method` (HEAD, 1xx, 204, 304 carry none). */
export function responseFraming(head: Http1Head, method: string): number {
  const status = head.status;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) return FRAMING_NONE;
  if (head.chunked) return FRAMING_CHUNKED;
  if (head.hasTransferEncoding) return FRAMING_CLOSE;
  if (head.contentLength >= 0) return head.contentLength === 0 ? FRAMING_NONE : FRAMING_LENGTH;
  return FRAMING_CLOSE;
}

/** Receives a decoded body. */
export interface BodySink {
  onBodyData(buf: Buffer, start: number, end: number): void;
  onTrailers(trailers: Array<[string, string]>): void;
}

// Chunked states.
const S_SIZE = 0; // reading hex digits (at least one)
const S_EXT = 1; // after ';' until CR
const S_SIZE_LF = 2; // expecting LF after the size line's CR
const S_DATA = 3; // `remaining` payload bytes
const S_DATA_CR = 4; // CR after data
const S_DATA_LF = 5; // LF after data
const S_TRAILER_START = 6; // start of a trailer line or the final CRLF
const S_TRAILER = 7; // inside a trailer line
const S_TRAILER_LF = 8; // LF after a trailer line's CR
const S_END_LF = 9; // LF of the final empty line
const S_SIZE_WS = 10; // whitespace after size digits (tolerated before ';' per BWS)

/** Longest chunk extension accepted on one chunk-size line (they carry no meaning for a proxy). */
const MAX_EXTENSION_BYTES = 4096;

/** Largest chunk size accepted (2^48): beyond this it is an attack or a bug, not a body. */
const MAX_CHUNK_SIZE = 2 ** 48;

export class BodyFramer {
  mode = FRAMING_NONE;
  /** LENGTH: bytes left in the body; CHUNKED: bytes left in the current chunk. */
  remaining = 0;
  done = true;
  error: Http1ParseError | null = null;
  /** Payload bytes seen so far (decoded size). */
  bodyBytes = 0;
  #state = S_SIZE;
  #digits = 0;
  #extBytes = 0;
  #sink: BodySink | null = null;
  #trailerBytes = 0;
  #trailerParts: Buffer[] | null = null;
  readonly maxTrailerBytes: number;
  readonly isResponse: boolean;

  constructor(options: { maxTrailerBytes?: number; isResponse?: boolean } = {}) {
    this.maxTrailerBytes = options.maxTrailerBytes ?? 65536;
    this.isResponse = options.isResponse ?? false;
  }

  /** Begins a body. `length` is the Content-Length for FRAMING_LENGTH. */
  start(mode: number, length: number, sink: BodySink | null = null): void {
    this.mode = mode;
    this.error = null;
    this.bodyBytes = 0;
    this.#sink = sink;
    this.#state = S_SIZE;
    this.#digits = 0;
    this.#extBytes = 0;
    this.#trailerBytes = 0;
    this.#trailerParts = null;
    if (mode === FRAMING_LENGTH) {
      this.remaining = length;
      this.done = length === 0;
    } else {
      this.remaining = 0;
      this.done = mode === FRAMING_NONE;
    }
  }

  /** Switches between pass-through (null) and decoded delivery mid-message. */
  setSink(sink: BodySink | null): void {
    this.#sink = sink;
  }

  /** The peer closed: true when that legitimately ends the body (FRAMING_CLOSE), false when truncated. */
  finishOnClose(): boolean {
    if (this.done) return true;
    if (this.mode === FRAMING_CLOSE) {
      this.done = true;
      return true;
    }
    return false;
  }

  /** Consumes body bytes of buf[off..end); returns how many belong to this body, or -1 on error. */
  feed(buf: Buffer, off: number, end: number): number {
    if (this.done) return 0;
    const mode = this.mode;
    if (mode === FRAMING_LENGTH) {
      const avail = end - off;
      const n = avail < this.remaining ? avail : this.remaining;
      this.remaining -= n;
      this.bodyBytes += n;
      if (this.remaining === 0) this.done = true;
      if (this.#sink !== null && n > 0) this.#sink.onBodyData(buf, off, off + n);
      return n;
    }
    if (mode === FRAMING_CLOSE) {
      this.bodyBytes += end - off;
      if (this.#sink !== null && end > off) this.#sink.onBodyData(buf, off, end);
      return end - off;
    }
    if (mode === FRAMING_CHUNKED) return this.#chunked(buf, off, end);
    return 0;
  }

  #fail(code: (typeof Http1Codes)[keyof typeof Http1Codes], message: string): number {
    this.error = new Http1ParseError(code, this.isResponse ? `upstream response: ${message}` : message, 400);
    return -1;
  }

  #chunked(buf: Buffer, off: number, end: number): number {
    let i = off;
    let state = this.#state;
    const sink = this.#sink;
    while (i < end) {
      switch (state) {
        case S_DATA: {
          const avail = end - i;
          const n = avail < this.remaining ? avail : this.remaining;
          if (sink !== null) sink.onBodyData(buf, i, i + n);
          this.remaining -= n;
          this.bodyBytes += n;
          i += n;
          if (this.remaining === 0) state = S_DATA_CR;
          break;
        }
        case S_SIZE: {
          const c = buf[i]!;
          let d: number;
          if (c >= 0x30 && c <= 0x39) d = c - 0x30;
          else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
          else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
          else {
            if (this.#digits === 0) {
              this.#state = state;
              return this.#fail(Http1Codes.BAD_CHUNK, 'chunk size is not a hex number');
            }
            if (c === 13) state = S_SIZE_LF;
            else if (c === 0x3b) state = S_EXT;
            else if (c === 0x20 || c === 0x09) state = S_SIZE_WS;
            else {
              this.#state = state;
              return this.#fail(c === 10 ? Http1Codes.BARE_LF : Http1Codes.BAD_CHUNK, 'invalid byte after chunk size');
            }
            i++;
            break;
          }
          this.remaining = this.remaining * 16 + d;
          this.#digits++;
          if (this.remaining > MAX_CHUNK_SIZE || this.#digits > 16) {
            this.#state = state;
            return this.#fail(Http1Codes.CHUNK_TOO_LARGE, 'chunk size too large');
          }
          i++;
          break;
        }
        case S_SIZE_WS: {
          const c = buf[i]!;
          if (c === 0x3b) state = S_EXT;
          else if (c === 13) state = S_SIZE_LF;
          else if (c !== 0x20 && c !== 0x09) {
            this.#state = state;
            return this.#fail(Http1Codes.BAD_CHUNK, 'invalid byte after chunk size');
          }
          i++;
          break;
        }
        case S_EXT: {
          const c = buf[i]!;
          if (c === 13) state = S_SIZE_LF;
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
            this.#state = state;
            return this.#fail(c === 10 ? Http1Codes.BARE_LF : Http1Codes.BAD_CHUNK, 'invalid byte in chunk extension');
          } else if (++this.#extBytes > MAX_EXTENSION_BYTES) {
            this.#state = state;
            return this.#fail(Http1Codes.BAD_CHUNK, `chunk extension longer than ${MAX_EXTENSION_BYTES} bytes`);
          }
          i++;
          break;
        }
        case S_SIZE_LF: {
          if (buf[i] !== 10) {
            this.#state = state;
            return this.#fail(Http1Codes.BARE_CR, 'chunk size line not ended by CRLF');
          }
          i++;
          this.#digits = 0;
          this.#extBytes = 0;
          state = this.remaining === 0 ? S_TRAILER_START : S_DATA;
          break;
        }
        case S_DATA_CR:
          if (buf[i] !== 13) {
            this.#state = state;
            return this.#fail(Http1Codes.BAD_CHUNK, 'chunk data not followed by CRLF');
          }
          i++;
          state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (buf[i] !== 10) {
            this.#state = state;
            return this.#fail(Http1Codes.BARE_CR, 'chunk data not followed by CRLF');
          }
          i++;
          state = S_SIZE;
          break;
        case S_TRAILER_START: {
          const c = buf[i]!;
          if (c === 13) {
            state = S_END_LF;
            i++;
            break;
          }
          if (TOKEN[c] !== 1) {
            this.#state = state;
            return this.#fail(c === 10 ? Http1Codes.BARE_LF : Http1Codes.BAD_HEADER_NAME, 'invalid trailer field');
          }
          state = S_TRAILER;
          this.#trailerStart(buf, i);
          break;
        }
        case S_TRAILER: {
          const from = i;
          while (i < end) {
            const c = buf[i]!;
            if (c === 13) break;
            if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
              this.#state = state;
              return this.#fail(c === 10 ? Http1Codes.BARE_LF : Http1Codes.BAD_HEADER_VALUE, 'invalid byte in trailer field');
            }
            i++;
          }
          this.#trailerBytes += i - from;
          if (this.#trailerBytes > this.maxTrailerBytes) {
            this.#state = state;
            return this.#fail(Http1Codes.TRAILERS_TOO_LARGE, 'trailer section larger than the limit');
          }
          if (this.#trailerParts !== null) this.#trailerParts.push(buf.subarray(from, i));
          if (i < end) {
            state = S_TRAILER_LF;
            i++;
          }
          break;
        }
        case S_TRAILER_LF:
          if (buf[i] !== 10) {
            this.#state = state;
            return this.#fail(Http1Codes.BARE_CR, 'trailer line not ended by CRLF');
          }
          if (this.#trailerParts !== null) this.#trailerParts.push(LINE_BREAK);
          i++;
          state = S_TRAILER_START;
          break;
        case S_END_LF:
          if (buf[i] !== 10) {
            this.#state = state;
            return this.#fail(Http1Codes.BARE_CR, 'final chunk not ended by CRLF');
          }
          i++;
          this.#state = state;
          this.done = true;
          if (sink !== null) sink.onTrailers(this.#trailerParts === null ? NO_TRAILERS : parseTrailers(Buffer.concat(this.#trailerParts)));
          this.#trailerParts = null;
          return i - off;
      }
    }
    this.#state = state;
    return i - off;
  }

  #trailerStart(_buf: Buffer, _i: number): void {
    if (this.#sink !== null && this.#trailerParts === null) this.#trailerParts = [];
  }
}

const LINE_BREAK = Buffer.from('\n');
const NO_TRAILERS: Array<[string, string]> = [];

/** Parses 'name: value\n' lines (already validated for control bytes) into [lower-case name, value]. */
function parseTrailers(block: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of block.toString('latin1').split('\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    let valid = true;
    for (let i = 0; i < name.length; i++) if (TOKEN[name.charCodeAt(i)] !== 1) valid = false;
    if (!valid) continue;
    out.push([name.toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return out;
}

/** Writes `data` as one chunk of a chunked body ("<hex>\r\n<data>\r\n"); used when re-framing (HTTP/2 → HTTP/1). */
export function chunkHeader(length: number): Buffer {
  return Buffer.from(length.toString(16) + '\r\n', 'latin1');
}

export const CRLF = Buffer.from('\r\n');
export const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** Serialises trailers as the end of a chunked body: "0\r\nname: value\r\n\r\n". */
export function lastChunkWithTrailers(trailers: ReadonlyArray<readonly [string, string]>): Buffer {
  if (trailers.length === 0) return LAST_CHUNK;
  let s = '0\r\n';
  for (const [k, v] of trailers) s += `${k}: ${v}\r\n`;
  return Buffer.from(s + '\r\n', 'latin1');
}
