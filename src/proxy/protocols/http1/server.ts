// HTTP/1.1 server side of the engine: one fixed-shape `Http1ServerConn` per client socket (keep-alive,
// pipelined requests answered one at a time, header-read timeout against slowloris, idle timeout,
// `Connection: close`, Upgrade/CONNECT hand-off, drain), and `Http1Server`, which owns a set of
// connections, sweeps their timeouts on one coarse timer, limits their number and drains them.
//
// API:
//   const server = new Http1Server({ onRequest(conn, head) { ... }, headerTimeoutMs, idleTimeoutMs, maxConnections });
//   server.adopt(socket)             // a socket accepted elsewhere (bytes already read may be unshifted first)
//   await server.listen(0)           // or let it own a net.Server on 127.0.0.1
//   await server.drain(graceMs)      // stop accepting, close idle connections, finish in-flight ones with Connection: close
//
// Per request the handler gets `conn` and the parsed `head` (valid until the response ends). It then
//   - forwards it: `forward(conn, pool, plan)` (forward.ts), or
//   - attaches an `ExchangeHooks` object with `conn.attach(hooks)` to receive the body (raw framed bytes
//     when `hooks.raw`, else decoded data + trailers) and answers with `conn.writeHead/writeBody/endResponse`
//     (message mode, for bridging to HTTP/2) or `conn.respond(...)`, or `respondError(conn, ...)`, or
//   - takes the socket over (`conn.takeOver()`) for Upgrade/CONNECT tunnels.
// Reading is paused while no one consumes the body and between a request's end and its response's end.
import net from 'node:net';
import { sharedTimer, type CoarseTimer, type Deadline } from '../../../core/coarse-timer.ts';
import { Http1Parser, Http1Head, NEED_MORE, PARSE_ERROR, type Http1Limits } from './parser.ts';
import { BodyFramer, requestFraming, chunkHeader, CRLF, lastChunkWithTrailers, type BodySink } from './body.ts';
import { Http1ParseError, Http1Codes } from './errors.ts';
import { respondError, reasonPhrase, sanitizeHeaderValue } from './error-response.ts';
import { resetOrDestroy } from '../socket-reset.ts';
import { readsDirectly, setSink } from '../socket-reads.ts';

/** What consumes one request's body and is told about the client side of the exchange. */
export interface ExchangeHooks extends BodySink {
  /** true: body arrives framed and untouched through onRequestBytes; false: decoded via onBodyData/onTrailers. */
  readonly raw: boolean;
  onRequestBytes(buf: Buffer, start: number, end: number): void;
  /** The request body is complete (called at once for bodiless requests). */
  onRequestEnd(): void;
  /** The client closed, reset or sent a malformed body before the exchange finished. */
  onClientGone(error: Error): void;
  /** The client socket drained after a write returned false (release response back-pressure). */
  onClientDrain(): void;
  /** The deadline set with `conn.setDeadline(ms)` passed. */
  onTimeout(): void;
}

export interface Http1ServerOptions extends Http1Limits {
  /** Called once per request head. */
  onRequest: (conn: Http1ServerConn, head: Http1Head) => void;
  /** Told when `onRequest` throws (the client got a 500 `PROXY_INTERNAL_ERROR` and the connection closes). */
  onInternalError?: (conn: Http1ServerConn, error: unknown) => void;
  /** Told about malformed requests (after the 4xx is sent); for logging and metrics. */
  onClientError?: (conn: Http1ServerConn, error: Http1ParseError) => void;
  /** Whole request head must arrive within this, counted from its first byte (slowloris). Default 10 s. */
  headerTimeoutMs?: number;
  /** Keep-alive connections with no request in progress close after this. Default 60 s. */
  idleTimeoutMs?: number;
  /** New connections beyond this are closed at once (0 = no limit). Default 0. */
  maxConnections?: number;
  /** Sweep period for the timeouts above and request deadlines (default: min(timeouts)/5, 10..1000 ms). */
  sweepMs?: number;
  timer?: CoarseTimer;
}

const ST_HEAD = 0; // waiting for / reading a request head
const ST_BODY = 1; // request head handled, body not complete
const ST_WAIT = 2; // request complete, response not complete
const ST_CLOSED = 3;
const ST_DETACHED = 4; // taken over (upgrade, CONNECT)

const PAUSE_WAIT = 1;
const PAUSE_BACKPRESSURE = 2;

