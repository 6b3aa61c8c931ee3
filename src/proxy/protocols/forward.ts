// Upstream forwarders: send an Exchange's request on a stream of weft's own HTTP/2 codec (peer proxy
// or h2c app) or as an HTTP/1.1 request on the HTTP/1 engine's pooled client (plain app), stream both
// bodies with back-pressure, carry trailers both ways, and report how it went. A failure before the
// response head rejects with a ProxyError (the caller answers with the mapped error; a stream the peer
// refused unprocessed rejects with RefusedStreamError, which may be retried elsewhere); after the
// head, the downstream is reset.
import { ProxyError, fromUpstreamError } from '../errors.ts';
import { http1Request, type Http1ClientRequest } from './http1/client.ts';
import type { Http1Pool } from './http1/pool.ts';
import { HOP_BY_HOP, type Exchange, type HeaderMap } from './exchange.ts';
import { H2_CANCEL, H2_REFUSED_STREAM, type H2ClientSession, type H2HeaderList, type H2Stream } from './h2/api.ts';
import { refusedByCapacity } from './h2-bridge.ts';

/** How an upstream call ended. `reachedUpstream` = the endpoint answered (feeds passive health). */
export interface Outcome {
  readonly status: number;
  readonly completed: boolean;
}

/** A running upstream call; `abort` cancels it (timeout, client gone). */
export interface UpstreamCall {
  readonly done: Promise<Outcome>;
  abort(error: ProxyError): void;
  /** True once the upstream sent a response head. */
  readonly responded: boolean;
}

/** Response header edits applied just before the head goes downstream. */
export type ResponseHook = ((headers: HeaderMap) => void) | undefined;

/**
 * The upstream did not process the request (stream refused, above a GOAWAY's last stream, or the
 * session took no new stream) and none of its body was consumed: safe to send it elsewhere.
 */
export class RefusedStreamError extends ProxyError {}

/** Exchanges whose held writes go out once the codec finished the read that carried their head. */
let heldWrites: Exchange[] = [];
const flushHeldWrites = (): void => {
  const list = heldWrites;
  heldWrites = [];
  for (const ex of list) ex.flushWrites();
};
function flushAfterRead(ex: Exchange): void {
  if (heldWrites.push(ex) === 1) queueMicrotask(flushHeldWrites);
}

/** The flat HTTP/2 request head of an Exchange (pseudo-headers first), plus `extra` [name, value, ...]. */
function requestHeadersOf(ex: Exchange, extra: readonly string[] | undefined): H2HeaderList {
  const out: H2HeaderList = [':method', ex.method, ':scheme', ex.scheme === 'https' ? 'https' : 'http', ':authority', ex.authority, ':path', ex.path];
  const h = ex.headers;
  for (const name in h) {
    if (name.charCodeAt(0) === 58 /* ':' */ || (HOP_BY_HOP.has(name) && name !== 'te')) continue;
    if (extra !== undefined && extra[0] === name) continue;
    const v = h[name]!;
    if (typeof v === 'string') out.push(name, v);
    else for (const x of v) out.push(name, x);
  }
  if (extra !== undefined) for (let i = 0; i < extra.length; i++) out.push(extra[i]!);
  return out;
}

/** A flat list as a HeaderMap (pseudo-headers left out; repeated fields joined, set-cookie kept apart). */
export function headerMapOf(list: H2HeaderList): HeaderMap {
  const out: HeaderMap = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    if (name.charCodeAt(0) === 58 || HOP_BY_HOP.has(name)) continue;
    const value = list[i + 1]!;
    const cur = out[name];
    out[name] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : name === 'set-cookie' ? [cur, value] : `${cur}, ${value}`;
  }
  return out;
}

function flatOf(map: HeaderMap | undefined): H2HeaderList {
  const out: H2HeaderList = [];
  if (map === undefined) return out;
  for (const name in map) {
    if (name.charCodeAt(0) === 58 || HOP_BY_HOP.has(name) || name === 'content-length') continue;
    const v = map[name]!;
    if (typeof v === 'string') out.push(name, v);
    else for (const x of v) out.push(name, x);
  }
  return out;
}

