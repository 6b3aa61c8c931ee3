// The HTTP/1 → HTTP/2 bridge of the outbound fast path: one request of the HTTP/1 engine (message mode:
// decoded body and trailers) goes straight onto a stream of weft's own HTTP/2 codec, and the stream's
// response back onto the client connection — no Exchange, no Readable, no header objects. The request
// head becomes a flat header list (hop-by-hop fields and those named in Connection dropped, Host →
// :authority, `te: trailers` kept, route edits applied, extra mesh fields added); the body goes out as
// DATA with back-pressure (the client connection pauses while the stream cannot send); trailers as a
// trailing HEADERS frame. The response head is written with Content-Length when the upstream declared
// one (else chunked, or close-delimited for HTTP/1.0), DATA is re-opened on the stream only once the
// client socket took the bytes, trailers become chunked trailers.
//
// One H2Bridge per client connection (an HTTP/1 connection carries one exchange at a time), reused
// for each of its requests: its stream callbacks are created once, not per request. Policy (retry,
// passive health, metrics, the error mapping) stays with the caller through an H2BridgePlan.
import type net from 'node:net';
import type { Http1ServerConn, ExchangeHooks } from './http1/server.ts';
import type { Http1Head } from './http1/parser.ts';
import { K_HOST, K_TE, K_TRANSFER_ENCODING, K_EXPECT, isHopByHop } from './http1/parser.ts';
import { H2_CANCEL, H2_REFUSED_STREAM, type H2ClientSession, type H2HeaderList, type H2Stream } from './h2/api.ts';
import { ProxyError } from '../errors.ts';
import { HOP_BY_HOP } from './exchange.ts';
import { reasonPhrase } from './http1/error-response.ts';

/** Header edits for a flat list: names (lower case) to drop, then [name, value, ...] to append. */
export interface FlatHeaderEdits {
  readonly remove: readonly string[];
  readonly append: readonly string[];
}

/** How one bridged exchange (or one attempt of it) ended. */
export interface BridgeOutcome {
  /** Final status sent to the client (0 if none). */
  readonly status: number;
  readonly error: ProxyError | null;
  readonly completed: boolean;
}

/** Compiled once per (route, cluster): edits, deadline and the caller's policy hooks. */
export interface H2BridgePlan {
  readonly requestEdits: FlatHeaderEdits;
  readonly responseEdits: FlatHeaderEdits | null;
  /** Whole exchange must finish within this (0 = no limit), else REQUEST_TIMEOUT. */
  readonly requestTimeoutMs: number;
  /** Called once per attempt when it ends, however it ends (before onError for a failed one). */
  onDone(conn: Http1ServerConn, outcome: BridgeOutcome): void;
  /**
   * A failure before any response byte went to the client. `retryable`: nothing of the request was
   * processed upstream and nothing of its body consumed from the client (connect failure, stream
   * refused) — the caller may start another attempt with `bridge.open` on another session.
   */
  onError(conn: Http1ServerConn, error: ProxyError, retryable: boolean): void;
}

/** Names a proxy never forwards besides the hop-by-hop kinds the parser marks (RFC 9113 §8.2.2). */
const ALWAYS_DROPPED = ['http2-settings', 'proxy-authorization'];

/** Compiles a route's header edit config (set replaces, add appends, remove drops) for flat lists. */
export function compileFlatEdits(edit: { set: readonly (readonly [string, string])[]; add: readonly (readonly [string, string])[]; remove: readonly string[] } | undefined, alsoRemove: readonly string[] = []): FlatHeaderEdits {
  const remove = new Set<string>(alsoRemove);
  const append: string[] = [];
  if (edit !== undefined) {
    for (const n of edit.remove) remove.add(n.toLowerCase());
    for (const [n, v] of edit.set) {
      remove.add(n.toLowerCase());
      append.push(n.toLowerCase(), v);
    }
    for (const [n, v] of edit.add) append.push(n.toLowerCase(), v);
  }
  return { remove: [...remove], append };
}

