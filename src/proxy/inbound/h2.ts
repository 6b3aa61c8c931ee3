// Inbound HTTP/2 from peer proxies (ALPN h2 over mTLS) on weft's own codec: one server session per
// connection, and per stream either a direct bridge to the app's HTTP/1.1 port (the engine's pooled
// client on loopback: the request head serialised from the flat header list, both bodies streamed with
// back-pressure, trailers both ways) or, for h2c and gRPC app ports, an Exchange into inboundHttp
// (stack.ts: port authorization, grpc-timeout, forward). The peer's SPIFFE ID was checked at TLS.
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { ProxyContext } from '../context.ts';
import { ERROR_MAP, ProxyError, fromUpstreamError, rescue } from '../errors.ts';
import { HOP_BY_HOP } from '../protocols/exchange.ts';
import { H2StreamExchange, parseRequestHead } from '../protocols/h2-exchange.ts';
import { DST_PORT_HEADER } from '../protocols/mesh-tls.ts';
import { H2_INTERNAL_ERROR, type H2HeaderList, type H2ServerSession, type H2Stream } from '../protocols/h2/api.ts';
import { serveH2 } from '../protocols/h2/session.ts';
import { dropRequestBody, serverSessionOptions } from '../protocols/h2-server.ts';
import { Http1ClientRequest, type Http1ResponseHandler } from '../protocols/http1/client.ts';
import type { Http1Pool, Http1UpstreamConn } from '../protocols/http1/pool.ts';
import { K_CONTENT_LENGTH, K_EXPECT, K_OTHER, type Http1Head } from '../protocols/http1/parser.ts';
import type { UpstreamError } from '../protocols/http1/errors.ts';
import type { PoolLimits } from '../protocols/http1-pools.ts';
import type { LimitsConfig } from '../runtime/snapshot.ts';
import { inboundHttp } from './stack.ts';

const appPoolLimitsByLimits = new WeakMap<LimitsConfig, PoolLimits>();

/** Limits of the pools towards the app (as inbound/http1.ts uses). */
function appPoolLimits(limits: LimitsConfig): PoolLimits {
  let l = appPoolLimitsByLimits.get(limits);
  if (l === undefined) {
    l = { maxConnections: 1024, maxPending: 1024, connectTimeoutMs: 1000, idleTimeoutMs: 60000, maxHeaderBytes: limits.maxHeaderBytes };
    appPoolLimitsByLimits.set(limits, l);
  }
  return l;
}

/**
 * Serves HTTP/2 on an mTLS socket from a peer proxy (its identity already checked). `initial`: bytes
 * already read from the socket. The session is added to `sessions` until it closes (drain, idle sweep).
 */
export function serveInboundH2(ctx: ProxyContext, socket: Duplex, sessions: Set<H2ServerSession>, initial?: Buffer): H2ServerSession {
  const conn = new InboundH2Connection(ctx);
  const session = serveH2(socket, conn.onStream, serverSessionOptions(ctx.snapshot.limits), initial);
  conn.session = session;
  sessions.add(session);
  session.onClose = () => sessions.delete(session);
  if (ctx.draining) session.close();
  return session;
}

/** One inbound h2 connection: dispatches its streams. */
class InboundH2Connection {
  readonly ctx: ProxyContext;
  session!: H2ServerSession;

  constructor(ctx: ProxyContext) {
    this.ctx = ctx;
  }

  readonly onStream = (stream: H2Stream, headers: H2HeaderList, endStream: boolean): void => {
    const ctx = this.ctx;
    // One scan for what decides the path: method and target port.
    let method = '';
    let named: string | undefined;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name === ':method') method = headers[i + 1]!;
      else if (name === DST_PORT_HEADER) {
        named = headers[i + 1]!;
        break;
      }
    }
    if (method === 'CONNECT') {
      ctx.metrics.error('inbound', 'BAD_REQUEST');
      stream.sendHeaders([':status', '405', 'weft-error', 'BAD_REQUEST; CONNECT is not supported on this listener'], true);
      if (!endStream) dropRequestBody(stream);
      return;
    }
    const inbound = ctx.snapshot.workload.inbound;
    const port = named === undefined ? inbound.ports.values().next().value : inbound.ports.get(Number(named));
    if (port !== undefined && port.protocol === 'http1') {
      const bridge = new H2ToHttp1Bridge(ctx, stream, method === 'HEAD');
      bridge.start(ctx.h1Pools.plain(inbound.appAddress, port.port, appPoolLimits(ctx.snapshot.limits)), headers, method, endStream);
      return;
    }
    // h2c / gRPC apps, and refusals (undeclared port): the Exchange path, policy in stack.ts.
    void inboundHttp(ctx, new H2StreamExchange(this.session, stream, parseRequestHead(headers), endStream));
  };
}

