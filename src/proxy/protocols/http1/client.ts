// Message-level HTTP/1.1 client on an Http1Pool: sends a request built from a header list with a
// streamed body (Content-Length or chunked, trailers) and hands back the response head, the decoded
// body and the trailers. For bridging other protocols to an HTTP/1.1 upstream (an HTTP/2 stream from a
// peer proxy forwarded to the local app); HTTP/1 → HTTP/1 traffic should use forward.ts, which never
// decodes bodies.
//
// API:
//   const req = http1Request(pool, { method: 'POST', path: '/x', authority: 'app:8080', headers: [['content-type', 'text/plain']], bodyLength: -1 }, {
//     onHead(head) { head.status; head.headerList() },   // the Http1Head is valid until onEnd/onError
//     onData(chunk) { ... },                              // decoded payload (safe to keep: not reused)
//     onEnd(trailers) { ... },
//     onError(err) { ... },                               // UpstreamError with a stable code
//   });
//   req.write(buf) → boolean; req.end(trailers?); req.abort(); req.pauseResponse(); req.resumeResponse()
import type net from 'node:net';
import type { Http1Head } from './parser.ts';
import type { AcquireCallback, Http1Pool, Http1UpstreamConn, UpstreamHooks } from './pool.ts';
import { CRLF, chunkHeader, lastChunkWithTrailers } from './body.ts';
import { UpstreamCodes, UpstreamProtocolError, type UpstreamError } from './errors.ts';

export interface Http1RequestInit {
  readonly method: string;
  /** Origin-form target: path and query. */
  readonly path: string;
  /** Sent as the Host header. */
  readonly authority: string;
  /** End-to-end header fields; hop-by-hop, framing and pseudo-headers are dropped. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Body size: ≥ 0 sends Content-Length (0 = no body); -1 (default) streams it chunked. */
  readonly bodyLength?: number;
}

export interface Http1ResponseHandler {
  /** 1xx responses (100 Continue, 103 Early Hints). */
  onInformational?(head: Http1Head): void;
  onHead(head: Http1Head): void;
  onData(chunk: Buffer): void;
  /** Response complete; trailers only from chunked responses. */
  onEnd(trailers: Array<[string, string]>): void;
  onError(error: UpstreamError): void;
  /** The request body may be written again after write() returned false. */
  onDrain?(): void;
}

const SKIP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'content-length', 'http2-settings', 'trailer']);

function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x3a) return false;
  }
  return true;
}

function validValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** Serialises a request head; throws TypeError on an unsafe name or value (CR/LF injection). */
export function serializeRequestHead(init: Http1RequestInit): Buffer {
  if (!validName(init.method) || !/^[^\s\x00-\x1f\x7f]+$/.test(init.path) || !validValue(init.authority)) {
    throw new TypeError('invalid method, path or authority');
  }
  let s = `${init.method} ${init.path} HTTP/1.1\r\nhost: ${init.authority}\r\n`;
  for (const [name, value] of init.headers) {
    const lower = name.toLowerCase();
    if (lower.charCodeAt(0) === 0x3a || SKIP.has(lower)) {
      if (lower === 'te' && /trailers/i.test(value)) s += 'te: trailers\r\n';
      continue;
    }
    if (!validName(name) || !validValue(value)) throw new TypeError(`invalid header field ${JSON.stringify(name)}`);
    s += `${name}: ${value}\r\n`;
  }
  const len = init.bodyLength ?? -1;
  if (len >= 0) {
    if (len > 0 || init.method === 'POST' || init.method === 'PUT' || init.method === 'PATCH') s += `content-length: ${len}\r\n`;
  } else {
    s += 'transfer-encoding: chunked\r\n';
  }
  return Buffer.from(s + '\r\n', 'latin1');
}

/** Trailers of a response that had none (shared: handlers only read them). */
const NO_TRAILERS: Array<[string, string]> = [];

/** One request on a pooled connection; created by http1Request(). */
export class Http1ClientRequest implements UpstreamHooks {
  readonly raw = false;
  readonly pool: Http1Pool;
  readonly handler: Http1ResponseHandler;
  readonly method: string;
  readonly chunked: boolean;
  up: Http1UpstreamConn | null = null;
  finished = false;
  /** The serialised head until a connection takes it. */
  #head: Buffer | null;
  /** Body bytes written before a connection was had (allocated only then). */
  #queue: Array<Buffer> | null = null;
  #ended = false;
  #endBytes: Buffer | null = null;
  #remaining: number;
  /** The callback given to pool.acquire by http1Request (callers that acquire themselves call onAcquired). */
  #acquireCallback: AcquireCallback | null = null;
  #trailers: Array<[string, string]> = NO_TRAILERS;

  constructor(pool: Http1Pool, init: Http1RequestInit, handler: Http1ResponseHandler) {
    this.pool = pool;
    this.handler = handler;
    this.method = init.method;
    this.chunked = (init.bodyLength ?? -1) < 0;
    this.#remaining = Math.max(0, init.bodyLength ?? 0);
    this.#head = serializeRequestHead(init);
  }

