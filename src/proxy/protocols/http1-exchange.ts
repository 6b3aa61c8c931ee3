// Bridges one request of the HTTP/1 engine (message mode: decoded body and trailers) to the proxy's
// Exchange interface, so HTTP/1 clients can use the HTTP/2 paths (a multiplexed h2 stream to a peer
// proxy, an h2c upstream). HTTP/1 → HTTP/1 traffic does not come here: it takes the engine's
// byte-forwarding fast path (outbound/http1.ts).
import { Readable } from 'node:stream';
import type { Http1ServerConn, ExchangeHooks } from './http1/server.ts';
import type { Http1Head } from './http1/parser.ts';
import { rescue } from '../errors.ts';
import { HOP_BY_HOP, type Exchange, type HeaderMap } from './exchange.ts';

/** Origin-form path and authority of a request head (absolute-form targets are split). */
export function targetOf(head: Http1Head): { authority: string; path: string } {
  const t = head.target;
  if (head.absoluteForm) {
    const start = t.indexOf('//') + 2;
    const slash = t.indexOf('/', start);
    return { authority: t.slice(start, slash < 0 ? undefined : slash), path: slash < 0 ? '/' : t.slice(slash) };
  }
  return { authority: head.host, path: t };
}

function toList(headers: HeaderMap): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const name in headers) {
    const v = headers[name]!;
    if (Array.isArray(v)) for (const x of v) out.push([name, x]);
    else out.push([name, v]);
  }
  return out;
}

export class EngineExchange implements Exchange, ExchangeHooks {
  readonly raw = false;
  readonly method: string;
  readonly scheme = 'http';
  readonly authority: string;
  readonly path: string;
  readonly headers: HeaderMap;
  readonly bodyless: boolean;
  readonly isGrpc = false;
  readonly downstreamProtocol = 'http1' as const;
  readonly #conn: Http1ServerConn;
  #body: Readable | undefined;
  #trailers: HeaderMap | undefined;
  #abortCbs: Array<() => void> | undefined;
  #drainCb: (() => void) | undefined;
  #done = false;

  constructor(conn: Http1ServerConn, head: Http1Head) {
    this.#conn = conn;
    this.method = head.method;
    const { authority, path } = targetOf(head);
    this.authority = authority;
    this.path = path;
    const headers: HeaderMap = {};
    const listed = head.connectionTokens;
    for (const [name, value] of head.headerList()) {
      if (HOP_BY_HOP.has(name) || (listed !== null && listed.includes(name))) {
        if (name === 'te' && value.toLowerCase().includes('trailers')) headers.te = 'trailers';
        continue;
      }
      const cur = headers[name];
      headers[name] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : name === 'set-cookie' ? [cur, value] : `${cur}, ${value}`;
    }
    this.headers = headers;
    this.bodyless = !head.hasTransferEncoding && head.contentLength <= 0;
    // A request with a body gets its Readable now (the engine pushes into it); a bodyless one only
    // if someone asks (nobody does on the usual paths): one stream object fewer per GET.
    if (!this.bodyless) this.#body = this.#newBody();
    // Expect: 100-continue: in message mode the engine answers 100 itself when the body is first read
    // (the proxy takes the body and streams it on, as Envoy does).
    conn.attach(this);
  }

  #newBody(): Readable {
    const conn = this.#conn;
    return new Readable({ read: () => conn.resumeBody() });
  }

  get body(): Readable {
    if (this.#body === undefined) {
      this.#body = this.#newBody();
      this.#body.push(null);
    }
    return this.#body;
  }

  /** Read lazily: only ring hash without a header needs it. */
  get remoteAddress(): string {
    return this.#conn.socket.remoteAddress ?? '';
  }

  // ---- ExchangeHooks (client side) ----
  onBodyData(buf: Buffer, start: number, end: number): void {
    if (!this.#body!.push(buf.subarray(start, end))) this.#conn.pauseBody();
  }
  onTrailers(trailers: Array<[string, string]>): void {
    const t: HeaderMap = {};
    for (const [k, v] of trailers) t[k.toLowerCase()] = v;
    this.#trailers = t;
  }
  onRequestBytes(): void {}
  onRequestEnd(): void {
    this.#body?.push(null);
  }
  onClientGone(): void {
    this.#body?.destroy();
    const cbs = this.#abortCbs;
    this.#abortCbs = undefined;
    if (cbs && !this.#done) for (const cb of cbs) cb();
  }
  onClientDrain(): void {
    const cb = this.#drainCb;
    this.#drainCb = undefined;
    cb?.();
  }
  onTimeout(): void {}

  // ---- Exchange ----
  requestTrailers(): HeaderMap | undefined {
    return this.#trailers;
  }
  get headersSent(): boolean {
    return this.#conn.responseStarted;
  }
  get closed(): boolean {
    return this.#conn.closed || this.#done;
  }
  respond(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.closed) return;
    const cl = headers['content-length'];
    const length = typeof cl === 'string' ? Number(cl) : -1;
    this.#conn.writeHead(status, toList(headers), endStream && length < 0 ? 0 : length);
    if (endStream) {
      this.#done = true;
      this.#conn.endResponse(null);
    }
  }
  writeBody(chunk: Buffer): boolean {
    if (this.closed) return true;
    return this.#conn.writeBody(chunk);
  }
  onBodyDrain(cb: () => void): void {
    this.#drainCb = cb;
  }
  holdWrites(): void {
    this.#conn.socket.cork();
  }
  flushWrites(): void {
    this.#conn.socket.uncork();
  }
  end(): void {
    this.#finish(null);
  }
  endWithTrailers(trailers: HeaderMap): void {
    this.#finish(toList(trailers));
  }
  #finish(trailers: Array<[string, string]> | null): void {
    if (this.#done) return;
    // Body bytes went straight to the socket (which keeps their order), so the response ends now, in
    // this tick: a client that already has the whole body may send its next request at once.
    this.#done = true;
    this.#drainCb = undefined;
    if (!this.#conn.closed) this.#conn.endResponse(trailers);
  }
  fail(error: unknown, where: string): void {
    if (this.closed) return;
    if (this.#conn.responseStarted) {
      this.#done = true;
      this.#conn.destroy();
      return;
    }
    const r = rescue(error, { grpc: false, head: this.method === 'HEAD', where });
    this.#done = true;
    this.#conn.respond(r.status, toList(r.headers).filter(([k]) => k !== 'content-length'), Buffer.from(r.body));
  }
  onAbort(cb: () => void): void {
    (this.#abortCbs ??= []).push(cb);
  }
}
