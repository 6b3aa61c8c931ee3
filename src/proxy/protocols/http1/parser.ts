// Incremental, strict (RFC 9112) parser of HTTP/1.1 request and response heads over Buffers.
//
// API (used by server.ts, pool.ts, forward.ts and the proxy core):
//   const p = new Http1Parser(false /* requests */, { maxHeaderBytes: 65536, maxHeaders: 100 });
//   const at = p.execute(chunk, offset);
//     at >= 0          → the head is complete; `p.head` describes it; body bytes start at chunk[at]
//     at === NEED_MORE → all bytes consumed, the head continues in the next chunk
//     at === PARSE_ERROR → `p.error` is an Http1ParseError (code + status 400/431/505)
//   p.reset() before the next message (the Http1Head object is reused: one per connection).
//
// The head is not turned into objects: `Http1Head` records where each header's name and value sit in
// the retained head buffer (`offsets`, `kinds`), and pre-extracts only the routing and framing headers
// as strings/numbers (host, content-length, transfer-encoding, connection, upgrade, expect, te,
// keep-alive). `head.headerList()` and `head.get(name)` build strings lazily (bridging to HTTP/2).
import { Http1ParseError, Http1Codes } from './errors.ts';

export const NEED_MORE = -1;
export const PARSE_ERROR = -2;
/** Internal: the empty line ending the head was parsed. */
const HEAD_DONE = -3;

// Header kinds, recorded per header so the serialiser can drop hop-by-hop headers without strings.
export const K_OTHER = 0;
export const K_HOST = 1;
export const K_CONTENT_LENGTH = 2;
export const K_TRANSFER_ENCODING = 3;
export const K_CONNECTION = 4;
export const K_KEEP_ALIVE = 5;
export const K_PROXY_CONNECTION = 6;
export const K_TE = 7;
export const K_UPGRADE = 8;
export const K_EXPECT = 9;
/** A header named in the `Connection` header: hop-by-hop by declaration (RFC 9110 §7.6.1). */
export const K_CONNECTION_LISTED = 10;

/** True for the kinds a proxy removes before forwarding (RFC 9110 §7.6.1); framing kept separately. */
export function isHopByHop(kind: number): boolean {
  return kind >= K_CONNECTION && kind !== K_EXPECT;
}

export interface Http1Limits {
  /** Total size of the head (start line + headers), default 64 KiB; over it → 431. */
  maxHeaderBytes?: number;
  /** Number of header fields, default 100; over it → 431. */
  maxHeaders?: number;
}

export const DEFAULT_MAX_HEADER_BYTES = 65536;
export const DEFAULT_MAX_HEADERS = 100;

/** tchar (RFC 9110 §5.6.2) lookup. */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

