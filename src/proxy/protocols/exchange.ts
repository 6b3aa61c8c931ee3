// Exchange: one HTTP request/response as the proxy layers see it, whatever the downstream protocol.
// Two adapters — HTTP/2 streams (node http2 core API, here) and HTTP/1 engine requests
// (http1-exchange.ts) — expose the same request fields, body stream, trailers and response
// methods, so the layers and upstream forwarders are written once.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import http2 from 'node:http2';
import type { Readable, Writable } from 'node:stream';
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
  /** The response body sink (write chunks, then `end` or `endWithTrailers`). */
  readonly responseBody: Writable;
  end(): void;
  endWithTrailers(trailers: HeaderMap): void;
  /** Generates the error response (or resets if the head already went out). */
  fail(error: unknown, where: string): void;
  /** Adds a response header on every response of this exchange (weft-error from upstream passes anyway). */
  readonly closed: boolean;
  /** Called once when the downstream goes away before the response completed. */
  onAbort(cb: () => void): void;
}

const { HTTP2_HEADER_STATUS, NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL } = http2.constants;

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
  readonly responseBody: Writable;
  #stream: http2.ServerHttp2Stream;
  #trailers: HeaderMap | undefined;
  #pendingTrailers: HeaderMap | undefined;
  #abortCbs: Array<() => void> | undefined;
  #completed = false;

  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) {
    this.#stream = stream;
    this.method = (headers[':method'] as string) ?? 'GET';
    this.scheme = (headers[':scheme'] as string) ?? 'http';
    this.authority = (headers[':authority'] as string) ?? (headers.host as string) ?? '';
    this.path = (headers[':path'] as string) ?? '/';
    this.headers = endToEnd(headers);
    this.body = stream;
    this.responseBody = stream;
    this.bodyless = (flags & 1) !== 0;
    const ct = headers['content-type'];
    this.isGrpc = typeof ct === 'string' && ct.startsWith('application/grpc');
    stream.once('trailers', (t: http2.IncomingHttpHeaders) => {
      this.#trailers = endToEnd(t);
    });
    stream.on('wantTrailers', () => {
      const t = this.#pendingTrailers;
      this.#pendingTrailers = undefined;
      stream.sendTrailers(t ?? {});
    });
    stream.once('close', () => {
      if (!this.#completed) {
        this.#completed = true;
        const cbs = this.#abortCbs;
        this.#abortCbs = undefined;
        if (cbs) for (const cb of cbs) cb();
      }
    });
    stream.once('finish', () => {
      this.#completed = true;
    });
    // Errors on a downstream stream (client RST) surface as 'close'; never let them crash the proxy.
    stream.on('error', () => {});
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
    const h: OutgoingHttpHeaders = { ...headers, [HTTP2_HEADER_STATUS]: status };
    this.#stream.respond(h, { endStream, waitForTrailers: !endStream });
    if (endStream) this.#completed = true;
  }

  end(): void {
    if (!this.closed) this.#stream.end();
  }

  endWithTrailers(trailers: HeaderMap): void {
    this.#pendingTrailers = trailers;
    if (!this.closed) this.#stream.end();
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