function removed(names: readonly string[], name: string): boolean {
  for (let k = 0; k < names.length; k++) if (names[k] === name) return true;
  return false;
}

/**
 * The HTTP/2 request head for an engine request: pseudo-headers, the end-to-end fields of `head`, the
 * route's edits, then `extra` ([name, value, ...], e.g. weft-dst-port). `Expect` is not forwarded:
 * the engine answers 100-continue itself once the body is read.
 */
export function requestHeaderList(head: Http1Head, authority: string, path: string, edits: FlatHeaderEdits, extra: readonly string[]): H2HeaderList {
  const out: H2HeaderList = [':method', head.method, ':scheme', 'http', ':authority', authority, ':path', path];
  const kinds = head.kinds;
  const remove = edits.remove;
  for (let i = 0; i < head.headerCount; i++) {
    const kind = kinds[i]!;
    if (kind === K_HOST || kind === K_TRANSFER_ENCODING || kind === K_EXPECT) continue;
    if (kind === K_TE) {
      if (/\btrailers\b/i.test(head.valueAt(i))) out.push('te', 'trailers');
      continue;
    }
    if (isHopByHop(kind)) continue;
    const name = head.lowerNameAt(i);
    if (removed(remove, name) || removed(ALWAYS_DROPPED, name)) continue;
    out.push(name, head.valueAt(i));
  }
  const append = edits.append;
  for (let k = 0; k < append.length; k++) out.push(append[k]!);
  for (let k = 0; k < extra.length; k++) out.push(extra[k]!);
  return out;
}

/** [name, value] pairs of a flat list without pseudo-headers, with `edits` applied (for the engine's writers). */
function pairsOf(list: H2HeaderList, edits: FlatHeaderEdits | null): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let lengthSeen = false;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    if (name.charCodeAt(0) === 0x3a) continue;
    if (edits !== null && removed(edits.remove, name)) continue;
    // Repeated content-length fields (the codec lets only identical ones through) go out once.
    if (name === 'content-length') {
      if (lengthSeen) continue;
      lengthSeen = true;
    }
    out.push([name, list[i + 1]!]);
  }
  if (edits !== null) for (let k = 0; k < edits.append.length; k += 2) out.push([edits.append[k]!, edits.append[k + 1]!]);
  return out;
}

function statusOf(list: H2HeaderList): number {
  for (let i = 0; i < list.length; i += 2) if (list[i] === ':status') return Number(list[i + 1]);
  return 0;
}

// Client sockets corked by a response head: uncorked together at the end of this event-loop iteration
// (one shared setImmediate) — its DATA frames come in the same TLS read or a later one of the same
// poll phase — so head and body leave in one write.
let corked: net.Socket[] = [];
const uncorkAll = (): void => {
  const list = corked;
  corked = [];
  for (let i = 0; i < list.length; i++) list[i]!.uncork();
};
function corkUntilTurnEnds(socket: net.Socket): void {
  socket.cork();
  if (corked.push(socket) === 1) setImmediate(uncorkAll);
}

// Bridges holding a response head (declared length) for its first body bytes: written alone at the
// end of this event-loop iteration (one shared setImmediate) if no DATA came by then — the DATA
// often sits in the next TLS read of the same poll phase.
let heldHeads: H2Bridge[] = [];
const flushHeldHeads = (): void => {
  const list = heldHeads;
  heldHeads = [];
  for (let i = 0; i < list.length; i++) list[i]!.flushHeldHead();
};

/**
 * The HTTP/1.1 head of a response whose length the upstream declared, for a keep-alive HTTP/1.1
 * client (the common case, written by the bridge itself so head and body leave in one write). The
 * codec validated the fields (RFC 9113 §8.2: no CR/LF/NUL, lower-case names, no connection-specific
 * fields), so they serialise as they are. Other responses go through the engine's writeHead.
 */
