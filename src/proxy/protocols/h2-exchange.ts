// Exchange over a server stream of weft's own HTTP/2 codec (h2/api.ts): how an h2 request from a peer
// proxy reaches the layers and forwarders that are written against Exchange (inbound to h2c and gRPC
// apps). The request head arrives as a flat header list; the body becomes a Readable only when the
// request has one, and the stream's receive window re-opens as that Readable is read (back-pressure).
import { Readable } from 'node:stream';
import { WeftError } from '../../core/errors.ts';
import { rescue } from '../errors.ts';
import { HOP_BY_HOP, type Exchange, type HeaderMap } from './exchange.ts';
import { H2_CANCEL, H2_INTERNAL_ERROR, type H2HeaderList, type H2Session, type H2Stream } from './h2/api.ts';

/** The pseudo-headers and end-to-end fields of a request head (flat list from the codec). */
export interface H2RequestHead {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  /** End-to-end fields: pseudo-headers and connection-specific fields dropped, `te: trailers` kept. */
  headers: HeaderMap;
}

/** Adds one field to a header map the way HTTP folds repeated fields (cookie with "; ", RFC 9113 §8.2.3). */
function addField(out: HeaderMap, name: string, value: string): void {
  const cur = out[name];
  if (cur === undefined) out[name] = value;
  else if (Array.isArray(cur)) cur.push(value);
  else if (name === 'set-cookie') out[name] = [cur, value];
  else out[name] = `${cur}${name === 'cookie' ? '; ' : ', '}${value}`;
}

/** Splits a flat request header list into pseudo-headers and an end-to-end header map. */
export function parseRequestHead(list: H2HeaderList): H2RequestHead {
  const head: H2RequestHead = { method: 'GET', scheme: 'http', authority: '', path: '/', headers: {} };
  let host = '';
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    const value = list[i + 1]!;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ':method') head.method = value;
      else if (name === ':path') head.path = value;
      else if (name === ':authority') head.authority = value;
      else if (name === ':scheme') head.scheme = value;
      continue;
    }
    if (HOP_BY_HOP.has(name)) {
      if (name === 'te' && value.toLowerCase().includes('trailers')) head.headers.te = 'trailers';
      else if (name === 'host') host = value;
      continue;
    }
    addField(head.headers, name, value);
  }
  if (head.authority === '') head.authority = host;
  return head;
}

/** A response head or trailers as a flat list: `:status` first (when given), connection-specific fields dropped. */
export function toHeaderList(status: number, headers: HeaderMap): H2HeaderList {
  const out: H2HeaderList = status > 0 ? [':status', String(status)] : [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 || HOP_BY_HOP.has(name)) continue;
    const v = headers[name]!;
    const lower = name.toLowerCase();
    if (Array.isArray(v)) for (const x of v) out.push(lower, x);
    else out.push(lower, v);
  }
  return out;
}

/** A request stream of the own codec as an Exchange. One object per stream; the stream's callbacks point at it. */
export class H2StreamExchange implements Exchange {
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
  readonly headers: HeaderMap;
  readonly bodyless: boolean;
  readonly isGrpc: boolean;
  readonly downstreamProtocol = 'h2' as const;
  readonly #stream: H2Stream;
  readonly #session: H2Session;
  #body: Readable | undefined;
  /** Received bytes pushed into the body Readable but not yet handed back to the stream's window. */
  #unconsumed = 0;
  /** The request ended while bytes were still held: the body ends once they were read (see #onRead). */
  #endPending = false;
  #trailers: HeaderMap | undefined;
  #headersSent = false;
  #completed = false;
  /** After fail(): the rest of the request body is read and dropped. */
  #discarding = false;
  #abortCbs: Array<() => void> | undefined;
  #drainCb: (() => void) | undefined;

  constructor(session: H2Session, stream: H2Stream, head: H2RequestHead, endStream: boolean) {
    this.#session = session;
    this.#stream = stream;
    this.method = head.method;
    this.scheme = head.scheme;
    this.authority = head.authority;
    this.path = head.path;
    this.headers = head.headers;
    this.bodyless = endStream;
    const ct = head.headers['content-type'];
    this.isGrpc = typeof ct === 'string' && ct.startsWith('application/grpc');
    stream.context = this;
    stream.onData = this.#onData;
    stream.onTrailers = this.#onTrailers;
    stream.onWritable = this.#onWritable;
    stream.onClose = this.#onClose;
  }

