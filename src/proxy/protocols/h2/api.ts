// The contract of weft's own HTTP/2 codec (src/proxy/protocols/h2/): the types the proxy's bridges
// code against, kept apart from the implementation so both sides can change independently. The codec
// speaks standard HTTP/2 (RFC 9113, HPACK RFC 7541) over any Duplex (a TLS socket between proxies, a
// plain TCP socket for h2c) without node's http2 module: streams are plain objects with callbacks, no
// Readable/Writable per stream, and every frame a session writes in one event-loop turn leaves in one
// socket write (one TLS record train instead of one per frame).
//
// Header lists are flat arrays: [name0, value0, name1, value1, ...], names in lower case, pseudo-headers
// (":method", ":scheme", ":authority", ":path", ":status") first. The codec validates what it receives
// (RFC 9113 §8.2–8.3) and never hands an invalid head to its user.

/** HTTP/2 error codes (RFC 9113 §7). */
export const H2_NO_ERROR = 0x0;
export const H2_PROTOCOL_ERROR = 0x1;
export const H2_INTERNAL_ERROR = 0x2;
export const H2_FLOW_CONTROL_ERROR = 0x3;
export const H2_SETTINGS_TIMEOUT = 0x4;
export const H2_STREAM_CLOSED = 0x5;
export const H2_FRAME_SIZE_ERROR = 0x6;
export const H2_REFUSED_STREAM = 0x7;
export const H2_CANCEL = 0x8;
export const H2_COMPRESSION_ERROR = 0x9;
export const H2_CONNECT_ERROR = 0xa;
export const H2_ENHANCE_YOUR_CALM = 0xb;
export const H2_INADEQUATE_SECURITY = 0xc;
export const H2_HTTP_1_1_REQUIRED = 0xd;

/** Flat header list: [name0, value0, name1, value1, ...]; names lower case, pseudo-headers first. */
export type H2HeaderList = string[];

/** Settings and limits of one session (ours: what we advertise and enforce). All have defaults. */
export interface H2SessionOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise; streams beyond it are refused (REFUSED_STREAM). Default 1000. */
  maxConcurrentStreams?: number;
  /**
   * SETTINGS_INITIAL_WINDOW_SIZE we advertise (per-stream receive window). Default 256 KiB. The
   * connection window is credited as DATA reaches a stream, so what owners may hold unconsumed is
   * bounded by maxConcurrentStreams × initialWindowSize.
   */
  initialWindowSize?: number;
  /** Connection-level receive window (raised with WINDOW_UPDATE on stream 0 after the preface). Default 16 MiB. */
  connectionWindowSize?: number;
  /** SETTINGS_MAX_FRAME_SIZE we advertise. Default 16384 (we send frames of at most the peer's value). */
  maxFrameSize?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce on decoded header blocks (bytes per RFC 9113 §6.5.2). Default 65536. */
  maxHeaderListSize?: number;
  /** SETTINGS_HEADER_TABLE_SIZE we advertise (the peer encoder's dynamic table). Default 4096. */
  headerTableSize?: number;
  /**
   * Rapid-reset guard (CVE-2023-44487, and CVE-2025-8671 "MadeYouReset"): streams the peer opens and
   * resets, that we must refuse, or that we reset for a stream error the peer caused, before we
   * answered them, per 10 s. Above it: GOAWAY(ENHANCE_YOUR_CALM, last processed stream), no new
   * streams, the open ones finish (30 s drain deadline); at twice the budget the session closes at once. Default 1000.
   */
  maxEarlyResetsPer10s?: number;
  /**
   * Control-frame flood guard: frames we must answer (PING, SETTINGS acks) or empty/zero-length
   * frames (DATA without payload and without END_STREAM, CONTINUATION without payload) per 10 s.
   * Above it: GOAWAY(ENHANCE_YOUR_CALM). Default 10000.
   */
  maxControlFramesPer10s?: number;
  /** Time to wait for the peer's SETTINGS (and for its ack of ours) before failing the session. Default 10000 ms. */
  settingsTimeoutMs?: number;
}

/**
 * One HTTP/2 stream as the proxy sees it. The owner sets the callbacks (any left null are ignored)
 * right after `request()` (client) or inside `onStream` (server); the codec calls them synchronously
 * while it parses input, in wire order: onHeaders (client: the response head, informational heads
 * included) → onData* → onTrailers? ; the stream ends with the END_STREAM flag of the last of them.
 * `onClose` fires exactly once, when the stream is fully closed (both sides ended) or reset.
 * Callbacks are called as methods of the stream (`this` is the stream), so an owner can share one
 * function across all its streams and find its per-request state in `context` (no closure per stream).
 */
export interface H2Stream {
  readonly id: number;
  /** Free slot for the owner (e.g. its per-request state). */
  context: unknown;

  /** Client: a response head (status 1xx may come first, then the final one). Server: unused. */
  onHeaders: ((this: H2Stream, headers: H2HeaderList, endStream: boolean) => void) | null;
  /**
   * Body bytes (possibly an empty chunk when only END_STREAM arrived). The chunk is a view into a
   * buffer the codec never reuses or overwrites (a socket read, or a fresh join of reads split across
   * a frame), so it may be kept past the callback without copying — as long as whoever hands the codec
   * its input (the socket, or the `initial` bytes of serveH2) does not rewrite it either. The receive
   * window of this stream is only re-opened when the owner calls `consume(n)` (the connection window
   * is re-opened on delivery).
   */
  onData: ((this: H2Stream, chunk: Buffer, endStream: boolean) => void) | null;
  /** Trailers (a HEADERS frame after the body); always ends the remote side. */
  onTrailers: ((this: H2Stream, trailers: H2HeaderList) => void) | null;
  /** After sendData returned false: the stream may send again (window opened, socket drained). */
  onWritable: ((this: H2Stream) => void) | null;
  /**
   * Exactly once, when the stream is gone. `code` is null for a normal close (both sides ended),
   * else the RST_STREAM / GOAWAY error code; `error` describes a session failure (socket error,
   * protocol error, GOAWAY that did not include this stream, settings timeout).
   */
  onClose: ((this: H2Stream, code: number | null, error: Error | undefined) => void) | null;

