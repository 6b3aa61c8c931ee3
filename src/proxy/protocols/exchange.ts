// Exchange: one HTTP request/response as the proxy layers see it, whatever the downstream protocol.
// Three adapters — HTTP/2 streams of node's http2 (h2c from apps, here), streams of weft's own HTTP/2
// codec (h2 from peer proxies, h2-exchange.ts) and HTTP/1 engine requests (http1-exchange.ts) —
// expose the same request fields, body stream, trailers and response methods, so the layers and
// upstream forwarders are written once.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type http2 from 'node:http2';
import type { Readable } from 'node:stream';
import { rescue } from '../errors.ts';

export type HeaderMap = Record<string, string | string[]>;

/** Connection-specific headers a proxy must not forward (RFC 9110 §7.6.1, RFC 9113 §8.2.2). */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'http2-settings', 'proxy-authorization']);

/** Copies headers without pseudo-headers, hop-by-hop ones and those named in `Connection`; keeps `te: trailers`. */
export function endToEnd(headers: IncomingHttpHeaders | http2.IncomingHttpHeaders): HeaderMap {
  const out: HeaderMap = {};
  const conn = headers.connection;
  const listed = typeof conn === 'string' && conn !== 'keep-alive' && conn !== 'close' ? conn.toLowerCase().split(/\s*,\s*/) : undefined;
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (HOP_BY_HOP.has(name)) {
      if (name === 'te' && typeof v === 'string' && v.toLowerCase().includes('trailers')) out.te = 'trailers';
      continue;
    }
    if (listed !== undefined && listed.includes(name)) continue;
    out[name] = v as string | string[];
  }
  return out;
}

export interface Exchange {
  readonly method: string;
  readonly scheme: string;
  /** Host[:port] the client addressed (:authority or Host). */
  readonly authority: string;
  /** Path and query. */
  readonly path: string;
  /** End-to-end request headers (lower case). Layers may edit before forwarding. */
  readonly headers: HeaderMap;
  /** The request body. */
  readonly body: Readable;
  /** True when the request has no body at all. */
  readonly bodyless: boolean;
  readonly isGrpc: boolean;
  readonly downstreamProtocol: 'http1' | 'h2';
  readonly remoteAddress: string;
  /** Request trailers, available once `body` ended. */
  requestTrailers(): HeaderMap | undefined;
  readonly headersSent: boolean;
  /** Sends the response head; `endStream` when there is no body and no trailers. */
  respond(status: number, headers: HeaderMap, endStream: boolean): void;
  /**
   * Writes a chunk of the response body (after `respond`). False = the downstream is full: wait for
   * `onBodyDrain` before writing more. Then `end` or `endWithTrailers`.
   */
  writeBody(chunk: Buffer): boolean;
  /** Calls `cb` once when the downstream can take more body after `writeBody` returned false. */
  onBodyDrain(cb: () => void): void;
  /**
   * Between `holdWrites` and `flushWrites`, head and body bytes are gathered into one write to the
   * client (HTTP/1: one syscall and, over TLS, one record instead of two). HTTP/2 batches by itself.
   */
  holdWrites(): void;
  flushWrites(): void;
  end(): void;
  endWithTrailers(trailers: HeaderMap): void;
  /** Generates the error response (or resets if the head already went out). */
  fail(error: unknown, where: string): void;
  /** Adds a response header on every response of this exchange (weft-error from upstream passes anyway). */
  readonly closed: boolean;
  /** Called once when the downstream goes away before the response completed. */
  onAbort(cb: () => void): void;
}

// node:http2's constants, written out so that this module does not load node:http2 (a proxy without
// h2c traffic never does: it costs resident memory).
const HTTP2_HEADER_STATUS = ':status';
const NGHTTP2_INTERNAL_ERROR = 0x2;
const NGHTTP2_CANCEL = 0x8;

const ignore = (): void => {};