  // ---- stream callbacks (class fields: one function per exchange, none per chunk) ----
  readonly #onData = (chunk: Buffer, endStream: boolean): void => {
    if (this.#discarding) {
      this.#stream.consume(chunk.length);
      return;
    }
    const body = this.body;
    if (chunk.length > 0) {
      // A view into a socket read the codec never overwrites: the Readable may keep it without a copy.
      const pushed = body.push(chunk);
      if (pushed) this.#stream.consume(chunk.length);
      else this.#unconsumed += chunk.length;
    }
    if (endStream) this.#endBody();
  };

  /** Ends the body — after the held bytes were read: a Readable that got push(null) never asks for more (no #onRead). */
  #endBody(): void {
    if (this.#unconsumed > 0) this.#endPending = true;
    else this.body.push(null);
  }

  readonly #onTrailers = (trailers: H2HeaderList): void => {
    const t: HeaderMap = {};
    for (let i = 0; i < trailers.length; i += 2) addField(t, trailers[i]!, trailers[i + 1]!);
    this.#trailers = t;
    if (!this.#discarding) this.#endBody();
  };

  readonly #onWritable = (): void => {
    const cb = this.#drainCb;
    this.#drainCb = undefined;
    cb?.();
  };

  readonly #onClose = (code: number | null): void => {
    if (this.#body !== undefined && !this.#body.readableEnded && code !== null) this.#body.destroy();
    // Our response was complete (or we reset the stream ourselves after failing): nobody to tell.
    if (this.#completed) return;
    // Reset (or the session died) before our response was complete: the client went away.
    const cbs = this.#abortCbs;
    this.#abortCbs = undefined;
    this.#completed = true;
    if (cbs) for (const cb of cbs) cb();
  };

  /** The body Readable reads on: hand back what it held to the stream's receive window. */
  readonly #onRead = (): void => {
    const n = this.#unconsumed;
    if (n > 0) {
      this.#unconsumed = 0;
      this.#stream.consume(n);
    }
    if (this.#endPending) {
      this.#endPending = false;
      this.#body!.push(null);
    }
  };

  get body(): Readable {
    if (this.#body === undefined) {
      this.#body = new Readable({ read: this.#onRead });
      if (this.bodyless) this.#body.push(null);
    }
    return this.#body;
  }

  /** Read lazily: only ring hash without a header needs it. */
  get remoteAddress(): string {
    return (this.#session.socket as { remoteAddress?: string }).remoteAddress ?? '';
  }

  requestTrailers(): HeaderMap | undefined {
    return this.#trailers;
  }

  get headersSent(): boolean {
    return this.#headersSent;
  }

  get closed(): boolean {
    return this.#stream.closed;
  }

  respond(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.#stream.closed) return;
    this.#stream.sendHeaders(toHeaderList(status, headers), endStream);
    if (status >= 200) this.#headersSent = true;
    if (endStream) this.#completed = true;
  }

  writeBody(chunk: Buffer): boolean {
    if (this.#stream.closed) return true;
    return this.#stream.sendData(chunk, false);
  }

  onBodyDrain(cb: () => void): void {
    this.#drainCb = cb;
  }

  holdWrites(): void {}
  flushWrites(): void {}

  end(): void {
    if (this.#stream.closed || this.#stream.localEnded) return;
    this.#completed = true;
    this.#stream.end();
  }

  endWithTrailers(trailers: HeaderMap): void {
    if (this.#stream.closed || this.#stream.localEnded) return;
    this.#completed = true;
    this.#stream.sendTrailers(toHeaderList(0, trailers));
  }

  fail(error: unknown, where: string): void {
    const stream = this.#stream;
    if (stream.closed) return;
    if (this.#headersSent || stream.localEnded) {
      this.#completed = true;
      // The upstream's own RST code when it reset mid-response (CANCEL stays CANCEL for gRPC clients).
      const h2Code = error instanceof WeftError ? error.details?.h2Code : undefined;
      stream.reset(typeof h2Code === 'number' ? h2Code : H2_INTERNAL_ERROR);
      return;
    }
    const r = rescue(error, { grpc: this.isGrpc, head: this.method === 'HEAD', where });
    this.#headersSent = true;
    this.#completed = true;
    if (this.isGrpc) {
      stream.sendHeaders(toHeaderList(200, r.headers), true);
    } else if (r.body === '') {
      stream.sendHeaders(toHeaderList(r.status, r.headers), true);
    } else {
      stream.sendHeaders(toHeaderList(r.status, r.headers), false);
      stream.sendData(Buffer.from(r.body), true);
    }
    // A request body we will never forward: read and drop the rest (the window keeps opening, the
    // stream closes normally once the client ended). Nothing of it was handed on yet beyond the Readable.
    if (!stream.remoteEnded) {
      this.#discarding = true;
      if (this.#unconsumed > 0) this.#onRead();
      this.#body?.destroy();
    }
  }

  onAbort(cb: () => void): void {
    (this.#abortCbs ??= []).push(cb);
  }

  /** Resets the stream without answering (e.g. the listener is going away). */
  cancel(): void {
    this.#stream.reset(H2_CANCEL);
  }
}
