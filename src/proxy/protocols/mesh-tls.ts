// The hop between proxies: mTLS (TLS 1.3, SPIFFE-verified both ways, from src/identity/tls.ts) with
// ALPN choosing what runs inside — `h2` (multiplexed HTTP), `http/1.1`, or `weft-tcp/1` (an opaque
// TCP stream whose 3-byte preface names the target port; see docs/PROXY.md for the wire format).
import net from 'node:net';
import type { ConnectionOptions, TLSSocket, TlsOptions } from 'node:tls';
import { tls } from '../../core/tls-module.ts';
import { sharedTimer } from '../../core/coarse-timer.ts';
import type { IdentityMaterial } from '../../identity/material.ts';
import { clientTlsOptions, serverTlsOptions, verifyPeerSpiffeId, type PeerExpectation } from '../../identity/tls.ts';
import { trustDomainOf } from '../../identity/spiffe.ts';
import { connectError, ProxyError } from '../errors.ts';
import { withDirectReads } from './socket-reads.ts';

export const ALPN_H2 = 'h2';
export const ALPN_HTTP1 = 'http/1.1';
export const ALPN_TCP = 'weft-tcp/1';
export const INBOUND_ALPN = [ALPN_H2, ALPN_HTTP1, ALPN_TCP];

/** Request header naming the application port on the peer (set by outbound, consumed by inbound). */
export const DST_PORT_HEADER = 'weft-dst-port';

/** TCP tunnel preface: version 1, target port (u16 BE). Reply: one status byte. */
export const TCP_PREFACE_VERSION = 1;
export const TunnelStatus = { OK: 0, FORBIDDEN_PORT: 1, CONNECT_REFUSED: 2, CONNECT_FAILED: 3 } as const;

export function tunnelPreface(port: number): Buffer {
  const b = Buffer.allocUnsafe(3);
  b[0] = TCP_PREFACE_VERSION;
  b.writeUInt16BE(port, 1);
  return b;
}

/** A plain TCP connect with a connect deadline (no per-request setTimeout: the shared coarse timer). */
export function connectTcp(host: string, port: number, timeoutMs: number, allowHalfOpen = false): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true, allowHalfOpen });
    const target = `${host}:${port}`;
    const deadline = sharedTimer.deadline(timeoutMs, () => {
      socket.destroy();
      reject(new ProxyError('CONNECT_TIMEOUT', `connect to ${target} timed out after ${timeoutMs} ms`));
    });
    socket.once('connect', () => {
      deadline.cancel();
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (e: Error) => {
      deadline.cancel();
      reject(connectError(e, target));
    };
    socket.once('error', onError);
  });
}

/**
 * Opens mTLS to a peer proxy, verifying its chain against our bundle and its SPIFFE ID against
 * `expectedPeer`, negotiating `alpn`. Resolves once the handshake completed.
 */
export function connectPeer(options: {
  host: string;
  port: number;
  material: IdentityMaterial;
  expectedPeer: string;
  alpn: string;
  timeoutMs: number;
}): Promise<TLSSocket> {
  const target = `${options.host}:${options.port} (${options.expectedPeer})`;
  return new Promise((resolve, reject) => {
    const connectOptions = {
      host: options.host,
      port: options.port,
      ...clientTlsOptions(options.material, { expectedPeer: options.expectedPeer }),
      ALPNProtocols: [options.alpn],
      noDelay: true,
      allowHalfOpen: options.alpn === ALPN_TCP,
    } as ConnectionOptions;
    // The h2 link reads decrypted bytes into the shared buffer (socket-reads.ts); tunnels pipe as usual.
    const socket = options.alpn === ALPN_H2 ? withDirectReads((onread) => tls.connect({ ...connectOptions, onread } as ConnectionOptions)) : tls.connect(connectOptions);
    const deadline = sharedTimer.deadline(options.timeoutMs, () => {
      socket.destroy();
      reject(new ProxyError('CONNECT_TIMEOUT', `connect to ${target} timed out after ${options.timeoutMs} ms`));
    });
    socket.once('secureConnect', () => {
      deadline.cancel();
      socket.setNoDelay(true);
      socket.removeListener('error', onError);
      if (socket.alpnProtocol !== options.alpn) {
        socket.destroy();
        reject(new ProxyError('TLS_HANDSHAKE_FAILED', `${target} did not agree to ${options.alpn} (ALPN ${String(socket.alpnProtocol)})`));
        return;
      }
      resolve(socket);
    });
    const onError = (e: Error) => {
      deadline.cancel();
      reject(peerConnectError(e, target));
    };
    socket.once('error', onError);
  });
}

/** connectError plus the identity failures of a mesh handshake. */
export function peerConnectError(e: unknown, target: string): ProxyError {
  const code = (e as { code?: string })?.code;
  if (code === 'IDENTITY_PEER_REJECTED' || code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new ProxyError('PEER_IDENTITY_MISMATCH', `peer ${target} failed the identity check: ${(e as Error).message}`, { cause: e });
  }
  return connectError(e, target);
}

/** Server-side TLS options for the inbound port: TLS 1.3, client cert required, ALPN dispatch. */
export function inboundTlsOptions(material: IdentityMaterial): TlsOptions {
  return { ...serverTlsOptions(material), ALPNProtocols: INBOUND_ALPN };
}

/** Expectation for inbound peers from the config's allowedPeers (exact IDs or `…/` prefixes). */
export function peerExpectation(allowed: readonly string[], material: IdentityMaterial): PeerExpectation {
  const td = trustDomainOf(material.spiffeId);
  if (allowed.length === 0) return { trustDomain: td };
  return { trustDomain: td, match: (id: { uri: string }) => allowed.some((a) => (a.endsWith('/') ? id.uri.startsWith(a) : id.uri === a)) };
}

export { verifyPeerSpiffeId };