function declaredLengthHead(status: number, list: H2HeaderList, edits: FlatHeaderEdits | null, close: boolean): string {
  let s = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  let lengthSeen = false;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    if (name.charCodeAt(0) === 0x3a || (edits !== null && removed(edits.remove, name))) continue;
    if (name === 'content-length') {
      if (lengthSeen) continue; // repeated identical fields go out once
      lengthSeen = true;
    }
    s += `${name}: ${list[i + 1]!}\r\n`;
  }
  if (edits !== null) for (let k = 0; k < edits.append.length; k += 2) s += `${edits.append[k]!}: ${edits.append[k + 1]!}\r\n`;
  return close ? s + 'connection: close\r\n\r\n' : s + '\r\n';
}

// The last declared-length head serialised, and what it was made from: the next response with the same
// status and the same fields (equal strings, position by position; HPACK hands out the very same
// strings for indexed fields), the same edits and the same close flag is framed by the same bytes,
// with no string built. Shared by every bridge; the bytes are never written to (sockets may queue them).
let lastHeadBytes: Buffer | null = null;
let lastHeadStatus = 0;
let lastHeadList: H2HeaderList = [];
let lastHeadEdits: FlatHeaderEdits | null = null;
let lastHeadClose = false;

/** declaredLengthHead as latin1 bytes, reused while the response heads repeat. */
function declaredLengthHeadBytes(status: number, list: H2HeaderList, edits: FlatHeaderEdits | null, close: boolean): Buffer {
  if (lastHeadBytes !== null && status === lastHeadStatus && edits === lastHeadEdits && close === lastHeadClose && list.length === lastHeadList.length) {
    const last = lastHeadList;
    let same = true;
    for (let i = 0; i < list.length; i++) {
      if (list[i] !== last[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastHeadBytes;
  }
  const bytes = Buffer.from(declaredLengthHead(status, list, edits, close), 'latin1');
  lastHeadBytes = bytes;
  lastHeadStatus = status;
  lastHeadList = list;
  lastHeadEdits = edits;
  lastHeadClose = close;
  return bytes;
}

/** The value of content-length in a flat list, -1 when absent or not a plain number. */
function declaredLength(list: H2HeaderList): number {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] === 'content-length') {
      const v = list[i + 1]!;
      return /^\d{1,15}$/.test(v) ? Number(v) : -1;
    }
  }
  return -1;
}

/**
 * True when `request()` threw because the session takes no new stream (closed, draining, at the
 * peer's stream limit, or out of stream ids): nothing was sent. A session out of stream ids (2^30
 * streams) never frees one, so it is closed gracefully here and leaves its pool.
 */
export function refusedByCapacity(session: H2ClientSession, error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  if (code === 'H2_STREAMS_EXHAUSTED' && session.activeStreams < session.peerMaxConcurrentStreams && !session.draining) session.close();
  return code === 'H2_STREAMS_EXHAUSTED' || code === 'H2_SESSION_DRAINING' || code === 'H2_SESSION_CLOSED';
}

/** The client-side half of one HTTP/1 connection's bridged exchanges; see the module comment. */
export class H2Bridge implements ExchangeHooks {
  readonly raw = false;
  readonly conn: Http1ServerConn;
  plan: H2BridgePlan | null = null;
  /** The request head as an HTTP/2 header list (kept for another attempt). */
  headers: H2HeaderList | null = null;
  stream: H2Stream | null = null;
  /** Counts requests; a session that arrives for an older one is not used. */
  generation = 0;
  /** The current exchange is over (answered, failed or abandoned). */
  finished = true;
  bodyless = false;
  /** Some of the request body was taken from the client (no other attempt possible). */
  bodyStarted = false;
  /** The final response head went to the client. */
  responded = false;
  status = 0;
  /** Response bytes written to a client socket that was full: re-opened on the stream at its drain. */
  unconsumed = 0;
  requestTrailers: H2HeaderList | null = null;
  requestEnded = false;
  /** Where the current attempt goes, for error messages. */
  target = '';
  /** A serialised response head waiting for its first body bytes, at most until the end of this event-loop iteration (null = none; shared bytes, never written to). */
  heldHead: Buffer | null = null;
  /** Body bytes still due on a response this bridge frames itself (declared length); -1 = the engine frames it. */
  bodyLeft = -1;