/** HTTP/2 downstream stream (h2c from the app, or h2 from a peer proxy). */
export class H2Exchange implements Exchange {
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
  readonly headers: HeaderMap;
  readonly body: Readable;
  readonly bodyless: boolean;
  readonly isGrpc: boolean;
  readonly downstreamProtocol = 'h2' as const;
  #stream: http2.ServerHttp2Stream;
  #trailers: HeaderMap | undefined;
  #pendingTrailers: HeaderMap | undefined;
  #abortCbs: Array<() => void> | undefined;
  #completed = false;
  #trailerCapable = false;

  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) {
    this.#stream = stream;
    this.method = (headers[':method'] as string) ?? 'GET';
    this.scheme = (headers[':scheme'] as string) ?? 'http';
    this.authority = (headers[':authority'] as string) ?? (headers.host as string) ?? '';
    this.path = (headers[':path'] as string) ?? '/';
    this.headers = endToEnd(headers);
    this.body = stream;
    this.bodyless = (flags & 1) !== 0;
    const ct = headers['content-type'];
    this.isGrpc = typeof ct === 'string' && ct.startsWith('application/grpc');
    // Few listeners per stream (each one is work per request): request trailers only when a body
    // follows, the trailer hook only when the response may carry trailers (see respond).
    if (!this.bodyless) {
      stream.once('trailers', (t: http2.IncomingHttpHeaders) => {
        this.#trailers = endToEnd(t);
      });
    } else {
      // Nothing to read. Without this, node closes a stream whose request side was never touched
      // with an RST_STREAM(NO_ERROR) after the response (one more frame and one setImmediate per request).
      stream.pause();
    }
    stream.once('close', () => {
      // Closed before our response was handed over completely: the client went away (RST).
      if (!this.#completed && !stream.writableFinished) {
        this.#completed = true;
        const cbs = this.#abortCbs;
        this.#abortCbs = undefined;
        if (cbs) for (const cb of cbs) cb();
      }
    });
    // Errors on a downstream stream (client RST) surface as 'close'; never let them crash the proxy.
    stream.on('error', ignore);
  }

  /** Read lazily: `session.socket` is a Proxy, and only ring hash without a header needs this. */
  get remoteAddress(): string {
    return this.#stream.session?.socket?.remoteAddress ?? '';
  }

  requestTrailers(): HeaderMap | undefined {
    return this.#trailers;
  }

  get headersSent(): boolean {
    return this.#stream.headersSent;
  }

  get closed(): boolean {
    return this.#stream.closed || this.#stream.destroyed;
  }

  respond(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.closed) return;
    const h: OutgoingHttpHeaders = headers;
    h[HTTP2_HEADER_STATUS] = status;
    // Trailers are possible only on a body of unknown length (gRPC, chunked HTTP/1, streamed h2).
    // A response that declares its length ends with its last DATA frame: no trailer HEADERS frame
    // to encode, send and decode per request.
    const mayHaveTrailers = !endStream && (this.isGrpc || headers['content-length'] === undefined);
    this.#stream.respond(h, { endStream, waitForTrailers: mayHaveTrailers });
    if (mayHaveTrailers) {
      this.#stream.once('wantTrailers', () => {
        const t = this.#pendingTrailers;
        this.#pendingTrailers = undefined;
        this.#stream.sendTrailers(t ?? {});
      });
      this.#trailerCapable = true;
    }
    if (endStream) this.#completed = true;
  }

  writeBody(chunk: Buffer): boolean {
    if (this.closed) return true;
    return this.#stream.write(chunk);
  }

  onBodyDrain(cb: () => void): void {
    this.#stream.once('drain', cb);
  }

  holdWrites(): void {}
  flushWrites(): void {}

  end(): void {
    if (this.closed) return;
    this.#completed = true;
    this.#stream.end();
  }

  endWithTrailers(trailers: HeaderMap): void {
    if (this.closed) return;
    // Dropped when the head declared a length (see respond): HTTP/1 drops them the same way.
    if (this.#trailerCapable) this.#pendingTrailers = trailers;
    this.#completed = true;
    this.#stream.end();
  }

  fail(error: unknown, where: string): void {
    if (this.closed) return;
    if (this.#stream.headersSent) {
      this.#stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const r = rescue(error, { grpc: this.isGrpc, head: this.method === 'HEAD', where });
    if (this.isGrpc) {
      this.#stream.respond({ ...r.headers, [HTTP2_HEADER_STATUS]: 200 }, { endStream: true });
    } else {
      this.#stream.respond({ ...r.headers, [HTTP2_HEADER_STATUS]: r.status }, { endStream: r.body === '' });
      if (r.body !== '') this.#stream.end(r.body);
    }
    this.#completed = true;
    // Don't wait for a request body we will never read.
    if (!this.#stream.readableEnded) this.#stream.once('finish', () => this.#stream.close(NGHTTP2_CANCEL));
  }

  onAbort(cb: () => void): void {
    (this.#abortCbs ??= []).push(cb);
  }
}