/** One Exchange sent as a stream of weft's own codec. */
class H2Call implements UpstreamCall {
  readonly done: Promise<Outcome>;
  responded = false;
  #settle!: (o: Outcome) => void;
  #fail!: (e: ProxyError) => void;
  #finished = false;
  #status = 0;
  #stream: H2Stream;
  /** Response bytes handed to a full downstream: re-opened on the stream when it drains. */
  #unconsumed = 0;
  #drainWaiting = false;
  #bodyTouched = false;

  constructor(
    session: H2ClientSession,
    readonly ex: Exchange,
    readonly target: string,
    extra: readonly string[] | undefined,
    readonly onResponseHead: ResponseHook,
  ) {
    this.done = new Promise<Outcome>((resolve, reject) => {
      this.#settle = resolve;
      this.#fail = reject;
    });
    const headers = requestHeadersOf(ex, extra);
    try {
      this.#stream = session.request(headers, ex.bodyless);
    } catch (e) {
      // Draining, closed or out of streams: nothing was sent, another attempt may go elsewhere.
      if (refusedByCapacity(session, e)) throw new RefusedStreamError('UPSTREAM_RESET', `${target} took no new stream: ${(e as Error).message}`, { cause: e });
      throw new ProxyError('BAD_REQUEST', `the request cannot be sent over HTTP/2: ${(e as Error).message}`, { cause: e });
    }
    const stream = this.#stream;
    stream.onHeaders = this.#onHeaders;
    stream.onData = this.#onData;
    stream.onTrailers = this.#onTrailers;
    stream.onWritable = this.#onWritable;
    stream.onClose = this.#onClose;
    if (!ex.bodyless) {
      const body = ex.body;
      body.on('data', this.#onRequestData);
      body.once('end', this.#onRequestEnd);
      // A retry after a refused stream finds the body paused (see #onClose) with what arrived meanwhile buffered.
      body.resume();
    }
  }

  // request body → upstream (trailers after the body)
  readonly #onRequestData = (chunk: Buffer): void => {
    this.#bodyTouched = true;
    const stream = this.#stream;
    if (stream.closed || stream.localEnded) return;
    if (!stream.sendData(chunk, false)) this.ex.body.pause();
  };

  readonly #onRequestEnd = (): void => {
    const stream = this.#stream;
    if (stream.closed || stream.localEnded) return;
    const t = flatOf(this.ex.requestTrailers());
    if (t.length > 0) stream.sendTrailers(t);
    else stream.end();
  };

