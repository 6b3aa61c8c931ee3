// HTTP/2 sessions of weft's own codec (RFC 9113): the connection state machine for both roles — preface,
// SETTINGS, stream lifecycle, flow control in both directions, header validation, GOAWAY, and the limits
// that keep a hostile peer bounded (concurrency, header size, CONTINUATION and control-frame floods,
// rapid reset, settings timeout). Every frame a session produces in one event-loop turn leaves in one
// socket write (a single shared setImmediate flushes every session with pending output).
import type { Duplex } from 'node:stream';
import { readsDirectly, setSink } from '../socket-reads.ts';
import { WeftError } from '../../../core/errors.ts';
import { sharedTimer } from '../../../core/coarse-timer.ts';
import type { Deadline } from '../../../core/coarse-timer.ts';
import { HpackDecoder, HpackEncoder } from './hpack.ts';
import {
  H2_CANCEL,
  H2_ENHANCE_YOUR_CALM,
  H2_FLOW_CONTROL_ERROR,
  H2_FRAME_SIZE_ERROR,
  H2_INTERNAL_ERROR,
  H2_NO_ERROR,
  H2_PROTOCOL_ERROR,
  H2_REFUSED_STREAM,
  H2_SETTINGS_TIMEOUT,
  H2_STREAM_CLOSED,
} from './api.ts';
import type { H2ClientSession, H2HeaderList, H2ServerSession, H2SessionOptions, H2Stream, H2StreamHandler } from './api.ts';
import {
  CLIENT_PREFACE,
  DEFAULT_WINDOW,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  FRAME_CONTINUATION,
  FRAME_DATA,
  FRAME_GOAWAY,
  FRAME_HEADERS,
  FRAME_HEADER_LENGTH,
  FRAME_PING,
  FRAME_PRIORITY,
  FRAME_PUSH_PROMISE,
  FRAME_RST_STREAM,
  FRAME_SETTINGS,
  FRAME_WINDOW_UPDATE,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  MIN_MAX_FRAME_SIZE,
  SETTINGS_ACK_FRAME,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  SETTINGS_MAX_HEADER_LIST_SIZE,
  writeFrameHeader,
  goawayFrame,
  pingFrame,
  readFrameLength,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
} from './frames.ts';

export type H2SessionErrorCode =
  | 'H2_SESSION_DRAINING'
  | 'H2_SESSION_CLOSED'
  | 'H2_STREAMS_EXHAUSTED'
  | 'H2_PROTOCOL'
  | 'H2_GOAWAY'
  | 'H2_SETTINGS_TIMEOUT'
  | 'H2_SOCKET';

/** A failure of an HTTP/2 session or of opening a stream on it; `h2Code` is the RFC 9113 error code when one applies. */
export class H2SessionError extends WeftError {
  declare readonly code: H2SessionErrorCode;
  readonly h2Code: number | undefined;
  constructor(code: H2SessionErrorCode, message: string, options: { cause?: unknown; h2Code?: number } = {}) {
    super(code, message, options.cause === undefined ? {} : { cause: options.cause });
    this.h2Code = options.h2Code;
  }
}

/** Output beyond this (queued + in the socket) counts as backed up: sendData returns false, DATA waits. */
const WRITE_HIGH_WATER = 64 * 1024;
/** Output of one turn up to this size is joined into one buffer; above it, corked writes of the pieces. */
const CONCAT_LIMIT = 64 * 1024;
/** Output pieces up to this size are copied into a per-session chunk instead of queued as Buffers. */
const SMALL_OUTPUT = 1024;
/** Size of those chunks; a new one is allocated only when the current one is full. */
const OUTPUT_CHUNK_SIZE = 16 * 1024;
/**
 * Heads whose encoded size may reach this (HpackEncoder.maxEncodedLength) are encoded apart and
 * split into frames; smaller ones (all but huge heads) are encoded straight into the output chunk
 * behind their frame header — always one frame, as the peer's max frame size is at least 16 KiB.
 */
const INLINE_HEAD_LIMIT = 4 * 1024;
/**
 * Output (queued + in the socket) beyond which the session stops reading: a peer that sends requests
 * (or PINGs, SETTINGS…) and never reads cannot make us buffer their answers without bound.
 */
const INPUT_PAUSE_OUTPUT = 1024 * 1024;
/** Output in the socket beyond which the session is destroyed (ENHANCE_YOUR_CALM): nothing reads it. */
const OUTPUT_HARD_CAP = 16 * 1024 * 1024;
/** Counting window of the flood and rapid-reset guards. */
const GUARD_WINDOW_MS = 10_000;
/** Header block bytes beyond maxHeaderListSize that one block may carry before it is a flood. */
const HEADER_BLOCK_SLACK = 16 * 1024;
/** CONTINUATION frames one header block may have. */
const MAX_CONTINUATIONS = 128;
/** After a fatal GOAWAY, how long the peer gets to close before the socket is destroyed. */
const CLOSE_GRACE_MS = 2000;
/** Scratch payload of the PINGs we send (copied into each frame). */
const PING_PAYLOAD = Buffer.alloc(8);
/** After a GOAWAY for an exhausted reset budget, how long the streams already open get to finish. */
const CALM_DRAIN_MS = 30_000;

const UPPER_OR_INVALID_NAME = /[^a-z0-9!#$%&'*+\-.^_`|~]/;
/** Control characters other than HTAB (RFC 9110 §5.5), or leading/trailing whitespace. */
const INVALID_VALUE = /[\x00-\x08\x0a-\x1f\x7f]|^[ \t]|[ \t]$/;
const STATUS_PATTERN = /^[1-9][0-9][0-9]$/;
/** host[:port] (RFC 3986 reg-name, IPv4 or an IP literal in brackets), no userinfo: what :authority and host may hold. */
const AUTHORITY_PATTERN = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+;=%]+)(?::[0-9]{0,5})?$/;
const CONTENT_LENGTH_PATTERN = /^[0-9]{1,15}$/;

const KIND_REQUEST = 0;
const KIND_RESPONSE = 1;
const KIND_TRAILERS = 2;

interface ResolvedOptions {
  maxConcurrentStreams: number;
  initialWindowSize: number;
  connectionWindowSize: number;
  maxFrameSize: number;
  maxHeaderListSize: number;
  headerTableSize: number;
  maxEarlyResetsPer10s: number;
  maxControlFramesPer10s: number;
  settingsTimeoutMs: number;
}

function resolveOptions(o: H2SessionOptions | undefined): ResolvedOptions {
  const r: ResolvedOptions = {
    maxConcurrentStreams: o?.maxConcurrentStreams ?? 1000,
    initialWindowSize: o?.initialWindowSize ?? 256 << 10,
    connectionWindowSize: o?.connectionWindowSize ?? 16 << 20,
    maxFrameSize: o?.maxFrameSize ?? MIN_MAX_FRAME_SIZE,
    maxHeaderListSize: o?.maxHeaderListSize ?? 65536,
    headerTableSize: o?.headerTableSize ?? 4096,
    maxEarlyResetsPer10s: o?.maxEarlyResetsPer10s ?? 1000,
    maxControlFramesPer10s: o?.maxControlFramesPer10s ?? 10000,
    settingsTimeoutMs: o?.settingsTimeoutMs ?? 10000,
  };
  if (r.initialWindowSize < 0 || r.initialWindowSize > MAX_WINDOW) throw new RangeError('initialWindowSize out of range');
  if (r.connectionWindowSize < DEFAULT_WINDOW || r.connectionWindowSize > MAX_WINDOW) throw new RangeError('connectionWindowSize out of range');
  if (r.maxFrameSize < MIN_MAX_FRAME_SIZE || r.maxFrameSize > MAX_MAX_FRAME_SIZE) throw new RangeError('maxFrameSize out of range');
  return r;
}

/** How many list entries (names and values) of a session's last header lists validateHeaders remembers. */
const SEEN_ENTRIES = 64;

/** A session's memory of names and values already found valid, by list position (see validateHeaders). */
function newSeenList(): string[] {
  return new Array<string>(SEEN_ENTRIES).fill('');
}

/**
 * Checks a received header list (RFC 9113 §8.2–8.3). Returns the content-length it declares (-1 for
 * none) or -2 when the list is malformed. For requests, also notes CONNECT and HEAD.
 * `seen` (optional) holds names and values that passed the character checks before, by position in
 * the list: an equal string at the same position is not scanned again (a peer repeats its fields,
 * and HPACK hands out the very same strings for indexed ones). Validity depends only on the
 * characters, so the memory never changes a verdict.
 */
