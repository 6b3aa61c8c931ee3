// The HTTP/1.1 → HTTP/1.1 fast path: forwards the current request of a server connection to a pooled
// upstream connection and the response back. Heads are re-serialised once with precompiled header
// edits (hop-by-hop fields dropped per RFC 9110 §7.6.1, configured set/add/remove applied) and sent in
// the same write as the first body bytes — or, when nothing is added, not copied at all: a request head
// that loses nothing goes out as the client's bytes, a response head (and, when the plan allows, a request
// head) that only loses lines is compacted in place in the chunk it came in, in front of its body; bodies
// pass through untouched, chunk framing included, with back-pressure both ways. 1xx responses are relayed (Expect: 100-continue), 101 turns the exchange
// into a byte tunnel (WebSocket), an HTTP/1.0 client gets a chunked response de-chunked.
//
// API:
//   const plan = compileForward({ requestHeaders: { set: [['x-forwarded-proto', 'http']] }, requestTimeoutMs: 15000,
//                                 onError: (conn, err) => respondError(conn, myMapping(err)) });   // once per target
//   forward(conn, pool, plan, 'x-forwarded-for: 10.0.0.1\r\n');                                     // per request
// Upstream failures reach `plan.onError(conn, err)` as UpstreamError subclasses (codes in errors.ts)
// when no response byte was sent yet (default: `respondError` with defaultUpstreamStatus); after the
// response head the client connection is reset instead. `plan.onDone(conn, outcome)` reports each end.
import type net from 'node:net';
import type { Http1Head } from './parser.ts';
import { K_HOST, K_OTHER, K_EXPECT, K_TRANSFER_ENCODING, K_UPGRADE, isHopByHop } from './parser.ts';
import { FRAMING_CHUNKED, FRAMING_CLOSE } from './body.ts';
import type { Http1ServerConn, ExchangeHooks } from './server.ts';
import type { Http1Pool, Http1UpstreamConn, UpstreamHooks } from './pool.ts';
import { UpstreamCodes, UpstreamTimeoutError, type UpstreamError } from './errors.ts';
import { respondError } from './error-response.ts';

export { respondError } from './error-response.ts';
export type { ErrorResponse } from './error-response.ts';

/** Header edits as configured: `set` replaces, `add` appends, `remove` drops (names case-insensitive). */
export interface HeaderEditsSpec {
  readonly set?: ReadonlyArray<readonly [string, string]>;
  readonly add?: ReadonlyArray<readonly [string, string]>;
  readonly remove?: readonly string[];
}

/** Header edits compiled for the serialiser: names to drop and one block of bytes to append. */
export class HeaderEdits {
  readonly removeNames: readonly string[];
  readonly block: Buffer;
  constructor(spec: HeaderEditsSpec) {
    const remove = new Set<string>();
    for (const n of spec.remove ?? []) remove.add(checkName(n).toLowerCase());
    let block = '';
    for (const [n, v] of spec.set ?? []) {
      remove.add(checkName(n).toLowerCase());
      block += `${n}: ${checkValue(v)}\r\n`;
    }
    for (const [n, v] of spec.add ?? []) block += `${checkName(n)}: ${checkValue(v)}\r\n`;
    for (const framing of ['content-length', 'transfer-encoding']) {
      if (remove.has(framing)) throw new TypeError(`header edits cannot touch ${framing} (the body is forwarded untouched)`);
    }
    this.removeNames = [...remove];
    this.block = Buffer.from(block, 'latin1');
  }

  /** True when the header whose name is buf[s, s+len) must be dropped. */
  removes(buf: Buffer, s: number, len: number): boolean {
    const names = this.removeNames;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      if (name.length !== len) continue;
      let i = 0;
      for (; i < len; i++) {
        let c = buf[s + i]!;
        if (c >= 0x41 && c <= 0x5a) c |= 0x20;
        if (c !== name.charCodeAt(i)) break;
      }
      if (i === len) return true;
    }
    return false;
  }
}