  /** @internal Acquires a connection from the pool for this request (http1Request). */
  acquire(): void {
    const cb: AcquireCallback = (error, up) => this.onAcquired(error, up);
    this.#acquireCallback = cb;
    this.pool.acquire(cb);
  }

  /** The pool's answer to the acquire for this request: a connection to send it on, or why there is none. */
  onAcquired(error: UpstreamError | null, up: Http1UpstreamConn | null): void {
    this.#acquireCallback = null;
    if (this.finished) {
      up?.release();
      return;
    }
    if (error !== null || up === null) {
      this.finished = true;
      this.handler.onError(error!);
      return;
    }
    this.up = up;
    up.start(this.method, this);
    const head = this.#head!;
    this.#head = null;
    const queue = this.#queue;
    this.#queue = null;
    if (queue === null) up.write(head);
    else {
      up.socket.cork();
      up.write(head);
      for (const b of queue) up.write(b);
      up.socket.uncork();
    }
    if (this.#ended) up.endRequest();
  }

  #enqueue(b: Buffer): void {
    (this.#queue ??= []).push(b);
  }

  /** Writes request body bytes. Returns false when the caller should wait for onDrain. */
  write(data: Buffer): boolean {
    if (this.finished || this.#ended || data.length === 0) return true;
    if (!this.chunked) {
      if (data.length > this.#remaining) {
        this.#fail(new UpstreamProtocolError(UpstreamCodes.BAD_RESPONSE, 'request body longer than its declared length'));
        return true;
      }
      this.#remaining -= data.length;
    }
    const up = this.up;
    if (up === null) {
      if (this.chunked) {
        this.#enqueue(chunkHeader(data.length));
        this.#enqueue(data);
        this.#enqueue(CRLF);
      } else this.#enqueue(data);
      return true;
    }
    if (!this.chunked) return up.write(data);
    up.socket.cork();
    up.write(chunkHeader(data.length));
    up.write(data);
    const ok = up.write(CRLF);
    up.socket.uncork();
    return ok;
  }

  /** Ends the request body (with trailers when chunked). */
  end(trailers: ReadonlyArray<readonly [string, string]> | null = null): void {
    if (this.finished || this.#ended) return;
    this.#ended = true;
    if (!this.chunked && this.#remaining !== 0) {
      this.#fail(new UpstreamProtocolError(UpstreamCodes.BAD_RESPONSE, 'request body shorter than its declared length'));
      return;
    }
    if (this.chunked) {
      const safe = trailers === null ? [] : trailers.filter(([k, v]) => validName(k) && validValue(v) && !SKIP.has(k.toLowerCase()));
      this.#endBytes = lastChunkWithTrailers(safe);
    }
    const up = this.up;
    if (up === null) {
      if (this.#endBytes !== null) this.#enqueue(this.#endBytes);
      return;
    }
    if (this.#endBytes !== null) up.write(this.#endBytes);
    up.endRequest();
  }

  /** Cancels the request; the connection is closed. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    const up = this.up;
    this.up = null;
    if (up !== null) up.abort();
    else if (this.#acquireCallback !== null) {
      this.pool.cancel(this.#acquireCallback);
      this.#acquireCallback = null;
    }
  }

  pauseResponse(): void {
    this.up?.pauseResponse();
  }

  resumeResponse(): void {
    this.up?.resumeResponse();
  }

  #fail(error: UpstreamError): void {
    this.abort();
    this.handler.onError(error);
  }

  // ---- UpstreamHooks -----------------------------------------------------------------------------

  onInformational(head: Http1Head): void {
    this.handler.onInformational?.(head);
  }

  onResponseHead(head: Http1Head): void {
    this.handler.onHead(head);
  }

  onResponseBytes(): void {
    // Decoded mode: payload arrives through onBodyData.
  }

  onBodyData(buf: Buffer, start: number, end: number): void {
    if (end > start) this.handler.onData(buf.subarray(start, end));
  }

  onTrailers(trailers: Array<[string, string]>): void {
    this.#trailers = trailers;
  }

  onResponseEnd(): void {
    if (this.finished) return;
    this.finished = true;
    const up = this.up;
    this.up = null;
    // An early response (request body not finished): the connection cannot be reused.
    if (up !== null && up.hooks === this && !up.requestEnded) up.abort();
    this.handler.onEnd(this.#trailers);
  }

  onUpgrade(_head: Http1Head, socket: net.Socket): void {
    socket.destroy();
    this.#fail(new UpstreamProtocolError(UpstreamCodes.BAD_RESPONSE, `${this.pool.name} switched protocols on a request that did not ask for it`));
  }

  onUpstreamError(error: UpstreamError): void {
    if (this.finished) return;
    this.finished = true;
    this.up = null;
    this.handler.onError(error);
  }

  onUpstreamDrain(): void {
    this.handler.onDrain?.();
  }
}

/** Sends a request through `pool`; see the module comment. */
export function http1Request(pool: Http1Pool, init: Http1RequestInit, handler: Http1ResponseHandler): Http1ClientRequest {
  const req = new Http1ClientRequest(pool, init, handler);
  req.acquire();
  return req;
}