/** Bytes allowed in a field value: VCHAR, obs-text, SP, HTAB. */
const FIELD_VALUE = new Uint8Array(256);
for (let c = 0x20; c <= 0x7e; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;
FIELD_VALUE[0x09] = 1;

/** Bytes allowed in a request-target (visible ASCII). */
const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;

const EMPTY = Buffer.alloc(0);

const latin1 = (buf: Buffer, start: number, end: number): string => (buf as any).latin1Slice(start, end) as string;

/**
 * buf[s, e) as a string: `prev` itself when it holds the same bytes (a keep-alive connection sends the
 * same Host, target or reason again and again; the same string object keeps its hash, so Map lookups
 * keyed by it do not rehash, and nothing is allocated), else a new string. Long values are not compared.
 */
function sameString(buf: Buffer, s: number, e: number, prev: string): string {
  const n = e - s;
  if (n !== prev.length || n > 256) return latin1(buf, s, e);
  for (let i = 0; i < n; i++) {
    if (buf[s + i] !== prev.charCodeAt(i)) return latin1(buf, s, e);
  }
  return prev;
}

/** Case-insensitive compare of buf[s, s+lit.length) with a lower-case literal made of letters, digits and '-'. */
function eqLower(buf: Buffer, s: number, lit: string): boolean {
  for (let i = 0; i < lit.length; i++) {
    if ((buf[s + i]! | 0x20) !== lit.charCodeAt(i)) return false;
  }
  return true;
}

function classify(buf: Buffer, s: number, len: number): number {
  switch (len) {
    case 2:
      return eqLower(buf, s, 'te') ? K_TE : K_OTHER;
    case 4:
      return eqLower(buf, s, 'host') ? K_HOST : K_OTHER;
    case 6:
      return eqLower(buf, s, 'expect') ? K_EXPECT : K_OTHER;
    case 7:
      return eqLower(buf, s, 'upgrade') ? K_UPGRADE : K_OTHER;
    case 10:
      if (eqLower(buf, s, 'connection')) return K_CONNECTION;
      return eqLower(buf, s, 'keep-alive') ? K_KEEP_ALIVE : K_OTHER;
    case 14:
      return eqLower(buf, s, 'content-length') ? K_CONTENT_LENGTH : K_OTHER;
    case 16:
      return eqLower(buf, s, 'proxy-connection') ? K_PROXY_CONNECTION : K_OTHER;
    case 17:
      return eqLower(buf, s, 'transfer-encoding') ? K_TRANSFER_ENCODING : K_OTHER;
    default:
      return K_OTHER;
  }
}

function methodName(buf: Buffer, s: number, e: number): string {
  const len = e - s;
  const c = buf[s];
  if (len === 3 && c === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === 0x54) return 'GET';
  if (len === 4 && c === 0x50 && buf[s + 1] === 0x4f && buf[s + 2] === 0x53 && buf[s + 3] === 0x54) return 'POST';
  if (len === 3 && c === 0x50 && buf[s + 1] === 0x55 && buf[s + 2] === 0x54) return 'PUT';
  if (len === 4 && c === 0x48 && buf[s + 1] === 0x45 && buf[s + 2] === 0x41 && buf[s + 3] === 0x44) return 'HEAD';
  return latin1(buf, s, e);
}

/** One parsed head (request or response). Reused per connection; valid until the next `reset()`. */
export class Http1Head {
  isResponse = false;
  /** Request method ('' for responses). Common methods are interned constants. */
  method = '';
  /** Request-target exactly as received ('' for responses). */
  target = '';
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor = 1;
  /** Response status code (0 for requests). */
  status = 0;
  reason = '';
  /** The buffer holding the head bytes; offsets below index into it. */
  buf: Buffer = EMPTY;
  /** Offset of the first byte of the start line. */
  start = 0;
  /** Offset just after the start line's CRLF (first header line). */
  startLineEnd = 0;
  /** Offset just after the empty line that ends the head. */
  end = 0;
  /**
   * True when `buf` is the chunk the head was completed in (the caller's bytes); false when the head was
   * split across reads and `buf` is the parser's own accumulation buffer, which it reuses for the next
   * message — its bytes must then be copied, not referenced, before `reset()`.
   */
  inChunk = false;
  headerCount = 0;
  /** Per header: [lineStart(=nameStart), nameEnd, valueStart, valueEnd, lineEnd(after LF)]. */
  offsets: Int32Array = new Int32Array(5 * 32);
  /** Per header: K_* kind. */
  kinds: Uint8Array = new Uint8Array(32);
  /** Host header value ('' when absent). */
  host = '';
  /** Content-Length value, -1 when absent. */
  contentLength = -1;
  /** Transfer-Encoding present (any coding). */
  hasTransferEncoding = false;
  /** Transfer-Encoding's final coding is chunked. */
  chunked = false;
  connectionClose = false;
  connectionKeepAlive = false;
  connectionUpgrade = false;
  /** Upgrade header value ('' when absent). */
  upgrade = '';
  expectContinue = false;
  /** TE header value ('' when absent), e.g. 'trailers'. */
  te = '';
  /** Whether the connection persists after this message (version + Connection header). */
  keepAlive = true;
  /** Extra names listed in Connection (lower case), or null. */
  connectionTokens: string[] | null = null;

  reset(): void {
    this.method = '';
    this.target = '';
    this.versionMinor = 1;
    this.status = 0;
    this.reason = '';
    this.buf = EMPTY;
    this.start = 0;
    this.startLineEnd = 0;
    this.end = 0;
    this.inChunk = false;
    this.headerCount = 0;
    this.host = '';
    this.contentLength = -1;
    this.hasTransferEncoding = false;
    this.chunked = false;
    this.connectionClose = false;
    this.connectionKeepAlive = false;
    this.connectionUpgrade = false;
    this.upgrade = '';
    this.expectContinue = false;
    this.te = '';
    this.keepAlive = true;
    this.connectionTokens = null;
  }

  /** Header name as received (original case). */
  nameAt(i: number): string {
    const o = i * 5;
    return latin1(this.buf, this.offsets[o]!, this.offsets[o + 1]!);
  }

  valueAt(i: number): string {
    const o = i * 5;
    return latin1(this.buf, this.offsets[o + 2]!, this.offsets[o + 3]!);
  }

  /** Header name in lower case; common names come from a small intern table (no allocation). */
  lowerNameAt(i: number): string {
    const o = i * 5;
    return internLowerName(this.buf, this.offsets[o]!, this.offsets[o + 1]!);
  }

  /** All header fields as [lower-case name, value] pairs, in order (allocates; for bridging). */
  headerList(): Array<[string, string]> {
    const out: Array<[string, string]> = new Array(this.headerCount);
    for (let i = 0; i < this.headerCount; i++) out[i] = [this.lowerNameAt(i), this.valueAt(i)];
    return out;
  }

  /** The first value of header `name` (case-insensitive), or undefined. */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.headerCount; i++) {
      const o = i * 5;
      const s = this.offsets[o]!;
      if (this.offsets[o + 1]! - s === lower.length && eqLowerAny(this.buf, s, lower)) return this.valueAt(i);
    }
    return undefined;
  }

  /** True when the request-target is absolute-form (`http://host/path`, as HTTP_PROXY clients send). */
  get absoluteForm(): boolean {
    const t = this.target;
    return t.length > 7 && (t.charCodeAt(0) | 0x20) === 0x68 && /^https?:\/\//i.test(t);
  }

  /** The destination authority: a CONNECT target, an absolute-form target's authority, else the Host header. */
  get authority(): string {
    if (this.method === 'CONNECT') return this.target;
    if (this.absoluteForm) {
      const from = this.target.indexOf('//') + 2;
      const slash = this.target.indexOf('/', from);
      const q = this.target.indexOf('?', from);
      let end = this.target.length;
      if (slash !== -1) end = slash;
      if (q !== -1 && q < end) end = q;
      return this.target.slice(from, end);
    }
    return this.host;
  }

  /** Origin-form path of the target (absolute-form reduced to path + query). */
  get path(): string {
    if (!this.absoluteForm) return this.target;
    const from = this.target.indexOf('//') + 2;
    const slash = this.target.indexOf('/', from);
    if (slash !== -1) return this.target.slice(slash);
    const q = this.target.indexOf('?', from);
    return q === -1 ? '/' : '/' + this.target.slice(q);
  }
}