  constructor(conn: Http1ServerConn) {
    this.conn = conn;
  }

  /** Starts a new exchange for the connection's current request (before the first attempt); false when the client is gone already. */
  start(plan: H2BridgePlan, headers: H2HeaderList): boolean {
    this.generation++;
    if (this.conn.closed) {
      this.finished = true;
      return false;
    }
    this.plan = plan;
    this.headers = headers;
    this.stream = null;
    this.finished = false;
    this.bodyless = this.conn.requestDone;
    this.bodyStarted = false;
    this.responded = false;
    this.status = 0;
    this.unconsumed = 0;
    this.requestTrailers = null;
    this.requestEnded = false;
    this.heldHead = null;
    this.bodyLeft = -1;
    this.conn.attach(this, false);
    if (plan.requestTimeoutMs > 0) this.conn.setDeadline(plan.requestTimeoutMs);
    return true;
  }

  /** Sends the request as a new stream on `session` (one attempt); `generation` as when it was asked for. */
  open(session: H2ClientSession, target: string, generation = this.generation): void {
    if (generation !== this.generation || this.finished || this.conn.closed) return;
    this.target = target;
    let stream: H2Stream;
    try {
      stream = session.request(this.headers!, this.bodyless);
    } catch (e) {
      // Draining / closed / out of streams: nothing was sent, another attempt may go elsewhere.
      const refused = refusedByCapacity(session, e);
      this.#attemptFailed(new ProxyError(refused ? 'UPSTREAM_RESET' : 'BAD_REQUEST', `${target} took no new stream: ${(e as Error).message}`, { cause: e }), refused);
      return;
    }
    this.stream = stream;
    stream.context = this;
    stream.onHeaders = this.onStreamHeaders;
    stream.onData = this.onStreamData;
    stream.onTrailers = this.onStreamTrailers;
    stream.onWritable = this.onStreamWritable;
    stream.onClose = this.onStreamClose;
    if (!this.bodyless) {
      this.bodyStarted = true;
      this.conn.startBody();
    }
  }

  /** The session for this attempt could not be had (connect / TLS failure): nothing was sent. */
  connectFailed(error: ProxyError, generation: number): void {
    if (generation !== this.generation || this.finished) return;
    this.#attemptFailed(error, true);
  }

  // ---- ExchangeHooks: the client side ------------------------------------------------------------

  onBodyData(buf: Buffer, start: number, end: number): void {
    const stream = this.stream;
    if (stream === null || end <= start) return;
    if (!stream.sendData(start === 0 && end === buf.length ? buf : buf.subarray(start, end), false)) this.conn.pauseBody();
  }

  onTrailers(trailers: Array<[string, string]>): void {
    // Connection-specific fields are malformed in HTTP/2 (RFC 9113 §8.2.2): the peer would reset the
    // stream. Dropped: the hop-by-hop set, names a `connection` trailer lists, pseudo-header names.
    let listed: string[] | null = null;
    for (const [k, v] of trailers) if (k.toLowerCase() === 'connection') (listed ??= []).push(...v.toLowerCase().split(',').map((n) => n.trim()));
    const list: H2HeaderList = [];
    for (const [k, v] of trailers) {
      const name = k.toLowerCase();
      if (name === 'content-length' || name.charCodeAt(0) === 58 /* ':' */ || HOP_BY_HOP.has(name) || (listed !== null && listed.includes(name))) continue;
      list.push(name, v);
    }
    this.requestTrailers = list;
  }

  onRequestBytes(): void {}

  onRequestEnd(): void {
    if (this.requestEnded) return;
    this.requestEnded = true;
    const stream = this.stream;
    if (stream === null || this.bodyless || stream.closed) return;
    const t = this.requestTrailers;
    if (t !== null && t.length > 0) stream.sendTrailers(t);
    else stream.end();
  }