  readonly #onWritable = (): void => {
    if (!this.ex.bodyless) this.ex.body.resume();
  };

  readonly #onHeaders = (headers: H2HeaderList, endStream: boolean): void => {
    const ex = this.ex;
    // Already answered (a timeout or an error path won the race): drop the late response.
    if (this.#finished || ex.headersSent || ex.closed) {
      this.#stream.reset(H2_CANCEL);
      return;
    }
    let status = 0;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === ':status') {
        status = Number(headers[i + 1]);
        break;
      }
    }
    if (status < 200) return; // informational responses are not forwarded on this path
    this.#status = status;
    this.responded = true;
    const out = headerMapOf(headers);
    this.onResponseHead?.(out);
    // The head and the body bytes that come with it (usually all of a small response: the codec
    // delivers them in the same read) leave in one write.
    ex.holdWrites();
    try {
      ex.respond(status, out, endStream);
    } catch (e) {
      ex.flushWrites();
      // A header HTTP/1 allows but HTTP/2 does not (or the reverse): answer 502, never crash.
      // (Finished first: the codec calls onClose synchronously inside reset.)
      this.responded = false;
      this.#finish(new ProxyError('UPSTREAM_PROTOCOL_ERROR', `${this.target} sent a response head that cannot be relayed: ${(e as Error).message}`, { cause: e }));
      this.#stream.reset(H2_CANCEL);
      return;
    }
    if (endStream) {
      ex.flushWrites();
      this.#finish({ status, completed: true });
      return;
    }
    flushAfterRead(ex);
  };

  readonly #onData = (chunk: Buffer, endStream: boolean): void => {
    if (this.#finished || !this.responded) return;
    const n = chunk.length;
    if (n > 0) {
      // The codec never reuses the buffer under its chunks (api.ts onData): the downstream may keep it as is.
      if (this.ex.writeBody(chunk)) {
        if (this.#unconsumed === 0) this.#stream.consume(n);
        else this.#unconsumed += n;
      } else {
        this.#unconsumed += n;
        if (!this.#drainWaiting) {
          this.#drainWaiting = true;
          this.ex.onBodyDrain(this.#onDownstreamDrain);
        }
      }
    }
    if (endStream) {
      this.ex.end();
      this.#finish({ status: this.#status, completed: true });
    }
  };

  readonly #onDownstreamDrain = (): void => {
    this.#drainWaiting = false;
    const n = this.#unconsumed;
    this.#unconsumed = 0;
    if (n > 0 && !this.#stream.closed) this.#stream.consume(n);
  };

  readonly #onTrailers = (trailers: H2HeaderList): void => {
    if (this.#finished || !this.responded) return;
    this.ex.endWithTrailers(headerMapOf(trailers));
    this.#finish({ status: this.#status, completed: true });
  };

  readonly #onClose = (code: number | null, error: Error | undefined): void => {
    // Refused before any body byte was taken: another attempt may send the request, so the body
    // stays paused and keeps what arrives meanwhile (the outbound stack drains it if none follows).
    const refused =
      !this.#finished && !this.responded && (code === H2_REFUSED_STREAM || (error as { code?: string } | undefined)?.code === 'H2_GOAWAY') && (this.ex.bodyless || !this.#bodyTouched);
    if (!this.ex.bodyless) {
      const body = this.ex.body;
      if (refused) body.pause();
      body.removeListener('data', this.#onRequestData);
      body.removeListener('end', this.#onRequestEnd);
      // Unread request body after an early response or a reset: let it drain away.
      if (!refused) body.resume();
    }
    if (this.#finished) return;
    if (!this.responded) {
      const reason = error !== undefined ? `${this.target}: ${error.message}` : `${this.target} reset the stream (code ${code ?? 0}) before responding`;
      this.#finish(refused ? new RefusedStreamError('UPSTREAM_RESET', reason, { cause: error }) : new ProxyError('UPSTREAM_RESET', reason, { cause: error }));
    } else {
      // details.h2Code: the upstream's RST code, for a downstream h2 stream to reset with the same (CANCEL stays CANCEL).
      this.ex.fail(new ProxyError('UPSTREAM_RESET', `${this.target} reset the stream mid-response (code ${code ?? 'none'})`, { cause: error, details: code !== null ? { h2Code: code } : undefined }), this.target);
      this.#finish({ status: this.#status, completed: false });
    }
  };

  #finish(o: Outcome | ProxyError): void {
    if (this.#finished) return;
    this.#finished = true;
    // Bytes still waiting for the downstream to drain: the call is over, give the window back now.
    if (this.#unconsumed > 0) {
      this.#stream.consume(this.#unconsumed);
      this.#unconsumed = 0;
    }
    if (o instanceof ProxyError) this.#fail(o);
    else this.#settle(o);
  }

  abort(error: ProxyError): void {
    // Finished before the reset: the codec calls onClose synchronously inside reset().
    if (!this.#finished) {
      if (this.responded) {
        this.ex.fail(error, this.target);
        this.#finish({ status: this.#status, completed: false });
      } else this.#finish(error);
    }
    if (!this.#stream.closed) this.#stream.reset(H2_CANCEL);
  }
}

/**
 * Sends `ex` as a stream on `session` (weft's own codec). `extraHeaders` ([name, value, ...]) are
 * added, replacing a field of the same name (e.g. weft-dst-port to a peer). Throws
 * RefusedStreamError when the session takes no new stream.
 */
export function forwardH2(session: H2ClientSession, ex: Exchange, target: string, extraHeaders: readonly string[] | undefined, onResponseHead: ResponseHook): UpstreamCall {
  return new H2Call(session, ex, target, extraHeaders, onResponseHead);
}

/**
 * Sends `ex` as an HTTP/1.1 request on a pooled engine connection (protocols/http1/client.ts): used
 * when the downstream is HTTP/2 (an h2 stream from a peer proxy or an h2c client) and the upstream
 * speaks HTTP/1.1. Body decoded and re-framed (Content-Length kept, else chunked with trailers).
 */
export function forwardHttp1(pool: Http1Pool, ex: Exchange, target: string, onResponseHead: ResponseHook): UpstreamCall {
  let responded = false;
  let finished = false;
  let status = 0;
  let settle!: (o: Outcome) => void;
  let fail!: (e: ProxyError) => void;
  const done = new Promise<Outcome>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  const finish = (o: Outcome | ProxyError) => {
    if (finished) return;
    finished = true;
    if (o instanceof ProxyError) fail(o);
    else settle(o);
  };
  const headers: Array<[string, string]> = [];
  for (const name in ex.headers) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue; // left by an earlier h2 attempt
    const v = ex.headers[name]!;
    if (Array.isArray(v)) for (const x of v) headers.push([name, x]);
    else headers.push([name, v]);
  }
  const cl = ex.headers['content-length'];
  const bodyLength = ex.bodyless ? 0 : typeof cl === 'string' && /^\d+$/.test(cl) ? Number(cl) : -1;
  const headRequest = ex.method === 'HEAD';
  let drainWaiting = false;
  // The upstream socket paused for a full downstream. The pool takes the connection back (and may
  // hand it to the next request) before onEnd runs, so a pause set on the response's last bytes is
  // lifted here through the socket itself: a connection must never go back to the pool paused.
  let pausedSocket: import('node:net').Socket | null = null;
  const onDownstreamDrain = () => {
    drainWaiting = false;
    if (finished) return;
    pausedSocket = null;
    req.resumeResponse();
  };
  const liftPause = (): void => {
    const s = pausedSocket;
    pausedSocket = null;
    if (s !== null && !s.destroyed) s.resume();
  };
  let req!: Http1ClientRequest;
  const handler: Parameters<typeof http1Request>[2] = {
    onHead(head) {
      status = head.status;
      responded = true;
      const out: HeaderMap = {};
      const listed = head.connectionTokens;
      for (const [name, value] of head.headerList()) {
        if (HOP_BY_HOP.has(name) || (listed !== null && listed.includes(name))) continue;
        const cur = out[name];
        out[name] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : name === 'set-cookie' ? [cur, value] : `${cur}, ${value}`;
      }
      onResponseHead?.(out);
      const bodiless = headRequest || status === 204 || status === 304;
      try {
        ex.respond(status, out, bodiless);
      } catch (e) {
        responded = false;
        req.abort();
        finish(new ProxyError('UPSTREAM_PROTOCOL_ERROR', `${target} sent a response head that cannot be relayed: ${(e as Error).message}`, { cause: e }));
        return;
      }
      if (bodiless) finish({ status, completed: true });
    },
    onData(chunk) {
      if (!ex.writeBody(chunk) && !drainWaiting) {
        drainWaiting = true;
        pausedSocket = req.up?.socket ?? null;
        req.pauseResponse();
        ex.onBodyDrain(onDownstreamDrain);
      }
    },
    onEnd(trailers) {
      liftPause();
      if (finished) return;
      if (trailers.length > 0) {
        const t: HeaderMap = {};
        for (const [k, v] of trailers) t[k.toLowerCase()] = v;
        ex.endWithTrailers(t);
      } else ex.end();
      finish({ status, completed: true });
    },
    onError(error) {
      if (finished) return;
      if (!responded) {
        finish(new ProxyError(fromUpstreamError(error), `${target}: ${error.message}`, { cause: error }));
      } else {
        ex.fail(new ProxyError('UPSTREAM_RESET', `${target} failed mid-response`, { cause: error }), target);
        finish({ status, completed: false });
      }
    },
    onDrain() {
      ex.body.resume();
    },
  };
  try {
    req = http1Request(pool, { method: ex.method, path: ex.path, authority: ex.authority, headers, bodyLength }, handler);
  } catch (e) {
    throw new ProxyError('BAD_REQUEST', `the request cannot be sent as HTTP/1.1: ${(e as Error).message}`, { cause: e });
  }
  if (ex.bodyless) req.end();
  else {
    ex.body.on('data', (chunk: Buffer) => {
      if (!req.write(chunk)) ex.body.pause();
    });
    ex.body.on('end', () => {
      const t = ex.requestTrailers();
      const list: Array<[string, string]> | null = t ? Object.entries(t).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]) : null;
      req.end(list);
    });
    // A retry after a refused h2 stream finds the body paused (H2Call#onClose).
    ex.body.resume();
  }
  return {
    done,
    get responded() {
      return responded;
    },
    abort(error: ProxyError) {
      req.abort();
      if (!finished) {
        if (responded) {
          ex.fail(error, target);
          finish({ status, completed: false });
        } else finish(error);
      }
    },
  };
}