// Interned lower-case header names, keyed by a hash of the lower-cased bytes. Bounded, so hostile
// names cannot grow it; a miss or a collision just allocates the string as usual.
const NAME_CACHE = new Map<number, string>();
const NAME_CACHE_MAX = 512;

function internLowerName(buf: Buffer, s: number, e: number): string {
  let h = 0x811c9dc5;
  for (let i = s; i < e; i++) {
    let c = buf[i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    h = Math.imul(h ^ c, 0x01000193);
  }
  const hit = NAME_CACHE.get(h);
  if (hit !== undefined && hit.length === e - s && eqLowerAny(buf, s, hit)) return hit;
  const name = latin1(buf, s, e).toLowerCase();
  if (hit === undefined && NAME_CACHE.size < NAME_CACHE_MAX) NAME_CACHE.set(h, name);
  return name;
}

function eqLowerAny(buf: Buffer, s: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let c = buf[s + i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Parses one head at a time from a byte stream; see the module comment for the protocol. */
export class Http1Parser {
  readonly isResponse: boolean;
  readonly maxHeaderBytes: number;
  readonly maxHeaders: number;
  readonly head = new Http1Head();
  error: Http1ParseError | null = null;
  /** Accumulates a head split across chunks (allocated lazily, only for split heads). */
  #acc: Buffer = EMPTY;
  #accLen = 0;
  /** Offset in #acc of the first unparsed line. */
  #linePos = 0;
  /** Offset in #acc from which to search for the next LF. */
  #searchPos = 0;
  #sawStartLine = false;
  #leadingEmpty = 0;

  constructor(isResponse: boolean, limits: Http1Limits = {}) {
    this.isResponse = isResponse;
    this.head.isResponse = isResponse;
    this.maxHeaderBytes = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    this.maxHeaders = limits.maxHeaders ?? DEFAULT_MAX_HEADERS;
  }

  /** Bytes of an incomplete head held from earlier chunks. */
  get buffered(): number {
    return this.#accLen;
  }

  /** Prepares for the next message (the head object is cleared and reused). */
  reset(): void {
    this.head.reset();
    this.error = null;
    this.#accLen = 0;
    this.#linePos = 0;
    this.#searchPos = 0;
    this.#sawStartLine = false;
    this.#leadingEmpty = 0;
    this.#seenHost = false;
    if (this.#acc.length > 16384) this.#acc = EMPTY;
  }

  /** Feeds chunk[offset..]; returns the offset where the head ended, NEED_MORE or PARSE_ERROR. */
  execute(chunk: Buffer, offset: number): number {
    if (this.error !== null) return PARSE_ERROR;
    if (this.#accLen === 0) {
      const r = this.#scan(chunk, offset, chunk.length, offset, offset);
      if (r !== NEED_MORE) return r;
      // Split head: keep the bytes of the unfinished head and re-parse them when the rest arrives.
      const from = this.#headStartInChunk;
      const n = chunk.length - from;
      if (n === 0) return NEED_MORE;
      this.#append(chunk, from, chunk.length);
      this.#linePos = 0;
      this.#searchPos = 0;
      this.#sawStartLine = false;
      this.#seenHost = false;
      this.#resetRouting();
      return NEED_MORE;
    }
    const before = this.#accLen;
    const room = this.maxHeaderBytes + 2 - before;
    const take = Math.min(chunk.length - offset, Math.max(room, 0));
    this.#append(chunk, offset, offset + take);
    const r = this.#scan(this.#acc, this.#linePos, this.#accLen, 0, Math.max(this.#searchPos, this.#linePos));
    if (r === PARSE_ERROR) return r;
    if (r === NEED_MORE) {
      this.#linePos = this.#linePosInChunk;
      this.#searchPos = this.#accLen;
      if (this.#accLen > this.maxHeaderBytes) return this.#fail(Http1Codes.HEADERS_TOO_LARGE, 'request head larger than the limit', 431);
      return NEED_MORE;
    }
    // r is the end of the head inside #acc; translate to the chunk.
    return offset + (r - before);
  }

  #linePosInChunk = 0;
  #headEnd = 0;
  #headStartInChunk = 0;

  #append(src: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.#accLen + n > this.#acc.length) {
      const next = Buffer.allocUnsafe(Math.max(1024, (this.#accLen + n) * 2));
      if (this.#accLen > 0) this.#acc.copy(next, 0, 0, this.#accLen);
      this.#acc = next;
    }
    src.copy(this.#acc, this.#accLen, from, to);
    this.#accLen += n;
  }

  #resetRouting(): void {
    const h = this.head;
    const keep = h.offsets;
    const kinds = h.kinds;
    h.reset();
    h.offsets = keep;
    h.kinds = kinds;
  }

  #fail(code: (typeof Http1Codes)[keyof typeof Http1Codes], message: string, status = 400): number {
    this.error = new Http1ParseError(code, this.isResponse ? `upstream response: ${message}` : message, status);
    return PARSE_ERROR;
  }

  /**
   * Parses lines of buf from `pos` to `end`. `headStart` is where the head begins in buf (for size
   * accounting). Returns the head end, NEED_MORE (#linePosInChunk = start of the unfinished line), or PARSE_ERROR.
   */
  #scan(buf: Buffer, pos: number, end: number, headStart: number, searchFrom: number): number {
    const max = this.maxHeaderBytes;
    let search = searchFrom;
    // Start line (and the empty lines a request may be preceded by): found with indexOf.
    while (!this.#sawStartLine) {
      let lf = search < end ? buf.indexOf(10, search) : -1;
      if (lf >= end) lf = -1;
      if (lf === -1) {
        if (end - headStart > max) return this.#fail(Http1Codes.HEADERS_TOO_LARGE, 'head larger than the limit', 431);
        if (!this.isResponse && !this.#plausibleMethod(buf, pos, end)) return this.#fail(Http1Codes.BAD_METHOD, 'not an HTTP/1 request');
        this.#linePosInChunk = pos;
        this.#headStartInChunk = headStart;
        return NEED_MORE;
      }
      if (lf - headStart > max) return this.#fail(Http1Codes.HEADERS_TOO_LARGE, 'head larger than the limit', 431);
      // Same verdict whether or not the start line arrived in one piece (see the NEED_MORE branch).
      if (!this.isResponse && !this.#plausibleMethod(buf, pos, lf)) return this.#fail(Http1Codes.BAD_METHOD, 'not an HTTP/1 request');
      if (lf === pos || buf[lf - 1] !== 13) return this.#fail(Http1Codes.BARE_LF, 'line ends with a bare LF');
      const lineEnd = lf - 1;
      const next = lf + 1;
      if (lineEnd === pos) {
        // RFC 9112 §2.2: ignore a few empty lines before a request line.
        if (this.isResponse || ++this.#leadingEmpty > 4) return this.#fail(Http1Codes.BAD_REQUEST_LINE, 'empty start line');
        pos = next;
        search = next;
        headStart = next;
        continue;
      }
      const ok = this.isResponse ? this.#statusLine(buf, pos, lineEnd) : this.#requestLine(buf, pos, lineEnd);
      if (!ok) return PARSE_ERROR;
      this.#sawStartLine = true;
      this.head.buf = buf;
      this.head.start = pos;
      this.head.startLineEnd = next;
      pos = next;
      search = next;
    }
    // Field lines. Over the caller's own chunk (no earlier bytes held) each line is parsed in one pass
    // that also finds its end. Over accumulated bytes, a line is parsed only once its LF has arrived
    // (indexOf over the new bytes only), so a head trickled byte by byte costs O(n), not O(n²).
    // Either way the same line parser sees the same bytes, so the verdict never depends on splits.
    const direct = buf !== this.#acc;
    const cap = headStart + max + 2; // bytes at or beyond this are never examined: 431 first
    for (;;) {
      let limit = end < cap ? end : cap;
      if (!direct) {
        const from = search > pos ? search : pos;
        let lf = from < end ? buf.indexOf(10, from) : -1;
        if (lf >= end) lf = -1;
        if (lf === -1) {
          if (end - headStart > max) {
            const r = this.#fieldLine(buf, pos, limit);
            return r === PARSE_ERROR ? r : this.#fail(Http1Codes.HEADERS_TOO_LARGE, 'head larger than the limit', 431);
          }
          // A short unfinished line is checked now (fail fast, same verdict as an unsplit parse);
          // a long one only once complete, so trickled bytes never cost more than 256 per arrival.
          if (end - pos <= 256 && this.#fieldLine(buf, pos, limit) === PARSE_ERROR) return PARSE_ERROR;
          this.#linePosInChunk = pos;
          this.#headStartInChunk = headStart;
          return NEED_MORE;
        }
        if (lf + 1 < limit) limit = lf + 1;
      }
      const r = this.#fieldLine(buf, pos, limit);
      if (r === PARSE_ERROR) return r;
      if (r === NEED_MORE) {
        if (limit === cap || end - headStart > max) return this.#fail(Http1Codes.HEADERS_TOO_LARGE, 'head larger than the limit', 431);
        this.#linePosInChunk = pos;
        this.#headStartInChunk = headStart;
        return NEED_MORE;
      }
      if (r === HEAD_DONE) return this.#finish(buf, this.#headEnd);
      if (r - headStart > max) return this.#fail(Http1Codes.HEADERS_TOO_LARGE, 'head larger than the limit', 431);
      pos = r;
      search = r;
    }
  }

  /**
   * Parses the field line (or the empty line ending the head) starting at `s`, looking at bytes below
   * `limit` only. Returns the start of the next line, HEAD_DONE for the empty line (#headEnd), NEED_MORE when
   * the line does not end before `limit`, or PARSE_ERROR.
   */
  #fieldLine(buf: Buffer, s: number, limit: number): number {
    if (s >= limit) return NEED_MORE;
    const first = buf[s]!;
    if (first === 13) {
      if (s + 1 >= limit) return NEED_MORE;
      if (buf[s + 1] === 10) {
        this.#headEnd = s + 2;
        return HEAD_DONE;
      }
      return this.#fail(Http1Codes.BARE_CR, 'bare CR in header section');
    }
    if (first === 10) return this.#fail(Http1Codes.BARE_LF, 'line ends with a bare LF');
    if (first === 0x20 || first === 0x09) return this.#fail(Http1Codes.OBS_FOLD, 'obsolete line folding (obs-fold) is not accepted');
    let i = s;
    // Four bytes per step while they are all allowed, then byte by byte to the one that is not.
    while (i + 4 <= limit && (TOKEN[buf[i]!]! & TOKEN[buf[i + 1]!]! & TOKEN[buf[i + 2]!]! & TOKEN[buf[i + 3]!]!) === 1) i += 4;
    while (i < limit && TOKEN[buf[i]!] === 1) i++;
    if (i === limit) return NEED_MORE;
    if (buf[i] !== 0x3a || i === s) {
      const c = buf[i];
      if (i > s && (c === 0x20 || c === 0x09)) return this.#fail(Http1Codes.WHITESPACE_BEFORE_COLON, 'whitespace between header name and colon');
      if (c === 13) return this.#fail(Http1Codes.BARE_CR, 'bare CR in header section');
      if (c === 10) return this.#fail(Http1Codes.BARE_LF, 'line ends with a bare LF');
      return this.#fail(Http1Codes.BAD_HEADER_NAME, 'invalid header name');
    }
    const nameEnd = i;
    i++;
    while (i < limit && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
    const vs = i;
    // One table lookup per value byte; the loop stops at CR (the line's end), LF, or a forbidden byte.
    while (i + 4 <= limit && (FIELD_VALUE[buf[i]!]! & FIELD_VALUE[buf[i + 1]!]! & FIELD_VALUE[buf[i + 2]!]! & FIELD_VALUE[buf[i + 3]!]!) === 1) i += 4;
    while (i < limit && FIELD_VALUE[buf[i]!] === 1) i++;
    if (i < limit && buf[i] !== 13) {
      if (buf[i] === 10) return this.#fail(Http1Codes.BARE_LF, 'line ends with a bare LF');
      return this.#fail(Http1Codes.BAD_HEADER_VALUE, 'invalid byte in header value');
    }
    if (i + 1 >= limit) return NEED_MORE;
    // Trailing whitespace is not part of the value.
    let ve = i;
    while (ve > vs && (buf[ve - 1] === 0x20 || buf[ve - 1] === 0x09)) ve--;
    if (buf[i + 1] !== 10) return this.#fail(Http1Codes.BARE_CR, 'bare CR in header value');
    const next = i + 2;
    return this.#addField(buf, s, nameEnd, vs, ve, next) ? next : PARSE_ERROR;
  }

  /** An incomplete request line must at least start with a method token (fail fast on TLS or garbage). */
  #plausibleMethod(buf: Buffer, s: number, e: number): boolean {
    if (s < e && buf[s] === 13) return true;
    for (let i = s; i < e && i < s + 24; i++) {
      const c = buf[i]!;
      if (c === 0x20) return i > s;
      if (TOKEN[c] !== 1) return false;
    }
    return true;
  }

  #requestLine(buf: Buffer, s: number, e: number): boolean {
    let i = s;
    while (i < e && TOKEN[buf[i]!] === 1) i++;
    if (i === s || i === e || buf[i] !== 0x20) {
      this.#fail(Http1Codes.BAD_METHOD, 'malformed request line (method)');
      return false;
    }
    const h = this.head;
    h.method = methodName(buf, s, i);
    const ts = ++i;
    while (i < e && TARGET[buf[i]!] === 1) i++;
    if (i === ts || i === e || buf[i] !== 0x20) {
      this.#fail(Http1Codes.BAD_TARGET, 'malformed request line (target)');
      return false;
    }
    h.target = this.#lastTarget = sameString(buf, ts, i, this.#lastTarget);
    i++;
    if (e - i !== 8 || buf[i] !== 0x48 || buf[i + 1] !== 0x54 || buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50 || buf[i + 4] !== 0x2f) {
      this.#fail(Http1Codes.BAD_REQUEST_LINE, 'malformed request line (version)');
      return false;
    }
    const major = buf[i + 5]!;
    const minor = buf[i + 7]!;
    if (buf[i + 6] !== 0x2e || major < 0x30 || major > 0x39 || minor < 0x30 || minor > 0x39) {
      this.#fail(Http1Codes.BAD_REQUEST_LINE, 'malformed request line (version)');
      return false;
    }
    if (major !== 0x31 || minor > 0x31) {
      this.#fail(Http1Codes.VERSION_NOT_SUPPORTED, 'only HTTP/1.0 and HTTP/1.1 are supported', 505);
      return false;
    }
    h.versionMinor = minor - 0x30;
    return true;
  }

  #statusLine(buf: Buffer, s: number, e: number): boolean {
    const h = this.head;
    if (
      e - s < 12 ||
      buf[s] !== 0x48 ||
      buf[s + 1] !== 0x54 ||
      buf[s + 2] !== 0x54 ||
      buf[s + 3] !== 0x50 ||
      buf[s + 4] !== 0x2f ||
      buf[s + 5] !== 0x31 ||
      buf[s + 6] !== 0x2e ||
      (buf[s + 7] !== 0x30 && buf[s + 7] !== 0x31) ||
      buf[s + 8] !== 0x20
    ) {
      this.#fail(Http1Codes.BAD_STATUS_LINE, 'malformed status line');
      return false;
    }
    h.versionMinor = buf[s + 7]! - 0x30;
    let status = 0;
    for (let i = s + 9; i < s + 12; i++) {
      const c = buf[i]!;
      if (c < 0x30 || c > 0x39) {
        this.#fail(Http1Codes.BAD_STATUS_LINE, 'malformed status code');
        return false;
      }
      status = status * 10 + (c - 0x30);
    }
    if (status < 100) {
      this.#fail(Http1Codes.BAD_STATUS_LINE, 'malformed status code');
      return false;
    }
    h.status = status;
    if (e > s + 12) {
      if (buf[s + 12] !== 0x20) {
        this.#fail(Http1Codes.BAD_STATUS_LINE, 'malformed status line');
        return false;
      }
      for (let i = s + 13; i < e; i++) {
        if (FIELD_VALUE[buf[i]!] !== 1) {
          this.#fail(buf[i] === 13 ? Http1Codes.BARE_CR : Http1Codes.BAD_STATUS_LINE, 'invalid byte in reason phrase');
          return false;
        }
      }
      h.reason = this.#lastReason = sameString(buf, s + 13, e, this.#lastReason);
    }
    return true;
  }

  /** Records one validated field line and extracts it if it is a routing header. */
  #addField(buf: Buffer, s: number, nameEnd: number, vs: number, ve: number, next: number): boolean {
    const h = this.head;
    const n = h.headerCount;
    if (n >= this.maxHeaders) {
      this.#fail(Http1Codes.TOO_MANY_HEADERS, `more than ${this.maxHeaders} header fields`, 431);
      return false;
    }
    if (n * 5 + 5 > h.offsets.length) {
      const grown = new Int32Array(h.offsets.length * 2);
      grown.set(h.offsets);
      h.offsets = grown;
      const kinds = new Uint8Array(h.kinds.length * 2);
      kinds.set(h.kinds);
      h.kinds = kinds;
    }
    const o = n * 5;
    const offsets = h.offsets;
    offsets[o] = s;
    offsets[o + 1] = nameEnd;
    offsets[o + 2] = vs;
    offsets[o + 3] = ve;
    offsets[o + 4] = next;
    const kind = classify(buf, s, nameEnd - s);
    h.kinds[n] = kind;
    h.headerCount = n + 1;
    if (kind !== K_OTHER) return this.#routing(kind, buf, vs, ve);
    return true;
  }

  #routing(kind: number, buf: Buffer, vs: number, ve: number): boolean {
    const h = this.head;
    switch (kind) {
      case K_HOST:
        if (this.#seenHost && !this.isResponse) {
          this.#fail(Http1Codes.DUPLICATE_HOST, 'more than one Host header');
          return false;
        }
        this.#seenHost = true;
        h.host = this.#lastHost = sameString(buf, vs, ve, this.#lastHost);
        return true;
      case K_CONTENT_LENGTH: {
        if (h.contentLength !== -1) {
          this.#fail(Http1Codes.DUPLICATE_CONTENT_LENGTH, 'more than one Content-Length header');
          return false;
        }
        if (ve === vs || ve - vs > 15) {
          this.#fail(Http1Codes.BAD_CONTENT_LENGTH, 'invalid Content-Length');
          return false;
        }
        let n = 0;
        for (let i = vs; i < ve; i++) {
          const c = buf[i]!;
          if (c < 0x30 || c > 0x39) {
            this.#fail(c === 0x2c ? Http1Codes.DUPLICATE_CONTENT_LENGTH : Http1Codes.BAD_CONTENT_LENGTH, 'invalid Content-Length');
            return false;
          }
          n = n * 10 + (c - 0x30);
        }
        h.contentLength = n;
        return true;
      }
      case K_TRANSFER_ENCODING: {
        if (h.chunked) {
          // chunked must be the final coding, applied once.
          this.#fail(Http1Codes.BAD_TRANSFER_ENCODING, 'Transfer-Encoding after chunked');
          return false;
        }
        h.hasTransferEncoding = true;
        if (ve - vs === 7 && eqLower(buf, vs, 'chunked')) {
          h.chunked = true;
          return true;
        }
        const v = latin1(buf, vs, ve).toLowerCase();
        if (v === 'chunked') {
          h.chunked = true;
          return true;
        }
        const codings = v.split(',');
        for (let i = 0; i < codings.length; i++) {
          const c = codings[i]!.trim();
          if (c === '') continue;
          if (c === 'chunked') {
            if (i !== codings.length - 1) {
              this.#fail(Http1Codes.BAD_TRANSFER_ENCODING, 'chunked is not the final transfer coding');
              return false;
            }
            h.chunked = true;
          }
        }
        return true;
      }
      case K_CONNECTION: {
        // The usual single tokens are compared as bytes (no string per message).
        const n = ve - vs;
        if (n === 10 && eqLower(buf, vs, 'keep-alive')) {
          h.connectionKeepAlive = true;
          return true;
        }
        if (n === 5 && eqLower(buf, vs, 'close')) {
          h.connectionClose = true;
          return true;
        }
        const v = latin1(buf, vs, ve).toLowerCase();
        if (v === 'keep-alive') h.connectionKeepAlive = true;
        else if (v === 'close') h.connectionClose = true;
        else if (v === 'upgrade') h.connectionUpgrade = true;
        else {
          for (const raw of v.split(',')) {
            const t = raw.trim();
            if (t === 'keep-alive') h.connectionKeepAlive = true;
            else if (t === 'close') h.connectionClose = true;
            else if (t === 'upgrade') h.connectionUpgrade = true;
            else if (t !== '') (h.connectionTokens ??= []).push(t);
          }
        }
        return true;
      }
      case K_UPGRADE:
        h.upgrade = latin1(buf, vs, ve);
        return true;
      case K_EXPECT:
        if (ve - vs === 12 && eqLower(buf, vs, '100-continue')) h.expectContinue = true;
        return true;
      case K_TE:
        h.te = latin1(buf, vs, ve);
        return true;
      default:
        return true;
    }
  }

  #seenHost = false;
  /** The previous message's host, target and reason strings, reused when the same bytes come again. */
  #lastHost = '';
  #lastTarget = '';
  #lastReason = '';

  #finish(buf: Buffer, end: number): number {
    const h = this.head;
    h.end = end;
    // Usually set already with the start line (a store of a new chunk into the long-lived head costs a write barrier).
    if (h.buf !== buf) h.buf = buf;
    h.inChunk = buf !== this.#acc;
    if (h.hasTransferEncoding && h.contentLength !== -1) {
      return this.#fail(Http1Codes.CL_TE_CONFLICT, 'both Content-Length and Transfer-Encoding present');
    }
    if (!this.isResponse) {
      if (h.hasTransferEncoding) {
        if (h.versionMinor === 0) return this.#fail(Http1Codes.BAD_TRANSFER_ENCODING, 'Transfer-Encoding in an HTTP/1.0 request');
        if (!h.chunked) return this.#fail(Http1Codes.BAD_TRANSFER_ENCODING, 'request Transfer-Encoding must end with chunked', 400);
      }
      if (h.versionMinor === 1 && !this.#seenHost) {
        return this.#fail(Http1Codes.MISSING_HOST, 'HTTP/1.1 request without Host header');
      }
    }
    h.keepAlive = h.versionMinor === 1 ? !h.connectionClose : h.connectionKeepAlive && !h.connectionClose;
    if (h.connectionTokens !== null) {
      for (let i = 0; i < h.headerCount; i++) {
        if (h.kinds[i] !== K_OTHER) continue;
        const name = h.nameAt(i).toLowerCase();
        if (h.connectionTokens.includes(name)) h.kinds[i] = K_CONNECTION_LISTED;
      }
    }
    this.#accLen = 0;
    return end;
  }
}