function checkName(name: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
  return name;
}

function checkValue(value: string): string {
  if (/[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]/.test(value)) throw new TypeError(`invalid header value ${JSON.stringify(value)}`);
  return value.trim();
}

export function compileHeaderEdits(spec: HeaderEditsSpec | undefined): HeaderEdits | null {
  if (spec === undefined) return null;
  const edits = new HeaderEdits(spec);
  return edits.removeNames.length === 0 && edits.block.length === 0 ? null : edits;
}

/** How one forwarded exchange ended. */
export interface ForwardOutcome {
  /** Final status sent to the client (generated or relayed); 0 if none was sent. */
  readonly status: number;
  /** The upstream failure, if any. */
  readonly error: UpstreamError | null;
  /** True when the response reached the client completely. */
  readonly completed: boolean;
  /** True when the upstream connection was a reused pooled one. */
  readonly reused: boolean;
}

export interface ForwardSpec {
  readonly requestHeaders?: HeaderEditsSpec;
  readonly responseHeaders?: HeaderEditsSpec;
  /** Whole exchange must finish within this (0 = no limit); else UPSTREAM_RESPONSE_TIMEOUT. */
  readonly requestTimeoutMs?: number;
  /**
   * The request head may be compacted in place in the client's chunk when forwarding only drops lines from it
   * (as for responses). Only for callers that never read the head's fields by offset afterwards — no retry
   * that forwards the same head again, no `head.get()` later (the inbound listener; not the outbound one).
   */
  readonly compactRequestHead?: boolean;
  /** Answers a failed exchange (before any response byte). Default: respondError with defaultUpstreamStatus. */
  readonly onError?: (conn: Http1ServerConn, error: UpstreamError) => void;
  /**
   * Observes each upstream response head (metrics, access log, passive health). Read the head during the
   * call only: it may then be compacted in place for forwarding, after which its field offsets are stale.
   */
  readonly onResponseHead?: (conn: Http1ServerConn, head: Http1Head) => void;
  /** Called once per exchange when it ends, however it ends. */
  readonly onDone?: (conn: Http1ServerConn, outcome: ForwardOutcome) => void;
}

/** A compiled forwarding plan: build once per target (route/cluster), use for every request. */
export interface ForwardPlan {
  readonly requestEdits: HeaderEdits | null;
  readonly responseEdits: HeaderEdits | null;
  readonly requestTimeoutMs: number;
  readonly compactRequestHead: boolean;
  readonly onError: (conn: Http1ServerConn, error: UpstreamError) => void;
  readonly onResponseHead: ((conn: Http1ServerConn, head: Http1Head) => void) | null;
  readonly onDone: ((conn: Http1ServerConn, outcome: ForwardOutcome) => void) | null;
}

/** Default status for an upstream failure: 503 pool exhausted/closed, 504 timeouts, 502 otherwise. */
export function defaultUpstreamStatus(error: UpstreamError): number {
  switch (error.code) {
    case UpstreamCodes.POOL_EXHAUSTED:
    case UpstreamCodes.POOL_CLOSED:
      return 503;
    case UpstreamCodes.RESPONSE_TIMEOUT:
    case UpstreamCodes.CONNECT_TIMEOUT:
      return 504;
    default:
      return 502;
  }
}

function defaultOnError(conn: Http1ServerConn, error: UpstreamError): void {
  respondError(conn, { status: defaultUpstreamStatus(error), code: error.code, reason: error.message });
}

export function compileForward(spec: ForwardSpec = {}): ForwardPlan {
  return Object.freeze({
    requestEdits: compileHeaderEdits(spec.requestHeaders),
    responseEdits: compileHeaderEdits(spec.responseHeaders),
    requestTimeoutMs: spec.requestTimeoutMs ?? 0,
    compactRequestHead: spec.compactRequestHead ?? false,
    onError: spec.onError ?? defaultOnError,
    onResponseHead: spec.onResponseHead ?? null,
    onDone: spec.onDone ?? null,
  });
}