function validateHeaders(list: H2HeaderList, kind: number, seen: string[] | null = null): number {
  let contentLength = -1;
  let pseudoAllowed = kind !== KIND_TRAILERS;
  let method: string | undefined;
  let scheme = false;
  let path: string | undefined;
  let authority: string | undefined;
  let host: string | undefined;
  let status = false;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    const value = list[i + 1]!;
    if (name.length === 0) return -2;
    const remembered = seen !== null && i < SEEN_ENTRIES;
    if (!remembered || seen[i + 1] !== value) {
      if (INVALID_VALUE.test(value)) return -2;
      if (remembered) seen[i + 1] = value;
    }
    if (name.charCodeAt(0) === 58 /* : */) {
      if (!pseudoAllowed) return -2;
      if (kind === KIND_REQUEST) {
        if (name === ':method') {
          if (method !== undefined || value.length === 0) return -2;
          method = value;
        } else if (name === ':scheme') {
          if (scheme || value.length === 0) return -2;
          scheme = true;
        } else if (name === ':path') {
          if (path !== undefined || value.length === 0) return -2;
          path = value;
        } else if (name === ':authority') {
          if (authority !== undefined || !AUTHORITY_PATTERN.test(value)) return -2;
          authority = value;
        } else return -2;
      } else {
        // 101 Switching Protocols does not exist in HTTP/2 (RFC 9113 §8.6).
        if (name !== ':status' || status || !STATUS_PATTERN.test(value) || value === '101') return -2;
        status = true;
      }
      continue;
    }
    pseudoAllowed = false;
    if (!remembered || seen[i] !== name) {
      if (UPPER_OR_INVALID_NAME.test(name)) return -2;
      if (remembered) seen[i] = name;
    }
    switch (name.length) {
      case 2:
        if (name === 'te' && value !== 'trailers') return -2;
        break;
      case 4:
        // One host, a valid host[:port], the same as :authority when both are present (RFC 9113 §8.3.1).
        if (name === 'host' && kind === KIND_REQUEST) {
          if (host !== undefined || !AUTHORITY_PATTERN.test(value)) return -2;
          host = value;
        }
        break;
      case 7:
        if (name === 'upgrade') return -2;
        break;
      case 10:
        if (name === 'connection' || name === 'keep-alive') return -2;
        break;
      case 14:
        if (name === 'content-length') {
          if (!CONTENT_LENGTH_PATTERN.test(value)) return -2;
          const n = Number(value);
          if (contentLength !== -1 && contentLength !== n) return -2;
          contentLength = n;
        }
        break;
      case 16:
        if (name === 'proxy-connection') return -2;
        break;
      case 17:
        if (name === 'transfer-encoding') return -2;
        break;
    }
  }
  if (kind === KIND_REQUEST) {
    if (method === undefined) return -2;
    if (method === 'CONNECT') {
      if (scheme || path !== undefined || authority === undefined) return -2;
    } else {
      if (!scheme || path === undefined) return -2;
      // origin-form, or '*' for OPTIONS: never absolute-form or a relative path the HTTP/1 side would pass on.
      if (path.charCodeAt(0) !== 47 /* / */ && (path !== '*' || method !== 'OPTIONS')) return -2;
    }
    if (host !== undefined && authority !== undefined && host !== authority && host.toLowerCase() !== authority.toLowerCase()) return -2;
  } else if (kind === KIND_RESPONSE && !status) return -2;
  return contentLength;
}

// ---- the one flush per event-loop turn, shared by every session ----

let dirtySessions: SessionCore[] = [];
let spareDirty: SessionCore[] = [];
let flushScheduled = false;

function flushAllSessions(): void {
  flushScheduled = false;
  const list = dirtySessions;
  dirtySessions = spareDirty;
  spareDirty = list;
  for (let i = 0; i < list.length; i++) {
    const session = list[i]!;
    try {
      session.flush();
    } catch (error) {
      // One session's failure (an owner callback run from the flush) must not leave the others unflushed.
      session.failFromCallback(error);
    }
  }
  list.length = 0;
}

function scheduleFlush(session: SessionCore): void {
  dirtySessions.push(session);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAllSessions);
  }
}

const EMPTY = Buffer.alloc(0);

/** One stream; a plain object with callbacks (api.ts H2Stream). */
class Stream implements H2Stream {
  readonly id: number;
  context: unknown = undefined;
  onHeaders: ((this: H2Stream, headers: H2HeaderList, endStream: boolean) => void) | null = null;
  onData: ((this: H2Stream, chunk: Buffer, endStream: boolean) => void) | null = null;
  onTrailers: ((this: H2Stream, trailers: H2HeaderList) => void) | null = null;
  onWritable: ((this: H2Stream) => void) | null = null;
  onClose: ((this: H2Stream, code: number | null, error: Error | undefined) => void) | null = null;

  closed = false;
  localEnded = false;
  remoteEnded = false;

  /** @internal */ readonly session: SessionCore;
  /** @internal bytes we may still send on this stream */ sendWindow: number;
  /** @internal bytes the peer may still send on this stream */ recvWindow: number;
  /** @internal consumed bytes not yet returned with WINDOW_UPDATE */ unacked = 0;
  /** @internal DATA bytes delivered to the owner and not yet consumed (they hold connection window too) */ unconsumed = 0;
  /** @internal body chunks waiting for window */ queue: Buffer[] = [];
  /** @internal */ queueBytes = 0;
  /** @internal trailers to send once the queue is empty */ pendingTrailers: H2HeaderList | null = null;
  /** @internal END_STREAM has left (in the output list) */ endSent = false;
  /** @internal waits in the session's stalled list */ stalled = false;
  /** @internal sendData returned false */ wantWritable = false;
  /** @internal final head received (client) / request head received (server) */ headReceived = false;
  /** @internal content-length declared by the peer, -1 none */ expectedLength = -1;
  /** @internal DATA bytes received */ receivedLength = 0;
  /** @internal client: the request was HEAD (response has no body whatever content-length says) */ headRequest = false;
  /** @internal opened by the peer */ readonly remote: boolean;

  constructor(session: SessionCore, id: number, sendWindow: number, recvWindow: number, remote: boolean) {
    this.session = session;
    this.id = id;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
    this.remote = remote;
  }

  sendHeaders(headers: H2HeaderList, endStream: boolean): void {
    if (this.closed || this.localEnded) return;
    if (endStream) this.localEnded = true;
    this.session.writeHeaders(this, headers, endStream);
  }

  sendData(chunk: Buffer, endStream: boolean): boolean {
    if (this.closed || this.localEnded) return false;
    if (endStream) this.localEnded = true;
    // Nothing waiting before it: the chunk may go out as one frame without passing through the queue.
    if (chunk.length > 0 && this.queueBytes === 0 && !this.wantWritable) return this.session.sendChunk(this, chunk);
    if (chunk.length > 0) {
      this.queue.push(chunk);
      this.queueBytes += chunk.length;
    }
    return this.session.pump(this);
  }

  sendTrailers(trailers: H2HeaderList): void {
    if (this.closed || this.localEnded) return;
    this.localEnded = true;
    this.pendingTrailers = trailers;
    this.session.pump(this);
  }

  end(): void {
    if (this.closed || this.localEnded) return;
    this.localEnded = true;
    this.session.pump(this);
  }

  reset(code: number): void {
    if (this.closed) return;
    this.session.resetStream(this, code, undefined);
  }

  consume(bytes: number): void {
    if (this.closed || bytes <= 0) return;
    const n = bytes < this.unconsumed ? bytes : this.unconsumed;
    if (n === 0) return;
    this.unconsumed -= n;
    if (this.remoteEnded) return;
    this.unacked += n;
    if (this.unacked >= this.session.streamUpdateThreshold) {
      this.session.output(windowUpdateFrame(this.id, this.unacked));
      this.recvWindow += this.unacked;
      this.unacked = 0;
    }
  }
}

/**
 * A session's open streams by id: slot `(id >>> 1) & mask` of an array, at most half full. The ids one
 * side opens are consecutive odd (or even) numbers, so the live streams of a busy session sit in
 * consecutive slots and a lookup is one array load; a stream whose slot is taken (a long-lived stream
 * that later ids wrapped around to) goes to a small Map instead. Unlike a Map for all of them, streams
 * coming and going cost no hashing, rehashing or shrinking.
 */
class StreamTable {
  #slots: (Stream | undefined)[] = new Array<Stream | undefined>(64).fill(undefined);
  #mask = 63;
  /** Streams whose slot was taken when they were added. */
  #overflow: Map<number, Stream> | null = null;
  size = 0;

  get(id: number): Stream | undefined {
    const s = this.#slots[(id >>> 1) & this.#mask];
    if (s !== undefined && s.id === id) return s;
    return this.#overflow === null ? undefined : this.#overflow.get(id);
  }

