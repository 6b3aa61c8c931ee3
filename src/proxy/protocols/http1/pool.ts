// Upstream side of the engine: `Http1Pool`, a pool of HTTP/1.1 connections to one endpoint (socket
// factory injected, so plain TCP and mTLS work alike), and `Http1UpstreamConn`, one pooled connection
// that sends one request at a time (no pipelining) and parses its response.
//
// API:
//   const pool = new Http1Pool({ connect: () => net.connect(port, host), maxConnections, connectTimeoutMs, idleTimeoutMs });
//   pool.acquire((err, up) => { ... })      // synchronous when an idle connection exists
//   up.start(method, hooks)                 // bind an exchange: hooks receive the response (see UpstreamHooks)
//   up.write(bytes) / up.endRequest()       // request head + body bytes (already framed) / request complete
//   the connection returns to the pool by itself once both the request and a reusable response are complete.
//   up.abort()                              // give up (client gone, timeout): the connection is destroyed
// Failures reach `hooks.onUpstreamError` (or the acquire callback) as UpstreamError subclasses with stable
// codes: connect refused/failed/timeout, identity rejected, pool exhausted, reset before/after the response
// head, malformed response. A connection is reused only after a complete response.
import { tls } from '../../../core/tls-module.ts';
import type net from 'node:net';
import { sharedTimer, type CoarseTimer, type Deadline } from '../../../core/coarse-timer.ts';
import { setSink } from '../socket-reads.ts';
import { Http1Parser, NEED_MORE, PARSE_ERROR, type Http1Head, type Http1Limits } from './parser.ts';
import { BodyFramer, FRAMING_CLOSE, responseFraming, type BodySink } from './body.ts';
import {
  UpstreamCodes,
  UpstreamConnectError,
  UpstreamConnectTimeoutError,
  UpstreamPoolExhaustedError,
  UpstreamProtocolError,
  UpstreamResetError,
  type UpstreamError,
} from './errors.ts';

/** What receives one response from an upstream connection. */
export interface UpstreamHooks extends BodySink {
  /** true: body bytes arrive framed and untouched (onResponseBytes); false: decoded (onBodyData/onTrailers). */
  readonly raw: boolean;
  /** A 1xx response other than 101 (e.g. 100 Continue, 103 Early Hints). */
  onInformational(head: Http1Head): void;
  /** The final response head; its body starts at chunk[bodyStart] (chunk.length when not in this chunk). */
  onResponseHead(head: Http1Head, chunk: Buffer, bodyStart: number): void;
  onResponseBytes(buf: Buffer, start: number, end: number): void;
  /** The response is complete (the connection may already serve another request). */
  onResponseEnd(): void;
  /** 101 Switching Protocols: the connection left the pool; `socket` and the bytes after the head are yours. */
  onUpgrade(head: Http1Head, socket: net.Socket, rest: Buffer): void;
  onUpstreamError(error: UpstreamError): void;
  /** The upstream socket drained after a write returned false. */
  onUpstreamDrain(): void;
}

export interface Http1PoolOptions extends Http1Limits {
  /** Opens a connection: `net.connect(...)` or `tls.connect(...)` (ready on 'connect' / 'secureConnect'). */
  connect: () => net.Socket;
  /** Checks a connection once ready (e.g. the peer's SPIFFE ID); an Error rejects it (IDENTITY_REJECTED). */
  verify?: (socket: net.Socket) => Error | null | undefined;
  /** Endpoint label for messages, e.g. "10.0.0.7:8080". */
  name?: string;
  /** Connections open at once (busy + idle + connecting). Default 256. */
  maxConnections?: number;
  /** Requests waiting for a connection when at the limit. Default 1024; beyond → POOL_EXHAUSTED. */
  maxPending?: number;
  /** TCP connect + TLS handshake must finish within this. Default 5 s. */
  connectTimeoutMs?: number;
  /** Idle connections close after this. Default 30 s. */
  idleTimeoutMs?: number;
  timer?: CoarseTimer;
}

export type AcquireCallback = (error: UpstreamError | null, conn: Http1UpstreamConn | null) => void;

