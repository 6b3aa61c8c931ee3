// Upstream forwarders: send an Exchange's request on an HTTP/2 stream (peer proxy or h2c app) or as
// an HTTP/1.1 request on the HTTP/1 engine's pooled client (plain app), stream both bodies with back-pressure, carry trailers both ways,
// and report how it went. A failure before the response head rejects with a ProxyError (the caller
// answers with the mapped error); after the head, the downstream is reset.
import http2 from 'node:http2';
import { ProxyError, connectError, fromUpstreamError } from '../errors.ts';
import { http1Request, type Http1ClientRequest } from './http1/client.ts';
import type { Http1Pool } from './http1/pool.ts';
import { HOP_BY_HOP, endToEnd, type Exchange, type HeaderMap } from './exchange.ts';

const { NGHTTP2_CANCEL, HTTP2_HEADER_STATUS, HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_AUTHORITY, HTTP2_HEADER_SCHEME } = http2.constants;

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

/** Exchanges whose held writes go out at the end of this event-loop turn (one setImmediate for all). */
let turnEndFlushes: Exchange[] = [];
const flushHeldWrites = (): void => {
  const list = turnEndFlushes;
  turnEndFlushes = [];
  for (const ex of list) ex.flushWrites();
};
function flushAtTurnEnd(ex: Exchange): void {
  if (turnEndFlushes.push(ex) === 1) setImmediate(flushHeldWrites);
}

/**
 * Sends `ex` as a stream on `session`. `extraHeaders` are added (e.g. weft-dst-port to a peer);
 * `onClose` runs once when the stream is gone (the pool's stream count).
 */
export function forwardH2(
  session: http2.ClientHttp2Session,
  ex: Exchange,
  target: string,
  extraHeaders: HeaderMap | undefined,
  onResponseHead: ResponseHook,
  onClose?: () => void,
): UpstreamCall {
  const headers: http2.OutgoingHttpHeaders = ex.headers;
  if (extraHeaders !== undefined) for (const name in extraHeaders) headers[name] = extraHeaders[name];
  headers[HTTP2_HEADER_METHOD] = ex.method;
  headers[HTTP2_HEADER_PATH] = ex.path;
  headers[HTTP2_HEADER_AUTHORITY] = ex.authority;
  headers[HTTP2_HEADER_SCHEME] = ex.scheme === 'https' ? 'https' : 'http';
  let responded = false;
  let settle!: (o: Outcome) => void;
  let fail!: (e: ProxyError) => void;
  const done = new Promise<Outcome>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  let finished = false;
  let status = 0;
  // Request trailers are possible only on a body of unknown length (gRPC, chunked HTTP/1); a body
  // that declares its length ends with its last DATA frame.
  const mayHaveTrailers = !ex.bodyless && (ex.isGrpc || ex.headers['content-length'] === undefined);
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request(headers, { endStream: ex.bodyless, waitForTrailers: mayHaveTrailers });
  } catch (e) {
    onClose?.();
    throw new ProxyError('BAD_REQUEST', `the request cannot be sent over HTTP/2: ${(e as Error).message}`, { cause: e });
  }
  const finish = (o: Outcome | ProxyError) => {
    if (finished) return;
    finished = true;
    if (o instanceof ProxyError) fail(o);
    else settle(o);
  };

  // request body → upstream (trailers after the body)
  if (!ex.bodyless) {
    if (mayHaveTrailers) {
      stream.once('wantTrailers', () => {
        const t = ex.requestTrailers();
        stream.sendTrailers(t ?? {});
      });
    }
    ex.body.pipe(stream);
  }

  // node emits 'response' and 'trailers' on the next tick but 'data' at once: a DATA frame read
  // together with the HEADERS would reach a 'data' listener before the head. So the body listeners
  // are attached only once the head went downstream (data read meanwhile waits in the stream).
  const onData = (chunk: Buffer) => {
    if (!ex.writeBody(chunk)) {
      stream.pause();
      ex.onBodyDrain(onDownstreamDrain);
    }
  };
  const onDownstreamDrain = () => stream.resume();
  stream.on('response', (h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number) => {
    // Already answered (a timeout or an error path won the race): drop the late response.
    if (finished || ex.headersSent || ex.closed) {
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    status = Number(h[HTTP2_HEADER_STATUS] ?? 502);
    if (status >= 100 && status < 200) return; // informational responses are not forwarded yet
    responded = true;
    const out = endToEnd(h);
    onResponseHead?.(out);
    const endStream = (flags & 1) !== 0;
    // The head and the body bytes that came with it (usually all of a small response: they were
    // read together) leave in one write.
    ex.holdWrites();
    try {
      ex.respond(status, out, endStream);
    } catch (e) {
      ex.flushWrites();
      // A header HTTP/1 allows but HTTP/2 does not (or the reverse): answer 502, never crash.
      stream.close(NGHTTP2_CANCEL);
      responded = false;
      finish(new ProxyError('UPSTREAM_PROTOCOL_ERROR', `${target} sent a response head that cannot be relayed: ${(e as Error).message}`, { cause: e }));
      return;
    }
    if (endStream) {
      ex.flushWrites();
      finish({ status, completed: true });
      stream.resume(); // let the (empty) readable side end, so the stream closes
      return;
    }
    let paused = false;
    let wrote = false;
    for (let chunk = stream.read() as Buffer | null; chunk !== null; chunk = stream.read() as Buffer | null) {
      wrote = true;
      if (!ex.writeBody(chunk)) {
        paused = true;
        ex.onBodyDrain(onDownstreamDrain);
        break;
      }
    }
    // Nothing of the body yet: it is usually in the same socket read, delivered after this event.
    // Keep the head until the end of this event-loop turn so it leaves with those bytes.
    if (wrote) ex.flushWrites();
    else flushAtTurnEnd(ex);
    if (paused) stream.pause();
    stream.on('data', onData);
  });
  let trailers: HeaderMap | undefined;
  stream.once('trailers', (t: http2.IncomingHttpHeaders) => {
    trailers = endToEnd(t);
  });
  stream.once('end', () => {
    if (!responded || finished) return;
    if (trailers !== undefined) ex.endWithTrailers(trailers);
    else ex.end();
    finish({ status, completed: true });
  });
  stream.on('error', (e: Error) => {
    if (!responded) finish(connectError(e, target));
  });
  // Also covers the session going away: node destroys its streams, each one closes.
  stream.once('close', () => {
    onClose?.();
    if (finished) return;
    if (!responded) {
      const code = stream.rstCode;
      finish(new ProxyError('UPSTREAM_RESET', `${target} reset the stream (code ${code}) before responding`));
    } else {
      ex.fail(new ProxyError('UPSTREAM_RESET', `${target} reset the stream mid-response`), target);
      finish({ status, completed: false });
    }
  });
  return {
    done,
    get responded() {
      return responded;
    },
    abort(error: ProxyError) {
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
      if (!finished) {
        if (responded) {
          ex.fail(error, target);
          finish({ status, completed: false });
        } else finish(error);
      }
    },
  };
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
  const onDownstreamDrain = () => {
    drainWaiting = false;
    req.resumeResponse();
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
        req.pauseResponse();
        ex.onBodyDrain(onDownstreamDrain);
      }
    },
    onEnd(trailers) {
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