  /** Adds a stream whose id is not in the table. */
  add(stream: Stream): void {
    if (++this.size * 2 > this.#slots.length) this.#grow();
    this.#place(stream);
  }

  delete(id: number): void {
    const slots = this.#slots;
    const i = (id >>> 1) & this.#mask;
    const s = slots[i];
    if (s !== undefined && s.id === id) {
      slots[i] = undefined;
      this.size--;
    } else if (this.#overflow !== null && this.#overflow.delete(id)) this.size--;
  }

  /** The open streams (a copy: callers may close streams while they walk it). */
  values(): Stream[] {
    const out: Stream[] = [];
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      if (s !== undefined) out.push(s);
    }
    if (this.#overflow !== null) for (const s of this.#overflow.values()) out.push(s);
    return out;
  }

  #place(stream: Stream): void {
    const i = (stream.id >>> 1) & this.#mask;
    if (this.#slots[i] === undefined) this.#slots[i] = stream;
    else (this.#overflow ??= new Map()).set(stream.id, stream);
  }

  #grow(): void {
    const all = this.values();
    this.#slots = new Array<Stream | undefined>(this.#slots.length * 2).fill(undefined);
    this.#mask = this.#slots.length - 1;
    this.#overflow = null;
    for (let i = 0; i < all.length; i++) this.#place(all[i]!);
  }
}

/** Both roles: reading, writing, settings, flow control, limits. */
class SessionCore {
  readonly socket: Duplex;
  readonly isClient: boolean;
  onReady: (() => void) | null = null;
  onGoaway: ((code: number, lastStreamId: number) => void) | null = null;
  onClose: ((error: Error | undefined) => void) | null = null;
  lastActive = performance.now();
  lastRead = this.lastActive;

  ready = false;
  draining = false;
  closed = false;
  activeStreams = 0;
  peerMaxConcurrentStreams = Infinity;

  protected readonly options: ResolvedOptions;
  protected readonly streams = new StreamTable();
  protected readonly onStream: H2StreamHandler | null;
  /** @internal */ readonly streamUpdateThreshold: number;

  // output
  #out: Buffer[] = [];
  #outBytes = 0;
  /** Where small output is copied: bytes [#chunkStart, #chunkPos) are this turn's, not yet on #out. */
  #chunk: Buffer = EMPTY;
  #chunkStart = 0;
  #chunkPos = 0;
  #dirty = false;
  #stalledStreams: Stream[] = [];

  // input
  /** Bytes of an incomplete frame (or preface), kept as received until enough arrived: no concat per read. */
  #pendingChunks: Buffer[] = [];
  #pendingBytes = 0;
  /** How many pending bytes the parser needs to make progress. */
  #pendingNeeded = 0;
  #awaitingPreface: boolean;
  /** Reading stopped because too much output waits (INPUT_PAUSE_OUTPUT); the unparsed rest is pending. */
  #inputPaused = false;
  #firstFrame = true;
  #lastStream: Stream | null = null;
  #headerStreamId = 0;
  #headerFlags = 0;
  #headerFragments: Buffer[] = [];
  #headerBytes = 0;
  #continuations = 0;
  /** Names and values of received header lists that passed validateHeaders' character checks. */
  readonly #seen = newSeenList();

  // settings and windows
  #encoder = new HpackEncoder();
  #decoder: HpackDecoder;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrameSize = MIN_MAX_FRAME_SIZE;
  #connSendWindow = DEFAULT_WINDOW;
  #connRecvWindow: number;
  #connUnacked = 0;
  #connCreditInFlight = 0;
  readonly #connUpdateThreshold: number;
  #settingsAcked = false;
  #settingsDeadline: Deadline | null;

  // stream ids
  #nextStreamId: number;
  #lastPeerStreamId = 0;
  #goawaySent = false;
  #goawayLastStreamId = MAX_WINDOW;
  /** The lowest last-stream-id of the GOAWAYs the peer sent (above any id: none yet). */
  #peerGoawayLastStreamId = MAX_WINDOW + 1;

  // guards
  #guardWindowStart = performance.now();
  #earlyResets = 0;
  #controlFrames = 0;

  #closeError: Error | undefined = undefined;
  #inputDead = false;
  #ended = false;
  #graceDeadline: Deadline | null = null;
  /** After the reset-budget GOAWAY: when the streams still open are cut off. */
  #calmDeadline: Deadline | null = null;

  constructor(socket: Duplex, isClient: boolean, options: H2SessionOptions | undefined, onStream: H2StreamHandler | null, initial: Buffer | undefined) {
    this.socket = socket;
    this.isClient = isClient;
    this.options = resolveOptions(options);
    this.onStream = onStream;
    this.streamUpdateThreshold = Math.max(1, this.options.initialWindowSize >>> 1);
    // Until the peer acknowledged our SETTINGS it may use the default 4096-byte table (RFC 9113 §6.5.3):
    // a smaller configured size applies from the ack on (#onSettings).
    this.#decoder = new HpackDecoder(Math.max(this.options.headerTableSize, 4096));
    this.#connRecvWindow = this.options.connectionWindowSize;
    this.#connUpdateThreshold = this.options.connectionWindowSize >>> 1;
    this.#nextStreamId = isClient ? 1 : 2;
    this.#awaitingPreface = !isClient;

    // A direct-read socket (the h2 link to a peer proxy, socket-reads.ts) hands each read straight over.
    // Not before the constructor returns: bytes already waiting (the peer's SETTINGS) would be parsed
    // before the owner set onReady/onGoaway — a 'data' listener, too, first delivers on a later tick.
    const onData = (chunk: Buffer): void => this.#onData(chunk);
    if (readsDirectly(socket)) process.nextTick(() => setSink(socket, onData));
    else socket.on('data', onData);
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (error: Error) => {
      this.#closeError ??= new H2SessionError('H2_SOCKET', `socket error: ${error.message}`, { cause: error });
    });
    socket.on('close', () => this.#onSocketClose());
    socket.on('end', () => {
      // The peer half-closed: nothing more can arrive, so nothing more can finish. Finish our side too
      // (draining first: a stream onClose that retries must not open a stream on this session).
      this.draining = true;
      if (!this.closed) this.#failAll(H2_CANCEL, new H2SessionError('H2_SOCKET', 'peer closed the connection'));
      socket.end();
    });

    const o = this.options;
    const settings: number[] = [SETTINGS_ENABLE_PUSH, 0, SETTINGS_MAX_CONCURRENT_STREAMS, o.maxConcurrentStreams, SETTINGS_INITIAL_WINDOW_SIZE, o.initialWindowSize, SETTINGS_MAX_HEADER_LIST_SIZE, o.maxHeaderListSize];
    if (o.maxFrameSize !== MIN_MAX_FRAME_SIZE) settings.push(SETTINGS_MAX_FRAME_SIZE, o.maxFrameSize);
    if (o.headerTableSize !== 4096) settings.push(SETTINGS_HEADER_TABLE_SIZE, o.headerTableSize);
    if (isClient) this.output(CLIENT_PREFACE);
    this.output(settingsFrame(settings));
    if (o.connectionWindowSize > DEFAULT_WINDOW) this.output(windowUpdateFrame(0, o.connectionWindowSize - DEFAULT_WINDOW));
    this.#settingsDeadline = sharedTimer.deadline(o.settingsTimeoutMs, () => {
      this.#settingsDeadline = null;
      if (!this.closed) this.#connectionError(H2_SETTINGS_TIMEOUT, 'the peer did not exchange SETTINGS in time', 'H2_SETTINGS_TIMEOUT');
    });
    if (initial !== undefined && initial.length > 0) this.#onData(initial);
  }

  // ---- output ----

