// The one place where the HTTP/1 engine writes a response it generated itself: a short text body and
// a `weft-error: <CODE>; <reason>` header, so a failure explains itself instead of an opaque 5xx.
import type { Http1ServerConn } from './server.ts';

export interface ErrorResponse {
  /** HTTP status, e.g. 400, 431, 502, 503, 504. */
  readonly status: number;
  /** Stable code, e.g. HTTP1_CL_TE_CONFLICT, UPSTREAM_CONNECT_REFUSED, NO_HEALTHY_ENDPOINT. */
  readonly code: string;
  /** One line for humans, e.g. "no healthy endpoints for catalog.shop (3 ejected)". */
  readonly reason: string;
  /** Close the client connection after the response (always done for malformed requests). */
  readonly close?: boolean;
}

const REASONS: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  103: 'Early Hints',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  401: 'Unauthorized',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error';
}

/** Keeps a header value to one line of printable ASCII (reasons may quote client input). */
export function sanitizeHeaderValue(text: string, max = 300): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? clean.slice(0, max) : clean;
}

/**
 * Answers the current request on `conn` with a generated error. Does nothing if a response has
 * already started (the caller should then reset the connection: `conn.destroy()`).
 */
export function respondError(conn: Http1ServerConn, error: ErrorResponse): void {
  const reason = sanitizeHeaderValue(error.reason);
  const code = sanitizeHeaderValue(error.code, 64);
  const body = `${error.status} ${reasonPhrase(error.status)}: ${reason}\n`;
  conn.respond(
    error.status,
    [
      ['content-type', 'text/plain; charset=utf-8'],
      ['weft-error', `${code}; ${reason}`],
    ],
    Buffer.from(body, 'latin1'),
    error.close === true,
  );
}