/** Answers a stream with the mapped error (weft-error header; gRPC status for gRPC) and counts it. */
function respondError(ctx: ProxyContext, stream: H2Stream, error: ProxyError, grpc: boolean, head: boolean, remoteEnded: boolean): void {
  ctx.metrics.error('inbound', error.code);
  if (stream.closed) return;
  const r = rescue(error, { grpc, head, where: 'inbound' });
  const list: H2HeaderList = [':status', String(grpc ? 200 : r.status)];
  for (const name in r.headers) list.push(name, r.headers[name] as string);
  if (r.body === '') stream.sendHeaders(list, true);
  else {
    stream.sendHeaders(list, false);
    stream.sendData(Buffer.from(r.body), true);
  }
  if (!remoteEnded && !stream.remoteEnded) dropRequestBody(stream);
}

// The stream callbacks of every H2ToHttp1Bridge: the codec calls them with the stream as `this`, and
// the bridge is the stream's context — no closures per request.
function bridgeOnData(this: H2Stream, chunk: Buffer, endStream: boolean): void {
  (this.context as H2ToHttp1Bridge).onStreamData(chunk, endStream);
}
function bridgeOnTrailers(this: H2Stream, trailers: H2HeaderList): void {
  (this.context as H2ToHttp1Bridge).onStreamTrailers(trailers);
}
function bridgeOnWritable(this: H2Stream): void {
  (this.context as H2ToHttp1Bridge).onStreamWritable();
}
function bridgeOnClose(this: H2Stream): void {
  (this.context as H2ToHttp1Bridge).onStreamClose();
}

/**
 * One h2 stream forwarded as an HTTP/1.1 request to the app. It is the stream's context (shared
 * callbacks reach it there) and the HTTP/1 client's response handler, so a request costs this object,
 * its pool callback, the client request and the header arrays — no streams.
 */
class H2ToHttp1Bridge implements Http1ResponseHandler {
  readonly ctx: ProxyContext;
  readonly stream: H2Stream;
  readonly headRequest: boolean;
  readonly started = performance.now();
  req: Http1ClientRequest | null = null;
  pool: Http1Pool | null = null;
  /** The app connection this request got (kept to un-pause it once the response ended; see onEnd). */
  up: Http1UpstreamConn | null = null;
  status = 0;
  responded = false;
  /** The exchange is over for us (response ended, failed or the stream was reset). */
  finished = false;
  /** Received body bytes the app socket has not taken yet (not yet given back to the stream's window). */
  held = 0;
  responsePaused = false;
  /**
   * Response body bytes still due when the app declared a Content-Length (-1: chunked, close-delimited
   * or none): the chunk that completes it carries END_STREAM, so no empty DATA frame follows it.
   */
  responseLeft = -1;
  /** The last body chunk ended the stream: its close is the normal end (onEnd follows at once), not a reset. */
  endedWithData = false;

  constructor(ctx: ProxyContext, stream: H2Stream, headRequest: boolean) {
    this.ctx = ctx;
    this.stream = stream;
    this.headRequest = headRequest;
  }

