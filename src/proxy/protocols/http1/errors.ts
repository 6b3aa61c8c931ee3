// Typed failures of the HTTP/1 engine: malformed messages from clients (with the status the server
// answers before closing), malformed responses from upstreams, and upstream connection failures.
// Each class has a stable `code`; the proxy core maps upstream failures to statuses in one place.
import { WeftError } from '../../../core/errors.ts';

/** Stable codes for messages that break RFC 9112 (or our limits). */
export const Http1Codes = {
  BAD_REQUEST_LINE: 'HTTP1_BAD_REQUEST_LINE',
  BAD_STATUS_LINE: 'HTTP1_BAD_STATUS_LINE',
  BAD_METHOD: 'HTTP1_BAD_METHOD',
  BAD_TARGET: 'HTTP1_BAD_TARGET',
  VERSION_NOT_SUPPORTED: 'HTTP1_VERSION_NOT_SUPPORTED',
  BAD_HEADER_NAME: 'HTTP1_BAD_HEADER_NAME',
  BAD_HEADER_VALUE: 'HTTP1_BAD_HEADER_VALUE',
  WHITESPACE_BEFORE_COLON: 'HTTP1_WHITESPACE_BEFORE_COLON',
  OBS_FOLD: 'HTTP1_OBS_FOLD',
  BARE_LF: 'HTTP1_BARE_LF',
  BARE_CR: 'HTTP1_BARE_CR',
  CL_TE_CONFLICT: 'HTTP1_CL_TE_CONFLICT',
  DUPLICATE_CONTENT_LENGTH: 'HTTP1_DUPLICATE_CONTENT_LENGTH',
  BAD_CONTENT_LENGTH: 'HTTP1_BAD_CONTENT_LENGTH',
  BAD_TRANSFER_ENCODING: 'HTTP1_BAD_TRANSFER_ENCODING',
  MISSING_HOST: 'HTTP1_MISSING_HOST',
  DUPLICATE_HOST: 'HTTP1_DUPLICATE_HOST',
  HEADERS_TOO_LARGE: 'HTTP1_HEADERS_TOO_LARGE',
  TOO_MANY_HEADERS: 'HTTP1_TOO_MANY_HEADERS',
  BAD_CHUNK: 'HTTP1_BAD_CHUNK',
  CHUNK_TOO_LARGE: 'HTTP1_CHUNK_TOO_LARGE',
  TRAILERS_TOO_LARGE: 'HTTP1_TRAILERS_TOO_LARGE',
  HEADER_TIMEOUT: 'HTTP1_HEADER_TIMEOUT',
  BODY_TRUNCATED: 'HTTP1_BODY_TRUNCATED',
} as const;

export type Http1Code = (typeof Http1Codes)[keyof typeof Http1Codes];

/**
 * A message that breaks the protocol. `status` is what a server answers (400, 408, 431, 505) before
 * closing the connection; for a malformed upstream response the proxy answers 502 instead.
 */
export class Http1ParseError extends WeftError {
  readonly status: number;
  constructor(code: Http1Code, message: string, status = 400) {
    super(code, message);
    this.status = status;
  }
}

/** Stable codes for upstream failures, reported to the caller of `forward()` / `Http1Pool`. */
export const UpstreamCodes = {
  CONNECT_REFUSED: 'UPSTREAM_CONNECT_REFUSED',
  CONNECT_TIMEOUT: 'UPSTREAM_CONNECT_TIMEOUT',
  CONNECT_FAILED: 'UPSTREAM_CONNECT_FAILED',
  IDENTITY_REJECTED: 'UPSTREAM_IDENTITY_REJECTED',
  POOL_EXHAUSTED: 'UPSTREAM_POOL_EXHAUSTED',
  RESET_BEFORE_RESPONSE: 'UPSTREAM_RESET_BEFORE_RESPONSE',
  RESET_AFTER_RESPONSE: 'UPSTREAM_RESET_AFTER_RESPONSE',
  RESPONSE_TIMEOUT: 'UPSTREAM_RESPONSE_TIMEOUT',
  BAD_RESPONSE: 'UPSTREAM_BAD_RESPONSE',
  POOL_CLOSED: 'UPSTREAM_POOL_CLOSED',
} as const;

export type UpstreamCode = (typeof UpstreamCodes)[keyof typeof UpstreamCodes];

/** Base class of every upstream failure; `retryable` is true when no request byte reached the upstream. */
export class UpstreamError extends WeftError {
  readonly retryable: boolean;
  constructor(code: UpstreamCode, message: string, options: { cause?: unknown; retryable?: boolean; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
    this.retryable = options.retryable ?? false;
  }
}

/** The upstream refused, or the TCP/TLS connection could not be made. Nothing was sent: safe to retry. */
export class UpstreamConnectError extends UpstreamError {}
/** The connection (TCP + TLS handshake) did not complete within the connect timeout. Safe to retry. */
export class UpstreamConnectTimeoutError extends UpstreamError {}
/** The pool is at its connection limit and its wait queue is full. Safe to retry elsewhere. */
export class UpstreamPoolExhaustedError extends UpstreamError {}
/** The upstream closed or reset the connection; `code` says whether the response head had arrived. */
export class UpstreamResetError extends UpstreamError {}
/** No complete response within the request timeout. */
export class UpstreamTimeoutError extends UpstreamError {}
/** The upstream sent bytes that are not a valid HTTP/1.1 response. */
export class UpstreamProtocolError extends UpstreamError {}
