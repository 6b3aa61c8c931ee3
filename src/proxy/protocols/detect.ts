// Protocol detection on a fresh connection: wait (briefly) for the first bytes and classify them as
// a TLS ClientHello, the HTTP/2 prior-knowledge preface, an HTTP/1 request line, or something else
// (opaque TCP). The bytes read are put back (`unshift`) so the chosen handler sees the whole stream.
// Never used on ports declared `tcp`: a server-speaks-first protocol would wait out the timeout.
import type net from 'node:net';
import { sharedTimer } from '../../core/coarse-timer.ts';

export type Detected = 'tls' | 'h2' | 'http1' | 'tcp' | 'closed';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'REPORT', 'SEARCH'];

/** Classifies a prefix; `undefined` = need more bytes to tell. */
export function classify(buf: Buffer): Detected | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] === 0x16) return buf.length >= 2 ? (buf[1] === 0x03 ? 'tls' : 'tcp') : undefined;
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) return n === H2_PREFACE.length ? 'h2' : undefined;
  // HTTP/1: a known method, a space, and an origin-form ('/'), absolute-form ('h') or '*' target.
  // Other client-first protocols that start with a word (SMTP's EHLO, Redis' PING, NATS' CONNECT) are TCP.
  let i = 0;
  while (i < buf.length && i < 16 && buf[i]! >= 0x41 && buf[i]! <= 0x5a) i++;
  const token = buf.toString('latin1', 0, i);
  if (i === buf.length) return i < 16 && METHODS.some((m) => m.startsWith(token)) ? undefined : 'tcp';
  if (buf[i] !== 0x20 || !METHODS.includes(token)) return 'tcp';
  if (i + 1 === buf.length) return undefined;
  const t = buf[i + 1];
  return t === 0x2f || t === 0x2a || t === 0x68 || t === 0x48 ? 'http1' : 'tcp';
}

/**
 * Reads until the protocol is known or `timeoutMs` passes (→ 'tcp', e.g. a client waiting for a
 * server banner). The consumed bytes are unshifted back onto the socket, which is left paused.
 */
export function detect(socket: net.Socket, timeoutMs: number): Promise<Detected> {
  return new Promise((resolve) => {
    let buffered: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (result: Detected) => {
      if (done) return;
      done = true;
      deadline.cancel();
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onEnd);
      socket.pause();
      if (buffered.length > 0) socket.unshift(buffered);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const r = classify(buffered);
      if (r !== undefined) finish(r);
      else if (buffered.length >= 64) finish('tcp');
    };
    const onEnd = () => finish(buffered.length > 0 ? classify(buffered) ?? 'tcp' : 'closed');
    const deadline = sharedTimer.deadline(timeoutMs, () => finish(buffered.length > 0 ? classify(buffered) ?? 'tcp' : 'tcp'));
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onEnd);
  });
}