  start(pool: Http1Pool, list: H2HeaderList, method: string, endStream: boolean): void {
    const stream = this.stream;
    this.ctx.inflight++;
    stream.context = this;
    stream.onData = bridgeOnData;
    stream.onTrailers = bridgeOnTrailers;
    stream.onWritable = bridgeOnWritable;
    stream.onClose = bridgeOnClose;
    let path = '/';
    let authority = '';
    let host = '';
    let cookie: string | undefined;
    let bodyLength = endStream ? 0 : -1;
    let announcesTrailers = false;
    const headers: Array<[string, string]> = [];
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i]!;
      const value = list[i + 1]!;
      if (name.charCodeAt(0) === 58 /* ':' */) {
        if (name === ':path') path = value;
        else if (name === ':authority') authority = value;
        continue;
      }
      if (name === DST_PORT_HEADER) continue;
      if (name === 'content-length') {
        if (!endStream) bodyLength = Number(value);
        continue;
      }
      if (name === 'host') {
        host = value;
        continue;
      }
      if (name === 'trailer') announcesTrailers = true;
      // HTTP/2 may split cookies into several fields; HTTP/1.1 wants one (RFC 9113 §8.2.3).
      if (name === 'cookie') {
        cookie = cookie === undefined ? value : `${cookie}; ${value}`;
        continue;
      }
      headers.push([name, value]);
    }
    if (cookie !== undefined) headers.push(['cookie', cookie]);
    // HTTP/1.1 carries trailers only in chunked framing: a request that announces them goes chunked
    // even when it declared its length (nghttp does), so they reach the app.
    if (announcesTrailers && !endStream) bodyLength = -1;
    if (authority === '') authority = host;
    let req: Http1ClientRequest;
    try {
      req = new Http1ClientRequest(pool, { method, path, authority, headers, bodyLength }, this);
    } catch (e) {
      this.#fail(new ProxyError('BAD_REQUEST', `the request cannot be sent as HTTP/1.1: ${(e as Error).message}`, { cause: e }));
      return;
    }
    this.req = req;
    this.pool = pool;
    if (endStream) req.end();
    pool.acquire(this.onAcquired);
  }

  readonly onAcquired = (error: UpstreamError | null, up: Http1UpstreamConn | null): void => {
    const req = this.req!;
    this.up = up;
    req.onAcquired(error, up);
    // Body bytes queued while connecting are now in the socket: give them back to the window unless it is full.
    if (error === null && up !== null && !this.finished && !up.socket.writableNeedDrain) this.onDrain();
  };

  // ---- stream callbacks (request side) ----
  onStreamData(chunk: Buffer, endStream: boolean): void {
    const n = chunk.length;
    if (this.finished || this.req === null) {
      if (n > 0) this.stream.consume(n);
      return;
    }
    const req = this.req;
    if (n > 0) {
      // The chunk is a view into a socket read the codec never overwrites (C1's forward.ts relies on the
      // same): the HTTP/1 client may keep it in its queue without a copy.
      const ok = req.write(chunk);
      if (ok && req.up !== null) this.stream.consume(n);
      else this.held += n;
    }
    if (endStream) req.end();
  }

  onStreamTrailers(trailers: H2HeaderList): void {
    if (this.finished || this.req === null) return;
    const list: Array<[string, string]> = [];
    for (let i = 0; i < trailers.length; i += 2) list.push([trailers[i]!, trailers[i + 1]!]);
    this.req.end(list);
  }

  onStreamWritable(): void {
    if (this.responsePaused) {
      this.responsePaused = false;
      this.req?.resumeResponse();
    }
  }

  onStreamClose(): void {
    if (this.finished || this.endedWithData) return;
    // Reset by the peer (or the session died) before the response ended: abort the app request.
    this.finished = true;
    const req = this.req;
    if (req !== null) {
      // Still waiting for a connection: leave the pool's queue (we acquired with our own callback).
      if (req.up === null) this.pool!.cancel(this.onAcquired);
      req.abort();
    }
    this.#done();
  }

  // ---- Http1ResponseHandler (response side) ----
  onInformational(head: Http1Head): void {
    if (this.finished || head.status === 101) return;
    this.stream.sendHeaders(responseList(head), false);
  }

  onHead(head: Http1Head): void {
    if (this.finished) return;
    this.status = head.status;
    this.responded = true;
    const s = head.status;
    const bodiless = this.headRequest || s === 204 || s === 304 || head.contentLength === 0;
    this.responseLeft = bodiless ? -1 : head.contentLength;
    this.stream.sendHeaders(responseList(head), bodiless);
  }

  onData(chunk: Buffer): void {
    if (this.finished) return;
    let last = false;
    if (this.responseLeft > 0) {
      // The engine's framer never hands over more than the declared length.
      this.responseLeft -= chunk.length;
      last = this.responseLeft <= 0;
    }
    // The last chunk ends the stream itself (onEnd then finds it ended): sendData returns false then,
    // which is no back-pressure.
    if (last) this.endedWithData = true;
    if (!this.stream.sendData(chunk, last) && !last && !this.responsePaused) {
      this.responsePaused = true;
      this.req!.pauseResponse();
    }
  }

  onEnd(trailers: Array<[string, string]>): void {
    if (this.finished) return;
    this.finished = true;
    // A pause for back-pressure set on the last body chunk would go back to the pool with the
    // connection (the engine's pool does not lift it): the next request on it would never be read.
    if (this.responsePaused) {
      this.responsePaused = false;
      this.up?.socket.resume();
    }
    const stream = this.stream;
    if (!stream.closed && !stream.localEnded) {
      if (trailers.length > 0) {
        const list: H2HeaderList = [];
        for (const [k, v] of trailers) {
          const name = k.toLowerCase();
          if (!HOP_BY_HOP.has(name) && name !== 'content-length') list.push(name, v);
        }
        if (list.length > 0) stream.sendTrailers(list);
        else stream.end();
      } else stream.end();
    }
    // An early response (request body still coming) leaves onStreamData consuming and dropping the rest.
    this.#done();
  }

  onError(error: UpstreamError): void {
    if (this.finished) return;
    if (!this.responded) {
      const code = fromUpstreamError(error);
      const reason = code === 'CONNECT_REFUSED' ? `the app refused the connection (is it listening?): ${error.message}` : error.message;
      this.#fail(new ProxyError(code, reason, { cause: error }));
      return;
    }
    this.finished = true;
    this.ctx.metrics.error('inbound', 'UPSTREAM_RESET');
    this.stream.reset(H2_INTERNAL_ERROR);
    this.#done();
  }

  /** The app socket drained: what it took can come again from the peer. */
  onDrain(): void {
    const n = this.held;
    if (n > 0) {
      this.held = 0;
      this.stream.consume(n);
    }
  }

  #fail(error: ProxyError): void {
    this.finished = true;
    this.status = ERROR_MAP[error.code].http;
    respondError(this.ctx, this.stream, error, false, this.headRequest, this.stream.remoteEnded);
    if (this.held > 0) this.onDrain();
    this.#done();
  }

  #done(): void {
    const ctx = this.ctx;
    ctx.inflight--;
    ctx.metrics.request('inbound', this.status, (performance.now() - this.started) / 1000);
  }
}

