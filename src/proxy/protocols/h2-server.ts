// Server sessions of weft's own HTTP/2 codec as the proxy runs them: the settings and limits every
// downstream h2 connection gets (from the snapshot's limits, built once per snapshot), and
// `serveH2Exchanges`, which serves HTTP/2 from apps — h2c with prior knowledge, gRPC — on the
// outbound and upstream listeners and on a PERMISSIVE inbound port: one session per connection,
// each stream an Exchange (h2-exchange.ts) handed to the direction's stack. Peer proxies' mTLS h2 is
// served by inbound/h2.ts with the same settings. Loaded on the first h2 connection (idle RSS).
import type { Duplex } from 'node:stream';
import type { LimitsConfig } from '../runtime/snapshot.ts';
import type { Exchange } from './exchange.ts';
import { H2StreamExchange, parseRequestHead } from './h2-exchange.ts';
import type { H2HeaderList, H2ServerSession, H2SessionOptions, H2Stream } from './h2/api.ts';
import { serveH2 } from './h2/session.ts';

const sessionOptionsByLimits = new WeakMap<LimitsConfig, H2SessionOptions>();

/** Settings and limits of server sessions, from the snapshot's limits (built once per snapshot). */
export function serverSessionOptions(limits: LimitsConfig): H2SessionOptions {
  let o = sessionOptionsByLimits.get(limits);
  if (o === undefined) {
    o = {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderBytes,
      maxEarlyResetsPer10s: limits.maxResetsPer10s,
      // Stream windows: the session's default. Its connection window is credited on delivery, so what a
      // peer can make this proxy hold is bounded by maxConcurrentStreams × initialWindowSize.
    };
    sessionOptionsByLimits.set(limits, o);
  }
  return o;
}

/** The rest of a request body we will not forward is read and dropped (the stream then closes normally). */
export function dropRequestBody(stream: H2Stream): void {
  stream.onData = (chunk) => {
    if (chunk.length > 0) stream.consume(chunk.length);
  };
  stream.onTrailers = null;
}

/** The answer to CONNECT on a listener that does not tunnel. */
const CONNECT_REFUSED: H2HeaderList = [':status', '405', 'weft-error', 'BAD_REQUEST; CONNECT is not supported on this listener'];

export interface H2ExchangeServerOptions {
  /** Sessions open now (drain, close, idle sweep); the session leaves it when it closes. */
  readonly sessions: Set<H2ServerSession>;
  /** The proxy is draining: GOAWAY at once, streams already open finish. */
  readonly draining: boolean;
  /** Told about a refused CONNECT (metrics). */
  readonly onRefused?: (code: string) => void;
}

/**
 * Serves HTTP/2 from an app on `socket` (its bytes may wait in its buffer, unshifted by protocol
 * detection, with the socket paused): every stream but CONNECT becomes an Exchange for `handler`.
 */
export function serveH2Exchanges(socket: Duplex, options: H2SessionOptions, server: H2ExchangeServerOptions, handler: (ex: Exchange) => void): H2ServerSession {
  // HTTP/2 has no half-close: a FIN from the client ends the session.
  (socket as Duplex & { allowHalfOpen: boolean }).allowHalfOpen = false;
  const session: H2ServerSession = serveH2(
    socket,
    (stream, headers, endStream) => {
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i] !== ':method') continue;
        if (headers[i + 1] === 'CONNECT') {
          server.onRefused?.('BAD_REQUEST');
          stream.sendHeaders(CONNECT_REFUSED, true);
          if (!endStream) dropRequestBody(stream);
          return;
        }
        break;
      }
      handler(new H2StreamExchange(session, stream, parseRequestHead(headers), endStream));
    },
    options,
  );
  server.sessions.add(session);
  session.onClose = () => server.sessions.delete(session);
  if (server.draining) session.close();
  // Detection may have left the socket paused. The session attaches its reader on the next tick (a
  // direct-read socket) or now ('data'); resuming after that, never before, loses no byte.
  process.nextTick(() => {
    if (!socket.destroyed) socket.resume();
  });
  return session;
}