  /** @internal Queues one encoded frame (or frame part) for this turn's write. */
  output(buffer: Buffer): void {
    if (this.#ended) return;
    const n = buffer.length;
    if (n <= SMALL_OUTPUT) {
      // Small pieces are copied into the turn's chunk: no Buffer object per frame reaches the socket.
      this.#room(n);
      this.#chunk.set(buffer, this.#chunkPos);
      this.#chunkPos += n;
    } else {
      this.#sealChunk();
      this.#out.push(buffer);
    }
    this.#outBytes += n;
    if (!this.#dirty) {
      this.#dirty = true;
      scheduleFlush(this);
    }
  }

  /** Queues a 9-byte frame header, written in place into the turn's chunk. */
  #outputFrameHeader(length: number, type: number, flags: number, streamId: number): void {
    if (this.#ended) return;
    this.#room(FRAME_HEADER_LENGTH);
    writeFrameHeader(this.#chunk, this.#chunkPos, length, type, flags, streamId);
    this.#chunkPos += FRAME_HEADER_LENGTH;
    this.#outBytes += FRAME_HEADER_LENGTH;
    if (!this.#dirty) {
      this.#dirty = true;
      scheduleFlush(this);
    }
  }

  /** Makes room for `n` bytes in the current chunk (a fresh one when full; handed-out bytes are never rewritten). */
  #room(n: number): void {
    if (this.#chunk.length - this.#chunkPos >= n) return;
    this.#sealChunk();
    this.#chunk = Buffer.allocUnsafeSlow(n > OUTPUT_CHUNK_SIZE ? n : OUTPUT_CHUNK_SIZE);
    this.#chunkStart = 0;
    this.#chunkPos = 0;
  }

  /** Moves the bytes written into the chunk since the last seal onto the output list. */
  #sealChunk(): void {
    if (this.#chunkPos === this.#chunkStart) return;
    this.#out.push(this.#chunk.subarray(this.#chunkStart, this.#chunkPos));
    this.#chunkStart = this.#chunkPos;
  }

  /** @internal Writes everything queued this turn in one go. */
  flush(): void {
    this.#dirty = false;
    this.#sealChunk();
    const out = this.#out;
    if (out.length === 0) return;
    const bytes = this.#outBytes;
    this.#out = [];
    this.#outBytes = 0;
    this.#connRecvWindow += this.#connCreditInFlight;
    this.#connCreditInFlight = 0;
    if (this.socket.destroyed) return;
    this.lastActive = performance.now();
    if (out.length === 1) this.socket.write(out[0]!);
    else if (bytes <= CONCAT_LIMIT) this.socket.write(Buffer.concat(out, bytes));
    else {
      this.socket.cork();
      for (let i = 0; i < out.length; i++) this.socket.write(out[i]!);
      this.socket.uncork();
    }
    if (this.socket.writableLength > OUTPUT_HARD_CAP) {
      this.destroy(new H2SessionError('H2_PROTOCOL', 'the peer does not read what the session writes'), H2_ENHANCE_YOUR_CALM);
      return;
    }
    if (this.#stalledStreams.length > 0 && !this.#backedUp()) this.#pumpStalled();
    if (this.draining && this.activeStreams === 0 && !this.closed) this.#finish();
  }

  #backedUp(): boolean {
    return this.#outBytes + this.socket.writableLength >= WRITE_HIGH_WATER;
  }

  #onDrain(): void {
    if (this.#inputPaused) this.#resumeInput();
    if (this.#stalledStreams.length > 0 && !this.#backedUp()) this.#pumpStalled();
  }

  /** Reads again after the output drained: parses what was left pending, then lets the socket flow. */
  #resumeInput(): void {
    this.#inputPaused = false;
    if (this.#inputDead) return;
    if (this.#pendingBytes > 0) {
      const chunks = this.#pendingChunks;
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#pendingBytes);
      this.#pendingChunks = [];
      this.#pendingBytes = 0;
      this.#onData(buf);
    }
    if (!this.#inputPaused && !this.#inputDead) this.socket.resume();
  }

  #pumpStalled(): void {
    const list = this.#stalledStreams;
    this.#stalledStreams = [];
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      s.stalled = false;
      if (!s.closed) this.pump(s);
    }
  }

  #stall(stream: Stream): void {
    if (!stream.stalled) {
      stream.stalled = true;
      this.#stalledStreams.push(stream);
    }
  }

  /** @internal Encodes and queues a head (HEADERS + CONTINUATIONs). */
  writeHeaders(stream: Stream, headers: H2HeaderList, endStream: boolean): void {
    this.#writeHead(stream.id, headers, endStream ? FLAG_END_STREAM : 0);
    if (endStream) this.#endSent(stream);
  }

  /** Encodes a head and queues it: in place in the output chunk (no block buffer, no copy) unless it may be huge. */
  #writeHead(streamId: number, headers: H2HeaderList, flags: number): void {
    if (this.#ended) return; // nothing more leaves: the encoder's table no longer matters
    const worst = HpackEncoder.maxEncodedLength(headers);
    if (worst >= INLINE_HEAD_LIMIT) {
      this.#writeHeaderBlock(streamId, this.#encoder.encode(headers), flags);
      return;
    }
    this.#room(FRAME_HEADER_LENGTH + worst);
    const at = this.#chunkPos;
    const end = this.#encoder.encodeInto(headers, this.#chunk, at + FRAME_HEADER_LENGTH);
    writeFrameHeader(this.#chunk, at, end - at - FRAME_HEADER_LENGTH, FRAME_HEADERS, flags | FLAG_END_HEADERS, streamId);
    this.#chunkPos = end;
    this.#outBytes += end - at;
    if (!this.#dirty) {
      this.#dirty = true;
      scheduleFlush(this);
    }
  }

  #writeHeaderBlock(streamId: number, block: Buffer, flags: number): void {
    const max = this.#peerMaxFrameSize;
    if (block.length <= max) {
      this.#outputFrameHeader(block.length, FRAME_HEADERS, flags | FLAG_END_HEADERS, streamId);
      this.output(block);
      return;
    }
    let offset = 0;
    let type = FRAME_HEADERS;
    while (offset < block.length) {
      const n = Math.min(max, block.length - offset);
      const last = offset + n === block.length;
      this.#outputFrameHeader(n, type, (type === FRAME_HEADERS ? flags : 0) | (last ? FLAG_END_HEADERS : 0), streamId);
      this.output(block.subarray(offset, offset + n));
      offset += n;
      type = FRAME_CONTINUATION;
    }
  }

  /**
   * @internal Moves queued body bytes of `stream` into DATA frames as far as windows and the socket
   * allow, then trailers / END_STREAM. Returns what sendData returns: true when the caller may go on.
   */
  pump(stream: Stream): boolean {
    if (stream.endSent) return false;
    const queue = stream.queue;
    while (stream.queueBytes > 0) {
      if (this.#backedUp() || this.#connSendWindow <= 0) {
        this.#stall(stream);
        stream.wantWritable = true;
        return false;
      }
      if (stream.sendWindow <= 0) {
        stream.wantWritable = true;
        return false;
      }
      const chunk = queue[0]!;
      let n = chunk.length;
      if (n > stream.sendWindow) n = stream.sendWindow;
      if (n > this.#connSendWindow) n = this.#connSendWindow;
      if (n > this.#peerMaxFrameSize) n = this.#peerMaxFrameSize;
      const lastPiece = n === stream.queueBytes;
      const flags = lastPiece && stream.localEnded && stream.pendingTrailers === null ? FLAG_END_STREAM : 0;
      this.#outputFrameHeader(n, FRAME_DATA, flags, stream.id);
      if (n === chunk.length) {
        this.output(chunk);
        queue.shift();
      } else {
        this.output(chunk.subarray(0, n));
        queue[0] = chunk.subarray(n);
      }
      stream.queueBytes -= n;
      stream.sendWindow -= n;
      this.#connSendWindow -= n;
      if (flags !== 0) {
        this.#endSent(stream);
        return false;
      }
    }
    if (stream.localEnded) {
      const trailers = stream.pendingTrailers;
      if (trailers !== null) {
        stream.pendingTrailers = null;
        this.#writeHead(stream.id, trailers, FLAG_END_STREAM);
      } else this.#outputFrameHeader(0, FRAME_DATA, FLAG_END_STREAM, stream.id);
      this.#endSent(stream);
      return false;
    }
    if (this.#parkIfBackedUp(stream)) return false;
    if (stream.wantWritable) {
      stream.wantWritable = false;
      if (stream.onWritable !== null) {
        try {
          stream.onWritable();
        } catch (error) {
          // Pumped from a flush or a socket 'drain' too, where nothing else would catch it.
          this.failFromCallback(error);
          return false;
        }
      }
    }
    return true;
  }

  /** The output is backed up: `stream` waits for the socket to drain (onWritable fires then). */
  #parkIfBackedUp(stream: Stream): boolean {
    if (!this.#backedUp()) return false;
    this.#stall(stream);
    stream.wantWritable = true;
    return true;
  }

  /**
   * @internal sendData on a stream with nothing queued: a chunk that fits the windows and the frame
   * size leaves at once as one DATA frame (END_STREAM on it when it is the last); otherwise it is
   * queued and pumped like any other. Returns what sendData returns.
   */
  sendChunk(stream: Stream, chunk: Buffer): boolean {
    const n = chunk.length;
    if (stream.endSent || n > stream.sendWindow || n > this.#connSendWindow || n > this.#peerMaxFrameSize || this.#backedUp()) {
      stream.queue.push(chunk);
      stream.queueBytes += n;
      return this.pump(stream);
    }
    // sendTrailers ends the local side, so a stream still sending data has no pending trailers.
    const last = stream.localEnded;
    this.#outputFrameHeader(n, FRAME_DATA, last ? FLAG_END_STREAM : 0, stream.id);
    this.output(chunk);
    stream.sendWindow -= n;
    this.#connSendWindow -= n;
    if (last) {
      this.#endSent(stream);
      return false;
    }
    if (this.#parkIfBackedUp(stream)) return false;
    return true;
  }

  #endSent(stream: Stream): void {
    stream.endSent = true;
    stream.localEnded = true;
    if (stream.remoteEnded) this.#closeStream(stream, null, undefined);
  }

  /** @internal Gives `n` received bytes back to the connection receive window (batched WINDOW_UPDATE). */
  creditConnection(n: number): void {
    this.#connUnacked += n;
    if (this.#connUnacked >= this.#connUpdateThreshold) {
      // The peer may use the credit only once it has the WINDOW_UPDATE: count it when it is written.
      this.output(windowUpdateFrame(0, this.#connUnacked));
      this.#connCreditInFlight += this.#connUnacked;
      this.#connUnacked = 0;
    }
  }

  #returnStreamWindow(stream: Stream, n: number): void {
    stream.unacked += n;
    if (stream.unacked >= this.streamUpdateThreshold) {
      this.output(windowUpdateFrame(stream.id, stream.unacked));
      stream.recvWindow += stream.unacked;
      stream.unacked = 0;
    }
  }

  /** @internal Resets a stream from our side. */
  resetStream(stream: Stream, code: number, error: Error | undefined): void {
    if (stream.closed) return;
    this.output(rstStreamFrame(stream.id, code));
    this.#rememberReset(stream.id);
    this.#closeStream(stream, code, error);
  }

  /**
   * Resets a stream because of the peer's stream error. A peer stream that we had not answered yet
   * counts toward the rapid-reset budget like a peer RST_STREAM: otherwise a peer could start requests
   * and provoke their resets at no cost ("MadeYouReset", CVE-2025-8671).
   */
  #peerReset(stream: Stream, code: number, error: Error | undefined): void {
    if (stream.closed) return;
    const early = stream.remote && !stream.localEnded;
    this.resetStream(stream, code, error);
    if (early) this.#countEarlyReset();
  }

  #closeStream(stream: Stream, code: number | null, error: Error | undefined): void {
    if (stream.closed) return;
    stream.closed = true;
    if (stream.queue.length !== 0) stream.queue.length = 0; // setting the length is a runtime call even when it is 0
    stream.queueBytes = 0;
    stream.pendingTrailers = null;
    this.streams.delete(stream.id);
    if (this.#lastStream === stream) this.#lastStream = null;
    this.activeStreams--;
    stream.unconsumed = 0;
    if (stream.onClose !== null) {
      try {
        stream.onClose(code, error);
      } catch (e) {
        this.destroy(e as Error, H2_INTERNAL_ERROR);
      }
    }
    if (this.draining && this.activeStreams === 0 && !this.closed && !this.#dirty) this.#finish();
  }

  // ---- opening streams ----

  /** Client: opens a stream (api.ts H2ClientSession.request). */
  request(headers: H2HeaderList, endStream: boolean): H2Stream {
    if (this.closed) throw new H2SessionError('H2_SESSION_CLOSED', 'the HTTP/2 session is closed');
    if (this.draining) throw new H2SessionError('H2_SESSION_DRAINING', 'the HTTP/2 session is draining (GOAWAY)');
    if (this.activeStreams >= this.peerMaxConcurrentStreams || this.#nextStreamId > MAX_WINDOW) {
      throw new H2SessionError('H2_STREAMS_EXHAUSTED', `the peer allows ${this.peerMaxConcurrentStreams} concurrent streams on this session`);
    }
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = new Stream(this, id, this.#peerInitialWindow, this.options.initialWindowSize, false);
    this.streams.add(stream);
    this.activeStreams++;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === ':method') {
        stream.headRequest = headers[i + 1] === 'HEAD';
        break;
      }
    }
    if (endStream) stream.localEnded = true;
    this.writeHeaders(stream, headers, endStream);
    return stream;
  }

  // ---- closing ----

  /** Sends a PING (liveness probe; its ACK is a read, so it moves lastRead). */
  ping(): void {
    if (this.closed || this.socket.destroyed) return;
    PING_PAYLOAD.writeDoubleBE(performance.now(), 0);
    this.output(pingFrame(PING_PAYLOAD, 0, false));
  }

  /** Graceful close: GOAWAY(NO_ERROR), open streams finish, then the socket ends. */
  close(): void {
    if (this.closed) return;
    if (!this.#goawaySent) {
      this.#goawaySent = true;
      this.#goawayLastStreamId = this.#lastPeerStreamId;
      this.output(goawayFrame(this.#lastPeerStreamId, H2_NO_ERROR));
    }
    this.draining = true;
    if (this.activeStreams === 0 && !this.#dirty) this.#finish();
  }

  /** Abrupt close: streams fail with `code` (default CANCEL), GOAWAY if possible, socket destroyed. */
  destroy(error?: Error, code?: number): void {
    if (this.closed) return;
    const c = code ?? H2_CANCEL;
    if (error !== undefined) this.#closeError ??= error;
    this.draining = true;
    this.#inputDead = true;
    this.#failAll(c, error);
    if (!this.#goawaySent && !this.socket.destroyed && this.socket.writable) {
      this.#goawaySent = true;
      this.output(goawayFrame(this.#lastPeerStreamId, c === H2_CANCEL ? H2_NO_ERROR : c));
    }
    this.flush();
    this.socket.destroy();
  }

  /** @internal An owner callback threw: the session's state can no longer be trusted. */
  failFromCallback(error: unknown): void {
    if (this.closed && this.socket.destroyed) return;
    const message = error instanceof Error ? error.message : String(error);
    try {
      this.destroy(new H2SessionError('H2_PROTOCOL', `an HTTP/2 stream callback threw: ${message}`, { cause: error }), H2_INTERNAL_ERROR);
    } catch {
      this.socket.destroy();
    }
  }

  /** Everything done: end the socket (the 'close' event reports the session gone). */
  #finish(): void {
    if (this.#ended) return;
    if (this.#out.length > 0 || this.#chunkPos !== this.#chunkStart) {
      this.flush();
      if (this.#ended) return; // the flush finished already
    }
    this.#ended = true;
    this.draining = true;
    this.socket.end();
    this.#armGrace();
  }

  #armGrace(): void {
    if (this.#graceDeadline !== null) return;
    this.#graceDeadline = sharedTimer.deadline(CLOSE_GRACE_MS, () => {
      if (!this.socket.destroyed) this.socket.destroy();
    });
  }

  #failAll(code: number, error: Error | undefined): void {
    if (this.streams.size === 0) return;
    for (const s of this.streams.values()) this.#closeStream(s, code, error);
  }

  #onSocketClose(): void {
    if (this.closed) return;
    let error = this.#closeError;
    if (error === undefined && this.activeStreams > 0) error = new H2SessionError('H2_SOCKET', `the connection closed with ${this.activeStreams} streams open`);
    // Closed before the streams hear of it: a stream onClose that retries gets H2_SESSION_CLOSED.
    this.closed = true;
    this.draining = true;
    this.#failAll(error === undefined ? H2_CANCEL : H2_INTERNAL_ERROR, error ?? new H2SessionError('H2_SOCKET', 'the connection closed'));
    this.#settingsDeadline?.cancel();
    this.#graceDeadline?.cancel();
    this.#calmDeadline?.cancel();
    this.#out = [];
    this.#outBytes = 0;
    this.#chunkStart = this.#chunkPos;
    this.#stalledStreams.length = 0;
    this.onClose?.(error);
  }

  /** Connection error: GOAWAY(code), every stream fails, the socket ends (destroyed after a grace period). */
  #connectionError(code: number, message: string, weftCode: H2SessionErrorCode = 'H2_PROTOCOL'): void {
    if (this.closed) return;
    const error = new H2SessionError(weftCode, `HTTP/2 connection error ${code}: ${message}`, { h2Code: code });
    this.#closeError ??= error;
    if (!this.#goawaySent) {
      this.#goawaySent = true;
      this.output(goawayFrame(this.#lastPeerStreamId, code, message));
    }
    this.draining = true;
    this.#pendingChunks = [];
    this.#pendingBytes = 0;
    this.#failAll(code, error);
    this.#finish();
    // Read no more: what follows a connection error is not interpreted.
    this.#inputDead = true;
  }

  // ---- input ----

  #onData(chunk: Buffer): void {
    if (this.#inputDead) return;
    if (this.#inputPaused) {
      // A read that was already under way when we paused: kept for #resumeInput.
      this.#pendingChunks.push(chunk);
      this.#pendingBytes += chunk.length;
      return;
    }
    let buf = chunk;
    if (this.#pendingBytes > 0) {
      this.#pendingChunks.push(chunk);
      this.#pendingBytes += chunk.length;
      // A frame trickling in byte by byte is joined once, when it is complete (not once per read).
      if (this.#pendingBytes < this.#pendingNeeded && !this.#awaitingPreface) return;
      buf = Buffer.concat(this.#pendingChunks, this.#pendingBytes);
      this.#pendingChunks = [];
      this.#pendingBytes = 0;
    }
    let pos = 0;
    if (this.#awaitingPreface) {
      const n = Math.min(buf.length, CLIENT_PREFACE.length);
      if (buf.compare(CLIENT_PREFACE, 0, n, 0, n) !== 0) {
        this.#closeError = new H2SessionError('H2_PROTOCOL', 'the client did not send the HTTP/2 connection preface', { h2Code: H2_PROTOCOL_ERROR });
        this.#inputDead = true;
        this.socket.destroy();
        return;
      }
      if (n < CLIENT_PREFACE.length) {
        this.#keepPending(buf, CLIENT_PREFACE.length);
        return;
      }
      this.#awaitingPreface = false;
      pos = CLIENT_PREFACE.length;
    }
    this.lastActive = this.lastRead = performance.now();
    const maxFrame = this.options.maxFrameSize;
    const outputRoom = INPUT_PAUSE_OUTPUT - this.socket.writableLength;
    while (buf.length - pos >= FRAME_HEADER_LENGTH) {
      if (this.#outBytes > outputRoom) {
        // The peer does not read fast enough: stop parsing, keep the rest, go on when the output drained.
        this.#inputPaused = true;
        this.socket.pause();
        this.#keepPending(pos === 0 ? buf : buf.subarray(pos), 0);
        return;
      }
      const length = readFrameLength(buf, pos);
      if (length > maxFrame) {
        this.#connectionError(H2_FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${maxFrame}`);
        return;
      }
      if (buf.length - pos - FRAME_HEADER_LENGTH < length) break;
      const type = buf[pos + 3]!;
      const flags = buf[pos + 4]!;
      const streamId = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      const start = pos + FRAME_HEADER_LENGTH;
      pos = start + length;
      try {
        this.#onFrame(buf, start, length, type, flags, streamId);
      } catch (error) {
        // A callback of the owner threw: the session's state can no longer be trusted.
        this.destroy(new H2SessionError('H2_PROTOCOL', `an HTTP/2 stream callback threw: ${(error as Error).message}`, { cause: error }), H2_INTERNAL_ERROR);
        return;
      }
      if (this.#inputDead) return;
    }
    if (pos < buf.length) {
      const rest = pos === 0 ? buf : buf.subarray(pos);
      this.#keepPending(rest, rest.length >= FRAME_HEADER_LENGTH ? FRAME_HEADER_LENGTH + readFrameLength(rest, 0) : FRAME_HEADER_LENGTH);
    }
  }

  #keepPending(rest: Buffer, needed: number): void {
    this.#pendingChunks.push(rest);
    this.#pendingBytes = rest.length;
    this.#pendingNeeded = needed;
  }

  #onFrame(buf: Buffer, start: number, length: number, type: number, flags: number, streamId: number): void {
    if (this.#firstFrame) {
      this.#firstFrame = false;
      if (type !== FRAME_SETTINGS || (flags & FLAG_ACK) !== 0) {
        this.#connectionError(H2_PROTOCOL_ERROR, 'the first frame must be SETTINGS');
        return;
      }
    }
    if (this.#headerStreamId !== 0 && (type !== FRAME_CONTINUATION || streamId !== this.#headerStreamId)) {
      this.#connectionError(H2_PROTOCOL_ERROR, 'header block interrupted (CONTINUATION expected)');
      return;
    }
    switch (type) {
      case FRAME_DATA:
        this.#onDataFrame(buf, start, length, flags, streamId);
        return;
      case FRAME_HEADERS:
        this.#onHeadersFrame(buf, start, length, flags, streamId);
        return;
      case FRAME_CONTINUATION:
        this.#onContinuation(buf, start, length, flags, streamId);
        return;
      case FRAME_SETTINGS:
        this.#onSettings(buf, start, length, flags, streamId);
        return;
      case FRAME_WINDOW_UPDATE:
        this.#onWindowUpdate(buf, start, length, streamId);
        return;
      case FRAME_RST_STREAM:
        this.#onRstStream(buf, start, length, streamId);
        return;
      case FRAME_PING:
        if (streamId !== 0) return this.#connectionError(H2_PROTOCOL_ERROR, 'PING on a stream');
        if (length !== 8) return this.#connectionError(H2_FRAME_SIZE_ERROR, 'PING payload must be 8 bytes');
        if ((flags & FLAG_ACK) === 0) {
          if (!this.#countControl()) return;
          this.output(pingFrame(buf, start, true));
        }
        return;
      case FRAME_GOAWAY:
        this.#onGoaway(buf, start, length, streamId);
        return;
      case FRAME_PRIORITY:
        if (streamId === 0) return this.#connectionError(H2_PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (!this.#countControl()) return;
        // A stream error needs an open stream: RST_STREAM on an idle stream is forbidden (RFC 9113 §5.1),
        // so a bad length without one is a connection error and a self-dependency is ignored.
        if (length !== 5) {
          if (!this.#streamError(streamId, H2_FRAME_SIZE_ERROR)) this.#connectionError(H2_FRAME_SIZE_ERROR, 'PRIORITY payload must be 5 bytes');
          return;
        }
        if ((buf.readUInt32BE(start) & 0x7fffffff) === streamId) this.#streamError(streamId, H2_PROTOCOL_ERROR);
        return;
      case FRAME_PUSH_PROMISE:
        this.#connectionError(H2_PROTOCOL_ERROR, 'PUSH_PROMISE received (push is disabled)');
        return;
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  /** Counts a frame toward the control-frame flood guard; false (and the session closed) when over. */
  #countControl(): boolean {
    const now = performance.now();
    if (now - this.#guardWindowStart > GUARD_WINDOW_MS) {
      this.#guardWindowStart = now;
      this.#controlFrames = 0;
      this.#earlyResets = 0;
    }
    if (++this.#controlFrames > this.options.maxControlFramesPer10s) {
      this.#connectionError(H2_ENHANCE_YOUR_CALM, 'too many control frames');
      return false;
    }
    return true;
  }

  /** Counts a stream the peer reset (or we refused) before it was answered. */
  #countEarlyReset(): boolean {
    const now = performance.now();
    if (now - this.#guardWindowStart > GUARD_WINDOW_MS) {
      this.#guardWindowStart = now;
      this.#controlFrames = 0;
      this.#earlyResets = 0;
    }
    const resets = ++this.#earlyResets;
    if (resets <= this.options.maxEarlyResetsPer10s) return true;
    // Over budget: stop taking new streams (GOAWAY(ENHANCE_YOUR_CALM) with the last stream processed)
    // but let the open ones finish, so the other requests sharing the connection do not fail; the
    // client opens a new connection for new requests. A peer that goes on resetting (twice the budget)
    // or does not drain in time is cut off.
    if (resets > 2 * this.options.maxEarlyResetsPer10s || this.#goawaySent) {
      if (resets > 2 * this.options.maxEarlyResetsPer10s) {
        this.#connectionError(H2_ENHANCE_YOUR_CALM, 'too many streams reset before they were answered');
        return false;
      }
      return true;
    }
    this.#goawaySent = true;
    this.#goawayLastStreamId = this.#lastPeerStreamId;
    this.output(goawayFrame(this.#lastPeerStreamId, H2_ENHANCE_YOUR_CALM, 'too many streams reset before they were answered'));
    this.draining = true;
    this.#calmDeadline = sharedTimer.deadline(CALM_DRAIN_MS, () => {
      this.#calmDeadline = null;
      this.#connectionError(H2_ENHANCE_YOUR_CALM, 'the streams open at the reset-budget GOAWAY did not finish in time');
    });
    if (this.activeStreams === 0 && !this.#dirty) this.#finish();
    return true;
  }

  /** Ids of the last streams we reset, so that frames still in flight on them are not taken as errors. */
  #resetRing = new Int32Array(64);
  #resetRingNext = 0;

  /** RST_STREAM for a stream that has no Stream object (refused, malformed, already gone). */
  #refuse(id: number, code: number): void {
    this.output(rstStreamFrame(id, code));
    this.#rememberReset(id);
  }

  #rememberReset(id: number): void {
    this.#resetRing[this.#resetRingNext] = id;
    this.#resetRingNext = (this.#resetRingNext + 1) & 63;
  }

  #recentlyReset(id: number): boolean {
    return this.#resetRing.includes(id);
  }

  #stream(id: number): Stream | undefined {
    const last = this.#lastStream;
    if (last !== null && last.id === id) return last;
    const s = this.streams.get(id);
    if (s !== undefined) this.#lastStream = s;
    return s;
  }

  /** True for a stream id that has never been opened (idle). */
  #isIdle(id: number): boolean {
    const peerInitiated = (id & 1) === (this.isClient ? 0 : 1);
    return peerInitiated ? id > this.#lastPeerStreamId : id >= this.#nextStreamId;
  }

  /** A stream error on an open stream `id`; false when there is no such stream (nothing sent). */
  #streamError(id: number, code: number): boolean {
    const s = this.#stream(id);
    if (s === undefined) return false;
    this.#peerReset(s, code, new H2SessionError('H2_PROTOCOL', `HTTP/2 stream error ${code}`, { h2Code: code }));
    return true;
  }

  #onDataFrame(buf: Buffer, start: number, length: number, flags: number, streamId: number): void {
    if (streamId === 0) return this.#connectionError(H2_PROTOCOL_ERROR, 'DATA on stream 0');
    let dataStart = start;
    let dataLength = length;
    if ((flags & FLAG_PADDED) !== 0) {
      if (length < 1) return this.#connectionError(H2_FRAME_SIZE_ERROR, 'padded DATA without pad length');
      const pad = buf[start]!;
      if (pad >= length) return this.#connectionError(H2_PROTOCOL_ERROR, 'DATA padding exceeds the payload');
      dataStart = start + 1;
      dataLength = length - 1 - pad;
    }
    // Connection window: every DATA byte counts, and comes back as soon as it is handed to a stream
    // (or dropped). Connection flow control only protects the session's read path; back-pressure is
    // per stream (a stream's window comes back on consume()), so a few owners that do not read cannot
    // stall the other streams of the connection. What owners may hold unconsumed is bounded by
    // maxConcurrentStreams × initialWindowSize.
    this.#connRecvWindow -= length;
    if (this.#connRecvWindow < 0) return this.#connectionError(H2_FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    if (length === 0 && !endStream && !this.#countControl()) return;
    const stream = this.#stream(streamId);
    if (stream === undefined) {
      if (length > 0) this.creditConnection(length);
      if (this.#isIdle(streamId)) return this.#connectionError(H2_PROTOCOL_ERROR, 'DATA on an idle stream');
      // A stream we closed or reset: frames in flight are ignored (RFC 9113 §5.1, "closed").
      return;
    }
    if (dataLength !== length) this.creditConnection(length - dataLength);
    if (stream.remoteEnded || !stream.headReceived) {
      if (dataLength > 0) this.creditConnection(dataLength);
      this.#peerReset(stream, stream.remoteEnded ? H2_STREAM_CLOSED : H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', 'DATA on a half-closed stream or before its head', { h2Code: H2_STREAM_CLOSED }));
      return;
    }
    stream.recvWindow -= length;
    // From here on the bytes belong to the stream (its window); the connection gets them back now.
    stream.unconsumed += dataLength;
    if (dataLength > 0) this.creditConnection(dataLength);
    if (stream.recvWindow < 0 && (this.#settingsAcked || stream.recvWindow < this.options.initialWindowSize - DEFAULT_WINDOW)) {
      this.#peerReset(stream, H2_FLOW_CONTROL_ERROR, new H2SessionError('H2_PROTOCOL', 'DATA beyond the stream window', { h2Code: H2_FLOW_CONTROL_ERROR }));
      return;
    }
    // Padding is never delivered: its stream window comes back right away (the connection's did above).
    if (dataLength !== length && !endStream) this.#returnStreamWindow(stream, length - dataLength);
    if (stream.expectedLength >= 0) {
      stream.receivedLength += dataLength;
      if (stream.receivedLength > stream.expectedLength || (endStream && stream.receivedLength !== stream.expectedLength)) {
        this.#peerReset(stream, H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', 'DATA length does not match content-length', { h2Code: H2_PROTOCOL_ERROR }));
        return;
      }
    }
    if (endStream) stream.remoteEnded = true;
    if (stream.onData !== null) stream.onData(dataLength === 0 ? EMPTY : buf.subarray(dataStart, dataStart + dataLength), endStream);
    if (endStream && stream.endSent) this.#closeStream(stream, null, undefined);
  }

  #onHeadersFrame(buf: Buffer, start: number, length: number, flags: number, streamId: number): void {
    if (streamId === 0) return this.#connectionError(H2_PROTOCOL_ERROR, 'HEADERS on stream 0');
    let blockStart = start;
    let end = start + length;
    if ((flags & FLAG_PADDED) !== 0) {
      if (length < 1) return this.#connectionError(H2_FRAME_SIZE_ERROR, 'padded HEADERS without pad length');
      const pad = buf[start]!;
      blockStart++;
      end -= pad;
    }
    if ((flags & FLAG_PRIORITY) !== 0) {
      if (end - blockStart < 5) return this.#connectionError(H2_FRAME_SIZE_ERROR, 'HEADERS priority fields missing');
      if ((buf.readUInt32BE(blockStart) & 0x7fffffff) === streamId) {
        // A stream that depends on itself: a stream error, but the block must still be decoded.
        this.#selfDependent = streamId;
      }
      blockStart += 5;
    }
    if (end < blockStart) return this.#connectionError(H2_PROTOCOL_ERROR, 'HEADERS padding exceeds the payload');
    if ((flags & FLAG_END_HEADERS) !== 0) {
      // The whole block is in this frame: decoded where it lies.
      this.#onHeaderBlock(streamId, flags, buf, blockStart, end);
      return;
    }
    this.#headerStreamId = streamId;
    this.#headerFlags = flags;
    // The fragment is a view into the read buffer, which the next read replaces: copy it.
    this.#headerFragments.push(Buffer.from(buf.subarray(blockStart, end)));
    this.#headerBytes = end - blockStart;
    this.#continuations = 0;
  }

  #selfDependent = 0;

  #onContinuation(buf: Buffer, start: number, length: number, flags: number, streamId: number): void {
    if (this.#headerStreamId === 0 || streamId !== this.#headerStreamId) return this.#connectionError(H2_PROTOCOL_ERROR, 'CONTINUATION without a header block in progress');
    this.#headerBytes += length;
    if (length === 0 && !this.#countControl()) return;
    if (++this.#continuations > MAX_CONTINUATIONS || this.#headerBytes > this.options.maxHeaderListSize + HEADER_BLOCK_SLACK) {
      this.#connectionError(H2_ENHANCE_YOUR_CALM, 'header block too large (CONTINUATION flood)');
      return;
    }
    this.#headerFragments.push(Buffer.from(buf.subarray(start, start + length)));
    if ((flags & FLAG_END_HEADERS) === 0) return;
    const block = Buffer.concat(this.#headerFragments, this.#headerBytes);
    const headerFlags = this.#headerFlags;
    this.#headerFragments = [];
    this.#headerStreamId = 0;
    this.#headerBytes = 0;
    this.#onHeaderBlock(streamId, headerFlags, block, 0, block.length);
  }

  /** A complete header block arrived for `streamId` (bytes start..end of `block`): decode (always, to keep HPACK in sync), then act. */
  #onHeaderBlock(streamId: number, flags: number, block: Buffer, start: number, end: number): void {
    const list: H2HeaderList = [];
    let withinLimit: boolean;
    try {
      withinLimit = this.#decoder.decode(block, list, this.options.maxHeaderListSize, start, end);
    } catch (error) {
      const e = new H2SessionError('H2_PROTOCOL', `HPACK decoding failed: ${(error as Error).message}`, { cause: error, h2Code: 0x9 });
      this.#closeError ??= e;
      this.#connectionError(0x9 /* COMPRESSION_ERROR */, 'HPACK decoding failed');
      return;
    }
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    const selfDependent = this.#selfDependent === streamId;
    this.#selfDependent = 0;
    if (this.isClient) this.#onClientHeaders(streamId, list, withinLimit, endStream, selfDependent);
    else this.#onServerHeaders(streamId, list, withinLimit, endStream, selfDependent);
  }

  #onServerHeaders(streamId: number, list: H2HeaderList, withinLimit: boolean, endStream: boolean, selfDependent: boolean): void {
    const existing = this.#stream(streamId);
    if (existing !== undefined) {
      // Trailers of a request.
      if (existing.remoteEnded) return this.#peerReset(existing, H2_STREAM_CLOSED, undefined);
      if (!endStream || !withinLimit || validateHeaders(list, KIND_TRAILERS, this.#seen) === -2) {
        return this.#peerReset(existing, H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', 'malformed trailers', { h2Code: H2_PROTOCOL_ERROR }));
      }
      if (existing.expectedLength >= 0 && existing.receivedLength !== existing.expectedLength) {
        return this.#peerReset(existing, H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', 'DATA length does not match content-length', { h2Code: H2_PROTOCOL_ERROR }));
      }
      existing.remoteEnded = true;
      existing.onTrailers?.(list);
      if (existing.endSent && !existing.closed) this.#closeStream(existing, null, undefined);
      return;
    }
    if ((streamId & 1) === 0) return this.#connectionError(H2_PROTOCOL_ERROR, 'client opened an even stream id');
    if (streamId <= this.#lastPeerStreamId) {
      // A closed stream (the block was decoded, HPACK stays in sync). A request head there reuses a
      // stream id: a connection error (RFC 9113 §5.1.1). Trailers may still be in flight on a stream
      // we reset, however many resets ago, so they are ignored (§5.1); unless it is one of our recent
      // resets, such a frame counts toward the control-frame budget, which bounds a flood.
      if (list.length > 0 && list[0]!.charCodeAt(0) === 58 /* : */) return this.#connectionError(H2_PROTOCOL_ERROR, 'HEADERS opening a stream id that was already used');
      if (!this.#recentlyReset(streamId)) this.#countControl();
      return;
    }
    this.#lastPeerStreamId = streamId;
    if (this.#goawaySent && streamId > this.#goawayLastStreamId) {
      this.#refuse(streamId, H2_REFUSED_STREAM);
      return;
    }
    if (selfDependent) {
      this.#refuse(streamId, H2_PROTOCOL_ERROR);
      this.#countEarlyReset();
      return;
    }
    if (this.activeStreams >= this.options.maxConcurrentStreams) {
      this.#refuse(streamId, H2_REFUSED_STREAM);
      this.#countEarlyReset();
      return;
    }
    if (!withinLimit) {
      // Oversize head: answer 431 ourselves (RFC 6585), then stop the request body with RST_STREAM(NO_ERROR).
      this.#writeHead(streamId, [':status', '431'], FLAG_END_STREAM);
      if (!endStream) this.#refuse(streamId, H2_NO_ERROR);
      this.#countEarlyReset();
      return;
    }
    const contentLength = validateHeaders(list, KIND_REQUEST, this.#seen);
    if (contentLength === -2 || (endStream && contentLength > 0)) {
      this.#refuse(streamId, H2_PROTOCOL_ERROR);
      this.#countEarlyReset();
      return;
    }
    const stream = new Stream(this, streamId, this.#peerInitialWindow, this.options.initialWindowSize, true);
    stream.headReceived = true;
    stream.expectedLength = contentLength;
    stream.remoteEnded = endStream;
    this.streams.add(stream);
    this.#lastStream = stream;
    this.activeStreams++;
    const handler = this.onStream;
    if (handler !== null) {
      try {
        handler(stream, list, endStream);
      } catch (error) {
        this.resetStream(stream, H2_INTERNAL_ERROR, error as Error);
      }
    }
  }

  #onClientHeaders(streamId: number, list: H2HeaderList, withinLimit: boolean, endStream: boolean, selfDependent: boolean): void {
    const stream = this.#stream(streamId);
    if (stream === undefined) {
      if ((streamId & 1) === 0) return this.#connectionError(H2_PROTOCOL_ERROR, 'server opened a stream');
      if (this.#isIdle(streamId)) return this.#connectionError(H2_PROTOCOL_ERROR, 'HEADERS on an idle stream');
      return; // a stream we already closed (reset): ignore
    }
    if (stream.remoteEnded) return this.#peerReset(stream, H2_STREAM_CLOSED, undefined);
    if (selfDependent || !withinLimit) {
      return this.#peerReset(stream, H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', withinLimit ? 'stream depends on itself' : 'response head exceeds maxHeaderListSize', { h2Code: H2_PROTOCOL_ERROR }));
    }
    if (stream.headReceived) {
      if (!endStream || validateHeaders(list, KIND_TRAILERS, this.#seen) === -2) {
        return this.#peerReset(stream, H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', 'malformed trailers', { h2Code: H2_PROTOCOL_ERROR }));
      }
      if (stream.expectedLength >= 0 && stream.receivedLength !== stream.expectedLength) {
        return this.#peerReset(stream, H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', 'DATA length does not match content-length', { h2Code: H2_PROTOCOL_ERROR }));
      }
      stream.remoteEnded = true;
      stream.onTrailers?.(list);
    } else {
      const contentLength = validateHeaders(list, KIND_RESPONSE, this.#seen);
      if (contentLength === -2) {
        return this.#peerReset(stream, H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', 'malformed response head', { h2Code: H2_PROTOCOL_ERROR }));
      }
      const status = list[1]!; // validated: the first pair is :status
      const informational = status.charCodeAt(0) === 49; /* '1' */
      if (informational) {
        if (endStream) return this.#peerReset(stream, H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', '1xx response with END_STREAM', { h2Code: H2_PROTOCOL_ERROR }));
      } else {
        stream.headReceived = true;
        if (!stream.headRequest && status !== '304' && status !== '204') {
          stream.expectedLength = contentLength;
          if (endStream && contentLength > 0) {
            return this.#peerReset(stream, H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', 'content-length without body', { h2Code: H2_PROTOCOL_ERROR }));
          }
        }
      }
      if (endStream) stream.remoteEnded = true;
      stream.onHeaders?.(list, endStream);
    }
    if (stream.remoteEnded && stream.endSent && !stream.closed) this.#closeStream(stream, null, undefined);
  }

  #onSettings(buf: Buffer, start: number, length: number, flags: number, streamId: number): void {
    if (streamId !== 0) return this.#connectionError(H2_PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & FLAG_ACK) !== 0) {
      if (length !== 0) return this.#connectionError(H2_FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
      if (!this.#settingsAcked && this.options.headerTableSize < 4096) this.#decoder.setMaxTableSizeLimit(this.options.headerTableSize);
      this.#settingsAcked = true;
      if (this.ready) {
        this.#settingsDeadline?.cancel();
        this.#settingsDeadline = null;
      }
      return;
    }
    if (length % 6 !== 0) return this.#connectionError(H2_FRAME_SIZE_ERROR, 'SETTINGS payload not a multiple of 6');
    if (!this.#countControl()) return;
    // INITIAL_WINDOW_SIZE changes every open stream: only the frame's last value is applied, once, so a
    // frame of thousands of entries costs one walk over the streams, not one per entry.
    let initialWindow = -1;
    for (let p = start; p < start + length; p += 6) {
      const id = buf.readUInt16BE(p);
      const value = buf.readUInt32BE(p + 2);
      switch (id) {
        case SETTINGS_HEADER_TABLE_SIZE:
          this.#encoder.setMaxTableSize(Math.min(value, 4096));
          break;
        case SETTINGS_ENABLE_PUSH:
          if (value > 1 || (this.isClient && value !== 0)) return this.#connectionError(H2_PROTOCOL_ERROR, 'invalid SETTINGS_ENABLE_PUSH');
          break;
        case SETTINGS_MAX_CONCURRENT_STREAMS:
          this.peerMaxConcurrentStreams = value;
          break;
        case SETTINGS_INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW) return this.#connectionError(H2_FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          initialWindow = value;
          break;
        case SETTINGS_MAX_FRAME_SIZE:
          if (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) return this.#connectionError(H2_PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          this.#peerMaxFrameSize = value;
          break;
        default:
          break; // MAX_HEADER_LIST_SIZE is advisory; unknown settings are ignored
      }
    }
    if (initialWindow >= 0 && initialWindow !== this.#peerInitialWindow) {
      const delta = initialWindow - this.#peerInitialWindow;
      this.#peerInitialWindow = initialWindow;
      for (const s of this.streams.values()) {
        s.sendWindow += delta;
        if (s.sendWindow > MAX_WINDOW) return this.#connectionError(H2_FLOW_CONTROL_ERROR, 'stream window above 2^31-1');
        if (delta > 0 && (s.queueBytes > 0 || s.wantWritable)) this.#stall(s);
      }
    }
    this.output(SETTINGS_ACK_FRAME);
    if (this.#stalledStreams.length > 0 && !this.#backedUp()) this.#pumpStalled();
    if (!this.ready) {
      this.ready = true;
      if (this.#settingsAcked) {
        this.#settingsDeadline?.cancel();
        this.#settingsDeadline = null;
      }
      this.onReady?.();
    }
  }

  #onWindowUpdate(buf: Buffer, start: number, length: number, streamId: number): void {
    if (length !== 4) return this.#connectionError(H2_FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload must be 4 bytes');
    const increment = buf.readUInt32BE(start) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) return this.#connectionError(H2_PROTOCOL_ERROR, 'WINDOW_UPDATE with increment 0');
      this.#connSendWindow += increment;
      if (this.#connSendWindow > MAX_WINDOW) return this.#connectionError(H2_FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      if (this.#stalledStreams.length > 0 && !this.#backedUp()) this.#pumpStalled();
      return;
    }
    const stream = this.#stream(streamId);
    if (stream === undefined) {
      if (this.#isIdle(streamId)) return this.#connectionError(H2_PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
      return;
    }
    if (increment === 0) {
      return this.#peerReset(stream, H2_PROTOCOL_ERROR, new H2SessionError('H2_PROTOCOL', 'WINDOW_UPDATE with increment 0', { h2Code: H2_PROTOCOL_ERROR }));
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) {
      return this.#peerReset(stream, H2_FLOW_CONTROL_ERROR, new H2SessionError('H2_PROTOCOL', 'stream window above 2^31-1', { h2Code: H2_FLOW_CONTROL_ERROR }));
    }
    if (stream.sendWindow > 0 && (stream.queueBytes > 0 || stream.wantWritable || (stream.localEnded && !stream.endSent))) this.pump(stream);
  }

  #onRstStream(buf: Buffer, start: number, length: number, streamId: number): void {
    if (streamId === 0) return this.#connectionError(H2_PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (length !== 4) return this.#connectionError(H2_FRAME_SIZE_ERROR, 'RST_STREAM payload must be 4 bytes');
    const stream = this.#stream(streamId);
    if (stream === undefined) {
      if (this.#isIdle(streamId)) return this.#connectionError(H2_PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
      return;
    }
    const code = buf.readUInt32BE(start);
    const early = stream.remote && !stream.localEnded;
    // RST_STREAM(NO_ERROR) after a complete response only stops our request body (RFC 9113 §8.1):
    // the exchange succeeded, so the stream closes normally.
    if (code === H2_NO_ERROR && stream.remoteEnded && !stream.remote) this.#closeStream(stream, null, undefined);
    else this.#closeStream(stream, code, new H2SessionError('H2_PROTOCOL', `stream reset by the peer (code ${code})`, { h2Code: code }));
    if (early) this.#countEarlyReset();
  }

  #onGoaway(buf: Buffer, start: number, length: number, streamId: number): void {
    if (streamId !== 0) return this.#connectionError(H2_PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (length < 8) return this.#connectionError(H2_FRAME_SIZE_ERROR, 'GOAWAY payload too short');
    // Every GOAWAY costs a look at the streams: counted like other control frames, and one that does
    // not lower the last stream id of an earlier one changes nothing (no walk).
    if (!this.#countControl()) return;
    const lastStreamId = buf.readUInt32BE(start) & 0x7fffffff;
    const code = buf.readUInt32BE(start + 4);
    const first = !this.draining;
    this.draining = true;
    if (lastStreamId >= this.#peerGoawayLastStreamId) return;
    this.#peerGoawayLastStreamId = lastStreamId;
    // Streams we opened above lastStreamId were not processed: fail them as refused (safe to retry).
    const refused: Stream[] = [];
    for (const s of this.streams.values()) if (!s.remote && s.id > lastStreamId) refused.push(s);
    for (const s of refused) {
      this.#closeStream(s, H2_REFUSED_STREAM, new H2SessionError('H2_GOAWAY', `the peer sent GOAWAY (code ${code}, last stream ${lastStreamId})`, { h2Code: code }));
    }
    if (first) this.onGoaway?.(code, lastStreamId);
    if (this.activeStreams === 0 && !this.closed) {
      if (!this.#dirty) this.#finish();
    }
  }
}

/** Opens the client side of a session on `socket` (preface and SETTINGS are queued at once). */
export function connectH2(socket: Duplex, options?: H2SessionOptions): H2ClientSession {
  return new SessionCore(socket, true, options, null, undefined);
}

/** Serves HTTP/2 on `socket`; `initial` holds bytes already read from it (they start with the preface). */
export function serveH2(socket: Duplex, onStream: H2StreamHandler, options?: H2SessionOptions, initial?: Buffer): H2ServerSession {
  return new SessionCore(socket, false, options, onStream, initial);
}

export { validateHeaders as validateHeaderListForTest, StreamTable as StreamTableForTest, KIND_REQUEST, KIND_RESPONSE, KIND_TRAILERS };