const U_CONNECTING = 0;
const U_IDLE = 1;
const U_BUSY = 2;
const U_CLOSED = 3;
const U_DETACHED = 4;
/** Connected and handed to an acquirer, no exchange started yet. */
const U_RESERVED = 5;

/** 1xx responses accepted before the final one (a flood of 103s is an upstream bug or an attack). */
const MAX_INFORMATIONAL = 16;

/** One upstream connection. Fixed shape, reused across requests. */
export class Http1UpstreamConn {
  readonly pool: Http1Pool;
  readonly socket: net.Socket;
  readonly parser: Http1Parser;
  readonly framer: BodyFramer;
  state = U_CONNECTING;
  hooks: UpstreamHooks | null = null;
  /** Method of the current request (decides whether the response has a body). */
  method = '';
  /** Requests started on this connection; > 1 means the current one reuses a pooled connection. */
  requests = 0;
  requestEnded = false;
  responseHeadReceived = false;
  idleSince = 0;
  /** Free slot for the exchange owner (forward.ts). */
  link: unknown = undefined;
  #connectCb: AcquireCallback | null = null;
  #connectDeadline: Deadline | null = null;
  #lastError: Error | null = null;
  #responseDone = false;
  #reusable = true;
  #informational = 0;

  constructor(pool: Http1Pool, socket: net.Socket) {
    this.pool = pool;
    this.socket = socket;
    this.parser = new Http1Parser(true, pool.limits);
    this.framer = new BodyFramer({ isResponse: true, maxTrailerBytes: pool.limits.maxHeaderBytes ?? 65536 });
  }

  /** Binds an exchange: the next bytes written are a request with `method`; hooks get the response. */
  start(method: string, hooks: UpstreamHooks): void {
    this.state = U_BUSY;
    this.method = method;
    this.hooks = hooks;
    this.requests++;
    this.requestEnded = false;
    this.responseHeadReceived = false;
    this.#responseDone = false;
    this.#reusable = true;
    this.#informational = 0;
    this.parser.reset();
  }

  /** Writes request bytes (head and framed body). Returns false under back-pressure (wait for onUpstreamDrain). */
  write(buf: Buffer): boolean {
    return this.socket.write(buf);
  }

  /** The whole request was written. */
  endRequest(): void {
    this.requestEnded = true;
    if (this.#responseDone && this.state === U_BUSY) this.#finish();
  }

  /** Stops / restarts reading the response (downstream back-pressure). */
  pauseResponse(): void {
    this.socket.pause();
  }

  resumeResponse(): void {
    if (this.state === U_BUSY) this.socket.resume();
  }

  /** Abandons the exchange: the connection is destroyed (it may hold half a request or response). */
  abort(): void {
    this.hooks = null;
    if (this.state === U_CLOSED || this.state === U_DETACHED) return;
    this.state = U_CLOSED;
    this.pool.remove(this);
    this.socket.destroy();
  }

  /** Returns a reserved-but-unused connection to the pool (the acquirer no longer needs it). */
  release(): void {
    if (this.state === U_RESERVED) this.pool.release(this, true);
  }

  get reused(): boolean {
    return this.requests > 1;
  }

  readonly onData = (chunk: Buffer): void => {
    if (this.state !== U_BUSY || this.#responseDone) {
      // Bytes while idle or after a complete response: the upstream is confused; do not reuse.
      this.#reusable = false;
      if (this.state === U_IDLE) this.abort();
      return;
    }
    const hooks = this.hooks!;
    let off = 0;
    if (!this.responseHeadReceived) {
      const parser = this.parser;
      for (;;) {
        const at = parser.execute(chunk, off);
        if (at === NEED_MORE) return;
        if (at === PARSE_ERROR) {
          this.#fail(new UpstreamProtocolError(UpstreamCodes.BAD_RESPONSE, `${this.pool.name}: ${parser.error!.message}`, { cause: parser.error }));
          return;
        }
        const head = parser.head;
        if (head.status === 101) {
          this.#detach();
          this.hooks = null;
          hooks.onUpgrade(head, this.socket, chunk.subarray(at));
          return;
        }
        if (head.status < 200) {
          if (++this.#informational > MAX_INFORMATIONAL) {
            this.#fail(new UpstreamProtocolError(UpstreamCodes.BAD_RESPONSE, `${this.pool.name} sent more than ${MAX_INFORMATIONAL} informational responses`));
            return;
          }
          hooks.onInformational(head);
          parser.reset();
          off = at;
          if (off >= chunk.length) return;
          continue;
        }
        this.responseHeadReceived = true;
        this.framer.start(responseFraming(head, this.method), head.contentLength, hooks.raw ? null : hooks);
        hooks.onResponseHead(head, chunk, at);
        if (this.hooks !== hooks) return; // aborted by the head handler
        off = at;
        break;
      }
    }
    const framer = this.framer;
    if (off < chunk.length) {
      const n = framer.feed(chunk, off, chunk.length);
      if (n < 0) {
        this.#fail(new UpstreamProtocolError(UpstreamCodes.BAD_RESPONSE, `${this.pool.name}: ${framer.error!.message}`, { cause: framer.error }));
        return;
      }
      if (hooks.raw && n > 0) hooks.onResponseBytes(chunk, off, off + n);
      if (this.hooks !== hooks) return;
      if (off + n < chunk.length) this.#reusable = false;
    }
    if (framer.done) this.#complete();
  };

  #complete(): void {
    const hooks = this.hooks!;
    this.#responseDone = true;
    if (!this.parser.head.keepAlive || this.framer.mode === FRAMING_CLOSE) this.#reusable = false;
    if (this.requestEnded) this.#finish();
    hooks.onResponseEnd();
  }