/** Forwards the current request of `conn` through `pool`. `extraHeaders`: preformatted "name: value\r\n" lines. */
export function forward(conn: Http1ServerConn, pool: Http1Pool, plan: ForwardPlan, extraHeaders = ''): void {
  const ex = new ForwardExchange(conn, pool, plan, extraHeaders);
  conn.link = ex;
  conn.attach(ex, false);
  if (plan.requestTimeoutMs > 0) conn.setDeadline(plan.requestTimeoutMs);
  pool.acquire(ex.onAcquired);
}

/** Largest body prefix copied into the head buffer so head and first bytes leave in one write. */
const COALESCE_MAX = 16384;

const CONNECTION_CLOSE = 'connection: close\r\n';
const CONNECTION_KEEP_ALIVE = 'connection: keep-alive\r\n';
const CONNECTION_UPGRADE = 'connection: upgrade\r\n';

// Scratch for the serialiser: the used length of the last serialised head.
let lastHeadLength = 0;

/**
 * Serialises a head for forwarding into a new buffer with `spare` free bytes at the end. Drops hop-by-hop
 * fields (keeping Upgrade when `keepUpgrade`), fields removed by `edits`, Transfer-Encoding when
 * `dropTe`, Host when `replaceHost`; appends edits, `extra` and `tail`. Sets lastHeadLength.
 */
function serializeHead(head: Http1Head, startLine: string | null, edits: HeaderEdits | null, extra: string, tail: string, flags: number, spare: number): Buffer {
  const buf = head.buf;
  const offsets = head.offsets;
  const count = head.headerCount;
  // Pass 1: size.
  let size = startLine === null ? head.startLineEnd - head.start : Buffer.byteLength(startLine, 'latin1');
  let dropped = 0;
  for (let i = 0; i < count; i++) {
    if (dropHeader(head, i, edits, flags)) {
      dropped++;
      continue;
    }
    size += offsets[i * 5 + 4]! - offsets[i * 5]!;
  }
  const editLen = edits === null ? 0 : edits.block.length;
  size += editLen + extra.length + tail.length + 2;
  const out = Buffer.allocUnsafe(size + spare);
  let pos = 0;
  // Kept bytes are copied in runs: the start line (when kept) and consecutive kept field lines are
  // contiguous in the input, so a head with nothing dropped is one copy.
  let runStart = -1;
  let runEnd = -1;
  if (startLine === null) {
    runStart = head.start;
    runEnd = head.startLineEnd;
  } else {
    pos += latin1Write(out, startLine, 0);
  }
  for (let i = 0; i < count; i++) {
    const o = i * 5;
    if (dropped > 0 && dropHeader(head, i, edits, flags)) continue;
    if (offsets[o] === runEnd) {
      runEnd = offsets[o + 4]!;
    } else {
      if (runStart !== -1) pos += buf.copy(out, pos, runStart, runEnd);
      runStart = offsets[o]!;
      runEnd = offsets[o + 4]!;
    }
  }
  if (runStart !== -1) pos += buf.copy(out, pos, runStart, runEnd);
  if (editLen > 0) pos += edits!.block.copy(out, pos);
  if (extra.length > 0) pos += latin1Write(out, extra, pos);
  if (tail.length > 0) pos += latin1Write(out, tail, pos);
  out[pos++] = 13;
  out[pos++] = 10;
  lastHeadLength = pos;
  return out;
}

/** True when forwarding `head` drops none of its fields (its bytes can go out as received). */
function keepsEveryField(head: Http1Head, edits: HeaderEdits | null, flags: number): boolean {
  for (let i = 0; i < head.headerCount; i++) {
    if (dropHeader(head, i, edits, flags)) return false;
  }
  return true;
}

