// Upstream forwarders: send an Exchange's request on an HTTP/2 stream (peer proxy or h2c app) or as
// an HTTP/1.1 request (plain app), stream both bodies with back-pressure, carry trailers both ways,
// and report how it went. A failure before the response head rejects with a ProxyError (the caller
// answers with the mapped error); after the head, the downstream is reset.
import http from 'node:http';
import http2 from 'node:http2';
import { sharedTimer } from '../../core/coarse-timer.ts';
import { ProxyError, connectError } from '../errors.ts';
import { endToEnd, type Exchange, type HeaderMap } from './exchange.ts';

const { NGHTTP2_CANCEL, HTTP2_HEADER_STATUS } = http2.constants;

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

/** Sends `ex` as a stream on `session`. `extraHeaders` are added (e.g. weft-dst-port to a peer). */
export function forwardH2(
  session: http2.ClientHttp2Session,
  ex: Exchange,
  target: string,
  extraHeaders: HeaderMap | undefined,
  onResponseHead: ResponseHook,
): UpstreamCall & { stream: http2.ClientHttp2Stream } {
  const headers: http2.OutgoingHttpHeaders = {
    ...ex.headers,
    ...extraHeaders,
    ':method': ex.method,
    ':path': ex.path,
    ':authority': ex.authority,
    ':scheme': ex.scheme === 'https' ? 'https' : 'http',
  };
  let responded = false;
  let settle!: (o: Outcome) => void;
  let fail!: (e: ProxyError) => void;
  const done = new Promise<Outcome>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  let finished = false;
  let status = 0;
  const stream = session.request(headers, { endStream: ex.bodyless, waitForTrailers: !ex.bodyless });
  const onSessionClose = () => {
    if (finished) return;
    if (!responded) finish(new ProxyError('UPSTREAM_RESET', `${target} closed the connection before responding`));
    else {
      ex.fail(new ProxyError('UPSTREAM_RESET', `${target} closed the connection mid-response`), target);
      finish({ status, completed: false });
    }
  };
  session.once('close', onSessionClose);
  const finish = (o: Outcome | ProxyError) => {
    if (finished) return;
    finished = true;
    session.removeListener('close', onSessionClose);
    if (o instanceof ProxyError) fail(o);
    else settle(o);
  };

  // request body → upstream (trailers after the body)
  if (!ex.bodyless) {
    stream.on('wantTrailers', () => {
      const t = ex.requestTrailers();
      stream.sendTrailers(t ?? {});
    });
    ex.body.pipe(stream);
  }

  stream.on('response', (h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number) => {
    status = Number(h[HTTP2_HEADER_STATUS] ?? 502);
    if (status >= 100 && status < 200) return; // informational responses are not forwarded yet
    responded = true;
    const out = endToEnd(h);
    onResponseHead?.(out);
    const endStream = (flags & 1) !== 0;
    ex.respond(status, out, endStream);
    if (endStream) finish({ status, completed: true });
  });
  let trailers: HeaderMap | undefined;
  stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
    trailers = endToEnd(t);
  });
  stream.on('data', (chunk: Buffer) => {
    if (!ex.responseBody.write(chunk)) stream.pause();
  });
  ex.responseBody.on('drain', () => stream.resume());
  stream.on('end', () => {
    if (!responded || finished) return;
    if (trailers !== undefined) ex.endWithTrailers(trailers);
    else ex.end();
    finish({ status, completed: true });
  });
  stream.on('error', (e: Error) => {
    if (!responded) finish(connectError(e, target));
  });
  stream.on('close', () => {
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
    stream,
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

/** Sends `ex` as an HTTP/1.1 request to host:port through `agent` (keep-alive pool). */
export function forwardHttp1(
  agent: http.Agent,
  host: string,
  port: number,
  ex: Exchange,
  onResponseHead: ResponseHook,
  connectTimeoutMs: number,
): UpstreamCall {
  const target = `${host}:${port}`;
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
  const headers: http.OutgoingHttpHeaders = { ...ex.headers, host: ex.authority };
  const hasTrailers = ex.headers.te === 'trailers' || ex.headers['trailer'] !== undefined;
  if (!ex.bodyless && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
  const req = http.request({ agent, host, port, method: ex.method, path: ex.path, headers, setHost: false });
  req.on('socket', (socket) => {
    if (!socket.connecting) return;
    const d = sharedTimer.deadline(connectTimeoutMs, () => {
      if (socket.connecting) req.destroy(new ProxyError('CONNECT_TIMEOUT', `connect to ${target} timed out after ${connectTimeoutMs} ms`));
    });
    socket.once('connect', () => d.cancel());
    socket.once('close', () => d.cancel());
  });
  req.on('response', (res: http.IncomingMessage) => {
    status = res.statusCode ?? 502;
    responded = true;
    const out = endToEnd(res.headers);
    onResponseHead?.(out);
    const noBody = ex.method === 'HEAD' || status === 204 || status === 304;
    ex.respond(status, out, noBody && !hasTrailers);
    res.on('data', (chunk: Buffer) => {
      if (!ex.responseBody.write(chunk)) res.pause();
    });
    ex.responseBody.on('drain', () => res.resume());
    res.on('end', () => {
      const t = res.trailers;
      if (t && Object.keys(t).length > 0) ex.endWithTrailers(endToEnd(t));
      else if (!(noBody && !hasTrailers)) ex.end();
      finish({ status, completed: true });
    });
    res.on('error', () => {});
    res.on('aborted', () => {
      ex.fail(new ProxyError('UPSTREAM_RESET', `${target} closed the connection mid-response`), target);
      finish({ status, completed: false });
    });
  });
  req.on('error', (e: Error) => {
    if (!responded) finish(connectError(e, target));
    else if (!finished) {
      ex.fail(new ProxyError('UPSTREAM_RESET', `${target} failed mid-response`), target);
      finish({ status, completed: false });
    }
  });
  if (ex.bodyless) req.end();
  else {
    ex.body.on('data', (chunk: Buffer) => {
      if (!req.write(chunk)) ex.body.pause();
    });
    req.on('drain', () => ex.body.resume());
    ex.body.on('end', () => {
      const t = ex.requestTrailers();
      if (t && headers['content-length'] === undefined) req.addTrailers(t as Record<string, string>);
      req.end();
    });
  }
  return {
    done,
    get responded() {
      return responded;
    },
    abort(error: ProxyError) {
      req.destroy();
      if (!finished) {
        if (responded) {
          ex.fail(error, target);
          finish({ status, completed: false });
        } else finish(error);
      }
    },
  };
}
