// Exchange: one HTTP request/response as the proxy layers see it, whatever the downstream protocol.
// Two adapters — streams of weft's own HTTP/2 codec (h2 from peer proxies and h2c from apps,
// h2-exchange.ts) and HTTP/1 engine requests (http1-exchange.ts) — expose the same request fields,
// body stream, trailers and response methods, so the layers and upstream forwarders are written once.
import type { IncomingHttpHeaders } from 'node:http';
import type http2 from 'node:http2';
import type { Readable } from 'node:stream';

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