/**
 * Forwards a head in place, when nothing is added to it: the kept lines (start line included) are moved
 * up against the empty line that ends the head, over the dropped ones, so the head now occupies
 * head.buf[returned offset, head.end) and is still followed by the body bytes that came with it — one
 * write for both, with no new buffer and no body copy. The head's offsets no longer describe its bytes
 * afterwards: only for a response head, which nothing reads again once it is forwarded, and for a request
 * head when the plan says so (`compactRequestHead`).
 */
function compactHeadInPlace(head: Http1Head, edits: HeaderEdits | null, flags: number): number {
  const buf = head.buf;
  const offsets = head.offsets;
  // Walk backwards; each kept run moves right (never left), so no byte is overwritten before it moved.
  let dst = head.end - 2;
  let runStart = -1;
  let runEnd = -1;
  for (let i = head.headerCount - 1; i >= 0; i--) {
    if (dropHeader(head, i, edits, flags)) continue;
    const o = i * 5;
    if (offsets[o + 4] === runStart) {
      runStart = offsets[o]!;
    } else {
      if (runStart !== -1) {
        dst -= runEnd - runStart;
        if (dst !== runStart) buf.copyWithin(dst, runStart, runEnd);
      }
      runStart = offsets[o]!;
      runEnd = offsets[o + 4]!;
    }
  }
  if (runStart === head.startLineEnd) {
    runStart = head.start;
  } else {
    if (runStart !== -1) {
      dst -= runEnd - runStart;
      if (dst !== runStart) buf.copyWithin(dst, runStart, runEnd);
    }
    runStart = head.start;
    runEnd = head.startLineEnd;
  }
  dst -= runEnd - runStart;
  if (dst !== runStart) buf.copyWithin(dst, runStart, runEnd);
  return dst;
}

/** buf[start, end) without a new view when that is the whole buffer. */
function span(buf: Buffer, start: number, end: number): Buffer {
  return start === 0 && end === buf.length ? buf : buf.subarray(start, end);
}

/** Buffer#latin1Write (fast, untyped in @types/node): writes a one-byte-per-char string at `pos`. */
const latin1Write = (out: Buffer, text: string, pos: number): number => (out as any).latin1Write(text, pos) as number;

const F_KEEP_UPGRADE = 1;
const F_DROP_TE = 2;
const F_REPLACE_HOST = 4;

/** Whether field `i` of `head` is left out of the forwarded head (hop-by-hop, or removed by an edit). */
function dropHeader(head: Http1Head, i: number, edits: HeaderEdits | null, flags: number): boolean {
  const kind = head.kinds[i]!;
  if (kind === K_OTHER || kind === K_EXPECT || kind === K_HOST) {
    if (kind === K_HOST && (flags & F_REPLACE_HOST) !== 0) return true;
    const offsets = head.offsets;
    return edits !== null && edits.removes(head.buf, offsets[i * 5]!, offsets[i * 5 + 1]! - offsets[i * 5]!);
  }
  if (kind === K_UPGRADE) return (flags & F_KEEP_UPGRADE) === 0;
  if (kind === K_TRANSFER_ENCODING) return (flags & F_DROP_TE) !== 0;
  return isHopByHop(kind);
}

/** State of one forwarded exchange; it is both the server connection's and the upstream's hooks. */
class ForwardExchange implements ExchangeHooks, UpstreamHooks {
  readonly raw = true;
  readonly conn: Http1ServerConn;
  readonly pool: Http1Pool;
  readonly plan: ForwardPlan;
  readonly extra: string;
  up: Http1UpstreamConn | null = null;
  finished = false;
  status = 0;
  reused = false;
  /**
   * Request head waiting to be written together with the first body bytes: reqHead[reqHeadStart,
   * reqHeadEnd). A serialised copy (reqView false) has spare room after the head for those bytes; a
   * view (reqView true) is the client's own bytes, forwarded as received.
   */
  reqHead: Buffer | null = null;
  reqHeadStart = 0;
  reqHeadEnd = 0;
  reqView = false;
  /** The same for the response head (a view: the upstream's bytes, compacted in place). */
  resHead: Buffer | null = null;
  resHeadStart = 0;
  resHeadEnd = 0;
  resView = false;
  /** HTTP/1.0 client and chunked response: send payload only, delimit by close. */
  dechunk = false;
  upgrade = false;