// Response framing chosen by writeHead (message mode).
const RES_RAW = 0; // the caller writes framed bytes itself (forward.ts)
const RES_LENGTH = 1;
const RES_CHUNKED = 2;
const RES_CLOSE = 3;
const RES_NONE = 4;

const EMPTY = Buffer.alloc(0);
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** One client connection. Fixed shape; reused across the requests of a keep-alive connection. */
export class Http1ServerConn {
  readonly server: Http1Server;
  readonly socket: net.Socket;
  readonly parser: Http1Parser;
  readonly framer: BodyFramer;
  /** Free slot for the proxy core (listener info, peer identity...). */
  context: unknown = undefined;
  /** Free slot for the current exchange's owner (forward.ts keeps its state here). */
  link: unknown = undefined;
  /** Requests started on this connection. */
  requests = 0;
  state = ST_HEAD;
  /** Whether the connection stays open after the current response. */
  keepAlive = true;
  requestDone = false;
  responseStarted = false;
  hooks: ExchangeHooks | null = null;
  #pending: Buffer | null = null;
  #pendingOff = 0;
  #paused = 0;
  /** Coarse time the current head's first byte arrived (0 = none yet). */
  headStartedAt = 0;
  /** Coarse time the connection last became idle. */
  idleSince = 0;
  /** Coarse time at which hooks.onTimeout fires (0 = none). */
  deadlineAt = 0;
  #clientEnded = false;
  #consuming = false;
  #continueSent = false;
  #resMode = RES_RAW;
  #resRemaining = 0;

  constructor(server: Http1Server, socket: net.Socket) {
    this.server = server;
    this.socket = socket;
    this.parser = new Http1Parser(false, server.limits);
    this.framer = new BodyFramer({ maxTrailerBytes: server.limits.maxHeaderBytes ?? 65536 });
    this.idleSince = server.now;
  }

  /** The head of the current request. */
  get head(): Http1Head {
    return this.parser.head;
  }

  get closed(): boolean {
    return this.state === ST_CLOSED || this.state === ST_DETACHED;
  }

  // ---- input -------------------------------------------------------------------------------------

  readonly onData = (chunk: Buffer): void => {
    switch (this.state) {
      case ST_HEAD:
        this.#onHeadBytes(chunk, 0);
        return;
      case ST_BODY:
        if (!this.#consuming || this.hooks === null || this.#pending !== null) this.#stash(chunk, 0);
        else this.#feedBody(chunk, 0);
        return;
      case ST_WAIT:
        // Pipelined bytes read before the pause took effect: keep them for the next request.
        this.#stash(chunk, 0);
        return;
      default:
        return;
    }
  };

  #stash(chunk: Buffer, off: number): void {
    if (this.#pending === null) {
      this.#pending = chunk;
      this.#pendingOff = off;
    } else {
      this.#pending = Buffer.concat([this.#pending.subarray(this.#pendingOff), chunk.subarray(off)]);
      this.#pendingOff = 0;
    }
    this.#pause(PAUSE_WAIT);
    if (this.#pending.length - this.#pendingOff > this.server.maxPendingBytes) {
      // A client pipelining without reading responses: stop buffering.
      this.destroy();
    }
  }

  #onHeadBytes(chunk: Buffer, off: number): void {
    const parser = this.parser;
    if (this.headStartedAt === 0) this.headStartedAt = this.server.now;
    const at = parser.execute(chunk, off);
    if (at === NEED_MORE) return;
    if (at === PARSE_ERROR) {
      this.#clientError(parser.error!);
      return;
    }
    const head = parser.head;
    this.headStartedAt = 0;
    this.requests++;
    this.responseStarted = false;
    this.#resMode = RES_RAW;
    this.keepAlive = head.keepAlive && !this.server.draining;
    this.framer.start(requestFraming(head), head.contentLength);
    this.requestDone = this.framer.done;
    this.#consuming = false;
    this.#continueSent = false;
    this.state = this.requestDone ? ST_WAIT : ST_BODY;
    if (at < chunk.length) {
      this.#pending = chunk;
      this.#pendingOff = at;
    }
    try {
      this.server.onRequest(this, head);
    } catch (error) {
      // A bug in a handler must cost one request, not the process.
      this.server.options.onInternalError?.(this, error);
      if (!this.responseStarted && !this.closed) {
        respondError(this, { status: 500, code: 'PROXY_INTERNAL_ERROR', reason: 'the proxy failed to handle this request', close: true });
      } else {
        this.destroy(error instanceof Error ? error : undefined);
      }
      return;
    }
    // Nobody took the rest of the chunk (async routing, or pipelined bytes): stop reading for now.
    // (No pause otherwise: pause/resume cost two syscalls; bytes arriving meanwhile are stashed and pause then.)
    if (this.#pending !== null && this.state !== ST_CLOSED && this.state !== ST_DETACHED) this.#pause(PAUSE_WAIT);
  }