  onClientGone(_error: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.#detach(true);
    this.#done(false, null);
  }

  onClientDrain(): void {
    const n = this.unconsumed;
    if (n > 0 && this.stream !== null) {
      this.unconsumed = 0;
      this.stream.consume(n);
    }
  }

  onTimeout(): void {
    if (this.finished) return;
    const plan = this.plan!;
    this.#failAfterAttempt(new ProxyError('REQUEST_TIMEOUT', `${this.target} did not answer within ${plan.requestTimeoutMs} ms`));
  }

  // ---- stream callbacks (created once per connection) ----------------------------------------------

  readonly onStreamHeaders = (headers: H2HeaderList, endStream: boolean): void => {
    if (this.finished) return;
    const status = statusOf(headers);
    const conn = this.conn;
    if (status < 200) {
      // 100 Continue was answered by the engine when the body was first read; others (103) are relayed.
      if (status !== 100 && status !== 101 && !conn.responseStarted) conn.writeHead(status, pairsOf(headers, null));
      return;
    }
    this.status = status;
    this.responded = true;
    if (!endStream && conn.head.versionMinor === 1 && conn.requestDone && conn.head.method !== 'HEAD' && status !== 204 && status !== 304) {
      const length = declaredLength(headers);
      if (length > 0) {
        // Framed here: the head waits for the body bytes of this read, and both leave in one write.
        if (conn.server.draining) conn.keepAlive = false;
        this.heldHead = declaredLengthHeadBytes(status, headers, this.plan!.responseEdits, !conn.keepAlive);
        this.bodyLeft = length;
        if (heldHeads.push(this) === 1) setImmediate(flushHeldHeads);
        return;
      }
    }
    const pairs = pairsOf(headers, this.plan!.responseEdits);
    if (endStream) {
      conn.writeHead(status, pairs);
      this.#complete(null);
      return;
    }
    corkUntilTurnEnds(conn.socket);
    conn.writeHead(status, pairs);
  };

  /** Writes a held head alone (no DATA came in the read that carried it). */
  flushHeldHead(): void {
    const head = this.heldHead;
    if (head === null || this.finished) return;
    this.heldHead = null;
    this.conn.writeRaw(head);
  }