  constructor(conn: Http1ServerConn, pool: Http1Pool, plan: ForwardPlan, extra: string) {
    this.conn = conn;
    this.pool = pool;
    this.plan = plan;
    this.extra = extra;
  }

  readonly onAcquired = (error: UpstreamError | null, up: Http1UpstreamConn | null): void => {
    if (this.finished) {
      up?.release();
      return;
    }
    if (error !== null || up === null) {
      this.#fail(error!);
      return;
    }
    const conn = this.conn;
    const head = conn.head;
    this.up = up;
    this.reused = up.requests > 0;
    up.link = this;
    up.start(head.method, this);
    this.upgrade = head.upgrade !== '' && head.connectionUpgrade;
    let startLine: string | null = null;
    let flags = this.upgrade ? F_KEEP_UPGRADE : 0;
    let tail = this.upgrade ? CONNECTION_UPGRADE : '';
    if (head.absoluteForm) {
      startLine = `${head.method} ${head.path} HTTP/1.1\r\n`;
      flags |= F_REPLACE_HOST;
      tail += `host: ${head.authority}\r\n`;
    } else {
      if (head.versionMinor === 0) startLine = `${head.method} ${head.target} HTTP/1.1\r\n`;
      if (head.host === '' && head.versionMinor === 0) tail += `host: ${this.pool.name}\r\n`;
    }
    const edits = this.plan.requestEdits;
    const nothingAdded = startLine === null && tail === '' && this.extra === '' && (edits === null || edits.block.length === 0) && head.inChunk;
    if (nothingAdded && keepsEveryField(head, edits, flags)) {
      // Nothing to change: the head goes out as the client sent it (with the body bytes that follow it).
      this.reqHead = head.buf;
      this.reqHeadStart = head.start;
      this.reqHeadEnd = head.end;
      this.reqView = true;
    } else if (nothingAdded && this.plan.compactRequestHead) {
      // Only lines to drop, and nobody reads this head again: drop them in place, as for responses.
      this.reqHead = head.buf;
      this.reqHeadStart = compactHeadInPlace(head, edits, flags);
      this.reqHeadEnd = head.end;
      this.reqView = true;
    } else {
      const spare = Math.min(conn.pendingBodyBytes, COALESCE_MAX);
      this.reqHead = serializeHead(head, startLine, edits, this.extra, tail, flags, spare);
      this.reqHeadStart = 0;
      this.reqHeadEnd = lastHeadLength;
      this.reqView = false;
    }
    conn.startBody();
    if (this.reqHead !== null && !this.finished) this.#flushReqHead();
  };

