// Abortive close of a connection: a TCP RST where the stream is a plain TCP socket (so the peer sees
// a reset, not a clean end of stream), a plain destroy for TLS sockets and JS streams, where Node's
// `resetAndDestroy` would throw ERR_INVALID_HANDLE_TYPE.
import type { Duplex } from 'node:stream';
import type net from 'node:net';

export function resetOrDestroy(stream: Duplex): void {
  const socket = stream as net.Socket;
  if (typeof socket.resetAndDestroy === 'function' && !('encrypted' in socket) && (socket as { _handle?: unknown })._handle) {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // not a TCP handle after all: fall through to a plain destroy
    }
  }
  stream.destroy();
}