/** `:status` values, made once per code. */
const statusStrings: string[] = [];

function statusString(status: number): string {
  return (statusStrings[status] ??= String(status));
}

// The names and values of the last response heads, by field position (shared by every inbound
// session: an app answers with the same fields again and again). A field whose bytes equal the
// remembered string reuses it: no string made, no name lookup, and the HPACK encoder then finds its
// last value by identity.
const LAST_FIELDS = 32;
const lastNames: string[] = new Array<string>(LAST_FIELDS).fill('');
const lastValues: string[] = new Array<string>(LAST_FIELDS).fill('');

/** buf[s, e) equals `text` (latin1, exactly). */
function sameBytes(buf: Buffer, s: number, e: number, text: string): boolean {
  if (e - s !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[s + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** buf[s, e) equals the lower-case `name` ignoring ASCII case. */
function sameName(buf: Buffer, s: number, e: number, name: string): boolean {
  if (e - s !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    const c = buf[s + i]!;
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== name.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * A response head as a flat list: `:status` first, connection-specific fields dropped (the parser's
 * kinds mark them, and those named in Connection; http2-settings and proxy-authorization by name).
 */
function responseList(head: Http1Head): H2HeaderList {
  const list: H2HeaderList = [':status', statusString(head.status)];
  const listed = head.connectionTokens;
  const kinds = head.kinds;
  const offsets = head.offsets;
  const buf = head.buf;
  for (let i = 0; i < head.headerCount; i++) {
    const kind = kinds[i]!;
    if (kind !== K_OTHER && kind !== K_CONTENT_LENGTH && kind !== K_EXPECT) continue;
    const o = i * 5;
    let name: string;
    let value: string;
    if (i < LAST_FIELDS) {
      name = lastNames[i]!;
      if (!sameName(buf, offsets[o]!, offsets[o + 1]!, name)) lastNames[i] = name = head.lowerNameAt(i);
      value = lastValues[i]!;
      if (!sameBytes(buf, offsets[o + 2]!, offsets[o + 3]!, value)) lastValues[i] = value = head.valueAt(i);
    } else {
      name = head.lowerNameAt(i);
      value = head.valueAt(i);
    }
    if (kind === K_OTHER && (name === 'proxy-authorization' || name === 'http2-settings')) continue;
    if (listed !== null && listed.includes(name)) continue;
    list.push(name, value);
  }
  return list;
}