  #flushReqHead(): void {
    const h = this.reqHead!;
    this.reqHead = null;
    if (!this.up!.write(span(h, this.reqHeadStart, this.reqHeadEnd))) this.conn.pauseBody();
  }

  // ---- ExchangeHooks (client side) ---------------------------------------------------------------

  onRequestBytes(buf: Buffer, start: number, end: number): void {
    const up = this.up;
    if (up === null) return;
    let ok: boolean;
    const head = this.reqHead;
    const n = end - start;
    if (head !== null) {
      this.reqHead = null;
      const hs = this.reqHeadStart;
      const he = this.reqHeadEnd;
      if (this.reqView && buf === head && start === he) {
        ok = up.write(span(buf, hs, end));
      } else if (!this.reqView && head.length - he >= n) {
        buf.copy(head, he, start, end);
        ok = up.write(span(head, 0, he + n));
      } else {
        up.socket.cork();
        up.write(span(head, hs, he));
        ok = up.write(span(buf, start, end));
        up.socket.uncork();
      }
    } else {
      ok = up.write(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    }
    if (!ok) this.conn.pauseBody();
  }

  onRequestEnd(): void {
    const up = this.up;
    if (up === null) return;
    if (this.reqHead !== null) this.#flushReqHead();
    up.endRequest();
  }

  onBodyData(buf: Buffer, start: number, end: number): void {
    // Only used when de-chunking a response for an HTTP/1.0 client.
    if (!this.dechunk || end <= start) return;
    this.#writeResponse(buf, start, end);
  }

  onTrailers(): void {
    // Trailers cannot be sent to an HTTP/1.0 client; dropped.
  }

  onClientGone(_error: Error): void {
    if (this.finished) return;
    this.finished = true;
    const up = this.up;
    this.up = null;
    if (up !== null) up.abort();
    else this.pool.cancel(this.onAcquired);
    this.#done({ status: this.status, error: null, completed: false, reused: this.reused });
  }

  onClientDrain(): void {
    this.up?.resumeResponse();
  }

  onTimeout(): void {
    if (this.finished) return;
    this.#fail(new UpstreamTimeoutError(UpstreamCodes.RESPONSE_TIMEOUT, `${this.pool.name} did not answer within ${this.plan.requestTimeoutMs} ms`));
  }

  // ---- UpstreamHooks -----------------------------------------------------------------------------

  onInformational(head: Http1Head): void {
    if (head.status === 100 && !this.conn.head.expectContinue) return;
    const out = serializeHead(head, null, null, '', '', 0, 0);
    out[7] = 0x31; // HTTP/1.x status line: always answer as HTTP/1.1
    this.conn.socket.write(out.subarray(0, lastHeadLength));
  }

  onResponseHead(head: Http1Head, chunk: Buffer, bodyStart: number): void {
    const conn = this.conn;
    this.status = head.status;
    const observe = this.plan.onResponseHead;
    if (observe !== null) {
      try {
        observe(conn, head);
      } catch {
        // An observer's bug must not break the exchange.
      }
    }
    const up = this.up!;
    const framing = up.framer.mode;
    let flags = 0;
    if (framing === FRAMING_CLOSE || !conn.requestDone) conn.keepAlive = false;
    if (framing === FRAMING_CHUNKED && conn.head.versionMinor === 0) {
      this.dechunk = true;
      flags |= F_DROP_TE;
      conn.keepAlive = false;
      up.framer.setSink(this);
    }
    if (conn.server.draining) conn.keepAlive = false;
    let tail = '';
    if (!conn.keepAlive) tail = CONNECTION_CLOSE;
    else if (conn.head.versionMinor === 0) tail = CONNECTION_KEEP_ALIVE;
    const edits = this.plan.responseEdits;
    if (!this.dechunk && tail === '' && (edits === null || edits.block.length === 0) && head.inChunk && head.buf === chunk) {
      // Nothing to add: drop the hop-by-hop lines in place; head and first body bytes stay contiguous.
      const at = compactHeadInPlace(head, edits, flags);
      if (head.versionMinor === 0) chunk[at + 7] = 0x31;
      this.resHead = chunk;
      this.resHeadStart = at;
      this.resHeadEnd = head.end;
      this.resView = true;
      return;
    }
    const spare = this.dechunk ? 0 : Math.min(chunk.length - bodyStart, COALESCE_MAX);
    const out = serializeHead(head, null, edits, '', tail, flags, spare);
    if (head.versionMinor === 0) out[7] = 0x31;
    this.resHead = out;
    this.resHeadStart = 0;
    this.resHeadEnd = lastHeadLength;
    this.resView = false;
  }

  onResponseBytes(buf: Buffer, start: number, end: number): void {
    if (this.dechunk) return;
    this.#writeResponse(buf, start, end);
  }

  #writeResponse(buf: Buffer, start: number, end: number): void {
    const conn = this.conn;
    const head = this.resHead;
    const n = end - start;
    let ok: boolean;
    if (head !== null) {
      this.resHead = null;
      const hs = this.resHeadStart;
      const he = this.resHeadEnd;
      if (this.resView && buf === head && start === he) {
        ok = conn.writeRaw(span(buf, hs, end));
      } else if (!this.resView && head.length - he >= n) {
        buf.copy(head, he, start, end);
        ok = conn.writeRaw(span(head, 0, he + n));
      } else {
        conn.socket.cork();
        conn.writeRaw(span(head, hs, he));
        ok = conn.writeRaw(span(buf, start, end));
        conn.socket.uncork();
      }
    } else {
      ok = conn.writeRaw(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    }
    if (!ok) this.up?.pauseResponse();
  }

  onResponseEnd(): void {
    if (this.finished) return;
    const up = this.up;
    const conn = this.conn;
    if (this.resHead !== null) {
      const h = this.resHead;
      this.resHead = null;
      conn.writeRaw(span(h, this.resHeadStart, this.resHeadEnd));
    }
    this.finished = true;
    this.up = null;
    // Early response (request body unfinished): the connection cannot be reused. When the request had
    // ended, the pool already took the connection back (it may serve another exchange by now).
    if (up !== null && up.hooks === this && !up.requestEnded) up.abort();
    this.#done({ status: this.status, error: null, completed: true, reused: this.reused });
    conn.responseEnd();
  }

  onUpgrade(head: Http1Head, upSocket: net.Socket, rest: Buffer): void {
    const conn = this.conn;
    this.finished = true;
    this.up = null;
    this.status = 101;
    const out = serializeHead(head, null, this.plan.responseEdits, '', CONNECTION_UPGRADE, F_KEEP_UPGRADE, 0);
    out[7] = 0x31;
    conn.writeRaw(out.subarray(0, lastHeadLength));
    const { socket: client, rest: clientRest } = conn.takeOver();
    if (rest.length > 0) client.write(rest);
    if (clientRest.length > 0) upSocket.write(clientRest);
    tunnel(client, upSocket);
    this.#done({ status: 101, error: null, completed: true, reused: this.reused });
  }

  onUpstreamError(error: UpstreamError): void {
    if (this.finished) return;
    this.#fail(error);
  }

  onUpstreamDrain(): void {
    this.conn.resumeBody();
  }

  /** Reports the end of the exchange to plan.onDone (whose failures must not break the proxy). */
  #done(outcome: ForwardOutcome): void {
    const done = this.plan.onDone;
    if (done === null) return;
    try {
      done(this.conn, outcome);
    } catch {
      // Metrics or health bookkeeping failed; the exchange itself is complete.
    }
  }

  #fail(error: UpstreamError): void {
    this.finished = true;
    const up = this.up;
    this.up = null;
    if (up !== null) up.abort();
    else this.pool.cancel(this.onAcquired);
    const conn = this.conn;
    const started = conn.responseStarted;
    this.#done({ status: started ? this.status : 0, error, completed: false, reused: this.reused });
    if (!started && !conn.closed) {
      try {
        this.plan.onError(conn, error);
      } catch {
        // Fall through: the connection is reset below when nothing was answered.
      }
      if (!conn.closed && conn.link === this) conn.destroy(error);
    } else {
      conn.destroy(error);
    }
  }
}

/** Pipes two sockets both ways until either side closes (Upgrade / CONNECT tunnels). */
export function tunnel(a: net.Socket, b: net.Socket): void {
  // A FIN from either side ends the other side's writes (pipe) and then closes the tunnel.
  a.allowHalfOpen = false;
  b.allowHalfOpen = false;
  a.pipe(b);
  b.pipe(a);
  const closeBoth = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', closeBoth);
  b.on('error', closeBoth);
  a.on('close', closeBoth);
  b.on('close', closeBoth);
  a.resume();
}
