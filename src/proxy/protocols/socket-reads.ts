// Direct socket reads for plain TCP sockets on the request path: bytes read into one shared buffer
// go straight to the connection's parser (its "sink"), without node's per-read 64 KiB allocation,
// realloc and ArrayBuffer bookkeeping, and without a Readable push, 'data' emit and read-more tick
// per read. Measured as the largest single user-space cost of a pooled HTTP/1.1 hop
// (docs/PERFORMANCE.md "Run 12").
//
// Contract — what a sink may rely on, and what stays as node does it:
//   - A chunk handed to a sink is its own copy (allocUnsafe: from node's shared 8 KiB pool below
//     4 KiB, an exact allocation above), valid for as long as it is referenced — exactly like a
//     'data' chunk. Only the shared read buffer is reused, and it never leaves this module.
//   - With no sink, a chunk is pushed into the socket's Readable: 'data', pipe(), unshift(), pause
//     and back-pressure behave as on any socket (protocol detection, tunnels, hand-offs rely on it).
//   - `setSink` moves bytes already waiting in the Readable (e.g. unshifted by detection) to the
//     sink first, so nothing is reordered or lost when a reader takes over; `setSink(s, null)` hands
//     the socket back to Readable consumers (upgrades, CONNECT).
//   - pause()/resume() stop and start reading at once (node's onread path calls readStop/readStart).
//   - 'end', 'close', 'error' and 'drain' are emitted as usual.
// Sockets come from `connectDirect` (net.connect with `onread`), `withDirectReads` (any connect
// taking `onread`, e.g. tls.connect to a peer proxy) or `adoptAccepted` (an accepted
// socket's handle moved into a new net.Socket with `onread`; the listener must use pauseOnConnect).
// The latter uses two undocumented fields of node's net module (`_handle`, `_server`); when they are
// not as expected it returns the accepted socket unchanged, which then reads the usual way.
import net from 'node:net';
import type { Duplex } from 'node:stream';

/** Receives each chunk read from a socket (a copy the sink may keep). */
export type ByteSink = (chunk: Buffer) => void;

const READ_BUFFER_BYTES = 64 * 1024;

/** Every direct-read socket reads into this one buffer; its bytes are copied out before any other read. */
let readBuffer: Buffer | undefined;

const kSink = Symbol('weft.byteSink');

interface DirectReadSocket extends net.Socket {
  [kSink]: ByteSink | null;
}

function sharedReadBuffer(): Buffer {
  return (readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES));
}

/** The onread option of one socket: copies each read out of the shared buffer and delivers it. */
function onreadFor(owner: { socket: DirectReadSocket | null }): net.OnReadOpts {
  return {
    buffer: sharedReadBuffer(),
    callback: (n: number, buf: Uint8Array): boolean => {
      const socket = owner.socket!;
      const chunk = Buffer.allocUnsafe(n);
      chunk.set(buf.subarray(0, n));
      const sink = socket[kSink];
      if (sink !== null) {
        sink(chunk);
        // A read that a resume tick restarted while the reader had paused: stop again after it.
        return socket.readableFlowing !== false;
      }
      // No reader attached: the socket's own Readable keeps it (false = over its high-water mark, stop reading).
      return socket.push(chunk);
    },
  };
}

/** True when `socket` reads directly (made by connectDirect or adoptAccepted). */
export function readsDirectly(socket: Duplex): boolean {
  return kSink in socket;
}

/**
 * Sends every later read of `socket` to `sink` (null: back to the socket's Readable). Returns false
 * when the socket does not read directly — then attach a 'data' listener as usual. Bytes already
 * waiting in the Readable go to the sink first.
 */
export function setSink(socket: Duplex, sink: ByteSink | null): boolean {
  if (!(kSink in socket)) return false;
  const direct = socket as DirectReadSocket;
  direct[kSink] = sink;
  if (sink !== null && socket.readableLength > 0) {
    let chunk: Buffer | null;
    while (direct[kSink] === sink && (chunk = direct.read() as Buffer | null) !== null) sink(chunk);
    // read() restarts reading at the handle; a reader that paused the socket meanwhile keeps it paused.
    if (direct.isPaused()) direct.pause();
  }
  return true;
}

/** net.connect whose reads go to a sink (set with setSink) instead of the Readable. */
export function connectDirect(options: net.TcpNetConnectOpts): net.Socket {
  return withDirectReads((onread) => net.connect({ ...options, onread }));
}

/**
 * A socket made by `open` with the `onread` option it is given: `tls.connect({ ..., onread })`
 * reads decrypted bytes the same way (node's TLSWrap takes the buffer from the same listener).
 */
export function withDirectReads<S extends net.Socket>(open: (onread: net.OnReadOpts) => S): S {
  const owner: { socket: DirectReadSocket | null } = { socket: null };
  const socket = open(onreadFor(owner)) as S & DirectReadSocket;
  socket[kSink] = null;
  owner.socket = socket;
  return socket;
}

interface AcceptedInternals {
  _handle?: { readStart?: unknown; useUserBuffer?: unknown } | null;
  _server?: net.Server | null;
  server?: net.Server | null;
}

/**
 * An accepted socket (from a net.Server created with `pauseOnConnect: true`, nothing read yet) as
 * a direct-read socket on the same connection. The server's connection count follows the new
 * socket. Returns `socket` itself, resumed, when its handle cannot be moved.
 */
export function adoptAccepted(socket: net.Socket, allowHalfOpen: boolean): net.Socket {
  const old = socket as net.Socket & AcceptedInternals;
  const handle = old._handle;
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function' || socket.destroyed || socket.readableLength > 0) {
    socket.resume();
    return socket;
  }
  const owner: { socket: DirectReadSocket | null } = { socket: null };
  old._handle = null;
  const fresh = new net.Socket({ handle, allowHalfOpen, onread: onreadFor(owner) } as net.SocketConstructorOpts) as DirectReadSocket & AcceptedInternals;
  fresh[kSink] = null;
  owner.socket = fresh;
  // The server counts connections through the socket's _server (decremented when it is destroyed).
  fresh._server = old._server ?? null;
  fresh.server = old.server ?? null;
  old._server = null;
  old.server = null;
  return fresh;
}
