// Opaque TCP between proxies: the outbound side opens mTLS with ALPN `weft-tcp/1`, writes a 3-byte
// preface (version 1, target port u16 BE) and waits for one status byte (0 = connected to the app);
// from then on the TLS stream carries the client's bytes untouched in both directions. The inbound
// side checks the port against the workload's declared ports before connecting on loopback.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { sharedTimer } from '../../core/coarse-timer.ts';
import { ProxyError } from '../errors.ts';
import type { IdentityMaterial } from '../../identity/material.ts';
import { ALPN_TCP, TCP_PREFACE_VERSION, TunnelStatus, connectPeer, connectTcp, tunnelPreface } from './mesh-tls.ts';

/** Opens a tunnel to `port` on the peer behind `host:proxyPort`; resolves once the peer reached its app. */
export async function openMeshTunnel(options: {
  host: string;
  proxyPort: number;
  port: number;
  material: IdentityMaterial;
  expectedPeer: string;
  timeoutMs: number;
}): Promise<tls.TLSSocket> {
  const socket = await connectPeer({ host: options.host, port: options.proxyPort, material: options.material, expectedPeer: options.expectedPeer, alpn: ALPN_TCP, timeoutMs: options.timeoutMs });
  socket.write(tunnelPreface(options.port));
  const target = `${options.host}:${options.proxyPort} (${options.expectedPeer}) port ${options.port}`;
  const status = await readBytes(socket, 1, options.timeoutMs, target);
  const code = status[0];
  if (code === TunnelStatus.OK) return socket;
  socket.destroy();
  if (code === TunnelStatus.FORBIDDEN_PORT) throw new ProxyError('FORBIDDEN_PORT', `peer ${target} refused: port ${options.port} is not declared by its workload`);
  if (code === TunnelStatus.CONNECT_REFUSED) throw new ProxyError('CONNECT_REFUSED', `the app behind ${target} refused the connection`);
  throw new ProxyError('CONNECT_FAILED', `the peer ${target} could not reach its app`);
}

/** Reads exactly `n` bytes (then pauses and unshifts any excess). */
export function readBytes(socket: Duplex, n: number, timeoutMs: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (e?: Error) => {
      deadline.cancel();
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onClose);
      socket.pause();
      if (e) reject(e);
      else {
        if (buf.length > n) socket.unshift(buf.subarray(n));
        resolve(buf.subarray(0, n));
      }
    };
    const onData = (c: Buffer) => {
      buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
      if (buf.length >= n) done();
    };
    const onClose = () => done(new ProxyError('UPSTREAM_RESET', `${what} closed the tunnel during setup`));
    const deadline = sharedTimer.deadline(timeoutMs, () => {
      socket.destroy();
      done(new ProxyError('CONNECT_TIMEOUT', `${what} did not answer the tunnel preface within ${timeoutMs} ms`));
    });
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
  });
}

/**
 * Inbound half: reads the preface from a verified mTLS socket, checks the port, connects to the app
 * and answers with a status byte. Resolves with the app socket (the caller splices), or undefined.
 */
export async function acceptMeshTunnel(socket: tls.TLSSocket, allowed: (port: number) => boolean, appAddress: string, timeoutMs: number): Promise<net.Socket | undefined> {
  let preface: Buffer;
  try {
    preface = await readBytes(socket, 3, timeoutMs, 'peer');
  } catch {
    socket.destroy();
    return undefined;
  }
  const port = preface.readUInt16BE(1);
  if (preface[0] !== TCP_PREFACE_VERSION || !allowed(port)) {
    socket.end(Buffer.from([TunnelStatus.FORBIDDEN_PORT]));
    return undefined;
  }
  try {
    const app = await connectTcp(appAddress, port, timeoutMs, true);
    socket.write(Buffer.from([TunnelStatus.OK]));
    return app;
  } catch (e) {
    socket.end(Buffer.from([e instanceof ProxyError && e.code === 'CONNECT_REFUSED' ? TunnelStatus.CONNECT_REFUSED : TunnelStatus.CONNECT_FAILED]));
    return undefined;
  }
}