  /** Sends a head: client — never (request() sent it); server — the response (1xx allowed before the final one). */
  sendHeaders(headers: H2HeaderList, endStream: boolean): void;
  /**
   * Queues body bytes (split into frames of the peer's max frame size, within flow-control windows).
   * Always accepts the chunk; returns false when the stream's or connection's send window is spent
   * or the socket is backed up: then wait for onWritable before sending more.
   */
  sendData(chunk: Buffer, endStream: boolean): boolean;
  /** Ends our side with trailers (HEADERS + END_STREAM), after any queued data. */
  sendTrailers(trailers: H2HeaderList): void;
  /** Ends our side without more data (empty DATA + END_STREAM, coalesced with queued data when possible). */
  end(): void;
  /** Resets the stream (RST_STREAM with `code`); onClose follows with that code. Idempotent. */
  reset(code: number): void;
  /** Tells the codec the owner has passed on `bytes` of received DATA: it re-opens this stream's receive window (batched WINDOW_UPDATEs). */
  consume(bytes: number): void;
  /** True after onClose. */
  readonly closed: boolean;
  /** True once our side ended (END_STREAM sent or queued). */
  readonly localEnded: boolean;
  /** True once the remote side ended. */
  readonly remoteEnded: boolean;
}

/** What both session roles share. */
export interface H2Session {
  /** True once the peer's SETTINGS arrived (client: streams opened before are queued until then). */
  readonly ready: boolean;
  /** Streams open now (ours and the peer's). */
  readonly activeStreams: number;
  /** True after GOAWAY (sent or received) or close: no new streams. */
  readonly draining: boolean;
  readonly closed: boolean;
  /** The socket underneath (for remoteAddress, TLS peer certificate). */
  readonly socket: import('node:stream').Duplex;
  /** Called once when the peer's first SETTINGS arrived. */
  onReady: (() => void) | null;
  /** Called once on GOAWAY from the peer (lastStreamId: streams above it were not processed). */
  onGoaway: ((code: number, lastStreamId: number) => void) | null;
  /** Called once when the session is gone (socket closed); error for abnormal ends. */
  onClose: ((error: Error | undefined) => void) | null;
  /** Graceful: GOAWAY(NO_ERROR), open streams finish, then the socket ends. */
  close(): void;
  /** Abrupt: every open stream gets onClose(code ?? CANCEL), GOAWAY(code) if possible, the socket is destroyed. */
  destroy(error?: Error, code?: number): void;
  /** Time (performance.now()) of the last frame read or written, for idle sweeps by the owner. */
  readonly lastActive: number;
  /** Time (performance.now()) of the last bytes read from the peer (liveness: writes do not count). */
  readonly lastRead: number;
  /** Sends a PING; the peer's ACK moves lastRead (owners probe a silent connection with it). */
  ping(): void;
}

export interface H2ClientSession extends H2Session {
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (Infinity until known). */
  readonly peerMaxConcurrentStreams: number;
  /**
   * Opens a stream and sends the request head. Throws H2SessionError (code 'H2_SESSION_DRAINING' or
   * 'H2_SESSION_CLOSED' or 'H2_STREAMS_EXHAUSTED') when no stream can be opened on this session.
   */
  request(headers: H2HeaderList, endStream: boolean): H2Stream;
}

/** The server side of a session: nothing beyond H2Session (streams arrive through the H2StreamHandler). */
export type H2ServerSession = H2Session;

/** Server: called for each new request stream with its validated head. */
export type H2StreamHandler = (stream: H2Stream, headers: H2HeaderList, endStream: boolean) => void;

// The implementation modules and what they export (this file stays the contract):
//   hpack.ts    — HpackEncoder { setMaxTableSize(n); encode(headers: H2HeaderList): Buffer;
//                   encodeInto(headers, target, position): end (room: HpackEncoder.maxEncodedLength(headers)) }
//                 HpackDecoder { constructor(maxTableSize = 4096); decode(block, out: H2HeaderList, maxListBytes, start?, end?): boolean }
//                   (false = the decoded list exceeded maxListBytes, counted per RFC 9113 §6.5.2 as
//                   name + value + 32 per field; the rest was not appended but the dynamic table stays
//                   in sync); malformed input throws HpackError (→ COMPRESSION_ERROR).
//   frames.ts   — frame types, flags, header (9 bytes) read/write helpers.
//   session.ts  — connectH2(socket, options?): H2ClientSession  (sends the preface and SETTINGS at once)
//                 serveH2(socket, onStream: H2StreamHandler, options?, initial?: Buffer): H2ServerSession
//                   (`initial`: bytes already read from the socket, e.g. by protocol detection; they
//                   start with the client preface)
//                 H2SessionError (a WeftError; codes H2_SESSION_DRAINING, H2_SESSION_CLOSED,
//                 H2_STREAMS_EXHAUSTED, H2_PROTOCOL, H2_GOAWAY, H2_SETTINGS_TIMEOUT, H2_SOCKET)