  #finish(): void {
    this.hooks = null;
    this.link = undefined;
    // A response that completed while its reader had paused us (downstream back-pressure on the last
    // bytes) must not go back to the pool paused: the next exchange's response would never be read,
    // nor a close of the idle connection noticed.
    if (this.socket.isPaused()) this.socket.resume();
    if (this.#reusable) this.pool.release(this, true);
    else this.abort();
  }

  #fail(error: UpstreamError): void {
    const hooks = this.hooks;
    this.abort();
    if (hooks !== null) hooks.onUpstreamError(error);
  }

  #detach(): void {
    this.state = U_DETACHED;
    this.pool.remove(this);
    const s = this.socket;
    if (!setSink(s, null)) s.removeListener('data', this.onData);
    s.removeListener('drain', this.onDrain);
    s.removeListener('end', this.onEnd);
    s.removeListener('close', this.onClose);
    s.removeListener('error', this.onError);
  }

  readonly onDrain = (): void => {
    if (this.hooks !== null) this.hooks.onUpstreamDrain();
  };

  readonly onEnd = (): void => {
    if (this.state === U_BUSY && this.responseHeadReceived && !this.#responseDone && this.framer.finishOnClose()) {
      this.#reusable = false;
      this.#complete();
    }
  };

  readonly onError = (error: Error): void => {
    this.#lastError = error;
  };

  readonly onClose = (): void => {
    const prev = this.state;
    if (prev === U_CLOSED || prev === U_DETACHED) return;
    this.state = U_CLOSED;
    this.pool.remove(this);
    if (prev === U_CONNECTING) {
      this.#connectFailed(this.#lastError);
      return;
    }
    if (prev !== U_BUSY || this.#responseDone) return;
    const hooks = this.hooks;
    this.hooks = null;
    if (hooks === null) return;
    if (this.responseHeadReceived) {
      if (this.framer.finishOnClose()) {
        this.hooks = hooks;
        this.#reusable = false;
        this.#complete();
        return;
      }
      hooks.onUpstreamError(
        new UpstreamResetError(UpstreamCodes.RESET_AFTER_RESPONSE, `${this.pool.name} closed the connection in the middle of the response body`, {
          cause: this.#lastError ?? undefined,
        }),
      );
      return;
    }
    hooks.onUpstreamError(
      new UpstreamResetError(UpstreamCodes.RESET_BEFORE_RESPONSE, `${this.pool.name} closed the connection before sending a response`, {
        cause: this.#lastError ?? undefined,
        details: { reused: this.reused, code: (this.#lastError as NodeJS.ErrnoException | null)?.code },
      }),
    );
  };

  // ---- connection establishment (driven by the pool) ---------------------------------------------

  /** @internal */
  connectStart(cb: AcquireCallback, timeoutMs: number, timer: CoarseTimer): void {
    this.#connectCb = cb;
    this.#connectDeadline = timer.deadline(timeoutMs, this.#onConnectTimeout);
    const s = this.socket;
    if (!setSink(s, this.onData)) s.on('data', this.onData);
    s.on('drain', this.onDrain);
    s.on('end', this.onEnd);
    s.on('close', this.onClose);
    s.on('error', this.onError);
    if (s instanceof tls.TLSSocket) s.once('secureConnect', this.#onReady);
    else if ((s as net.Socket & { connecting: boolean }).connecting) s.once('connect', this.#onReady);
    else queueMicrotask(this.#onReady);
  }

  readonly #onReady = (): void => {
    if (this.state !== U_CONNECTING) return;
    this.#connectDeadline?.cancel();
    this.#connectDeadline = null;
    const verify = this.pool.options.verify;
    if (verify !== undefined) {
      let problem: Error | null | undefined;
      try {
        problem = verify(this.socket);
      } catch (e) {
        problem = e instanceof Error ? e : new Error(String(e));
      }
      if (problem) {
        const cb = this.#connectCb;
        this.#connectCb = null;
        this.state = U_CLOSED;
        this.pool.remove(this);
        this.socket.destroy();
        cb?.(
          new UpstreamConnectError(UpstreamCodes.IDENTITY_REJECTED, `${this.pool.name} presented an unacceptable identity: ${problem.message}`, {
            cause: problem,
            retryable: true,
          }),
          null,
        );
        return;
      }
    }
    this.socket.setNoDelay(true);
    this.state = U_RESERVED;
    const cb = this.#connectCb;
    this.#connectCb = null;
    cb?.(null, this);
  };

  readonly #onConnectTimeout = (): void => {
    if (this.state !== U_CONNECTING) return;
    const cb = this.#connectCb;
    this.#connectCb = null;
    this.state = U_CLOSED;
    this.pool.remove(this);
    this.socket.destroy();
    cb?.(
      new UpstreamConnectTimeoutError(UpstreamCodes.CONNECT_TIMEOUT, `connect to ${this.pool.name} timed out after ${this.pool.connectTimeoutMs} ms`, {
        retryable: true,
      }),
      null,
    );
  };

  #connectFailed(error: Error | null): void {
    this.#connectDeadline?.cancel();
    this.#connectDeadline = null;
    const cb = this.#connectCb;
    this.#connectCb = null;
    if (cb === null) return;
    const errno = (error as NodeJS.ErrnoException | null)?.code;
    const refused = errno === 'ECONNREFUSED';
    if (errno === 'IDENTITY_PEER_REJECTED') {
      // The TLS client's checkServerIdentity (src/identity/tls.ts) refused the server's SPIFFE ID.
      cb(
        new UpstreamConnectError(UpstreamCodes.IDENTITY_REJECTED, `${this.pool.name} presented an unacceptable identity: ${error!.message}`, {
          cause: error,
          retryable: true,
        }),
        null,
      );
      return;
    }
    cb(
      new UpstreamConnectError(
        refused ? UpstreamCodes.CONNECT_REFUSED : UpstreamCodes.CONNECT_FAILED,
        refused ? `connection refused by ${this.pool.name}` : `cannot connect to ${this.pool.name}: ${error?.message ?? 'closed during connect'}`,
        { cause: error ?? undefined, retryable: true },
      ),
      null,
    );
  }
}

/** Connections to one endpoint. */
export class Http1Pool {
  readonly options: Http1PoolOptions;
  readonly limits: Http1Limits;
  readonly name: string;
  readonly maxConnections: number;
  readonly maxPending: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  #timer: CoarseTimer;
  #idle: Http1UpstreamConn[] = [];
  #open = 0;
  #waiters: AcquireCallback[] = [];
  #idleSweep: Deadline | null = null;
  #closed = false;
  /** Connections opened over the pool's life (tests, metrics). */
  connectionsOpened = 0;

  constructor(options: Http1PoolOptions) {
    this.options = options;
    this.limits = { maxHeaderBytes: options.maxHeaderBytes, maxHeaders: options.maxHeaders };
    this.name = options.name ?? 'upstream';
    this.maxConnections = options.maxConnections ?? 256;
    this.maxPending = options.maxPending ?? 1024;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    this.#timer = options.timer ?? sharedTimer;
  }

  /** Connections open (connecting, busy or idle). */
  get size(): number {
    return this.#open;
  }

  get idleCount(): number {
    return this.#idle.length;
  }

  get pendingCount(): number {
    return this.#waiters.length;
  }

  /** Gets a connection: an idle one synchronously, else a new one, else waits for a release. */
  acquire(cb: AcquireCallback): void {
    if (this.#closed) {
      cb(new UpstreamConnectError(UpstreamCodes.POOL_CLOSED, `pool for ${this.name} is closed`, { retryable: true }), null);
      return;
    }
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      idle.state = U_RESERVED;
      cb(null, idle);
      return;
    }
    if (this.#open < this.maxConnections) {
      this.#connect(cb);
      return;
    }
    if (this.#waiters.length >= this.maxPending) {
      cb(
        new UpstreamPoolExhaustedError(
          UpstreamCodes.POOL_EXHAUSTED,
          `${this.name}: all ${this.maxConnections} connections busy and ${this.maxPending} requests already waiting`,
          { retryable: true },
        ),
        null,
      );
      return;
    }
    this.#waiters.push(cb);
  }

  /** Removes a waiting acquire callback (the request was cancelled). */
  cancel(cb: AcquireCallback): void {
    const i = this.#waiters.indexOf(cb);
    if (i !== -1) this.#waiters.splice(i, 1);
  }

  #connect(cb: AcquireCallback): void {
    let socket: net.Socket;
    try {
      socket = this.options.connect();
    } catch (e) {
      cb(new UpstreamConnectError(UpstreamCodes.CONNECT_FAILED, `cannot connect to ${this.name}: ${(e as Error).message}`, { cause: e, retryable: true }), null);
      return;
    }
    this.#open++;
    this.connectionsOpened++;
    const conn = new Http1UpstreamConn(this, socket);
    conn.connectStart(cb, this.connectTimeoutMs, this.#timer);
  }

  /** @internal A connection finished an exchange (reusable) or is handed back unused. */
  release(conn: Http1UpstreamConn, reusable: boolean): void {
    if (!reusable || this.#closed || conn.socket.destroyed) {
      conn.abort();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      conn.state = U_RESERVED;
      waiter(null, conn);
      return;
    }
    conn.state = U_IDLE;
    conn.idleSince = performance.now();
    this.#idle.push(conn);
    if (this.#idleSweep === null) this.#idleSweep = this.#timer.deadline(Math.max(10, this.idleTimeoutMs / 2), this.#sweepIdle);
  }

  /** @internal A connection closed or left (upgrade). */
  remove(conn: Http1UpstreamConn): void {
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    if (conn.pool === this && this.#open > 0) this.#open--;
    // A slot opened: serve a waiter with a new connection.
    if (this.#waiters.length > 0 && !this.#closed && this.#open < this.maxConnections) this.#connect(this.#waiters.shift()!);
  }

  readonly #sweepIdle = (): void => {
    this.#idleSweep = null;
    const now = performance.now();
    for (const conn of [...this.#idle]) {
      if (now - conn.idleSince >= this.idleTimeoutMs) conn.abort();
    }
    if (this.#idle.length > 0) this.#idleSweep = this.#timer.deadline(Math.max(10, this.idleTimeoutMs / 2), this.#sweepIdle);
  };

  /** Closes idle connections and refuses new acquires; busy connections finish their exchange then close. */
  close(): void {
    this.#closed = true;
    for (const conn of [...this.#idle]) conn.abort();
    this.#idle.length = 0;
    const waiters = this.#waiters.splice(0);
    for (const w of waiters) w(new UpstreamConnectError(UpstreamCodes.POOL_CLOSED, `pool for ${this.name} is closed`, { retryable: true }), null);
    this.#idleSweep?.cancel();
    this.#idleSweep = null;
  }
}