  #feedBody(buf: Buffer, off: number): void {
    const hooks = this.hooks;
    if (hooks === null) return;
    const framer = this.framer;
    const n = framer.feed(buf, off, buf.length);
    if (n < 0) {
      const error = framer.error!;
      this.hooks = null;
      hooks.onClientGone(error);
      this.#clientError(error);
      return;
    }
    if (hooks.raw && n > 0) hooks.onRequestBytes(buf, off, off + n);
    if (!framer.done) return;
    this.requestDone = true;
    if (this.state === ST_BODY) this.state = ST_WAIT;
    const rest = off + n;
    if (rest < buf.length) {
      this.#pending = buf;
      this.#pendingOff = rest;
      this.#pause(PAUSE_WAIT);
    }
    hooks.onRequestEnd();
  }

  /**
   * Attaches the owner of the current exchange: it hears about the client going away, the deadline and
   * drain events at once, and receives the body from `startBody()` on (immediately when `startBody`).
   */
  attach(hooks: ExchangeHooks, startBody = true): void {
    this.hooks = hooks;
    this.#consuming = false;
    if (this.state === ST_CLOSED) {
      this.hooks = null;
      hooks.onClientGone(new Http1ParseError(Http1Codes.BODY_TRUNCATED, 'client connection closed'));
      return;
    }
    if (startBody) this.startBody();
  }

  /** Bytes of the request body already read and waiting for `startBody()` (at most one chunk's worth). */
  get pendingBodyBytes(): number {
    return this.requestDone || this.#pending === null ? 0 : this.#pending.length - this.#pendingOff;
  }

  /** Starts delivering the request body to the attached hooks (buffered bytes first). */
  startBody(): void {
    const hooks = this.hooks;
    if (hooks === null || this.#consuming || this.state === ST_CLOSED || this.state === ST_DETACHED) return;
    this.#consuming = true;
    this.framer.setSink(hooks.raw ? null : hooks);
    if (this.requestDone) {
      hooks.onRequestEnd();
      return;
    }
    // Message mode answers `Expect: 100-continue` itself once someone reads the body (raw forwarding
    // passes the expectation to the upstream and relays its 100 instead).
    if (!hooks.raw && this.parser.head.expectContinue && this.#pending === null) this.writeContinue();
    const pending = this.#pending;
    if (pending !== null) {
      this.#pending = null;
      this.#feedBody(pending, this.#pendingOff);
    }
    if (!this.requestDone && this.state === ST_BODY) {
      if (this.#clientEnded) {
        this.hooks = null;
        hooks.onClientGone(new Http1ParseError(Http1Codes.BODY_TRUNCATED, 'client closed before the request body ended'));
        this.destroy();
        return;
      }
      this.#unpause(PAUSE_WAIT);
    }
  }

  /** Stops reading the request body (the consumer is full); `resumeBody()` undoes it. */
  pauseBody(): void {
    this.#pause(PAUSE_BACKPRESSURE);
  }

  resumeBody(): void {
    this.#unpause(PAUSE_BACKPRESSURE);
  }

  #pause(reason: number): void {
    if (this.#paused === 0) this.socket.pause();
    this.#paused |= reason;
  }

  #unpause(reason: number): void {
    if (this.#paused === 0) return;
    this.#paused &= ~reason;
    if (this.#paused === 0 && this.state !== ST_CLOSED) this.socket.resume();
  }

  /** Arms the request deadline (coarse, swept by the server); `hooks.onTimeout()` fires when it passes. */
  setDeadline(ms: number): void {
    this.deadlineAt = ms > 0 ? this.server.now + ms : 0;
  }

  // ---- output ------------------------------------------------------------------------------------

  /** Sends `100 Continue` once for a request that asked for it (no-op otherwise). */
  writeContinue(): void {
    if (this.#continueSent || this.responseStarted || !this.parser.head.expectContinue || this.state === ST_CLOSED) return;
    this.#continueSent = true;
    this.socket.write(CONTINUE);
  }

  /** Writes bytes of an already framed response (forward.ts). Returns false under back-pressure. */
  writeRaw(buf: Buffer): boolean {
    this.responseStarted = true;
    return this.socket.write(buf);
  }

  /**
   * Message mode: writes a response head. `headers` are end-to-end fields ([name, value], any case;
   * hop-by-hop and framing fields are dropped). `bodyLength` ≥ 0 sends Content-Length, -1 streams the
   * body chunked (HTTP/1.1 clients) or until close (HTTP/1.0). Informational (1xx) heads may precede.
   */
  writeHead(status: number, headers: ReadonlyArray<readonly [string, string]>, bodyLength = -1, reason = reasonPhrase(status)): void {
    const head = this.parser.head;
    let s = `HTTP/1.1 ${status} ${sanitizeHeaderValue(reason, 100)}\r\n`;
    let declaredLength = -1;
    for (const [name, value] of headers) {
      const lower = name.toLowerCase();
      if (lower.charCodeAt(0) === 0x3a || (HOP_OR_FRAMING.has(lower) && !(status === 101 && lower === 'upgrade'))) continue;
      if (lower === 'content-length') {
        declaredLength = Number(value);
        continue;
      }
      if (!isSafeField(name, value)) continue;
      s += `${name}: ${value}\r\n`;
    }
    if (status < 200) {
      if (status === 101) s += 'connection: upgrade\r\n';
      this.socket.write(Buffer.from(s + '\r\n', 'latin1'));
      return;
    }
    this.responseStarted = true;
    const bodiless = head.method === 'HEAD' || status === 204 || status === 304;
    if (bodyLength < 0 && declaredLength >= 0) bodyLength = declaredLength;
    if (bodiless) {
      this.#resMode = RES_NONE;
      // A 304 may carry Content-Length only as the upstream declared it (RFC 9110 §8.6: it then
      // describes the 200 it stands for); never one inferred from its empty body.
      const length = status === 304 ? declaredLength : bodyLength;
      if (length >= 0 && status !== 204) s += `content-length: ${length}\r\n`;
    } else if (bodyLength >= 0) {
      this.#resMode = RES_LENGTH;
      this.#resRemaining = bodyLength;
      s += `content-length: ${bodyLength}\r\n`;
    } else if (head.versionMinor === 1) {
      this.#resMode = RES_CHUNKED;
      s += 'transfer-encoding: chunked\r\n';
    } else {
      this.#resMode = RES_CLOSE;
      this.keepAlive = false;
    }
    if (!this.requestDone || this.#clientEnded || this.server.draining) this.keepAlive = false;
    if (!this.keepAlive) s += 'connection: close\r\n';
    else if (head.versionMinor === 0) s += 'connection: keep-alive\r\n';
    this.socket.write(Buffer.from(s + '\r\n', 'latin1'));
  }

  /** Message mode: writes body bytes (chunk-framed when needed). Returns false under back-pressure. */
  writeBody(data: Buffer): boolean {
    if (data.length === 0) return true;
    switch (this.#resMode) {
      case RES_CHUNKED:
        this.socket.cork();
        this.socket.write(chunkHeader(data.length));
        this.socket.write(data);
        {
          const ok = this.socket.write(CRLF);
          this.socket.uncork();
          return ok;
        }
      case RES_NONE:
        return true;
      case RES_LENGTH:
        this.#resRemaining -= data.length;
        return this.socket.write(data);
      default:
        return this.socket.write(data);
    }
  }

  /** Message mode: ends the response (trailers only go out on chunked responses). */
  endResponse(trailers: ReadonlyArray<readonly [string, string]> | null = null): void {
    if (this.#resMode === RES_CHUNKED) {
      const safe = trailers === null ? [] : trailers.filter(([k, v]) => isSafeField(k, v) && !HOP_OR_FRAMING.has(k.toLowerCase()));
      this.socket.write(lastChunkWithTrailers(safe));
    }
    if (this.#resMode === RES_LENGTH && this.#resRemaining !== 0) {
      // Fewer bytes than announced: the client can only learn it from a reset.
      this.destroy();
      return;
    }
    if (this.#resMode === RES_CLOSE) this.keepAlive = false;
    this.responseEnd();
  }

  /** One-shot response with a complete body. `close` forces Connection: close. */
  respond(status: number, headers: ReadonlyArray<readonly [string, string]>, body: Buffer = EMPTY, close = false): void {
    if (this.responseStarted || this.closed) return;
    if (close) this.keepAlive = false;
    this.writeHead(status, headers, body.length);
    if (body.length > 0 && this.#resMode !== RES_NONE) this.socket.write(body);
    this.#resMode = RES_RAW;
    this.responseEnd();
  }

  /**
   * The response is complete: start the next request, or close when keep-alive is off. If the request
   * body was not fully read the connection cannot be reused, so it closes.
   */
  responseEnd(): void {
    if (this.state === ST_CLOSED || this.state === ST_DETACHED) return;
    this.hooks = null;
    this.#consuming = false;
    this.link = undefined;
    this.deadlineAt = 0;
    this.responseStarted = false;
    if (!this.requestDone) this.keepAlive = false;
    if (!this.keepAlive || this.#clientEnded || this.server.draining) {
      this.state = ST_CLOSED;
      this.server.forget(this);
      this.socket.end();
      // Lingering close: keep reading (and discarding) what the client still sends, so unread bytes
      // do not turn our FIN into a reset that destroys the response; cut it after a sweep or two.
      this.#paused = 0;
      this.socket.resume();
      this.server.scheduleDestroy(this);
      return;
    }
    this.state = ST_HEAD;
    this.parser.reset();
    this.idleSince = this.server.now;
    // The request is complete (keep-alive needs it), so body backpressure no longer applies: a
    // pause for it set on the last body chunk has nobody left to lift it (the body's consumer
    // reads nothing after the end), and would leave the connection unread for good.
    const done = PAUSE_WAIT | PAUSE_BACKPRESSURE;
    const pending = this.#pending;
    if (pending !== null) {
      this.#pending = null;
      this.#paused &= ~done;
      this.#onHeadBytes(pending, this.#pendingOff);
      // The socket is still paused from the stash. Resume it whenever no pause reason is left — also
      // when the stashed bytes were a whole request now waiting for an asynchronous response
      // (ST_WAIT): bytes arriving meanwhile are stashed again. Resuming only in ST_HEAD left the
      // socket paused with no reason recorded, and the connection's next request was never read.
      if (this.#paused === 0 && !this.closed) this.socket.resume();
      return;
    }
    this.#unpause(done);
  }

  /**
   * Hands the raw socket over (Upgrade after 101, CONNECT), paused: the new owner resumes it once it
   * reads. `rest` holds bytes already read after the head.
   */
  takeOver(): { socket: net.Socket; rest: Buffer } {
    const rest = this.#pending === null ? EMPTY : this.#pending.subarray(this.#pendingOff);
    this.#pending = null;
    this.state = ST_DETACHED;
    this.hooks = null;
    this.server.forget(this);
    const s = this.socket;
    if (!setSink(s, null)) s.removeListener('data', this.onData);
    s.removeListener('drain', this.onDrain);
    s.removeListener('end', this.onEnd);
    s.removeListener('close', this.onClose);
    s.removeListener('error', this.onError);
    // Paused until the new owner reads (it resumes): a flowing socket with no reader would hand the
    // client's next bytes, and its FIN, to nobody while the owner is still connecting its tunnel.
    s.pause();
    return { socket: s, rest };
  }

  /** Closes at once (RST if possible), telling the exchange owner. */
  destroy(error?: Error): void {
    if (this.state === ST_DETACHED) return;
    this.#markClosed(error, 'connection destroyed');
    if (error !== undefined) resetOrDestroy(this.socket);
    else this.socket.destroy();
  }

  /**
   * The one transition to CLOSED when the connection goes away (destroyed here, or closed by the
   * socket): forget it, and tell the exchange owner — once, and only if it was still open.
   */
  #markClosed(error: Error | undefined, reason: string): void {
    const wasOpen = this.state !== ST_CLOSED;
    this.state = ST_CLOSED;
    this.server.forget(this);
    const hooks = this.hooks;
    this.hooks = null;
    if (wasOpen && hooks !== null) hooks.onClientGone(error ?? new Http1ParseError(Http1Codes.BODY_TRUNCATED, reason));
  }

  /** Graceful close: now if idle, else after the current response (which then carries Connection: close). */
  drain(): void {
    this.keepAlive = false;
    if (this.state === ST_HEAD && this.parser.buffered === 0 && this.headStartedAt === 0) {
      this.state = ST_CLOSED;
      this.server.forget(this);
      this.socket.end();
      this.server.scheduleDestroy(this);
    }
  }

  #clientError(error: Http1ParseError): void {
    if (!this.responseStarted && this.state !== ST_CLOSED) {
      this.keepAlive = false;
      respondError(this, { status: error.status, code: error.code, reason: error.message, close: true });
    }
    this.server.options.onClientError?.(this, error);
    this.state = ST_CLOSED;
    this.server.forget(this);
    // Stop reading the rest of a malformed stream; let the response flush, then close.
    this.socket.pause();
    this.socket.end();
    this.server.scheduleDestroy(this);
  }

  // ---- socket events -----------------------------------------------------------------------------

  readonly onDrain = (): void => {
    const hooks = this.hooks;
    if (hooks !== null) hooks.onClientDrain();
  };

  readonly onEnd = (): void => {
    this.#clientEnded = true;
    switch (this.state) {
      case ST_HEAD:
        // Between requests: a clean close. Mid-head: the request will never complete.
        this.state = ST_CLOSED;
        this.server.forget(this);
        this.socket.end();
        return;
      case ST_BODY:
        // Body bytes still waiting for their consumer: startBody() decides once they are fed.
        if (!this.#consuming || this.#pending !== null) return;
        if (this.hooks !== null) {
          const hooks = this.hooks;
          this.hooks = null;
          hooks.onClientGone(new Http1ParseError(Http1Codes.BODY_TRUNCATED, 'client closed before the request body ended'));
        }
        this.destroy();
        return;
      default:
        // Request complete, response pending: half-closed client; answer, then close.
        this.keepAlive = false;
        return;
    }
  };

  readonly onClose = (): void => {
    if (this.state === ST_DETACHED) return;
    this.#markClosed(undefined, 'client connection closed');
  };

  readonly onError = (_error: Error): void => {
    // 'close' follows; nothing else to do (resets from clients are routine).
  };

  /** Called by the server's sweep with the coarse time. */
  sweep(now: number): void {
    const s = this.server;
    if (this.state === ST_HEAD) {
      if (this.headStartedAt !== 0) {
        if (now - this.headStartedAt >= s.headerTimeoutMs) {
          this.#clientError(new Http1ParseError(Http1Codes.HEADER_TIMEOUT, 'request head not received in time', 408));
        }
      } else if (now - this.idleSince >= s.idleTimeoutMs) {
        this.state = ST_CLOSED;
        s.forget(this);
        this.socket.end();
        s.scheduleDestroy(this);
      }
      return;
    }
    if (this.deadlineAt !== 0 && now >= this.deadlineAt && this.hooks !== null) {
      this.deadlineAt = 0;
      this.hooks.onTimeout();
    }
  }
}

const HOP_OR_FRAMING = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings']);

function isSafeField(name: string, value: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0x7e || c <= 0x20 || c === 0x3a) return false;
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** A set of HTTP/1 connections sharing options, one timeout sweep, a connection limit and drain. */
export class Http1Server {
  readonly options: Http1ServerOptions;
  readonly limits: Http1Limits;
  readonly onRequest: (conn: Http1ServerConn, head: Http1Head) => void;
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly sweepMs: number;
  /** Bytes a client may send ahead (pipelining) before it is cut off. */
  readonly maxPendingBytes: number;
  readonly connections = new Set<Http1ServerConn>();
  /** Coarse clock, refreshed by the sweep (ms, performance.now() based). */
  now = performance.now();
  draining = false;
  /** Connections refused because of maxConnections. */
  rejectedConnections = 0;
  #timer: CoarseTimer;
  #sweepDeadline: Deadline | null = null;
  #closing = new Set<Http1ServerConn>();
  #listener: net.Server | null = null;
  #drained: (() => void) | null = null;

  constructor(options: Http1ServerOptions) {
    this.options = options;
    this.limits = { maxHeaderBytes: options.maxHeaderBytes, maxHeaders: options.maxHeaders };
    this.onRequest = options.onRequest;
    this.headerTimeoutMs = options.headerTimeoutMs ?? 10_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.maxConnections = options.maxConnections ?? 0;
    this.sweepMs = options.sweepMs ?? Math.max(10, Math.min(1000, Math.floor(Math.min(this.headerTimeoutMs, this.idleTimeoutMs) / 5)));
    this.maxPendingBytes = (options.maxHeaderBytes ?? 65536) * 4;
    this.#timer = options.timer ?? sharedTimer;
  }

  /**
   * Serves HTTP/1.1 on an accepted socket. Bytes already read (e.g. by protocol detection) can be
   * passed as `initial`, or unshifted onto the socket beforehand. Returns null when over the limit.
   */
  adopt(socket: net.Socket, initial?: Buffer, context?: unknown): Http1ServerConn | null {
    if (this.draining || (this.maxConnections > 0 && this.connections.size >= this.maxConnections)) {
      this.rejectedConnections++;
      socket.destroy();
      return null;
    }
    const conn = new Http1ServerConn(this, socket);
    conn.context = context;
    this.connections.add(conn);
    socket.allowHalfOpen = true;
    socket.setNoDelay(true);
    socket.on('drain', conn.onDrain);
    socket.on('end', conn.onEnd);
    socket.on('close', conn.onClose);
    socket.on('error', conn.onError);
    this.#armSweep();
    // A direct-read socket hands bytes waiting in its Readable (unshifted by detection) to the
    // connection at once, in setSink, so a pause left by detection (not this connection's) is lifted
    // before any byte is fed: the connection pauses again for its own reasons. Those bytes came after `initial`.
    if (readsDirectly(socket) && socket.isPaused()) socket.resume();
    if (initial !== undefined && initial.length > 0) conn.onData(initial);
    if (!setSink(socket, conn.onData)) socket.on('data', conn.onData);
    if (!conn.closed && socket.isPaused() && conn.state === ST_HEAD) socket.resume();
    return conn;
  }

  /** Listens on host:port (default 127.0.0.1) with its own net.Server. */
  listen(port: number, host = '127.0.0.1'): Promise<net.AddressInfo> {
    const srv = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.adopt(socket);
    });
    this.#listener = srv;
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => {
        srv.removeListener('error', reject);
        resolve(srv.address() as net.AddressInfo);
      });
    });
  }

  /** The net.Server created by listen(), if any. */
  get listener(): net.Server | null {
    return this.#listener;
  }

  /** Called by connections when they leave (closed, detached). */
  forget(conn: Http1ServerConn): void {
    if (this.connections.delete(conn) && this.connections.size === 0 && this.#drained !== null) {
      const done = this.#drained;
      this.#drained = null;
      done();
    }
  }

  /** Destroys a connection that is closing gracefully if it has not closed within a sweep or two. */
  scheduleDestroy(conn: Http1ServerConn): void {
    this.#closing.add(conn);
    conn.socket.once('close', () => this.#closing.delete(conn));
    this.#armSweep();
  }

  #armSweep(): void {
    if (this.#sweepDeadline !== null) return;
    // The coarse clock only advances in the sweep, which stops while there is no connection: after an
    // idle gap it is stale, and a new connection's request deadline, header and idle timers would
    // start in the past (its first sweep answered a slow request 504). Re-read it when the sweep restarts.
    this.now = performance.now();
    this.#sweepDeadline = this.#timer.deadline(this.sweepMs, this.#sweep);
  }

  readonly #sweep = (): void => {
    this.#sweepDeadline = null;
    const now = performance.now();
    this.now = now;
    for (const conn of this.connections) conn.sweep(now);
    for (const conn of this.#closing) {
      // Give a closing socket one more period to flush, then cut it.
      if (conn.idleSince !== -1) conn.idleSince = -1;
      else {
        this.#closing.delete(conn);
        conn.socket.destroy();
      }
    }
    if (this.connections.size > 0 || this.#closing.size > 0) this.#armSweep();
  };

  /**
   * Stops accepting, closes idle connections now and the others after their current response
   * (sent with Connection: close). Resolves when all are gone or after `graceMs`, destroying the rest.
   */
  drain(graceMs = 10_000): Promise<void> {
    this.draining = true;
    this.#listener?.close();
    for (const conn of [...this.connections]) conn.drain();
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const deadline = this.#timer.deadline(graceMs, () => {
        this.#drained = null;
        for (const conn of [...this.connections]) conn.destroy();
        resolve();
      });
      this.#drained = () => {
        deadline.cancel();
        resolve();
      };
    });
  }

  /** Closes the listener and destroys every connection. */
  close(): void {
    this.draining = true;
    this.#listener?.close();
    for (const conn of [...this.connections]) conn.destroy();
    for (const conn of this.#closing) conn.socket.destroy();
    this.#closing.clear();
    this.#sweepDeadline?.cancel();
    this.#sweepDeadline = null;
  }
}