  /** Body bytes of a response framed here (declared length): the held head goes with the first ones. */
  #writeFramed(chunk: Buffer): boolean {
    const conn = this.conn;
    this.bodyLeft -= chunk.length;
    const head = this.heldHead;
    // The codec never reuses the buffer under its chunks (api.ts onData): the socket may keep it as is.
    if (head === null) return conn.writeRaw(chunk);
    this.heldHead = null;
    const out = Buffer.allocUnsafe(head.length + chunk.length);
    out.set(head, 0);
    out.set(chunk, head.length);
    return conn.writeRaw(out);
  }

  readonly onStreamData = (chunk: Buffer, endStream: boolean): void => {
    if (this.finished) return;
    const n = chunk.length;
    if (n > 0) {
      // The codec never reuses the buffer under its chunks (api.ts onData): passed on without a copy.
      if (this.bodyLeft >= 0 ? this.#writeFramed(chunk) : this.conn.writeBody(chunk)) this.stream!.consume(n);
      else this.unconsumed += n;
    }
    if (endStream) this.#complete(null);
  };

  readonly onStreamTrailers = (trailers: H2HeaderList): void => {
    if (this.finished) return;
    this.#complete(pairsOf(trailers, null));
  };

  readonly onStreamWritable = (): void => {
    if (!this.finished) this.conn.resumeBody();
  };

  readonly onStreamClose = (code: number | null, error: Error | undefined): void => {
    if (this.finished) return;
    this.stream = null;
    this.#forgetUnwrittenHead();
    if (!this.responded) {
      // Refused (RST REFUSED_STREAM, or above a GOAWAY's last stream): the peer processed nothing.
      const refused = code === H2_REFUSED_STREAM || (error as { code?: string } | undefined)?.code === 'H2_GOAWAY';
      const what = error !== undefined ? `${this.target}: ${error.message}` : `${this.target} reset the stream (code ${code ?? 0}) before responding`;
      this.#attemptFailed(new ProxyError('UPSTREAM_RESET', what, { cause: error }), refused && !this.bodyStarted);
      return;
    }
    // Mid-response: the client can only learn it from a reset.
    this.finished = true;
    this.#done(false, new ProxyError('UPSTREAM_RESET', `${this.target} reset the stream mid-response`, { cause: error }));
    this.conn.destroy(error ?? new Error('upstream stream reset'));
  };

  // ---- endings -----------------------------------------------------------------------------------

  /** The response is complete: bookkeeping first (the engine may start the next request at once). */
  #complete(trailers: Array<[string, string]> | null): void {
    this.finished = true;
    this.#detach(false);
    if (this.bodyLeft >= 0) {
      if (this.heldHead !== null || this.bodyLeft !== 0) {
        // Fewer (or more) bytes than the upstream declared: the client can only learn it from a reset.
        this.#done(false, new ProxyError('UPSTREAM_PROTOCOL_ERROR', `${this.target} sent a body that does not match its content-length`));
        this.conn.destroy(new Error('response body length mismatch'));
        return;
      }
    }
    this.#done(true, null);
    // A response framed here is complete on the wire: the engine only needs to know it ended.
    if (this.bodyLeft >= 0) this.conn.responseEnd();
    else this.conn.endResponse(trailers);
  }

  /** Lets go of the stream: its callbacks can no longer reach this bridge (reused by the next request). */
  #detach(cancel: boolean): void {
    const stream = this.stream;
    this.stream = null;
    if (stream === null) return;
    // Bytes still waiting for the client socket to drain: the exchange is over, give the window back now.
    if (this.unconsumed > 0) {
      stream.consume(this.unconsumed);
      this.unconsumed = 0;
    }
    stream.onHeaders = null;
    stream.onData = null;
    stream.onTrailers = null;
    stream.onWritable = null;
    stream.onClose = null;
    stream.context = null;
    // Unfinished on either side (client gone, timeout, early response to an unsent body): cancel it.
    if (!stream.closed && (cancel || !stream.localEnded || !stream.remoteEnded)) stream.reset(H2_CANCEL);
  }

  #done(completed: boolean, error: ProxyError | null): void {
    try {
      this.plan!.onDone(this.conn, { status: this.responded ? this.status : 0, error, completed });
    } catch {
      // Metrics or health bookkeeping failed; the exchange itself is over.
    }
  }

  /** An attempt failed before the response head: the plan answers (or starts another attempt). */
  #attemptFailed(error: ProxyError, retryable: boolean): void {
    this.stream = null;
    this.#done(false, error);
    this.plan!.onError(this.conn, error, retryable && !this.conn.closed);
  }

  /** A failure that ends the exchange whatever state the attempt is in (timeout). */
  #failAfterAttempt(error: ProxyError): void {
    this.finished = true;
    this.#detach(true);
    this.#forgetUnwrittenHead();
    if (!this.responded) {
      this.#done(false, error);
      this.plan!.onError(this.conn, error, false);
    } else {
      this.#done(false, error);
      this.conn.destroy(error);
    }
  }

  /**
   * A response head still held for its body never reached the client: the failure can be answered
   * with an error response instead of a reset connection.
   */
  #forgetUnwrittenHead(): void {
    if (this.heldHead === null) return;
    this.heldHead = null;
    this.bodyLeft = -1;
    this.responded = false;
  }

  /** Marks the exchange over after the plan answered a failure itself. */
  abandon(): void {
    this.finished = true;
    this.#detach(true);
  }
}

export { declaredLengthHead as declaredLengthHeadForTest, declaredLengthHeadBytes as declaredLengthHeadBytesForTest, pairsOf as pairsOfForTest };
